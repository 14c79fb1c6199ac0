// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * pyspy.bpf.c - the sampler: on each cpu-clock tick, walk the CPython frame
 * chain of the thread that was running, in kernel context.
 *
 * The target is never stopped.  Everything read here comes from user memory
 * with bpf_probe_read_user and is untrusted: offsets come from the `procs`
 * map and are masked into the scratch buffers, loops are bounded, and a
 * faulting pointer ends the walk with a named error.  No strings are read:
 * a frame is a (code object pointer, instruction offset) pair, and
 * userspace turns it into `qualname (file:line)`.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "core_fixes.bpf.h"
#include "pyspy.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/*
 * Waking the ring-buffer reader costs more than walking a 32-frame stack
 * (an irq_work self-IPI; a VM exit on virtual machines).  So records are
 * sent without a wakeup and userspace polls on a short timer, except when
 * the buffer is filling up, or for a process in PYSPY_MODE_EAGER.
 */
const volatile __u64 wakeup_bytes = 1 << 20;

/* --all: report tgids not seen before so userspace can look at them. */
const volatile bool discover_all = false;

/*
 * --native: each sample also carries the thread's user registers and a copy
 * of its user stack (up to ustack_max bytes), and its Python frames mark
 * where each evaluation call began (PYSPY_FRAME_ENTRY).  --kernel: and its
 * kernel stack.  Off, a sample costs nothing more.
 */
const volatile bool native_stacks = false;
const volatile bool kernel_stacks = false;
const volatile __u32 ustack_max = PYSPY_USTACK_MAX;

/*
 * --async: a sample taken while a task runs is sent as that task's frames
 * and then the await chain above it (see PYSPY_FRAME_TASK); off, nothing
 * more is read.
 */
const volatile bool async_tasks = false;

/*
 * Bumped after every change to `procs` (userspace after its updates, the
 * exec and exit hooks after their deletes), so a CPU's cached copy of an
 * entry is never used past a change.
 */
__u64 procs_gen = 0;

/*
 * Threads with no PyThreadState are retried after 1 ms, then twice as long
 * each time up to 50 ms; and at once when the main interpreter's thread
 * list has a new head (a new thread state is put first).  A thread met
 * before its thread state existed or was bound (a process registered as
 * it starts, a thread just started, a C thread that later calls into
 * Python) is thus known by the time it first leaves the CPU, and none of
 * its waits is lost; a thread that never runs Python costs a list walk
 * per 50 ms and two reads per sample.
 */
#define NEG_CACHE_MIN_NS (1000 * 1000ULL)
#define NEG_CACHE_NS	 (50 * 1000 * 1000ULL)
/* Extra iterations for skipped shim frames on top of the frame limit. */
#define SKIP_SLACK 64

struct {
	/* LRU: with --all it also remembers non-Python processes; an evicted
	 * entry is only looked at again. */
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tgid */
	__type(value, struct pyspy_proc);
} procs SEC(".maps");

/* What a thread's PyThreadState is, found once by a list walk. */
struct tstate_entry {
	__u64 tstate;	/* 0: none found */
	__u64 retry_ns; /* negative entries: when to look again */
	__u64 head;	/* ... or sooner, once the thread list's head is not this */
	__u32 misses;	/* negative verdicts in a row */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tid */
	__type(value, struct tstate_entry);
} tstates SEC(".maps");

/* --async: the walk of the running task's await chain (see chain_step). */
struct chain_state {
	__u64 task;	/* whose marker comes next; */
	__u64 name;	/* ..its name, */
	__u64 next;	/* ..and the task awaiting it (0: none) */
	__u64 gen;	/* the coroutine to read next, 0: none */
	__u64 gen_type; /* the type of the task's own coroutine */
	/* what chain_read_task found */
	__u64 coro, task_name, awaiter;
	__u64 fp_code; /* VERIFY: the last fingerprint read */
	__u32 fp;
	__u32 n; /* frames in the sample so far */
	__u16 reads;
	__u16 err;
	__u16 tasks;
};

