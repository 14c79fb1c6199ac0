/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * core_fixes.bpf.h - kernel struct drift, one CO-RE helper per rename.
 */
#ifndef PYSPY_CORE_FIXES_BPF_H
#define PYSPY_CORE_FIXES_BPF_H

#include <bpf/bpf_core_read.h>

/*
 * task_struct->state became __state in Linux 5.14 (commit 2f064a59a11f,
 * "sched: Change task_struct::state").
 */
struct task_struct___o {
	volatile long int state;
} __attribute__((preserve_access_index));

static __always_inline __s64 get_task_state(void *task)
{
	struct task_struct___o *t_old = task;
	struct task_struct *t = task;

	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return BPF_CORE_READ(t_old, state);
}

#endif /* PYSPY_CORE_FIXES_BPF_H */
