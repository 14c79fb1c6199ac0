/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * offcpu.bpf.h - --mode offcpu/wall: why a thread left the CPU (part of
 * pyspy.bpf.c, after its maps).
 *
 * Owns: the system call a thread that blocks sits in, from its saved user
 * registers.
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

#endif /* PYSPY_OFFCPU_BPF_H */