struct scratch {
	struct pyspy_sample sample;
	/* +8 so a masked offset plus an 8-byte load stays inside */
	__u8 tsbuf[PYSPY_TSTATE_BUF + 8];
	__u8 framebuf[PYSPY_FRAME_BUF + 8];
	__u8 fpbuf[PYSPY_CODE_FP_BUF + 8];
	/* A data-stack window; a frame inside it starts below PYSPY_WIN. */
	__u8 win[PYSPY_WIN + PYSPY_FRAME_BUF + 8];
	/* --async: a task, a coroutine, a set, a name's head */
	__u8 taskbuf[PYSPY_TASK_BUF + 8] __attribute__((aligned(8)));
	__u8 genbuf[PYSPY_GEN_BUF + 8] __attribute__((aligned(8)));
	__u64 setbuf[PYSPY_SET_BUF / 8 + 1];
	__u64 namebuf[PYSPY_NAME_FP_BUF / 8];
	struct chain_state ch;
	/* The thread this CPU sampled last and its PyThreadState: a CPU
	 * mostly samples the same thread, and this spares the tstates
	 * lookup.  Checked like any cached tstate (thread_id == fsbase). */
	__u32 last_tid;
	__u64 last_tstate;
	/* A copy of the procs entry of the Python process this CPU sampled
	 * last, valid while procs_gen is what it was when copied: it spares
	 * the procs lookup for the process a CPU is busy with. */
	__u32 pc_tgid;
	__u64 pc_gen;
	struct pyspy_proc pc_proc;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

/*
 * The native part of a sample, in a map of its own: with the Python frames
 * it would pass the per-CPU value limit.  +4096: a page-sized read at any
 * offset below PYSPY_USTACK_MAX stays inside.
 */
struct native_scratch {
	struct pyspy_native h;
	__u64 kstack[PYSPY_KSTACK_MAX];
	__u8 ustack[PYSPY_USTACK_MAX + 4096];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct native_scratch);
} native_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* resized by userspace */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PYSPY_ERR__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} errors SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PYSPY_STAT__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch_map, &zero);
}

static __always_inline void count(void *map, __u32 key)
{
	__u64 *v = bpf_map_lookup_elem(map, &key);

	if (v)
		(*v)++;
}

/* Offsets are masked into the buffers; the +8 slack keeps loads inside. */
static __always_inline __u64 ts_u64(struct scratch *s, __u32 off)
{
	return *(__u64 *)&s->tsbuf[off & (PYSPY_TSTATE_BUF - 1)];
}

/* fb: a frame's bytes, in framebuf or in the data-stack window. */
static __always_inline __u64 fr_u64(const __u8 *fb, __u32 off)
{
	return *(__u64 *)&fb[off & (PYSPY_FRAME_BUF - 1)];
}

static __always_inline __u32 max3(__u32 a, __u32 b, __u32 c)
{
	__u32 m = a > b ? a : b;

	return m > c ? m : c;
}

/* Bytes of a PyThreadState to read: up to the last field we use. */
static __always_inline __u32 tstate_read_size(const struct pyspy_proc *p)
{
	__u32 n = max3(p->tstate_next, p->tstate_thread_id, p->tstate_frame);

	if (p->tstate_chunk > n)
		n = p->tstate_chunk;
	n += 8;
	return n > PYSPY_TSTATE_BUF ? PYSPY_TSTATE_BUF : n;
}

static __always_inline int read_tstate(struct scratch *s, const struct pyspy_proc *p, __u64 ts)
{
	__u32 n = tstate_read_size(p);

	if (n == 0 || n > PYSPY_TSTATE_BUF)
		return -1;
	return bpf_probe_read_user(s->tsbuf, n, (void *)ts);
}

/*
 * Why match thread_id against fsbase: thread_id is pthread_self(), which is
 * the thread pointer (fsbase) on x86_64 for glibc and musl alike, in every
 * CPython 3.8+.  Unlike native_thread_id (3.11+ only) it does not depend on
 * the PID namespace the target runs in, and unlike the TSS key it needs no
 * libc internals.  The walk happens once per thread; the result is cached
 * per TID and re-checked against fsbase on every hit (one read, which also
 * brings the frame pointer).
 */
