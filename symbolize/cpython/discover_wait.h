/* SPDX-License-Identifier: MIT */
/*
 * discover_wait.h - discovery as every verb uses it.
 *
 * Owns: waiting a bounded time for a process's interpreter to initialise,
 * and the one line the user reads for each way discovery fails (no such
 * process, not Python, unsupported or refused layout, not initialised, no
 * access), worded once for record, top, serve and dump.
 */
#ifndef PYSPY_DISCOVER_WAIT_H
#define PYSPY_DISCOVER_WAIT_H

#include <sys/types.h>

#include "discover.h"

/* Discover pid, waiting up to wait_s for its interpreter; 0, or -errno after that line. */
int py_target__discover_wait(pid_t pid, double wait_s, struct py_target *py);

/* The line for err (from py_target__discover; wait_s: how long was waited). */
void py_target__report(pid_t pid, int err, const struct py_target *py, double wait_s);

#endif /* PYSPY_DISCOVER_WAIT_H */
