/* SPDX-License-Identifier: MIT */
/*
 * session.h - the BPF side's lifecycle as seen from userspace.
 *
 * Owns: opening, loading and attaching the skeleton, one cpu-clock perf
 * event per CPU, the ring buffer consumer, the `procs` map (which processes
 * are sampled and how), the per-CPU counters, and clean teardown.
 */
#ifndef PYSPY_SESSION_H
#define PYSPY_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/types.h>

#include "bpf/pyspy.h"

struct session;

struct session_opts {
	unsigned rate_hz;	    /* samples per second per CPU; 0: no CPU samples */
	size_t ringbuf_bytes;	    /* 0: default */
	bool discover_all;	    /* --all: report unknown tgids that run */
	bool offcpu;		    /* sched_switch: off-CPU stacks and times */
	unsigned page_fault_period; /* memory: sample every Nth page fault instead */
	unsigned max_threads;	    /* entries of the per-process and per-thread maps; 0: default */
	bool native;		    /* records carry user registers and stack (pyspy_native) */
	bool kernel;		    /* ... and the kernel stack */
	unsigned ustack_bytes;	    /* user stack copied per sample; 0: PYSPY_USTACK_MAX */
	bool async;		    /* --async: the running task's await chain */
};

/* What the BPF side tracks at once by default: processes, and threads. */
#define SESSION_DEFAULT_MAX_THREADS 16384

/* Called for every sample record; len is what the kernel sent. */
typedef int (*session_sample_fn)(const struct pyspy_sample *s, size_t len, void *ctx);

/* NULL with errno set; the reason has been logged. */
struct session *session__open(const struct session_opts *o, session_sample_fn fn, void *ctx);
void session__close(struct session *s); /* NULL-safe */

int session__add_proc(struct session *s, pid_t pid, const struct pyspy_proc *p);
int session__remove_proc(struct session *s, pid_t pid);
/* A process that is not sampled (PYSPY_PROC_IGNORE) under --all. */
int session__set_state(struct session *s, pid_t pid, uint8_t state);

/*
 * Off-CPU mode: tid, found already blocked, is off the CPU since *ktime_ns
 * (CLOCK_MONOTONIC), so its next sched_switch in ends the wait like any
 * other.  When the BPF side saw it leave (a watched launch, or it ran and
 * left again just now) *ktime_ns becomes that time.  0, -ENOTSUP without
 * off-CPU, or -errno.
 */
int session__offcpu_open(struct session *s, pid_t tid, uint64_t *ktime_ns);

/*
 * Wait up to timeout_ms for samples and handle those in the ring, for at
 * most about 50 ms: the rest wait for the next call (which then does not
 * wait), so that a reader behind its samples still gets back to its
 * duration and housekeeping.  Count of records handled, or -errno.
 */
int session__poll(struct session *s, int timeout_ms);

/*
 * The kernel's count of the sampler program's run time, from the moment
 * it is asked to measure (bpf_enable_stats, for as long as the session
 * lives): 0 or -errno; then nanoseconds (0 if it does not measure).
 */
int session__measure_run_time(struct session *s);
uint64_t session__run_time_ns(struct session *s);

/* The sampler program's fd, for bpf_stats (bench). */
int session__prog_fd(struct session *s);
/* The sched_switch program's fd (-1 unless offcpu). */
int session__switch_prog_fd(struct session *s);

/* Sums over CPUs. */
void session__counters(struct session *s, uint64_t errors[PYSPY_ERR__COUNT],
		       uint64_t stats[PYSPY_STAT__COUNT]);

#endif /* PYSPY_SESSION_H */
