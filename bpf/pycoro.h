/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * pycoro.h - the one coroutine step of CPython 3.14+'s asyncio, compiled
 * into the BPF sampler (--async's await chain, bpf/asyncio.bpf.h) and into
 * userspace: dump --async's task reader (symbolize/cpython/asyncio.c),
 * --async --mode wall's batched reader (user/engine/asyncwait.c) and the
 * unit test that replays saved images of real targets
 * (tests/unit/test_coro.c).
 *
 * Owns: what a task's bytes say (is it a Task, its coroutine, its name,
 * who awaits it), the head of an awaiters set and which of its slots are
 * live, what a coroutine's bytes say (is it a coroutine of the chain's
 * type, its frame's code and instruction offset, its state, where the
 * object it awaits is named), and the await chain the BPF side sends with
 * a sample: the running task's marker, then each task awaiting it, its
 * coroutines first (see PYSPY_FRAME_TASK).  Every offset is data in
 * struct pyspy_proc (bpf/pyspy.h), masked into the buffers below.
 *
 * The includer defines PW_READ & co. as for pywalk.h, and may define
 *   PC_READ_TASK(cb, c, p, task)  read a task for the chain walk (the BPF
 *                                 side's is a global function, checked
 *                                 once); pc_read_task by default.
 * PW_READ's b is a struct pc_buf here: b->pid is the target in userspace.
 */
#ifndef PYSPY_PYCORO_H
#define PYSPY_PYCORO_H

#include "pywalk.h"

/* The bytes the coroutine step reads into; +8: a masked offset plus a load stays inside. */
struct pc_buf {
	__u8 taskbuf[PYSPY_TASK_BUF + 8] __attribute__((aligned(8)));
	__u8 genbuf[PYSPY_GEN_BUF + 8] __attribute__((aligned(8)));
	__u64 setbuf[PYSPY_SET_BUF / 8 + 1];
	__u64 namebuf[PYSPY_NAME_FP_BUF / 8];
	__s32 pid; /* userspace: the target */
};

/* --- a task --------------------------------------------------------------- */

/* What a task's bytes say. */
struct pc_task {
	__u64 coro, name;
	__u64 awaited_by; /* a task, or a set of them (by_set); 0: none */
	bool is_task;	  /* a Task, not a plain Future (which has no coroutine) */
	bool by_set;
};

/* From tb, the p->task_len bytes of a task at its address + p->task_lo. */
static __always_inline void pc_task_fields(const struct pyspy_proc *p, const __u8 *tb,
					   struct pc_task *t)
{
	const __u32 m = PYSPY_TASK_BUF - 1;

	t->is_task = tb[p->task_is_task & m] != 0;
	t->by_set = tb[p->task_is_set & m] != 0;
	t->coro = PW_LOAD(__u64, &tb[p->task_coro & m]);
	t->name = PW_LOAD(__u64, &tb[p->task_name & m]);
	t->awaited_by = PW_LOAD(__u64, &tb[p->task_awaited_by & m]);
}

/* A set's table and mask, from its first PYSPY_SET_BUF bytes read into cb->setbuf: 0 or nonzero. */
static __always_inline int pc_set_head(struct pc_buf *cb, const struct pyspy_proc *p, __u64 set,
				       __u64 *table, __u64 *mask)
{
	if (PW_READ(cb, cb->setbuf, PYSPY_SET_BUF, set))
		return -1;
	*table = cb->setbuf[(p->set_table / 8) & (PYSPY_SET_BUF / 8 - 1)];
	*mask = cb->setbuf[(p->set_mask / 8) & (PYSPY_SET_BUF / 8 - 1)];
	return 0;
}

/* Is a set's slot (key, hash) an entry: empty slots have no key, deleted ones hash -1. */
static __always_inline bool pc_set_live(__u64 key, __u64 hash)
{
	return key && hash != (__u64)-1;
}

/*
 * The first entry of a set of awaiters, from its table's first slots in
 * sb (PYSPY_SET_BUF bytes: a set of a few awaiters has them there); 0: none.
 */
static __always_inline __u64 pc_set_first(const __u64 *sb, __u32 mask)
{
	for (int i = 0; i < PYSPY_SET_BUF / 16; i++)
		if ((__u32)i <= mask && pc_set_live(sb[2 * i], sb[2 * i + 1]))
			return sb[2 * i];
	return 0;
}

/* --- a coroutine ------------------------------------------------------------ */