struct scan_ctx {
	struct scratch *s;
	const struct pyspy_proc *p;
	__u64 fsbase;
	__u64 ts;    /* the next thread state of the list */
	__u64 found; /* the thread's, once found */
	__u16 err;
};

/*
 * One thread state of an interpreter's list.  A bpf_loop callback, not an
 * unrolled loop: the verifier checks it once, where PYSPY_MAX_INTERPS x
 * PYSPY_MAX_THREADS bounded iterations made it walk some 300 000
 * instructions, most of the start-up time of every recording.
 */
static long scan_one(__u32 idx, struct scan_ctx *c)
{
	if (!c->ts)
		return 1;
	if (read_tstate(c->s, c->p, c->ts)) {
		c->err = PYSPY_ERR_READ_TSTATE;
		return 1;
	}
	if (ts_u64(c->s, c->p->tstate_thread_id) == c->fsbase) {
		c->found = c->ts;
		return 1;
	}
	c->ts = ts_u64(c->s, c->p->tstate_next);
	return 0;
}

/* The main interpreter's first thread state (0 if it cannot be read). */
static __always_inline __u64 threads_head(const struct pyspy_proc *p)
{
	__u64 interp = 0, ts = 0;

	if (bpf_probe_read_user(&interp, 8, (void *)(p->runtime_addr + p->runtime_interp_head)) ||
	    !interp || bpf_probe_read_user(&ts, 8, (void *)(interp + p->interp_threads_head)))
		return 0;
	return ts;
}

/* *head: the main interpreter's first thread state, as the walk read it. */
static __always_inline __u64 scan_threads(struct scratch *s, const struct pyspy_proc *p,
					  __u64 fsbase, __u64 *head, __u16 *err)
{
	struct scan_ctx c = { .s = s, .p = p, .fsbase = fsbase };
	__u64 interp = 0;

	if (bpf_probe_read_user(&interp, 8, (void *)(p->runtime_addr + p->runtime_interp_head))) {
		*err = PYSPY_ERR_READ_RUNTIME;
		return 0;
	}
	for (int i = 0; i < PYSPY_MAX_INTERPS && interp; i++) {
		c.ts = 0;
		if (bpf_probe_read_user(&c.ts, 8, (void *)(interp + p->interp_threads_head))) {
			*err = PYSPY_ERR_READ_RUNTIME;
			return 0;
		}
		if (!i)
			*head = c.ts;
		bpf_loop(PYSPY_MAX_THREADS, scan_one, &c, 0);
		if (c.found)
			return c.found;
		if (c.err) {
			*err = c.err;
			return 0;
		}
		if (bpf_probe_read_user(&interp, 8, (void *)(interp + p->interp_next)))
			break;
	}
	*err = PYSPY_ERR_NO_TSTATE;
	return 0;
}

/*
 * Find this thread's PyThreadState and leave it in s->tsbuf.  Returns 0 if
 * the thread has none (err says why).
 */
static __always_inline __u64 find_tstate(struct scratch *s, const struct pyspy_proc *p, __u32 tid,
					 __u64 now, __u16 *err)
{
	/* A BTF task pointer: fsbase is a plain load, not a probe read. */
	__u64 fsbase = bpf_get_current_task_btf()->thread.fsbase;
	struct tstate_entry *c, ne = {};

	if (s->last_tid == tid && s->last_tstate && !read_tstate(s, p, s->last_tstate) &&
	    ts_u64(s, p->tstate_thread_id) == fsbase)
		return s->last_tstate;
	c = bpf_map_lookup_elem(&tstates, &tid);
	if (c) {
		if (!c->tstate && now < c->retry_ns && threads_head(p) == c->head) {
			*err = PYSPY_ERR_NO_TSTATE;
			return 0;
		}
		if (c->tstate && !read_tstate(s, p, c->tstate) &&
		    ts_u64(s, p->tstate_thread_id) == fsbase)
			return c->tstate;
		if (!c->tstate)
			ne.misses = c->misses < 16 ? c->misses + 1 : 16;
	}
	count(&stats, PYSPY_STAT_TSTATE_SCAN);
	ne.tstate = scan_threads(s, p, fsbase, &ne.head, err);
	if (!ne.tstate) {
		__u64 wait = NEG_CACHE_MIN_NS << ne.misses;

		ne.retry_ns = now + (wait < NEG_CACHE_NS ? wait : NEG_CACHE_NS);
	} else {
		ne.misses = 0;
	}
	bpf_map_update_elem(&tstates, &tid, &ne, BPF_ANY);
	return ne.tstate;
}

