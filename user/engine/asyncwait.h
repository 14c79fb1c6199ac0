/* SPDX-License-Identifier: MIT */
/*
 * asyncwait.h - --async --mode wall: the time each suspended task waits.
 *
 * Owns: reading a process's tasks a few per tick, from userspace, round
 * the per-thread task lists; the wall time each task read waits since it
 * was last charged, at the point it is suspended in, under the tasks
 * awaiting it (`task NAME;...;await_site (file:line);[await ...]`); and
 * what that costs: per tick at most a set number of tasks (the rest are
 * read on later ticks, and then charged for all the time since), their
 * coroutines read level by level in one batch per level.  Over a cycle
 * through every task each is charged once for the whole time, so shares
 * per task add up to elapsed time.  The waits go to no profile from here:
 * a tick (or a settle) leaves them to the sampler, which reads them with
 * async_wait__next and charges them to its sinks as it does a sample.
 */
#ifndef PYSPY_ASYNCWAIT_H
#define PYSPY_ASYNCWAIT_H

#include <stdbool.h>
#include <stdint.h>

#include "symbolize/asyncstack.h"
#include "symbolize/codecache.h"

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

/*
 * For a target whose asyncio offsets ap has found, reading at most max
 * tasks per tick; py, cache and prof must outlive it (its locations are
 * prof's).  NULL with errno.
 */
struct async_wait *async_wait__new(const struct py_target *py, struct async_proc *ap,
				   struct code_cache *cache, struct profile *prof, uint64_t now_ns,
				   unsigned max);
void async_wait__free(struct async_wait *w); /* NULL-safe */

/*
 * One tick (or several at once: max is then their sum, capped at what
 * _new was given): read at most max tasks; the suspended ones' waits are
 * then to charge (async_wait__next).
 */
void async_wait__tick(struct async_wait *w, uint64_t now_ns, unsigned max);
/*
 * The end (or a profile about to be read): every suspended task charged
 * up to now where it was last seen, its wait to charge (async_wait__next).
 */
void async_wait__settle(struct async_wait *w, uint64_t now_ns);
/*
 * The next wait the last tick or settle leaves to charge: true and *s
 * (s->locs valid until the next call on w), or false when there is none
 * left.  A wait is made when it is reached (a task's wait goes out under
 * the stack it had, before its new one is taken), so the tick's work is
 * spread over these calls: read them all before the next tick or settle,
 * which otherwise finishes the pass first, its waits dropped.
 */
bool async_wait__next(struct async_wait *w, struct async_wait_sample *s);
/* The profile's ids were rebuilt (profile__compact_begin): drop or remap ours. */
void async_wait__remap(struct async_wait *w, struct profile_remap *m);
const struct async_wait_stats *async_wait__stats(const struct async_wait *w);

#endif /* PYSPY_ASYNCWAIT_H */
