/* SPDX-License-Identifier: MIT */
/*
 * log.h - messages to the user: one line each, prefixed with the program
 * name.  Errors are reported once, where they happen.
 */
#ifndef PYSPY_LOG_H
#define PYSPY_LOG_H

#include <stdbool.h>

extern int log_verbose;	    /* -v count */
extern bool log_timestamps; /* prefix each line with UTC time (daemons) */

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* PYSPY_LOG_H */
