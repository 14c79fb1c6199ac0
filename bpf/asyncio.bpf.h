/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * asyncio.bpf.h - --async: the running task's await chain, read with the
 * sample (part of pyspy.bpf.c, after its maps).
 *
 * Owns: running the chain's walk (bpf/pycoro.h, the step userspace runs
 * too) from the sample: the running task of the sampled thread, and the
 * walk up its awaiters (task -> awaiter -> its coroutines -> what they
 * await), each task marked with its name's fingerprint (PYSPY_FRAME_TASK).
 */
#ifndef PYSPY_ASYNCIO_BPF_H
#define PYSPY_ASYNCIO_BPF_H

/*
 * Why here and not in userspace: the tasks awaiting the running one are
 * suspended, but they change whenever the loop runs, which is between
 * any two samples; reading them with the sample is the only answer that
 * is right for it.  All of it is pointers: task -> awaiter -> its
 * coroutine -> what that awaits, and a name's head for its fingerprint.
 *
 * Why global functions on per-CPU state: the verifier checks a global
 * function once, on its own, where the same code inlined into the frame
 * walk's paths multiplied them (a second of start-up).  A global function
 * takes no pointers to our state, so the state lives in the scratch
 * (struct pc_chain) and the entry is the scratch's copy, pc_proc.
 */
/* The task at task into s->ch (pc_read_task): 0, or -1. */
__noinline int chain_read_task(__u64 task)
{
	struct scratch *s = get_scratch();

	if (!s)
		return -1;
	return pc_read_task(&s->pc, &s->ch, &s->pc_proc, task);
}

/* One step of the chain: a coroutine, or a task.  1: the chain is done. */
__noinline long chain_step(void)
{
	struct scratch *s = get_scratch();

	if (!s)
		return 1;
	return pc_chain_step(&s->pw, &s->pc, &s->ch, &s->pc_proc, s->sample.frames);
}

static long chain_one(__u32 idx, void *unused)
{
	return chain_step() ? 1 : 0;
}

/*
 * The record's frames once the chain is in: n (the walk's) when the
 * running task's coroutine was not met, else root_at (the walk up to it)
 * plus the chain.  Global, so that the program after it is checked once
 * whichever way the chain went.
 */
__noinline __u32 chain_walk(__u32 root_at, __u32 n)
{
	struct scratch *s = get_scratch();

	if (!s || !root_at || root_at > PYSPY_MAX_FRAMES)
		return n;
	s->ch.n = root_at;
	bpf_loop(PYSPY_ASYNC_STEPS, chain_one, NULL, 0);
	if (s->ch.truncated)
		s->sample.flags |= PYSPY_SAMPLE_TRUNCATED;
	return s->ch.n <= PYSPY_MAX_FRAMES ? s->ch.n : PYSPY_MAX_FRAMES;
}

/*
 * The thread's running task, if any: where its coroutine's frame is (the
 * walk stops there) and, in s->ch, what the chain starts from.  Its reads
 * stay in s->ch.reads, added to the sample's after the chain: adding them
 * to w->reads here, before the walk, made the verifier process three times
 * the instructions (779k of its 1M for each program, 10 s of start-up on a
 * loaded 2-CPU machine; 263k and 4 s without).
 */
static __always_inline void running_task(struct scratch *s, const struct pyspy_proc *p, __u64 ts,
					 struct pw_walk *w)
{
	__builtin_memset(&s->ch, 0, sizeof(s->ch));
	w->task_root = pc_running_task(&s->pc, &s->ch, p, ts);
}

#endif /* PYSPY_ASYNCIO_BPF_H */