/* What a coroutine's bytes say. */
struct pc_gen {
	__u64 code;  /* its frame's code object */
	__s32 lasti; /* ...and the instruction's offset in bytes */
	__s8 state;  /* gi_frame_state */
	/* Suspended in an await: the address naming what it awaits (a
	 * value-stack slot, tag bits and all); 0: it awaits nothing. */
	__u64 yf_at;
};

/*
 * The coroutine whose first p->gen_len bytes are gb.  What a coroutine
 * awaits may be anything, so only a coroutine of the chain's own type goes
 * on: 1 when its type is not *type0 (0: the chain's first, which sets it),
 * else 0 and *g.
 */
static __always_inline int pc_gen_decode(const struct pyspy_proc *p, const __u8 *gb, __u64 *type0,
					 struct pc_gen *g)
{
	const __u32 m = PYSPY_GEN_BUF - 1;
	__u64 type = PW_LOAD(__u64, &gb[p->ob_type & m]), instr, sp;

	if (*type0 && type != *type0)
		return 1;
	*type0 = type;
	g->code = PW_LOAD(__u64, &gb[(p->gen_iframe + p->frame_code) & m]) & ~3ULL;
	instr = PW_LOAD(__u64, &gb[(p->gen_iframe + p->frame_instr) & m]);
	g->lasti = (__s32)(instr - g->code - p->code_adaptive);
	g->state = (__s8)gb[p->gen_state & m];
	g->yf_at = 0;
	if (g->state < p->yf_lo || g->state > p->yf_hi)
		return 0;
	/* Suspended in an await: what it awaits is near the top of its value stack. */
	sp = PW_LOAD(__u64, &gb[(p->gen_iframe + p->frame_sp) & m]);
	if (sp >= p->yf_back)
		g->yf_at = sp - p->yf_back;
	return 0;
}

/* Read the coroutine at gen into cb->genbuf and decode it: -1 if unreadable, else pc_gen_decode's. */
static __always_inline int pc_gen_read(struct pc_buf *cb, const struct pyspy_proc *p, __u64 gen,
				       __u64 *type0, struct pc_gen *g)
{
	if (PW_READ(cb, cb->genbuf, p->gen_len & (PYSPY_GEN_BUF - 1), gen))
		return -1;
	return pc_gen_decode(p, cb->genbuf, type0, g);
}

/* The object a coroutine awaits, from the slot that names it (3.14+ tag its low bits). */
static __always_inline __u64 pc_awaited(__u64 slot)
{
	return slot & ~3ULL;
}

/* What the coroutine decoded as g awaits: 0 if nothing, or if its slot cannot be read. */
static __always_inline __u64 pc_gen_awaits(struct pc_buf *cb, const struct pc_gen *g)
{
	__u64 slot = 0;

	if (!g->yf_at || PW_READ(cb, &slot, 8, g->yf_at))
		return 0;
	return pc_awaited(slot);
}

/* --- the await chain a sample carries -------------------------------------- */

/* The walk of a running task's await chain, one pc_chain_step at a time. */
struct pc_chain {
	__u64 task;	/* whose marker comes next; */
	__u64 name;	/* ..its name, */
	__u64 next;	/* ..and the task awaiting it (0: none) */
	__u64 gen;	/* the coroutine to read next, 0: none */
	__u64 gen_type; /* the type of the task's own coroutine */
	/* what pc_read_task found */
	__u64 coro, task_name, awaiter;
	__u64 fp_code; /* VERIFY: the last fingerprint read */
	__u32 fp;
	__u32 n; /* frames in the record so far */
	__u16 reads;
	__u16 err;
	__u16 tasks;
	__u8 truncated; /* the record was full */
};

/*
 * The task at task into c: its coroutine, its name, and who awaits it:
 * task_awaited_by, or when several tasks do (a set) the first one in the
 * set's table.  0, or -1 if it cannot be read or is not a Task.
 */
static __always_inline int pc_read_task(struct pc_buf *cb, struct pc_chain *c,
					const struct pyspy_proc *p, __u64 task)
{
	struct pc_task t;
	__u64 table, mask;

	c->reads++;
	if (PW_READ(cb, cb->taskbuf, p->task_len & (PYSPY_TASK_BUF - 1), task + p->task_lo))
		return -1;
	pc_task_fields(p, cb->taskbuf, &t);
	if (!t.is_task)
		return -1;
	c->coro = t.coro;
	c->task_name = t.name;
	c->awaiter = t.awaited_by;
	if (!t.awaited_by || !t.by_set)
		return 0;
	c->awaiter = 0;
	c->reads += 2;
	if (pc_set_head(cb, p, t.awaited_by, &table, &mask) ||
	    PW_READ(cb, cb->setbuf, PYSPY_SET_BUF, table))
		return 0;
	c->awaiter = pc_set_first(cb->setbuf, (__u32)mask);
	return 0;
}