struct walk_ctx {
	struct scratch *s;
	const struct pyspy_proc *p;
	__u64 frame;
	/* The data-stack window: win[0] is the target's byte at win_lo. */
	__u64 win_lo;
	__u32 win_len; /* 0: no window */
	__u32 fsize;
	/* The chunk a window may be read from, and the one below it (known
	 * once a window reached the chunk's header, which starts with it). */
	__u64 chunk;
	__u64 chunk_prev;
	/* VERIFY: the last fingerprint read (recursion repeats code objects) */
	__u64 fp_code;
	__u32 fp;
	__u32 n;
	__u16 reads;
	__u16 err;
	/* --async: the running task's coroutine frame, and how many frames
	 * lead to it (0: not met) */
	__u64 task_root;
	__u32 root_at;
};

/*
 * VERIFY mode: identify the code object as it is now, at sample time.
 * last_code, last_fp: the one read last (recursion repeats code objects).
 */
static __always_inline __u32 read_code_fp(struct scratch *s, const struct pyspy_proc *p, __u64 code,
					  __u64 *last_code, __u32 *last_fp, __u16 *reads)
{
	__u64 name;
	__s32 line;

	if (code == *last_code)
		return *last_fp;
	(*reads)++;
	if (bpf_probe_read_user(s->fpbuf, p->code_fp_len & (PYSPY_CODE_FP_BUF - 1),
				(void *)(code + p->code_fp_lo))) {
		count(&errors, PYSPY_ERR_READ_CODE);
		return 0;
	}
	name = *(__u64 *)&s->fpbuf[p->code_fp_name & (PYSPY_CODE_FP_BUF - 1)];
	line = *(__s32 *)&s->fpbuf[p->code_fp_line & (PYSPY_CODE_FP_BUF - 1)];
	*last_code = code;
	*last_fp = pyspy_code_fp(name, line);
	return *last_fp;
}

static __always_inline __u32 code_fp(struct walk_ctx *w, __u64 code)
{
	return read_code_fp(w->s, w->p, code, &w->fp_code, &w->fp, &w->reads);
}

/* Is the frame at f (fsize bytes) inside the chunk starting at c? */
static __always_inline bool in_chunk(__u64 c, __u64 f, __u32 fsize)
{
	return c && f > c && f + fsize <= c + PYSPY_CHUNK_MIN;
}

/*
 * Why windows: 3.11+ keep the frames of Python-to-Python calls in the
 * thread's data stack, chunks of 16 KiB or more in which each frame sits
 * just above its caller's.  One read of up to PYSPY_WIN bytes ending at a
 * frame brings its callers along, and a read costs about the same for a
 * few KiB as for 80 bytes, so a 32-frame stack is two or three reads
 * instead of 32.  Frames elsewhere (generators, 3.12+ entry frames on the
 * C stack, every 3.8-3.10 frame) are read one at a time.  A window holds
 * the same bytes a frame read would return; the chunk only says where a
 * window may start without touching unmapped memory, so a bad chunk
 * pointer costs a fallback read, never a wrong frame.
 */
static __always_inline bool read_window(struct walk_ctx *w, __u64 f)
{
	__u64 hi = f + w->fsize, lo = w->chunk;
	__u64 len;

	if (hi - lo > PYSPY_WIN)
		lo = hi - PYSPY_WIN;
	len = hi - lo;
	if (len > PYSPY_WIN)
		return false;
	w->reads++;
	if (bpf_probe_read_user(w->s->win, len, (void *)lo)) {
		w->chunk = 0; /* no more windows this sample */
		return false;
	}
	w->win_lo = lo;
	w->win_len = len;
	/* _PyStackChunk starts with its previous chunk. */
	if (lo == w->chunk)
		w->chunk_prev = *(__u64 *)w->s->win;
	return true;
}

