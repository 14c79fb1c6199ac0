/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * asyncio.bpf.h - --async: the running task's await chain, read with the
 * sample (part of pyspy.bpf.c, after its maps).
 *
 * Owns: the running task of the sampled thread, and the walk up its
 * awaiters (task -> awaiter -> its coroutines -> what they await), each
 * task marked with its name's fingerprint (PYSPY_FRAME_TASK).
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
 * (struct chain_state) and the entry is the scratch's copy, pc_proc.
 */
static __always_inline __u64 buf_u64(const __u8 *b, __u32 off, __u32 mask)
{
	return *(__u64 *)&b[off & mask];
}

/*
 * The fields of the task at task into s->ch: its coroutine, its name, and
 * who awaits it: task_awaited_by, or when several tasks do (a set) the
 * first one in the set's table.  0, or -1 if the task cannot be read or is
 * not a Task (a plain Future).
 */
__noinline int chain_read_task(__u64 task)
{
	struct scratch *s = get_scratch();
	const struct pyspy_proc *p;
	const __u32 m = PYSPY_TASK_BUF - 1;
	__u64 ab, table;
	__u32 mask;

	if (!s)
		return -1;
	p = &s->pc_proc;
	s->ch.reads++;
	if (bpf_probe_read_user(s->taskbuf, p->task_len & m, (void *)(task + p->task_lo)))
		return -1;
	if (!s->taskbuf[p->task_is_task & m])
		return -1;
	s->ch.coro = buf_u64(s->taskbuf, p->task_coro, m);
	s->ch.task_name = buf_u64(s->taskbuf, p->task_name, m);
	ab = buf_u64(s->taskbuf, p->task_awaited_by, m);
	s->ch.awaiter = ab;
	if (!ab || !s->taskbuf[p->task_is_set & m])
		return 0;
	s->ch.awaiter = 0;
	s->ch.reads += 2;
	if (bpf_probe_read_user(s->setbuf, PYSPY_SET_BUF, (void *)ab))
		return 0;
	table = s->setbuf[(p->set_table / 8) & (PYSPY_SET_BUF / 8 - 1)];
	mask = (__u32)s->setbuf[(p->set_mask / 8) & (PYSPY_SET_BUF / 8 - 1)];
	/* The first 4 entries (key, hash): a set of a few awaiters has them there. */
	if (bpf_probe_read_user(s->setbuf, PYSPY_SET_BUF, (void *)table))
		return 0;
	for (int i = 0; i < PYSPY_SET_BUF / 16; i++) {
		/* hash -1: a deleted entry */
		if (i <= mask && s->setbuf[2 * i] && s->setbuf[2 * i + 1] != (__u64)-1) {
			s->ch.awaiter = s->setbuf[2 * i];
			break;
		}
	}
	return 0;
}

static __always_inline bool put_frame(struct scratch *s, __u64 code, __s32 lasti, __u32 fp)
{
	struct pyspy_frame *f;
	__u32 n = s->ch.n;

	if (n >= PYSPY_MAX_FRAMES) {
		s->sample.flags |= PYSPY_SAMPLE_TRUNCATED;
		return false;
	}
	f = &s->sample.frames[n & (PYSPY_MAX_FRAMES - 1)];
	f->code = code;
	f->lasti = lasti;
	f->code_fp = fp;
	s->ch.n = n + 1;
	return true;
}

