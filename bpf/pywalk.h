/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * pywalk.h - the one walk of a thread's CPython frames, compiled into the
 * BPF sampler (bpf/pyspy.bpf.c) and into userspace (the walk `dump` and the
 * blocked-thread scan use, symbolize/cpython/unwind.c, and the unit test
 * that replays saved memory of real interpreters, tests/unit/test_walk.c).
 *
 * Owns: reading a thread state (what it needs of it), its current frame,
 * one frame step (code pointer, instruction offset, the caller; 3.12+ shim
 * frames; 3.11 entry marks), the 3.11+ data-stack windows that bring a
 * frame's callers along in one read, and the code object's fingerprint in
 * VERIFY mode.  Every version difference is data in struct pyspy_proc
 * (bpf/pyspy.h); every read is bounded by the buffers below.
 *
 * The includer defines, before including:
 *   PW_READ(b, dst, len, addr)  read len bytes of the target at addr into
 *                            dst, for the walk whose buffers are b (b->pid
 *                            is the target in userspace): 0, or nonzero if
 *                            they cannot be read;
 *   PW_MARKS(w)              nonzero: mark where each evaluation call began
 *                            (--native; the BPF side's is a load-time
 *                            constant, so the verifier drops what is off);
 *   PW_COUNT(err)            count an error that does not end the walk;
 *   PW_ON_TSTATE(c)          each thread state a scan passes (in c->b->tsbuf):
 *                            nonzero ends the scan (userspace lists them all;
 *                            the BPF side looks for one and defines it 0).
 * Userspace gets __u64 & co. from <linux/types.h> through pyspy.h.
 */
#ifndef PYSPY_PYWALK_H
#define PYSPY_PYWALK_H

#include "pyspy.h"

#ifndef __VMLINUX_H__
#include <stdbool.h>
#endif

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* Extra iterations for skipped shim frames on top of the frame limit. */
#define PW_SKIP_SLACK 64
/* The bound of a walk's loop: every frame it can take, and the skipped ones. */
#define PW_STEPS (PYSPY_MAX_FRAMES + PW_SKIP_SLACK)

/* The bytes a walk reads into; +8 so a masked offset plus an 8-byte load stays inside. */
struct pw_buf {
	__u8 tsbuf[PYSPY_TSTATE_BUF + 8] __attribute__((aligned(8)));
	__u8 framebuf[PYSPY_FRAME_BUF + 8];
	__u8 fpbuf[PYSPY_CODE_FP_BUF + 8];
	/* A data-stack window; a frame inside it starts below PYSPY_WIN. */
	__u8 win[PYSPY_WIN + PYSPY_FRAME_BUF + 8];
	__s32 pid; /* userspace: the target (the BPF side reads the current task) */
};

/* One walk of a frame chain: pw_walk_start, then pw_walk_one until it returns 1. */
struct pw_walk {
	struct pw_buf *b;
	const struct pyspy_proc *p;
	struct pyspy_frame *frames; /* PYSPY_MAX_FRAMES of them */
	__u64 frame;		    /* the next frame to take, 0: none */
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
	__u32 n; /* frames taken */
	__u16 reads;
	__u16 err; /* PYSPY_ERR_*, 0: none */
	__u8 truncated;
	__u8 marks; /* userspace's PW_MARKS */
	/* --async: the running task's coroutine frame, and how many frames
	 * lead to it (0: not met) */
	__u64 task_root;
	__u32 root_at;
};

/*
 * Loads at offsets the target's layout gives: a plain load on the BPF side
 * (x86-64 takes any alignment, and the verifier a plain load best), by
 * bytes in userspace, where an unaligned load is undefined behaviour.
 */
#ifdef __bpf__
#define PW_LOAD(type, at) (*(const type *)(at))
#else
#define PW_LOAD(type, at)                                \
	({                                               \
		type v_;                                 \
		__builtin_memcpy(&v_, (at), sizeof(v_)); \
		v_;                                      \
	})
#endif

/* Offsets are masked into the buffers; the +8 slack keeps loads inside. */
static __always_inline __u64 pw_ts_u64(const struct pw_buf *b, __u32 off)
{
	return PW_LOAD(__u64, &b->tsbuf[off & (PYSPY_TSTATE_BUF - 1)]);
}