/* The bytes of the frame at f: from the window, a new window, or a read. */
static __always_inline const __u8 *frame_bytes(struct walk_ctx *w, __u64 f)
{
	struct scratch *s = w->s;
	__u64 at = f - w->win_lo;

	if (w->win_len && f >= w->win_lo && at + w->fsize <= w->win_len)
		return &s->win[at & (PYSPY_WIN - 1)];
	if (!in_chunk(w->chunk, f, w->fsize) && in_chunk(w->chunk_prev, f, w->fsize)) {
		w->chunk = w->chunk_prev;
		w->chunk_prev = 0;
	}
	if (in_chunk(w->chunk, f, w->fsize) && read_window(w, f))
		return &s->win[(f - w->win_lo) & (PYSPY_WIN - 1)];
	w->reads++;
	/* The mask is the bound the verifier sees; fsize < PYSPY_FRAME_BUF was checked. */
	if (bpf_probe_read_user(s->framebuf, w->fsize & (PYSPY_FRAME_BUF - 1), (void *)f))
		return NULL;
	return s->framebuf;
}

static __always_inline long truncated(struct walk_ctx *w)
{
	w->s->sample.flags |= PYSPY_SAMPLE_TRUNCATED;
	w->err = PYSPY_ERR_TRUNCATED;
	return 1;
}

static long walk_one(__u32 idx, struct walk_ctx *w)
{
	struct scratch *s = w->s;
	const struct pyspy_proc *p = w->p;
	const __u8 *fb;
	__u64 code, instr;
	__u64 cur;
	__s32 lasti;
	__u32 n = w->n;

	if (!w->frame)
		return 1;
	fb = frame_bytes(w, w->frame);
	if (!fb) {
		w->err = PYSPY_ERR_READ_FRAME;
		return 1;
	}
	/* & ~3: 3.14+ tag bits of a _PyStackRef; harmless before. */
	code = fr_u64(fb, p->frame_code) & ~3ULL;
	cur = w->frame;
	w->frame = fr_u64(fb, p->frame_back);
	/*
	 * Shim / C-entry frames (3.12+ owner >= 3) are not Python code; the
	 * frame above one was the first its evaluation call ran.  --native
	 * sends the shim's address too (PYSPY_FRAME_SHIM): it is a local of
	 * that _PyEval_EvalFrameDefault call, so it tells userspace which
	 * native frame ran them whatever the symbols say.
	 */
	if (p->owner_skip_min && fb[p->frame_owner & (PYSPY_FRAME_BUF - 1)] >= p->owner_skip_min) {
		if (!native_stacks)
			return 0;
		if (n)
			s->sample.frames[(n - 1) & (PYSPY_MAX_FRAMES - 1)].code |=
				PYSPY_FRAME_ENTRY;
		if (n >= PYSPY_MAX_FRAMES)
			return truncated(w);
		code = cur | PYSPY_FRAME_SHIM;
		lasti = -1;
		s->sample.frames[n & (PYSPY_MAX_FRAMES - 1)].code_fp = 0;
		goto emit;
	}
	if (n >= PYSPY_MAX_FRAMES)
		return truncated(w);
	if (p->instr_is_ptr) {
		instr = fr_u64(fb, p->frame_instr);
		lasti = (__s32)(instr - code - p->code_adaptive);
	} else {
		lasti = *(__s32 *)&fb[p->frame_instr & (PYSPY_FRAME_BUF - 1)];
		lasti *= p->lasti_mult;
	}
	s->sample.frames[n & (PYSPY_MAX_FRAMES - 1)].code_fp =
		(p->mode & PYSPY_MODE_VERIFY) ? code_fp(w, code) : 0;
	/* 3.11: the frame says so itself. */
	code |= native_stacks && p->frame_entry && fb[p->frame_entry & (PYSPY_FRAME_BUF - 1)];
emit:
	s->sample.frames[n & (PYSPY_MAX_FRAMES - 1)].code = code;
	s->sample.frames[n & (PYSPY_MAX_FRAMES - 1)].lasti = lasti;
	w->n = n + 1;
	/*
	 * --async: below the running task's coroutine is the event loop,
	 * whose frames the record leaves out.  Noted without a branch: a
	 * branch on two unknown pointers here made the verifier walk three
	 * times the instructions (a second of start-up on both programs).
	 */
	{
		__u64 d = cur ^ w->task_root;
		__u64 eq = ((d | -d) >> 63) ^ 1; /* 1 if cur == task_root */

		w->root_at |= (__u32)(eq * (n + 1));
	}
	return 0;
}

