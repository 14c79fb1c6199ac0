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

enum log_level {
	LOGLEVEL_ERROR,
	LOGLEVEL_WARN,
	LOGLEVEL_INFO,
	LOGLEVEL_DEBUG
};

/* One line at level (LOGLEVEL_DEBUG only with -v); the macros below say it shorter. */
void log_at(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_at(LOGLEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_at(LOGLEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_at(LOGLEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOGLEVEL_DEBUG, __VA_ARGS__)

#endif /* PYSPY_LOG_H */
