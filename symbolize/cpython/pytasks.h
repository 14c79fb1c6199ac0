/* SPDX-License-Identifier: MIT */
/*
 * pytasks.h - a target's threads as /proc shows them, and which of them
 * each Python thread state belongs to.
 *
 * Owns: listing /proc/PID/task (host TID, TID in the target's own PID
 * namespace, state letter, comm), matching a thread state read by
 * unwind.c to its task (native_thread_id on 3.11+, libc's descriptor
 * before), and what a blocked task sits in (/proc/PID/task/TID/syscall).
 * Used by `dump` and by the sampler, which charges threads that were
 * already blocked when a process was registered.
 */
#ifndef PYSPY_PYTASKS_H
#define PYSPY_PYTASKS_H

#include <stdint.h>
#include <sys/types.h>

#include "unwind.h"

/* Threads of a target listed from /proc (bounds memory, not the target). */
#define PY_TASKS_MAX 65536

struct py_task {
	pid_t tid;   /* host namespace: what /proc and the sampler use */
	pid_t nstid; /* the target's own namespace: what it stores */
	char state;  /* /proc/PID/task/TID/stat state letter ('R' running, ...) */
	char comm[32];
};

struct py_tasks {
	struct py_task *v;
	uint32_t n, cap;
};

/* List pid's threads; 0 or -errno.  Free with py_tasks__free() either way. */
int py_tasks__read(pid_t pid, struct py_tasks *tk);
void py_tasks__free(struct py_tasks *tk);

/* The task a thread state belongs to; NULL if it cannot be told. */
const struct py_task *py_tasks__of_thread(pid_t pid, const struct py_tasks *tk,
					  const struct py_thread_stack *st);

/*
 * What a blocked thread waits in: its syscall number and first four
 * arguments, from /proc/PID/task/TID/syscall.  0; -EAGAIN if it is running
 * (or was between syscalls), -errno otherwise.  *nr is -1 for a thread
 * blocked outside any syscall.
 */
int py_task__syscall(pid_t pid, pid_t tid, int32_t *nr, uint64_t args[4]);

/*
 * The user stack pointer and instruction pointer of a thread that is not
 * running (from the same /proc/PID/task/TID/syscall): 0, -EAGAIN while it
 * runs, or -errno.
 */
int py_task__user_regs(pid_t pid, pid_t tid, uint64_t *sp, uint64_t *pc);

#endif /* PYSPY_PYTASKS_H */