/* One coroutine of the current task: its frame, then what it awaits. */
static __always_inline long chain_gen(struct scratch *s, const struct pyspy_proc *p)
{
	const __u32 m = PYSPY_GEN_BUF - 1;
	__u64 gen = s->ch.gen, type, code, sp, yf = 0;
	__u32 fp = 0;
	__s8 state;

	s->ch.gen = 0;
	s->ch.reads++;
	if (bpf_probe_read_user(s->genbuf, p->gen_len & m, (void *)gen))
		return 0; /* not an object we can read: the chain ends here */
	/* What a coroutine awaits may be anything: only a coroutine of the
	 * same type as the task's own goes on (an iterator ends the chain). */
	type = buf_u64(s->genbuf, p->ob_type, m);
	if (s->ch.gen_type && type != s->ch.gen_type)
		return 0;
	s->ch.gen_type = type;
	code = buf_u64(s->genbuf, p->gen_iframe + p->frame_code, m) & ~3ULL;
	sp = buf_u64(s->genbuf, p->gen_iframe + p->frame_instr, m);
	if (p->mode & PYSPY_MODE_VERIFY)
		fp = pw_read_code_fp(&s->pw, p, code, &s->ch.fp_code, &s->ch.fp, &s->ch.reads);
	if (!put_frame(s, code, (__s32)(sp - code - p->code_adaptive), fp))
		return 1;
	state = (__s8)s->genbuf[p->gen_state & m];
	if (state < p->yf_lo || state > p->yf_hi)
		return 0;
	/* Suspended in an await: what it awaits is near the top of its value stack. */
	sp = buf_u64(s->genbuf, p->gen_iframe + p->frame_sp, m);
	s->ch.reads++;
	if (sp < p->yf_back || bpf_probe_read_user(&yf, 8, (void *)(sp - p->yf_back)))
		return 0;
	s->ch.gen = yf & ~3ULL;
	return 0;
}

/* The current task's marker, then on to the task awaiting it. */
static __always_inline long chain_task(struct scratch *s, const struct pyspy_proc *p)
{
	__u64 fp = 0, next = s->ch.next, name = s->ch.name;

	if (!s->ch.task)
		return 1;
	if (name) {
		s->ch.reads++;
		if (!bpf_probe_read_user(s->namebuf, sizeof(s->namebuf), (void *)(name + 8)))
			fp = pyspy_name_fp(name, s->namebuf, p->str_type, p->long_type);
	}
	if (!put_frame(s, s->ch.task | PYSPY_FRAME_TASK, (__s32)fp, (__u32)(fp >> 32)))
		return 1;
	s->ch.task = 0;
	if (!next || ++s->ch.tasks >= PYSPY_ASYNC_MAX_TASKS)
		return 1;
	if (chain_read_task(next)) {
		s->ch.err = PYSPY_ERR_READ_TASK;
		return 1;
	}
	s->ch.task = next;
	s->ch.name = s->ch.task_name;
	s->ch.next = s->ch.awaiter;
	s->ch.gen = s->ch.coro;
	s->ch.gen_type = 0;
	return 0;
}

/* One step of the chain: a coroutine, or a task.  1: the chain is done. */
__noinline long chain_step(void)
{
	struct scratch *s = get_scratch();

	if (!s)
		return 1;
	if (s->ch.gen)
		return chain_gen(s, &s->pc_proc);
	return chain_task(s, &s->pc_proc);
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
	return s->ch.n <= PYSPY_MAX_FRAMES ? s->ch.n : PYSPY_MAX_FRAMES;
}

/*
 * The thread's running task, if any: where its coroutine's frame is (the
 * walk stops there) and, in c, what the chain starts from.
 */
static __always_inline void running_task(struct scratch *s, const struct pyspy_proc *p, __u64 ts,
					 struct pw_walk *w)
{
	__u64 task = 0;

	__builtin_memset(&s->ch, 0, sizeof(s->ch));
	w->reads++;
	if (bpf_probe_read_user(&task, 8, (void *)(ts + p->ts_running_task)) || !task)
		return;
	if (chain_read_task(task) || !s->ch.coro)
		return;
	w->reads += s->ch.reads;
	s->ch.reads = 0;
	s->ch.task = task;
	s->ch.name = s->ch.task_name;
	s->ch.next = s->ch.awaiter;
	w->task_root = s->ch.coro + p->gen_iframe;
}

#endif /* PYSPY_ASYNCIO_BPF_H */
