/* SPDX-License-Identifier: MIT */
/*
 * asyncwait.h - --async --mode wall: the time each suspended task waits.
 *
 * Owns: reading a process's tasks a few per tick, from userspace, round
 * the per-thread task lists; charging each task read the wall time since
 * it was last charged, at the point it is suspended in, under the tasks
 * awaiting it (`task NAME;...;await_site (file:line);[await ...]`); and
 * what that costs: per tick at most a set number of tasks (the rest are
 * read on later ticks, and then charged for all the time since), their
 * coroutines read level by level in one batch per level.  Over a cycle
 * through every task each is charged once for the whole time, so shares
 * per task add up to elapsed time.
 */
#ifndef PYSPY_ASYNCWAIT_H
#define PYSPY_ASYNCWAIT_H

#include <stdint.h>

#include "asyncstack.h"
#include "codecache.h"

struct async_wait;

struct async_wait_stats {
	uint64_t read;	      /* task visits */
	uint64_t deferred;    /* tasks left for a later tick by the bound */
	uint64_t list_errors; /* lists that were corrupt, looped or changed under us */
	uint64_t cycles;      /* passes through every task */
	uint32_t tasks;	      /* known now */
};

/* A wait to charge: innermost first. */
struct async_wait_sample {
	uint32_t tid; /* host TID of the task's thread; 0: not known */
	const uint32_t *locs;
	uint32_t n;
	uint64_t ns;
};

typedef void (*async_wait_fn)(const struct async_wait_sample *s, void *ctx);

/*
 * For a target whose asyncio offsets ap has found, reading at most max
 * tasks per tick; py, cache and prof must outlive it.  NULL with errno.
 */
struct async_wait *async_wait__new(const struct py_target *py, struct async_proc *ap,
				   struct code_cache *cache, struct profile *prof, uint64_t now_ns,
				   unsigned max);
void async_wait__free(struct async_wait *w); /* NULL-safe */

/*
 * One tick (or several at once: max is then their sum, capped at what
 * _new was given): read at most max tasks, and charge each suspended one
 * its wait.
 */
void async_wait__tick(struct async_wait *w, uint64_t now_ns, unsigned max, async_wait_fn cb,
		      void *ctx);
/* The end: every suspended task charged up to now where it was last seen. */
void async_wait__settle(struct async_wait *w, uint64_t now_ns, async_wait_fn cb, void *ctx);
/* The profile's ids were rebuilt (profile__compact_begin): drop or remap ours. */
void async_wait__remap(struct async_wait *w, struct profile_remap *m);
const struct async_wait_stats *async_wait__stats(const struct async_wait *w);

#endif /* PYSPY_ASYNCWAIT_H */
