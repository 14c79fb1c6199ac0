/* SPDX-License-Identifier: MIT */
/*
 * launch.h - `record -- COMMAND`: start the command held at the gate until
 * sampling is ready, as the invoking user when run through sudo, and find
 * its descendants so that Python children are profiled too.
 */
#ifndef PYSPY_LAUNCH_H
#define PYSPY_LAUNCH_H

#include <stdbool.h>
#include <sys/types.h>

struct launch {
	pid_t pid;
	int gate_fd; /* write end: one byte releases the child */
	bool exited;
	int status; /* wait status once exited */
};

/* Fork the child; it waits at the gate. 0 or -errno (logged). */
int launch__start(char **cmd, struct launch *l);
/* Let it exec. */
void launch__release(struct launch *l);
/* Reap without blocking; true once the child has exited. */
bool launch__poll(struct launch *l);
/*
 * The recording is over: a command we started and that still runs gets
 * SIGTERM, then SIGKILL after a grace period, and is reaped.
 */
void launch__stop(struct launch *l);
/* Exit code in shell terms (128+sig for a signal). */
int launch__exit_code(const struct launch *l);

/* Up to max descendants of root (not root itself), from /proc. Count. */
int launch__descendants(pid_t root, pid_t *out, int max);

#endif /* PYSPY_LAUNCH_H */