/* fb: a frame's bytes, in framebuf or in the data-stack window. */
static __always_inline __u64 pw_fr_u64(const __u8 *fb, __u32 off)
{
	return PW_LOAD(__u64, &fb[off & (PYSPY_FRAME_BUF - 1)]);
}

static __always_inline __u32 pw_max3(__u32 a, __u32 b, __u32 c)
{
	__u32 m = a > b ? a : b;

	return m > c ? m : c;
}

/* Bytes of a PyThreadState to read: up to the last field we use. */
static __always_inline __u32 pw_tstate_size(const struct pyspy_proc *p)
{
	__u32 n = pw_max3(p->tstate_next, p->tstate_thread_id, p->tstate_frame);

	n = pw_max3(n, p->tstate_chunk, p->tstate_interp);
	if (p->tstate_native_tid > n)
		n = p->tstate_native_tid;
	n += 8;
	return n > PYSPY_TSTATE_BUF ? PYSPY_TSTATE_BUF : n;
}

/* Read the thread state at ts into b->tsbuf: 0, or nonzero. */
static __always_inline int pw_read_tstate(struct pw_buf *b, const struct pyspy_proc *p, __u64 ts)
{
	__u32 n = pw_tstate_size(p);

	if (n == 0 || n > PYSPY_TSTATE_BUF)
		return -1;
	return PW_READ(b, b->tsbuf, n, ts);
}

/* The next thread state of the list, and a thread's id, from b->tsbuf. */
static __always_inline __u64 pw_tstate_next(const struct pw_buf *b, const struct pyspy_proc *p)
{
	return pw_ts_u64(b, p->tstate_next);
}

static __always_inline __u64 pw_tstate_thread_id(const struct pw_buf *b, const struct pyspy_proc *p)
{
	return pw_ts_u64(b, p->tstate_thread_id);
}

/*
 * A scan of one interpreter's thread list: pw_scan_one over it until it
 * returns 1.  It stops at the thread whose thread_id (pthread_self(),
 * the thread pointer on x86_64) is `want`, or at the list's end, or at a
 * fault or a thread state of another interpreter (freed and reused while
 * read: the list changed).
 */
struct pw_scan {
	struct pw_buf *b;
	const struct pyspy_proc *p;
	__u64 interp; /* whose list it is */
	__u64 ts;     /* the next thread state, 0: the end */
	__u64 want;   /* the thread_id to stop at; 0: none */
	__u64 found;  /* its thread state, once met */
	__u16 err;    /* PYSPY_ERR_READ_TSTATE: a fault, or the list changed */
	void *ctx;    /* the includer's, for PW_ON_TSTATE */
};

/*
 * One thread state of the list.  A bpf_loop callback on the BPF side
 * (unused: an includer that only takes the coroutine step, pycoro.h).
 */
static __attribute__((unused)) long pw_scan_one(__u32 idx, struct pw_scan *c)
{
	(void)idx;
	if (!c->ts)
		return 1;
	if (pw_read_tstate(c->b, c->p, c->ts) ||
	    (c->p->tstate_interp && pw_ts_u64(c->b, c->p->tstate_interp) != c->interp)) {
		c->err = PYSPY_ERR_READ_TSTATE;
		return 1;
	}
	if (c->want && pw_tstate_thread_id(c->b, c->p) == c->want) {
		c->found = c->ts;
		return 1;
	}
	if (PW_ON_TSTATE(c))
		return 1;
	c->ts = pw_tstate_next(c->b, c->p);
	return 0;
}

/* The first thread state of an interpreter's list, and the next interpreter. */
static __always_inline int pw_interp_threads(struct pw_buf *b, const struct pyspy_proc *p,
					     __u64 interp, __u64 *ts)
{
	*ts = 0;
	return PW_READ(b, ts, 8, interp + p->interp_threads_head);
}

static __always_inline int pw_interp_next(struct pw_buf *b, const struct pyspy_proc *p,
					  __u64 interp, __u64 *next)
{
	*next = 0;
	return PW_READ(b, next, 8, interp + p->interp_next);
}

/* The first interpreter: _PyRuntime.interpreters.head. */
static __always_inline int pw_interp_head(struct pw_buf *b, const struct pyspy_proc *p,
					  __u64 *interp)
{
	*interp = 0;
	return PW_READ(b, interp, 8, p->runtime_addr + p->runtime_interp_head);
}

