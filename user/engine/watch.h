/* SPDX-License-Identifier: MIT */
/*
 * watch.h - processes that may become targets.
 *
 * Owns: the processes the engine waits for (a launched command and its
 * children, a tgid the BPF side saw run under --all, a target that called
 * exec): each is looked at again soon while it may still become Python
 * (before its exec, before libpython is mapped, before the interpreter is
 * initialised), handed to add() once it is, and given up on otherwise,
 * with one line when it is a Python that cannot be sampled (counted).
 */
#ifndef PYSPY_WATCH_H
#define PYSPY_WATCH_H

#include <stdbool.h>
#include <sys/types.h>

#include "targets.h"

struct watch;

/*
 * add(ctx, py) makes a discovered process a target: 0, -ENOTSUP when it
 * will not (having said why), or -errno to look again later.  all: --all (a process given up on is ignored by the BPF
 * side too); init_wait_s: how long an interpreter may take to initialise.
 */
struct watch *watch__new(struct targets *tg, bool all, double init_wait_s,
			 int (*add)(void *ctx, const struct py_target *py), void *ctx);
void watch__free(struct watch *w); /* NULL-safe */

/* Look at pid (again, if fresh: it called exec, or ran for the first time). */
void watch__consider(struct watch *w, pid_t pid, double now, bool fresh);
/* Look again at those whose time has come; forget the gone. */
void watch__retry(struct watch *w, double now);
/*
 * Processes asked for (not --all: a launched command and its children)
 * that are a Python we cannot sample, each said once.
 */
unsigned watch__refused(const struct watch *w);
/* Is any process still being waited for (a target that just called exec)? */
bool watch__active(const struct watch *w);

#endif /* PYSPY_WATCH_H */
