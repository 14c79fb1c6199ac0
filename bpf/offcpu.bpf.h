/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * offcpu.bpf.h - --mode offcpu/wall: why a thread left the CPU (part of
 * pyspy.bpf.c, after its maps).
 *
 * Owns: the system call a thread that blocks sits in, from its saved user
 * registers; the end of a wait, reported (also when its switch back in was
 * not seen).
 */
#ifndef PYSPY_OFFCPU_BPF_H
#define PYSPY_OFFCPU_BPF_H

/* The syscall the current task sits in, from its saved user registers. */
static __always_inline void blocked_in(struct switch_info *si)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	si->syscall = (__s32)BPF_CORE_READ(regs, orig_ax);
	si->arg = BPF_CORE_READ(regs, di);
	if (!BPF_CORE_READ(regs, si) && !BPF_CORE_READ(regs, dx) && !BPF_CORE_READ(regs, r10))
		si->flags |= PYSPY_SAMPLE_ARGS_NULL;
}

/* Report that tid's wait, begun at start, ended at end. */
static __always_inline void wait_ended(__u32 tgid, __u32 tid, __u64 start, __u64 end)
{
	struct pyspy_event ev = {};

	ev.pid = tgid;
	ev.tid = tid;
	ev.flags = PYSPY_EVENT_OFFCPU_END;
	ev.ktime_ns = end;
	ev.arg = end - start;
	if (bpf_ringbuf_output(&events, &ev, sizeof(ev), wakeup_flags_for(tgid)))
		count(&errors, PYSPY_ERR_RINGBUF_FULL);
}

/*
 * prev leaves the CPU with a wait still open: the switch that put it back
 * on the CPU was not seen (rare, under load; its end would be lost, and
 * the wait with it).  It ran since its scheduler entity was last picked
 * (sum_exec_runtime - prev_sum_exec_runtime): the wait ended that long
 * ago.  Reported before this switch's own sample, so it closes first.
 */
static __always_inline void unseen_run(struct task_struct *prev, __u32 tgid, __u32 tid)
{
	__u64 *open = bpf_map_lookup_elem(&offcpu_start, &tid), now, ran, back;

	if (!open)
		return;
	now = bpf_ktime_get_ns();
	ran = BPF_CORE_READ(prev, se.sum_exec_runtime) -
	      BPF_CORE_READ(prev, se.prev_sum_exec_runtime);
	back = now - ran;
	/* An entry made while it ran (a found-blocked thread that woke) ends nothing. */
	if (ran < now && back > *open) {
		wait_ended(tgid, tid, *open, back);
		count(&stats, PYSPY_STAT_UNSEEN_RUN);
	}
}

#endif /* PYSPY_OFFCPU_BPF_H */
