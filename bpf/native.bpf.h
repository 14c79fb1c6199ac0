/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * native.bpf.h - --native/--kernel: a sample's native part (part of
 * pyspy.bpf.c, after its maps).
 *
 * Owns: the user registers, a copy of the user stack a page at a time,
 * the kernel stack and the mappings' version, sent with the Python frames
 * in one ring-buffer record.
 */
#ifndef PYSPY_NATIVE_BPF_H
#define PYSPY_NATIVE_BPF_H

/*
 * The user stack from sp up, a page at a time: the first read that faults
 * (the end of the stack mapping, or a page not present) ends the copy.
 */
static __always_inline __u32 copy_ustack(struct native_scratch *ns, __u64 sp, __u32 want)
{
	__u32 max = ustack_max < PYSPY_USTACK_MAX ? ustack_max : PYSPY_USTACK_MAX;
	__u32 off = 0, chunk;

	if (want && want < max)
		max = want;
	for (int i = 0; i < PYSPY_USTACK_MAX / 4096 + 1; i++) {
		chunk = 4096 - ((sp + off) & 4095);
		if (chunk > max - off)
			chunk = max - off;
		if (!chunk || chunk > 4096)
			break;
		/* Bounded again where the compiler cannot see it is, for the verifier. */
		asm volatile("" : "+r"(chunk));
		chunk = ((chunk - 1) & 4095) + 1;
		if (bpf_probe_read_user(&ns->ustack[off & (PYSPY_USTACK_MAX - 1)], chunk,
					(void *)(sp + off)))
			break;
		off += chunk;
		if (off >= max)
			break;
	}
	return off;
}

/* The current mm's mapping sequence count, 0 where the kernel has none. */
static __always_inline __u32 mm_seq(struct task_struct *t)
{
	if (!bpf_core_field_exists(t->mm->mm_lock_seq))
		return 0;
	return BPF_CORE_READ(t, mm, mm_lock_seq.sequence);
}

/*
 * Send the sample with its native part: registers, kernel stack, user
 * stack.  One record, so userspace never has to pair two.
 */
static __always_inline int emit_native(void *ctx, struct scratch *s, const struct pyspy_proc *p,
				       __u64 size, __u64 wflags)
{
	struct native_scratch *ns;
	struct pt_regs *regs;
	struct bpf_dynptr rec;
	__u32 zero = 0, klen = 0, ulen = 0;
	long r;

	ns = bpf_map_lookup_elem(&native_map, &zero);
	if (!ns)
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	ns->h.ip = BPF_CORE_READ(regs, ip);
	ns->h.sp = BPF_CORE_READ(regs, sp);
	ns->h.bp = BPF_CORE_READ(regs, bp);
	ns->h.mm_seq = mm_seq(bpf_get_current_task_btf());
	if (kernel_stacks) {
		r = bpf_get_stack(ctx, ns->kstack, sizeof(ns->kstack), 0);
		if (r > 0)
			klen = (__u32)r & (sizeof(ns->kstack) * 2 - 1);
		if (klen > sizeof(ns->kstack))
			klen = sizeof(ns->kstack);
	}
	if (native_stacks)
		ulen = copy_ustack(ns, ns->h.sp, p->ustack_bytes);
	if (ulen > PYSPY_USTACK_MAX)
		ulen = PYSPY_USTACK_MAX;
	ns->h.kstack_n = klen / 8;
	ns->h.ustack_len = ulen;
	s->sample.flags |= PYSPY_SAMPLE_NATIVE;
	if (bpf_ringbuf_reserve_dynptr(&events, size + sizeof(ns->h) + klen + ulen, 0, &rec)) {
		bpf_ringbuf_discard_dynptr(&rec, 0);
		count(&errors, PYSPY_ERR_RINGBUF_FULL);
		return 0;
	}
	bpf_dynptr_write(&rec, 0, &s->sample, size, 0);
	bpf_dynptr_write(&rec, size, &ns->h, sizeof(ns->h), 0);
	bpf_dynptr_write(&rec, size + sizeof(ns->h), ns->kstack, klen, 0);
	bpf_dynptr_write(&rec, size + sizeof(ns->h) + klen, ns->ustack, ulen, 0);
	bpf_ringbuf_submit_dynptr(&rec, wflags);
	return 0;
}

#endif /* PYSPY_NATIVE_BPF_H */