/* The current frame of the thread whose state is in b->tsbuf; *err on a fault. */
static __always_inline __u64 pw_first_frame(struct pw_buf *b, const struct pyspy_proc *p,
					    __u16 *err)
{
	__u64 f = pw_ts_u64(b, p->tstate_frame);

	if (p->frame_model == PYSPY_FM_CFRAME && f) {
		__u64 cf = f;

		f = 0;
		if (PW_READ(b, &f, 8, cf + p->cframe_current))
			*err = PYSPY_ERR_READ_TSTATE;
	}
	return f;
}

/* Bytes of a frame struct to read: up to the last field we use. */
static __always_inline __u32 pw_frame_size(const struct pyspy_proc *p)
{
	__u32 n = pw_max3(p->frame_back, p->frame_code, p->frame_instr) + 8;

	if (p->owner_skip_min && (__u32)p->frame_owner + 1 > n)
		n = (__u32)p->frame_owner + 1;
	if (p->frame_entry && (__u32)p->frame_entry + 1 > n)
		n = (__u32)p->frame_entry + 1;
	return n;
}

/*
 * Set w up to walk from the thread whose state is in b->tsbuf.  0, or the
 * error that ends it before it begins (w->frame 0 and no error: the thread
 * runs no Python).
 */
static __always_inline __u16 pw_walk_start(struct pw_walk *w, struct pw_buf *b,
					   const struct pyspy_proc *p, struct pyspy_frame *frames)
{
	w->b = b;
	w->p = p;
	w->frames = frames;
	w->frame = pw_first_frame(b, p, &w->err);
	if (p->tstate_chunk)
		w->chunk = pw_ts_u64(b, p->tstate_chunk);
	w->fsize = pw_frame_size(p);
	if (w->fsize >= PYSPY_FRAME_BUF) {
		w->frame = 0;
		w->err = PYSPY_ERR_BAD_LAYOUT;
	}
	return w->err;
}

/*
 * VERIFY mode: identify the code object as it is now, at sample time.
 * last_code, last_fp: the one read last (recursion repeats code objects).
 * 0 when it cannot be read: a fingerprint no code object matches.
 */
static __always_inline __u32 pw_read_code_fp(struct pw_buf *b, const struct pyspy_proc *p,
					     __u64 code, __u64 *last_code, __u32 *last_fp,
					     __u16 *reads)
{
	__u64 name;
	__s32 line;

	if (code == *last_code)
		return *last_fp;
	(*reads)++;
	if (PW_READ(b, b->fpbuf, p->code_fp_len & (PYSPY_CODE_FP_BUF - 1), code + p->code_fp_lo)) {
		PW_COUNT(PYSPY_ERR_READ_CODE);
		return 0;
	}
	name = PW_LOAD(__u64, &b->fpbuf[p->code_fp_name & (PYSPY_CODE_FP_BUF - 1)]);
	line = PW_LOAD(__s32, &b->fpbuf[p->code_fp_line & (PYSPY_CODE_FP_BUF - 1)]);
	*last_code = code;
	*last_fp = pyspy_code_fp(name, line);
	return *last_fp;
}

/* Is the frame at f (fsize bytes) inside the chunk starting at c? */
static __always_inline bool pw_in_chunk(__u64 c, __u64 f, __u32 fsize)
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
static __always_inline bool pw_read_window(struct pw_walk *w, __u64 f)
{
	__u64 hi = f + w->fsize, lo = w->chunk;
	__u64 len;

	if (hi - lo > PYSPY_WIN)
		lo = hi - PYSPY_WIN;
	len = hi - lo;
	if (len > PYSPY_WIN)
		return false;
	w->reads++;
	if (PW_READ(w->b, w->b->win, len, lo)) {
		w->chunk = 0; /* no more windows this walk */
		return false;
	}
	w->win_lo = lo;
	w->win_len = len;
	/* _PyStackChunk starts with its previous chunk. */
	if (lo == w->chunk)
		w->chunk_prev = PW_LOAD(__u64, w->b->win);
	return true;
}