/* --- --async: the await chain of the running task ------------------------ */

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
		fp = read_code_fp(s, p, code, &s->ch.fp_code, &s->ch.fp, &s->ch.reads);
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

/* The current frame of the thread whose state is in s->tsbuf. */
static __always_inline __u64 first_frame(struct scratch *s, const struct pyspy_proc *p, __u16 *err)
{
	__u64 f = ts_u64(s, p->tstate_frame);

	if (p->frame_model == PYSPY_FM_CFRAME && f) {
		__u64 cf = f;

		f = 0;
		if (bpf_probe_read_user(&f, 8, (void *)(cf + p->cframe_current)))
			*err = PYSPY_ERR_READ_TSTATE;
	}
	return f;
}

static __always_inline __u32 frame_read_size(const struct pyspy_proc *p)
{
	__u32 n = max3(p->frame_back, p->frame_code, p->frame_instr) + 8;

	if (p->owner_skip_min && p->frame_owner + 1 > n)
		n = p->frame_owner + 1;
	if (p->frame_entry && p->frame_entry + 1 > n)
		n = p->frame_entry + 1;
	return n;
}

static __always_inline __u64 wakeup_flags(const struct pyspy_proc *p)
{
	if ((p->mode & PYSPY_MODE_EAGER) ||
	    bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* Does the thread whose tstate is ts hold the GIL right now? */
static __always_inline bool holds_gil(const struct pyspy_proc *p, __u64 ts)
{
	__u8 g[40];

	if (!p->gil_addr || bpf_probe_read_user(g, sizeof(g), (void *)p->gil_addr))
		return false;
	return *(__u64 *)&g[p->gil_holder & 31] == ts && *(__s32 *)&g[p->gil_locked & 31] > 0;
}

/* Why the thread is leaving the CPU, for OFFCPU samples. */
struct switch_info {
	__u16 flags;
	__s32 syscall;
	__u64 arg;
};

/* The wakeup policy for an event about tgid (see wakeup_bytes). */
static __always_inline __u64 wakeup_flags_for(__u32 tgid)
{
	struct pyspy_proc *p = bpf_map_lookup_elem(&procs, &tgid);

	if (p)
		return wakeup_flags(p);
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									     : BPF_RB_NO_WAKEUP;
}

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

/*
 * The thread's running task, if any: where its coroutine's frame is (the
 * walk stops there) and, in c, what the chain starts from.
 */
static __always_inline void running_task(struct scratch *s, const struct pyspy_proc *p, __u64 ts,
					 struct walk_ctx *w)
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

static __always_inline int sample_python(void *ctx, struct scratch *s, const struct pyspy_proc *p,
					 __u32 tgid, __u32 tid, const struct switch_info *si)
{
	struct walk_ctx w = {};
	__u64 ts, size;

	s->sample.flags = (p->mode & PYSPY_MODE_VERIFY) ? PYSPY_SAMPLE_VERIFIED : 0;
	s->sample.syscall = si ? si->syscall : -1;
	s->sample.arg = si ? si->arg : 0;
	if (si)
		s->sample.flags |= si->flags;
	s->sample.ktime_ns = bpf_ktime_get_ns();
	ts = find_tstate(s, p, tid, s->sample.ktime_ns, &w.err);
	s->last_tid = tid;
	s->last_tstate = ts;
	if (!ts) {
		count(&errors, w.err);
		return 0;
	}
	/* The tstate read, the GIL read and the _PyCFrame hop. */
	w.reads = 1 + !!p->gil_addr + (p->frame_model == PYSPY_FM_CFRAME);
	if (holds_gil(p, ts))
		s->sample.flags |= PYSPY_SAMPLE_GIL;
	w.frame = first_frame(s, p, &w.err);
	if (!w.frame) {
		if (w.err)
			count(&errors, w.err);
		else
			count(&stats, PYSPY_STAT_IDLE);
		return 0;
	}
	w.s = s;
	w.p = p;
	if (p->tstate_chunk)
		w.chunk = ts_u64(s, p->tstate_chunk);
	w.fsize = frame_read_size(p);
	if (w.fsize >= PYSPY_FRAME_BUF) {
		count(&errors, PYSPY_ERR_BAD_LAYOUT);
		return 0;
	}
	if (async_tasks && p->ts_running_task)
		running_task(s, p, ts, &w);
	bpf_loop(PYSPY_MAX_FRAMES + SKIP_SLACK, walk_one, &w, 0);
	if (async_tasks && p->ts_running_task) {
		/* The rest of the record: the running task and those awaiting it. */
		w.n = chain_walk(w.root_at, w.n);
		w.reads += s->ch.reads;
		if (s->ch.err && !w.err)
			w.err = s->ch.err;
	}
	if (w.frame && !w.err) {
		/* Out of iterations with frames left: as deep as the limit. */
		s->sample.flags |= PYSPY_SAMPLE_TRUNCATED;
		w.err = PYSPY_ERR_TRUNCATED;
	}
	if (w.err)
		count(&errors, w.err);

	s->sample.pid = tgid;
	s->sample.tid = tid;
	s->sample.cgroup_id = bpf_get_current_cgroup_id();
	s->sample.cpu = bpf_get_smp_processor_id();
	s->sample.reads = w.reads;
	s->sample.error = w.err;
	s->sample.n_frames = w.n;
	size = PYSPY_SAMPLE_HDR_SIZE + (__u64)w.n * sizeof(struct pyspy_frame);
	if (size > sizeof(s->sample))
		size = sizeof(s->sample);
	if (native_stacks || kernel_stacks)
		return emit_native(ctx, s, p, size, wakeup_flags(p));
	if (bpf_ringbuf_output(&events, &s->sample, size, wakeup_flags(p)))
		count(&errors, PYSPY_ERR_RINGBUF_FULL);
	return 0;
}

/* A header-only record telling userspace about a process. */
static __always_inline void emit_event(__u32 tgid, __u32 tid, __u16 flags)
{
	struct pyspy_event ev = {};

	ev.pid = tgid;
	ev.tid = tid;
	ev.flags = flags;
	ev.ktime_ns = bpf_ktime_get_ns();
	if (bpf_ringbuf_output(&events, &ev, sizeof(ev), BPF_RB_FORCE_WAKEUP))
		count(&errors, PYSPY_ERR_RINGBUF_FULL);
}

static __always_inline void note_new_process(__u32 tgid, __u32 tid)
{
	struct pyspy_proc pending;

	__builtin_memset(&pending, 0, sizeof(pending));
	pending.state = PYSPY_PROC_PENDING;

	/* NOEXIST: only the first tick of a process reports it. */
	if (!bpf_map_update_elem(&procs, &tgid, &pending, BPF_NOEXIST))
		emit_event(tgid, tid, PYSPY_EVENT_NEW_PROCESS);
}

/*
 * The procs entry of tgid if it is a Python process we sample, from this
 * CPU's copy when nothing changed since it was made.  *seen: an entry
 * exists (of any state).
 */
static __always_inline const struct pyspy_proc *python_proc(struct scratch *s, __u32 tgid,
							    bool *seen, __u8 *state)
{
	__u64 gen = *(volatile __u64 *)&procs_gen;
	struct pyspy_proc *p;

	*seen = true;
	*state = PYSPY_PROC_PYTHON;
	if (tgid && s->pc_tgid == tgid && s->pc_gen == gen)
		return &s->pc_proc;
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p) {
		*seen = false;
		return NULL;
	}
	*state = p->state;
	if (p->state != PYSPY_PROC_PYTHON)
		return NULL;
	s->pc_proc = *p;
	s->pc_tgid = tgid;
	s->pc_gen = gen;
	return &s->pc_proc;
}

SEC("perf_event")
int pyspy_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct scratch *s = get_scratch();
	const struct pyspy_proc *p;
	bool seen;
	__u8 state;

	if (!s)
		return 0;
	/* The only cost for processes we do not profile: one lookup. */
	p = python_proc(s, tgid, &seen, &state);
	if (!p) {
		if (!seen && discover_all && tgid)
			note_new_process(tgid, tid);
		return 0;
	}
	return sample_python(ctx, s, p, tgid, tid, NULL);
}

