/* SPDX-License-Identifier: MIT */
/*
 * offcpu.h - the modes beyond CPU: what a sample weighs, and off-CPU
 * stacks waiting for their thread to run again.
 *
 * Owns: the weight of a sample in each --mode (count, ns, bytes), the
 * --gil filter, the reason frame of an off-CPU stack (from the syscall the
 * thread blocked in: [sleep], [io: read], [poll/select/epoll],
 * [lock: futex], [gil], [preempted], ...), and the table of stacks of
 * threads that are off the CPU right now.
 */
#ifndef PYSPY_OFFCPU_H
#define PYSPY_OFFCPU_H

#include <stdbool.h>
#include <stdint.h>

#include "options.h"
#include "bpf/pyspy.h"
#include "symbolize/model/profile.h"

/*
 * What a thread left the CPU in, as data: from an off-CPU record's header,
 * or for a thread found blocked, from /proc (blocked.h).
 */
struct offcpu_cause {
	int32_t syscall; /* -1: none (a wait in the kernel) */
	uint64_t arg;	 /* its first argument */
	bool preempted;	 /* still runnable (preempted, or it yielded) */
	bool args_null;	 /* arguments 2-4 were all 0 */
};

/* The cause an off-CPU record's header gives. */
struct offcpu_cause offcpu_cause_of(const struct pyspy_sample *smp);

/* The reason a thread left the CPU; gil_* locate its process's GIL. */
const char *offcpu_reason(const struct offcpu_cause *c, uint64_t gil_addr, uint32_t gil_size);

/*
 * Weight of an on-CPU (or page-fault) sample in this mode, or 0 to drop it
 * (--gil and the thread did not hold the GIL).
 */
uint64_t mode_sample_weight(const struct options *o, const struct pyspy_sample *smp);

/* Stacks of threads now off the CPU, keyed by tid; bounded. */
struct offcpu_table;

struct offcpu_table *offcpu_table__new(void);
void offcpu_table__free(struct offcpu_table *t); /* NULL-safe */

/*
 * Remember tid's stack (locations innermost first, reason first): it is
 * off the CPU since start_ns (CLOCK_MONOTONIC, as the BPF side's ktime),
 * and we know it since known_ns (the sample's time; for a thread found
 * blocked, when we looked): an end before that was another wait's.
 */
void offcpu_table__start(struct offcpu_table *t, uint32_t pid, uint32_t tid, uint32_t flags,
			 const uint32_t *locs, uint32_t n, uint64_t start_ns, uint64_t known_ns);

/* A wait that opens: a thread left the CPU, or was found off it. */
struct offcpu_open {
	uint32_t pid, tid, flags; /* flags: PROFILE_STACK_* */
	struct offcpu_cause cause;
	uint64_t gil_addr; /* its process's GIL, for the reason */
	uint32_t gil_size;
	const uint32_t *locs; /* its stack, innermost first */
	uint32_t n;
	uint64_t start_ns, known_ns; /* as offcpu_table__start's */
};

/*
 * Remember w's stack under its reason frame (a location of prof), as
 * offcpu_table__start: the one way a wait is opened, whoever found it.
 */
void offcpu_table__open(struct offcpu_table *t, struct profile *prof, const struct offcpu_open *w);

/* One off-CPU wait, or the part of it not charged yet. */
struct offcpu_wait {
	uint32_t pid, tid, flags, n;
	const uint32_t *locs;
	uint64_t ns; /* its weight */
};

/*
 * tid runs again at end_ns, after a wait the BPF side saw begin at
 * begin_ns: hand its wait since it left the CPU (or since the last settle)
 * to the caller (locs valid until the next call) and forget it.  false if
 * tid left the CPU before we were looking.
 */
bool offcpu_table__end(struct offcpu_table *t, uint32_t tid, uint64_t begin_ns, uint64_t end_ns,
		       struct offcpu_wait *w);

/*
 * The recording (or one of its views) ends or begins at now_ns: charge
 * every thread still off the CPU its wait so far, through fn, and count
 * the rest of its wait from now_ns.  So a wait that spans a boundary is
 * split at it, each part charged once.
 */
void offcpu_table__settle(struct offcpu_table *t, uint64_t now_ns,
			  void (*fn)(const struct offcpu_wait *w, void *ctx), void *ctx);

/* Stacks dropped because the table was full. */
uint64_t offcpu_table__dropped(const struct offcpu_table *t);

/* The open waits' stacks, for profile__compact_begin. */
void offcpu_table__remap(struct offcpu_table *t, struct profile_remap *m);

#endif /* PYSPY_OFFCPU_H */
