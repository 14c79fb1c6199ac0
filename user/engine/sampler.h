/* SPDX-License-Identifier: MIT */
/*
 * sampler.h - the sampling engine every verb drives (record, top, ...).
 *
 * Owns: the sample path (a ring-buffer record in, its stack named by
 * symbolize/samplestack.h, weighed for the mode and added to every sink),
 * wall and off-CPU charging (a thread's run, its waits), --async's ticks,
 * the sinks, when the ring is drained, and starting it all (the BPF
 * session, the sandbox).  Targets coming and going are lifecycle.h's,
 * the counters counts.h's.
 */
#ifndef PYSPY_SAMPLER_H
#define PYSPY_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "options.h"
#include "summary.h"
#include "symbolize/model/filter.h"
#include "symbolize/model/profile.h"

struct sampler;
struct py_target;

/*
 * Discover o->pids (failing with one logged line each), load the sampler,
 * fork o->cmd if any, enter the sandbox (o->sandbox), then add the
 * targets and let the command exec: every target found later (--all, a
 * launched command's children) is read confined.  NULL with errno set;
 * the reason was logged.
 */
struct sampler *sampler__start(const struct options *o, struct profile *prof);

/*
 * Consume samples for up to timeout_ms (less when periodic work is due)
 * and do the periodic work.  Returns
 * true once there is nothing left to sample (every --pid target exited, or
 * the launched command exited).
 */
bool sampler__poll(struct sampler *s, int timeout_ms);

/*
 * One record as the ring buffer hands it over, from elsewhere: make
 * bench's replay feeds recorded ones through the whole userspace path.
 */
void sampler__feed(struct sampler *s, const struct pyspy_sample *rec, size_t len);

/* Take what the BPF side has buffered but not yet delivered, and charge
 * the threads still off the CPU their wait up to now. */
void sampler__drain(struct sampler *s);
/*
 * With the lock held (sampler__lock): charge threads still off the CPU
 * their wait so far, before a sink's profile is taken (serve's intervals).
 */
void sampler__settle_locked(struct sampler *s);

/*
 * More aggregations of the same samples: each sink is a view of the base
 * profile (profile__new_view), fed from now on with the samples of the
 * processes filter takes (all if NULL; copied).  Thread-safe.
 */
#define SAMPLER_MAX_SINKS 64
int sampler__add_sink(struct sampler *s, struct profile *view, const struct profile_filter *filter);
void sampler__remove_sink(struct sampler *s, struct profile *view);
/* The same with the lock held: a view taken out and read in one go. */
void sampler__remove_sink_locked(struct sampler *s, struct profile *view);
/*
 * Rebuild the base profile's symbols with only those the sinks, open waits
 * and code caches still use (profile__compact_begin).  Views that are not sinks
 * must not exist meanwhile: take one out (remove_sink_locked) and read it
 * under the same lock.  0 or -ENOMEM.
 */
int sampler__compact_symbols(struct sampler *s);
/* Whether the base profile itself aggregates stacks (default yes). */
void sampler__set_base_sink(struct sampler *s, bool on);
/* Hold off sampling while reading profiles from another thread. */
void sampler__lock(struct sampler *s);
void sampler__unlock(struct sampler *s);

/* Counters so far (for the progress line and the summary). */
void sampler__counts(struct sampler *s, struct run_counts *rc);

/* The time the BPF sampler has run since the start, in ns (0 unless o->measure_bpf). */
uint64_t sampler__bpf_run_time_ns(struct sampler *s);

/* Per-thread on-CPU samples and how many of them held the GIL. */
struct thread_stat {
	uint32_t pid, tid;
	uint64_t samples, gil;
};

/* Up to max of pid's threads with the most on-CPU samples, most first; how many. */
int sampler__busiest_threads(struct sampler *s, uint32_t pid, struct thread_stat *top, int max);

/* Read the names of live sampled threads again (before writing). */
void sampler__refresh_thread_names(struct sampler *s);

/* Processes ever sampled. */
int sampler__n_processes(const struct sampler *s);

/* Stop: drain what is buffered, stop a launched command, free. NULL-safe. */
void sampler__stop(struct sampler *s);

/* Seconds since the recording started (the BPF side was ready, targets came). */
double sampler__elapsed(struct sampler *s);

#endif /* PYSPY_SAMPLER_H */