/* --- off-CPU: where a thread blocks, and for how long --------------------- */

/* When each Python thread that left the CPU left it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);   /* tid */
	__type(value, __u64); /* ktime */
} offcpu_start SEC(".maps");

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

/*
 * sched_switch runs in prev's context, so prev's own Python stack can be
 * walked like a CPU sample; next's wait, if it is one of ours, ends here.
 * A thread of a process we do not sample costs one map lookup each way.
 */
SEC("raw_tracepoint/sched_switch")
int pyspy_switch(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *prev = (void *)ctx->args[1], *next = (void *)ctx->args[2];
	__u64 id = bpf_get_current_pid_tgid(), now, *start;
	__u32 tgid = id >> 32, tid = (__u32)id, ntid;
	struct switch_info si = { .flags = PYSPY_SAMPLE_OFFCPU };
	struct scratch *s = get_scratch();
	const struct pyspy_proc *p;
	bool seen;
	__u8 state;

	if (!s)
		return 0;
	p = python_proc(s, tgid, &seen, &state);
	if (!p && state == PYSPY_PROC_WATCH && tid) {
		/* Not Python yet: only when it left, for registration to find. */
		now = bpf_ktime_get_ns();
		bpf_map_update_elem(&offcpu_start, &tid, &now, BPF_ANY);
	} else if (p && tid) {
		/* Still runnable: preempted (or yielded), waiting for a CPU. */
		if (ctx->args[0] || get_task_state(prev) == 0)
			si.flags |= PYSPY_SAMPLE_PREEMPTED;
		else
			blocked_in(&si);
		unseen_run(prev, tgid, tid);
		sample_python(ctx, s, p, tgid, tid, &si);
		now = bpf_ktime_get_ns();
		bpf_map_update_elem(&offcpu_start, &tid, &now, BPF_ANY);
	}
	ntid = BPF_CORE_READ(next, pid);
	start = bpf_map_lookup_elem(&offcpu_start, &ntid);
	if (!start)
		return 0;
	now = bpf_ktime_get_ns();
	{
		__u64 began = *start;

		bpf_map_delete_elem(&offcpu_start, &ntid);
		wait_ended(BPF_CORE_READ(next, tgid), ntid, began, now);
	}
	return 0;
}

/*
 * exec replaces the image: whatever we knew of this tgid is void.  Raw
 * tracepoints need neither tracefs nor kprobes.
 */
SEC("raw_tracepoint/sched_process_exec")
int pyspy_exec(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct pyspy_proc *p = bpf_map_lookup_elem(&procs, &tgid);

	if (!p)
		return 0;
	if (p->state == PYSPY_PROC_PYTHON || p->state == PYSPY_PROC_WATCH)
		emit_event(tgid, (__u32)id, PYSPY_EVENT_EXEC);
	/* A launched command keeps being watched into the image it became. */
	if (p->state == PYSPY_PROC_WATCH)
		return 0;
	bpf_map_delete_elem(&procs, &tgid);
	__sync_fetch_and_add(&procs_gen, 1);
	return 0;
}

/* The group leader's exit ends the process: forget it (PIDs get reused). */
SEC("raw_tracepoint/sched_process_exit")
int pyspy_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;

	if (tgid == (__u32)id && !bpf_map_delete_elem(&procs, &tgid))
		__sync_fetch_and_add(&procs_gen, 1);
	return 0;
}
