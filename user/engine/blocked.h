/* SPDX-License-Identifier: MIT */
/*
 * blocked.h - threads that are already off the CPU when a process is
 * registered in offcpu or wall mode.
 *
 * Owns: finding them (every Python thread state, read from userspace
 * through the snapshot `dump` reads too, snapshot.h, matched to its /proc
 * task whose state is not running), in an order that loses no wait that
 * ends during the scan and never takes a stack read after the thread
 * ran; arming each (the BPF side reports its next run); and handing each
 * back as data: its stack as profile locations (named by the snapshot as
 * a sample of the process is: Python, and with --native/--kernel native
 * and kernel frames, from /proc), what it waits in (syscall and arguments
 * from /proc/PID/task/TID/syscall, for offcpu_reason() to name as it
 * would a wait the BPF side saw start), and since when.  The caller
 * opens their waits (offcpu_table__open) as it does a sampled thread's.
 * Without this, a thread blocked for the whole recording is never seen:
 * the BPF side only learns of a wait at its sched_switch out.
 */
#ifndef PYSPY_BLOCKED_H
#define PYSPY_BLOCKED_H

#include <stdint.h>

#include "offcpu.h"
#include "session.h"
#include "targets.h"

/*
 * Scanning pid's threads takes two steps around its registration:
 * blocked__begin (before the BPF side samples it: its waits are charged
 * from then) notes every thread off the CPU, how often it ran, and what
 * it waits in; blocked__finish (once registered) reads their stacks, arms
 * each through s (session__offcpu_open: its next run ends its wait, and
 * start_ns becomes that wait's start if the BPF side saw it begin), and
 * puts in *found every Python thread that has not run since (the wait
 * to open: its stack, what it waits in, since when), with
 * tg->native its native frames and (when it names them) kernel ones too,
 * from /proc, as dump reads them.  Bounded by the unwinder's limits
 * (now_ns: the time its stacks are resolved at).  blocked__begin: NULL on
 * ENOMEM; blocked__finish: how many were found (*found is the scan's,
 * until blocked__free), or -errno when the threads cannot be read.
 */
struct blocked_scan;

struct blocked_scan *blocked__begin(pid_t pid);
int blocked__finish(struct blocked_scan *bs, struct target *tg, struct session *s, uint64_t now_ns,
		    const struct offcpu_open **found);
void blocked__free(struct blocked_scan *bs); /* NULL-safe */

#endif /* PYSPY_BLOCKED_H */