/* The bytes of the frame at f: from the window, a new window, or a read. */
static __always_inline const __u8 *pw_frame_bytes(struct pw_walk *w, __u64 f)
{
	struct pw_buf *b = w->b;
	__u64 at = f - w->win_lo;

	if (w->win_len && f >= w->win_lo && at + w->fsize <= w->win_len)
		return &b->win[at & (PYSPY_WIN - 1)];
	if (!pw_in_chunk(w->chunk, f, w->fsize) && pw_in_chunk(w->chunk_prev, f, w->fsize)) {
		w->chunk = w->chunk_prev;
		w->chunk_prev = 0;
	}
	if (pw_in_chunk(w->chunk, f, w->fsize) && pw_read_window(w, f))
		return &b->win[(f - w->win_lo) & (PYSPY_WIN - 1)];
	w->reads++;
	/* The mask is the bound the verifier sees; fsize < PYSPY_FRAME_BUF was checked. */
	if (PW_READ(b, b->framebuf, w->fsize & (PYSPY_FRAME_BUF - 1), f))
		return (const __u8 *)0;
	return b->framebuf;
}

static __always_inline long pw_truncated(struct pw_walk *w)
{
	w->truncated = 1;
	w->err = PYSPY_ERR_TRUNCATED;
	return 1;
}

/*
 * One step: take the frame at w->frame and move to its caller.  0 to go
 * on, 1 when the walk is over (no frame left, a fault, or the limit).
 * A bpf_loop callback on the BPF side.
 */
static __attribute__((unused)) long pw_walk_one(__u32 idx, struct pw_walk *w)
{
	const struct pyspy_proc *p = w->p;
	const __u8 *fb;
	__u64 code, instr;
	__u64 cur;
	__s32 lasti;
	__u32 n = w->n;

	(void)idx;
	if (!w->frame)
		return 1;
	fb = pw_frame_bytes(w, w->frame);
	if (!fb) {
		w->err = PYSPY_ERR_READ_FRAME;
		return 1;
	}
	/* & ~3: 3.14+ tag bits of a _PyStackRef; harmless before. */
	code = pw_fr_u64(fb, p->frame_code) & ~3ULL;
	cur = w->frame;
	w->frame = pw_fr_u64(fb, p->frame_back);
	/*
	 * Shim / C-entry frames (3.12+ owner >= 3) are not Python code; the
	 * frame above one was the first its evaluation call ran.  --native
	 * sends the shim's address too (PYSPY_FRAME_SHIM): it is a local of
	 * that _PyEval_EvalFrameDefault call, so it tells userspace which
	 * native frame ran them whatever the symbols say.
	 */
	if (p->owner_skip_min && fb[p->frame_owner & (PYSPY_FRAME_BUF - 1)] >= p->owner_skip_min) {
		if (!PW_MARKS(w))
			return 0;
		if (n)
			w->frames[(n - 1) & (PYSPY_MAX_FRAMES - 1)].code |= PYSPY_FRAME_ENTRY;
		if (n >= PYSPY_MAX_FRAMES)
			return pw_truncated(w);
		code = cur | PYSPY_FRAME_SHIM;
		lasti = -1;
		w->frames[n & (PYSPY_MAX_FRAMES - 1)].code_fp = 0;
		goto emit;
	}
	if (n >= PYSPY_MAX_FRAMES)
		return pw_truncated(w);
	if (p->instr_is_ptr) {
		instr = pw_fr_u64(fb, p->frame_instr);
		lasti = (__s32)(instr - code - p->code_adaptive);
	} else {
		lasti = PW_LOAD(__s32, &fb[p->frame_instr & (PYSPY_FRAME_BUF - 1)]);
		lasti *= p->lasti_mult;
	}
	w->frames[n & (PYSPY_MAX_FRAMES - 1)].code_fp =
		(p->mode & PYSPY_MODE_VERIFY)
			? pw_read_code_fp(w->b, p, code, &w->fp_code, &w->fp, &w->reads)
			: 0;
	/* 3.11: the frame says so itself. */
	code |= PW_MARKS(w) && p->frame_entry && fb[p->frame_entry & (PYSPY_FRAME_BUF - 1)];
emit:
	w->frames[n & (PYSPY_MAX_FRAMES - 1)].code = code;
	w->frames[n & (PYSPY_MAX_FRAMES - 1)].lasti = lasti;
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

/* After the loop: frames left when its iterations ran out is as deep as the limit. */
static __always_inline void pw_walk_end(struct pw_walk *w)
{
	if (w->frame && !w->err)
		pw_truncated(w);
}

#endif /* PYSPY_PYWALK_H */
