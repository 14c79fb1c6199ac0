/* SPDX-License-Identifier: MIT */
/*
 * child.h - a target the unit tests start: a program with its stdin and
 * stdout on pipes (the test writes to end it, reads its ground truth).
 */
#ifndef PYSPY_TEST_CHILD_H
#define PYSPY_TEST_CHILD_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/ptrace.h>
#include <unistd.h>

struct child {
	pid_t pid;
	int in;	 /* its stdin, ours to close */
	int out; /* its stdout */
};

/* argv[0] (a path) started in c, under ptrace if traced; 0 or -errno. */
static inline int child_spawn(char *const argv[], bool traced, struct child *c)
{
	int in[2], out[2];

	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		return -errno;
	c->pid = fork();
	if (c->pid < 0)
		return -errno;
	if (!c->pid) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		if (traced)
			ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		execv(argv[0], argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	c->in = in[1];
	c->out = out[0];
	return 0;
}

#endif /* PYSPY_TEST_CHILD_H */
