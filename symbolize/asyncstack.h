/* SPDX-License-Identifier: MIT */
/*
 * asyncstack.h - a --async sample as the running task's logical stack.
 *
 * Owns: per process, whether and where its asyncio state is known (found
 * once `import asyncio` mapped it, 3.14+); turning a record whose frames
 * carry task markers (PYSPY_FRAME_TASK, bpf/pyspy.h) into the stack a
 * person draws: outermost task first, each introduced by a `task NAME`
 * frame, then its frames at its await, down to the running task's leaf;
 * and naming tasks, cached by task and name fingerprint so that a task
 * freed and another made in its place is never shown under the old name.
 */
#ifndef PYSPY_ASYNCSTACK_H
#define PYSPY_ASYNCSTACK_H

#include <stdbool.h>
#include <stdint.h>

#include "symbolize/cpython/asyncio.h"
#include "symbolize/cpython/discover.h"
#include "symbolize/model/profile.h"

struct async_proc;

struct async_stats {
	uint64_t samples;    /* samples written as a task's stack */
	uint64_t names_lost; /* a task renamed or gone before it was named */
	uint64_t cycles;     /* an await chain that came back to a task */
};

/*
 * The state of one target; py must outlive it.  NULL with errno ENOMEM.
 * A version before 3.14 gets one (that never becomes ready), so that
 * callers need not tell.
 */
struct async_proc *async_proc__new(const struct py_target *py, struct profile *prof);
void async_proc__free(struct async_proc *ap); /* NULL-safe */

/*
 * Look for the asyncio offsets if they are not known yet, at most every
 * half second (3.14 maps them with `import asyncio`).  1: found just now
 * (the BPF entry should be written again); 0: nothing new.
 */
int async_proc__poll(struct async_proc *ap, uint64_t now_ns);
/* The offsets, once found; NULL before. */
const struct py_async_layout *async_proc__layout(const struct async_proc *ap);
/* Fill the --async fields of the BPF entry (nothing until found). */
void async_proc__to_bpf(const struct async_proc *ap, struct pyspy_proc *out);
const struct async_stats *async_proc__stats(const struct async_proc *ap);
/* The profile's ids were rebuilt (profile__compact_begin): keep the names it kept. */
void async_proc__remap(struct async_proc *ap, struct profile_remap *m);

/* Does the record's stack carry tasks? */
bool async_stack__has_tasks(const struct pyspy_frame *f, uint32_t n);

/* A record's frames split into Python frames and where the tasks go. */
struct async_split {
	uint32_t n_py;
	uint32_t n_tasks;
	uint32_t at[PYSPY_ASYNC_MAX_TASKS];   /* task i goes after py[0..at[i]) */
	uint64_t task[PYSPY_ASYNC_MAX_TASKS]; /* its address */
	uint64_t fp[PYSPY_ASYNC_MAX_TASKS];   /* its name's fingerprint */
};

/*
 * Put the n frames' Python frames in py (innermost first, as the logical
 * stack has them: an awaiting task's coroutines come outermost first in
 * the record) and their tasks in *sp.  A task seen twice ends the chain
 * there (counted in ap's stats if ap is not NULL).
 */
void async_stack__split(struct async_proc *ap, const struct pyspy_frame *in, uint32_t n,
			struct pyspy_frame *py, struct async_split *sp);

/*
 * The logical stack, innermost first, into locs (at most max): the Python
 * frames' locations py_locs (sp->n_py of them) with a `task NAME`
 * location after each task's.  Returns its length.
 */
uint32_t async_stack__merge(struct async_proc *ap, const struct async_split *sp,
			    const uint32_t *py_locs, uint32_t *locs, uint32_t max);

/* The location of `task NAME` (for wall mode and dump): cached like the above. */
uint32_t async_proc__task_location(struct async_proc *ap, uint64_t task, uint64_t fp,
				   bool check_fp);

#endif /* PYSPY_ASYNCSTACK_H */
