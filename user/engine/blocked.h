/* SPDX-License-Identifier: MIT */
/*
 * blocked.h - threads that are already off the CPU when a process is
 * registered in offcpu or wall mode.
 *
 * Owns: finding them (every Python thread state, read from userspace as
 * `dump` does, matched to its /proc task whose state is not running), their
 * Python stack as profile locations, and what they wait in, as the header
 * of an off-CPU sample (syscall and arguments from /proc/PID/task/TID/
 * syscall), so that offcpu_reason() names it as it would a wait the BPF
 * side saw start.  Without this, a thread blocked for the whole recording
 * is never seen: the BPF side only learns of a wait at its sched_switch out.
 */
#ifndef PYSPY_BLOCKED_H
#define PYSPY_BLOCKED_H

#include <stdint.h>

#include "targets.h"
#include "bpf/pyspy.h"

struct blocked_thread {
	struct pyspy_sample *hdr; /* pid, tid, syscall, arg, flags: for offcpu_reason() */
	uint32_t flags;		  /* PROFILE_STACK_* */
	const uint32_t *locs;	  /* innermost first */
	uint32_t n;
};

/*
 * Call fn for every Python thread of tg that is off the CPU now (now_ns is
 * the time its stacks are resolved at).  Bounded by the unwinder's limits.
 * Returns how many were found, or -errno when the threads cannot be read.
 */
int blocked__scan(struct target *tg, uint64_t now_ns,
		  void (*fn)(const struct blocked_thread *b, void *ctx), void *ctx);

#endif /* PYSPY_BLOCKED_H */
