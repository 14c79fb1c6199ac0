/* SPDX-License-Identifier: MIT */
/*
 * blocked.h - threads that are already off the CPU when a process is
 * registered in offcpu or wall mode.
 *
 * Owns: finding them (every Python thread state, read from userspace as
 * `dump` does, matched to its /proc task whose state is not running), in
 * an order that loses no wait that ends during the scan and never takes a
 * stack read after the thread ran; their stack as profile locations
 * (Python, and with --native/--kernel native and kernel frames, from
 * /proc); and what they wait in, as the header of an off-CPU sample
 * (syscall and arguments from /proc/PID/task/TID/syscall), so that
 * offcpu_reason() names it as it would a wait the BPF side saw start.  Without this, a thread blocked for the whole recording
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
	const uint32_t *locs;	  /* innermost first: kernel, native and Python frames */
	uint32_t n;
	uint64_t since_ns; /* its wait began then, or before (when it was seen off the CPU) */
	uint64_t known_ns; /* it was seen off the CPU then: a wait over before is another's */
};

struct blocked_ops {
	/*
	 * Before a thread is seen to be off the CPU: from now on the BPF side
	 * reports its next run (the end of the wait it may be in), and
	 * *since_ns becomes the start of that wait if the BPF side saw it
	 * begin (a process watched since before its exec).
	 */
	void (*arm)(pid_t tid, uint64_t *since_ns, void *ctx);
	/* One thread off the CPU, its wait open since b->since_ns. */
	void (*found)(const struct blocked_thread *b, void *ctx);
};

/*
 * Scanning pid's threads takes two steps around its registration:
 * blocked__begin (before the BPF side samples it: its waits are charged
 * from then) notes every thread off the CPU, how often it ran, and what
 * it waits in; blocked__finish (once registered) reads their
 * stacks, arms them, and calls ops->found for every Python thread that
 * has not run since: with tg->native, native frames and (when it names
 * them) kernel ones too, from /proc, as dump reads them.  Bounded by the
 * unwinder's limits (now_ns: the time its stacks are resolved at).
 * blocked__begin: NULL on ENOMEM; blocked__finish:
 * how many were found, or -errno when the threads cannot be read (it
 * does not free s).
 */
struct blocked_scan;

struct blocked_scan *blocked__begin(pid_t pid);
int blocked__finish(struct blocked_scan *s, struct target *tg, uint64_t now_ns,
		    const struct blocked_ops *ops, void *ctx);
void blocked__free(struct blocked_scan *s); /* NULL-safe */

#endif /* PYSPY_BLOCKED_H */