#ifndef PC_READ_TASK
#define PC_READ_TASK(cb, c, p, task) pc_read_task((cb), (c), (p), (task))
#endif

/*
 * The running task of the thread whose state is at ts, read into c: the
 * chain starts at its marker (its coroutines are the thread's own frames).
 * Its coroutine's frame, where the thread's walk stops (pw_walk.task_root),
 * or 0: no task runs, or it cannot be read.
 */
static __always_inline __u64 pc_running_task(struct pc_buf *cb, struct pc_chain *c,
					     const struct pyspy_proc *p, __u64 ts)
{
	__u64 task = 0;

	c->reads++;
	if (PW_READ(cb, &task, 8, ts + p->ts_running_task) || !task)
		return 0;
	if (PC_READ_TASK(cb, c, p, task) || !c->coro)
		return 0;
	c->task = task;
	c->name = c->task_name;
	c->next = c->awaiter;
	return c->coro + p->gen_iframe;
}

static __always_inline bool pc_put_frame(struct pc_chain *c, struct pyspy_frame *frames, __u64 code,
					 __s32 lasti, __u32 fp)
{
	struct pyspy_frame *f;
	__u32 n = c->n;

	if (n >= PYSPY_MAX_FRAMES) {
		c->truncated = 1;
		return false;
	}
	f = &frames[n & (PYSPY_MAX_FRAMES - 1)];
	f->code = code;
	f->lasti = lasti;
	f->code_fp = fp;
	c->n = n + 1;
	return true;
}

/* One coroutine of the current task: its frame, then on to what it awaits. */
static __always_inline long pc_chain_gen(struct pw_buf *wb, struct pc_buf *cb, struct pc_chain *c,
					 const struct pyspy_proc *p, struct pyspy_frame *frames)
{
	struct pc_gen g;
	__u64 gen = c->gen;
	__u32 fp = 0;

	c->gen = 0;
	c->reads++;
	if (pc_gen_read(cb, p, gen, &c->gen_type, &g))
		return 0; /* not a coroutine we can read: the task's own part ends here */
	if (p->mode & PYSPY_MODE_VERIFY)
		fp = pw_read_code_fp(wb, p, g.code, &c->fp_code, &c->fp, &c->reads);
	if (!pc_put_frame(c, frames, g.code, g.lasti, fp))
		return 1;
	if (g.yf_at)
		c->reads++;
	c->gen = pc_gen_awaits(cb, &g);
	return 0;
}

/* The current task's marker (its name's fingerprint), then on to the task awaiting it. */
static __always_inline long pc_chain_task(struct pc_buf *cb, struct pc_chain *c,
					  const struct pyspy_proc *p, struct pyspy_frame *frames)
{
	__u64 fp = 0, next = c->next, name = c->name;

	if (!c->task)
		return 1;
	if (name) {
		c->reads++;
		if (!PW_READ(cb, cb->namebuf, sizeof(cb->namebuf), name + 8))
			fp = pyspy_name_fp(name, cb->namebuf, p->str_type, p->long_type);
	}
	if (!pc_put_frame(c, frames, c->task | PYSPY_FRAME_TASK, (__s32)fp, (__u32)(fp >> 32)))
		return 1;
	c->task = 0;
	if (!next || ++c->tasks >= PYSPY_ASYNC_MAX_TASKS)
		return 1;
	if (PC_READ_TASK(cb, c, p, next)) {
		c->err = PYSPY_ERR_READ_TASK;
		return 1;
	}
	c->task = next;
	c->name = c->task_name;
	c->next = c->awaiter;
	c->gen = c->coro;
	c->gen_type = 0;
	return 0;
}

/*
 * One step of the chain: a coroutine, or a task.  1: the chain is done
 * (at most PYSPY_ASYNC_STEPS of them; c->n is then the record's frames).
 */
static __always_inline long pc_chain_step(struct pw_buf *wb, struct pc_buf *cb, struct pc_chain *c,
					  const struct pyspy_proc *p, struct pyspy_frame *frames)
{
	if (c->gen)
		return pc_chain_gen(wb, cb, c, p, frames);
	return pc_chain_task(cb, c, p, frames);
}

#endif /* PYSPY_PYCORO_H */
