// SPDX-License-Identifier: MIT
/*
 * unwind.c - walk every Python thread's frame chain of a live process with
 * process_vm_readv, the userspace twin of bpf/pyspy.bpf.c.
 *
 * The target keeps running while it is read, so a thread can exit or a
 * frame return between two reads.  The thread list is read first (retried
 * a few times when it is seen changing), then each thread's frames; a
 * fault in a frame chain ends that thread's walk and marks it partial.
 * Each read is bounded by the layout's offsets, which are checked against
 * the buffers once, and every loop has a fixed limit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "unwind.h"
#include "symbolize/proc/procmem.h"

/* Bytes of a frame struct read (the BPF side reads at most 128). */
#define FRAME_BUF 256
/* Shim frames (3.12+) are skipped but still bounded: up to this many loops. */
#define MAX_WALK (2 * PYSPY_MAX_FRAMES + 64)
/* How often the thread list is read again when it changed under us. */
#define LIST_TRIES 20

/* One thread state as listed, before its frames are walked. */
struct tstate_ref {
	uint64_t addr, pthread_id;
	int64_t native_tid;
};

struct list_walk {
	pid_t pid;
	const struct py_layout *l;
	uint32_t tsize;
	struct tstate_ref *refs;
	uint32_t n;
	bool torn, truncated;
};

static uint64_t get_u64(const uint8_t *buf, uint32_t off)
{
	uint64_t v;

	memcpy(&v, buf + off, sizeof(v));
	return v;
}

static uint32_t max_off(uint32_t a, uint32_t b)
{
	/* PY_OFF_NONE marks an absent field: it does not count. */
	if (b == PY_OFF_NONE)
		return a;
	return a > b ? a : b;
}

/* Bytes of a PyThreadState to read; 0 if the layout does not fit PY_TSTATE_READ_MAX. */
static uint32_t tstate_size(const struct py_layout *l)
{
	uint32_t m = 0;

	m = max_off(m, l->tstate_next);
	m = max_off(m, l->tstate_interp);
	m = max_off(m, l->tstate_thread_id);
	m = max_off(m, l->tstate_native_thread_id);
	m = max_off(m, l->tstate_frame);
	return m + 8 <= PY_TSTATE_READ_MAX ? m + 8 : 0;
}

/* The current frame of a thread whose state is in buf. */
static int first_frame(pid_t pid, const struct py_layout *l, const uint8_t *buf, uint64_t *out)
{
	uint64_t f = get_u64(buf, l->tstate_frame);

	*out = 0;
	if (l->frame_model == PYSPY_FM_CFRAME && f)
		return procmem_read_u64(pid, f + l->cframe_current, out);
	*out = f;
	return 0;
}

static bool seen(const struct list_walk *w, uint64_t ts)
{
	for (uint32_t i = 0; i < w->n; i++)
		if (w->refs[i].addr == ts)
			return true;
	return false;
}

/* Take one thread state; false when the list looks torn. */
static bool take_tstate(struct list_walk *w, uint64_t interp, uint64_t ts, uint64_t *next)
{
	const struct py_layout *l = w->l;
	struct tstate_ref *r = &w->refs[w->n];
	uint8_t buf[PY_TSTATE_READ_MAX];

	if (procmem_read(w->pid, ts, buf, w->tsize))
		return false;
	/* A freed and reused thread state, or a cycle: the list changed. */
	if (l->tstate_interp != PY_OFF_NONE && get_u64(buf, l->tstate_interp) != interp)
		return false;
	if (seen(w, ts))
		return false;
	r->addr = ts;
	r->pthread_id = get_u64(buf, l->tstate_thread_id);
	r->native_tid = -1;
	if (l->tstate_native_thread_id != PY_OFF_NONE)
		r->native_tid = (int64_t)get_u64(buf, l->tstate_native_thread_id);
	*next = get_u64(buf, l->tstate_next);
	w->n++;
	return true;
}

/*
 * Is the chain refs[first..w->n) still what the target has?  A thread
 * state can be unlinked, freed and its memory handed to the next new
 * thread between our reads; that new state is not linked yet and its
 * zeroed `next` ends the list early (the main thread missing from a
 * dump).  Reading the head and every `next` again, and finding them
 * unchanged, shows the list we took was whole at the second read.
 */
static bool chain_unchanged(const struct list_walk *w, uint64_t interp, uint32_t first)
{
	uint64_t v;

	if (procmem_read_u64(w->pid, interp + w->l->interp_threads_head, &v))
		return false;
	if (v != (first < w->n ? w->refs[first].addr : 0))
		return false;
	for (uint32_t i = first; i < w->n; i++) {
		if (procmem_read_u64(w->pid, w->refs[i].addr + w->l->tstate_next, &v))
			return false;
		if (v != (i + 1 < w->n ? w->refs[i + 1].addr : 0))
			return false;
	}
	return true;
}

static void list_interp(struct list_walk *w, uint64_t interp)
{
	uint32_t first = w->n;
	uint64_t ts = 0;

	if (procmem_read_u64(w->pid, interp + w->l->interp_threads_head, &ts)) {
		w->torn = true;
		return;
	}
	while (ts && w->n < PY_UNWIND_MAX_THREADS) {
		if (!take_tstate(w, interp, ts, &ts)) {
			w->torn = true;
			return;
		}
	}
	if (ts) {
		w->truncated = true;
		return;
	}
	if (!chain_unchanged(w, interp, first))
		w->torn = true;
}

/* One pass over every interpreter's thread list. */
static int list_threads(struct list_walk *w, uint64_t runtime_addr)
{
	uint64_t interp = 0;
	int err;

	w->n = 0;
	w->torn = w->truncated = false;
	err = procmem_read_u64(w->pid, runtime_addr + w->l->runtime_interp_head, &interp);
	if (err)
		return err;
	for (int i = 0; interp && i < PY_UNWIND_MAX_INTERPS; i++) {
		list_interp(w, interp);
		if (w->torn || w->truncated)
			return 0;
		if (procmem_read_u64(w->pid, interp + w->l->interp_next, &interp)) {
			w->torn = true;
			return 0;
		}
	}
	if (interp)
		w->truncated = true;
	return 0;
}

/* Bytes of a frame struct to read, as the BPF walker computes it. */
static uint32_t frame_size(const struct pyspy_proc *p)
{
	uint32_t n = p->frame_back;

	if (p->frame_code > n)
		n = p->frame_code;
	if (p->frame_instr > n)
		n = p->frame_instr;
	n += 8;
	if (p->owner_skip_min && p->frame_owner + 1u > n)
		n = p->frame_owner + 1u;
	if (p->frame_entry && p->frame_entry + 1u > n)
		n = p->frame_entry + 1u;
	return n;
}

/* Record one Python frame from the frame struct in fb. */
static void take_frame(const struct pyspy_proc *p, const uint8_t *fb, uint64_t code,
		       struct pyspy_frame *f)
{
	int32_t lasti;

	if (p->instr_is_ptr) {
		lasti = (int32_t)(get_u64(fb, p->frame_instr) - code - p->code_adaptive);
	} else {
		memcpy(&lasti, fb + p->frame_instr, sizeof(lasti));
		lasti *= p->lasti_mult;
	}
	f->code = code;
	f->lasti = lasti;
	f->code_fp = 0;
}

/*
 * The code object's fingerprint (pyspy_code_fp), read just after the
 * frame that holds it, as the BPF side does in verify mode: the code cache
 * then knows which object the frame saw, even if one at the same address
 * replaces it before it is looked up.  (The thread runs on meanwhile, so
 * the frame may return and its code die between the two reads; that gap
 * is microseconds, not the many milliseconds before symbolization.)
 * 0 when it cannot be read: a fingerprint no code object matches.
 */
static uint32_t code_fp(pid_t pid, const struct pyspy_proc *p, uint64_t code)
{
	uint8_t b[PYSPY_CODE_FP_BUF];
	uint64_t name;
	int32_t line;

	if (!p->code_fp_len || p->code_fp_len > sizeof(b) ||
	    p->code_fp_name + sizeof(name) > p->code_fp_len ||
	    p->code_fp_line + sizeof(line) > p->code_fp_len ||
	    procmem_read(pid, code + p->code_fp_lo, b, p->code_fp_len))
		return 0;
	memcpy(&name, b + p->code_fp_name, sizeof(name));
	memcpy(&line, b + p->code_fp_line, sizeof(line));
	return pyspy_code_fp(name, line);
}

/*
 * marks: as a --native record, the first frame of each evaluation call
 * carries PYSPY_FRAME_ENTRY and each entry frame is listed as a
 * PYSPY_FRAME_SHIM entry (see bpf/pyspy.h).
 */
static void walk_frames(pid_t pid, const struct pyspy_proc *p, uint64_t frame, bool marks,
			struct pyspy_frame *out, struct py_thread_stack *st)
{
	uint32_t fsize = frame_size(p), fp = 0;
	uint8_t fb[FRAME_BUF];
	uint64_t code, here, fp_code = 0;

	for (int i = 0; frame && i < MAX_WALK; i++) {
		if (procmem_read(pid, frame, fb, fsize)) {
			st->flags |= PY_STACK_PARTIAL;
			return;
		}
		/* & ~3: 3.14+ tag bits of a _PyStackRef; harmless before. */
		code = get_u64(fb, p->frame_code) & ~3ULL;
		here = frame;
		frame = get_u64(fb, p->frame_back);
		/* Shim / C-entry frames (3.12+ owner >= 3) are not Python code. */
		if (p->owner_skip_min && fb[p->frame_owner] >= p->owner_skip_min) {
			if (!marks)
				continue;
			if (st->n_frames >= PYSPY_MAX_FRAMES) {
				st->flags |= PY_STACK_TRUNCATED;
				return;
			}
			if (st->n_frames)
				out[st->n_frames - 1].code |= PYSPY_FRAME_ENTRY;
			out[st->n_frames++] =
				(struct pyspy_frame){ here | PYSPY_FRAME_SHIM, -1, 0 };
			continue;
		}
		if (st->n_frames >= PYSPY_MAX_FRAMES) {
			st->flags |= PY_STACK_TRUNCATED;
			return;
		}
		take_frame(p, fb, code, &out[st->n_frames]);
		/* Recursion repeats a code object: its fingerprint is read once. */
		if (code != fp_code) {
			fp_code = code;
			fp = code_fp(pid, p, code);
		}
		out[st->n_frames].code_fp = fp;
		/* 3.11: the frame says so itself. */
		if (marks && p->frame_entry && fb[p->frame_entry])
			out[st->n_frames].code |= PYSPY_FRAME_ENTRY;
		st->n_frames++;
	}
	if (frame)
		st->flags |= PY_STACK_TRUNCATED;
}

/*
 * The thread state is read again just before its frames: a running thread
 * moves on between the list pass and now, and the newer its frame pointer,
 * the less likely the walk meets a frame that has returned.
 */
static void walk_thread(pid_t pid, const struct py_layout *l, const struct pyspy_proc *p,
			bool marks, struct pyspy_frame *frames, struct py_thread_stack *st)
{
	uint8_t buf[PY_TSTATE_READ_MAX];
	uint64_t frame;

	if (procmem_read(pid, st->tstate, buf, tstate_size(l)) ||
	    first_frame(pid, l, buf, &frame)) {
		st->flags |= PY_STACK_PARTIAL;
		return;
	}
	walk_frames(pid, p, frame, marks, frames, st);
}

/* Copy the walked frames into st, which owns them afterwards. */
static int keep_frames(struct py_thread_stack *st, const struct pyspy_frame *frames)
{
	if (!st->n_frames)
		return 0;
	st->frames = malloc(st->n_frames * sizeof(*frames));
	if (!st->frames)
		return -ENOMEM;
	memcpy(st->frames, frames, st->n_frames * sizeof(*frames));
	return 0;
}

static int walk_all(pid_t pid, const struct pyspy_proc *p, const struct list_walk *w, bool marks,
		    struct py_threads *out)
{
	struct pyspy_frame *frames = malloc(PYSPY_MAX_FRAMES * sizeof(*frames));
	int err = 0;

	out->t = calloc(w->n ? w->n : 1, sizeof(*out->t));
	if (!frames || !out->t) {
		free(frames);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < w->n && !err; i++) {
		struct py_thread_stack *st = &out->t[i];
		const struct tstate_ref *r = &w->refs[i];

		st->tstate = r->addr;
		st->pthread_id = r->pthread_id;
		st->native_tid = r->native_tid;
		walk_thread(pid, w->l, p, marks, frames, st);
		err = keep_frames(st, frames);
		out->n = i + 1;
	}
	free(frames);
	return err;
}

static int check_layout(const struct py_layout *l, const struct pyspy_proc *p)
{
	if (!tstate_size(l) || frame_size(p) > FRAME_BUF)
		return -EINVAL;
	if (l->frame_model == PYSPY_FM_CFRAME && l->cframe_current == PY_OFF_NONE)
		return -EINVAL;
	if (l->frame_model < PYSPY_FM_FRAMEOBJECT || l->frame_model > PYSPY_FM_CURRENT)
		return -EINVAL;
	return 0;
}

int py_unwind__threads(pid_t pid, const struct py_layout *l, uint64_t runtime_addr,
		       struct py_threads *out)
{
	return py_unwind__threads_marked(pid, l, runtime_addr, false, out);
}

int py_unwind__threads_marked(pid_t pid, const struct py_layout *l, uint64_t runtime_addr,
			      bool marks, struct py_threads *out)
{
	struct list_walk w = { .pid = pid, .l = l, .tsize = tstate_size(l) };
	struct pyspy_proc p;
	int err;

	memset(out, 0, sizeof(*out));
	py_layout__to_bpf(l, runtime_addr, 0, &p);
	err = check_layout(l, &p);
	if (err)
		return err;
	w.refs = calloc(PY_UNWIND_MAX_THREADS, sizeof(*w.refs));
	if (!w.refs)
		return -ENOMEM;
	for (int i = 0; i < LIST_TRIES; i++) {
		err = list_threads(&w, runtime_addr);
		if (err || !w.torn)
			break;
	}
	if (!err) {
		out->list_partial = w.torn;
		out->list_truncated = w.truncated;
		err = walk_all(pid, &p, &w, marks, out);
	}
	free(w.refs);
	return err;
}

int py_unwind__thread_states(pid_t pid, const struct py_layout *l, uint64_t runtime_addr,
			     uint64_t *out, uint32_t max, uint32_t *n)
{
	struct list_walk w = { .pid = pid, .l = l, .tsize = tstate_size(l) };
	int err = w.tsize ? 0 : -EINVAL;

	*n = 0;
	w.refs = err ? NULL : calloc(PY_UNWIND_MAX_THREADS, sizeof(*w.refs));
	if (!err && !w.refs)
		err = -ENOMEM;
	for (int i = 0; !err && i < LIST_TRIES; i++) {
		err = list_threads(&w, runtime_addr);
		if (err || !w.torn)
			break;
	}
	if (!err && w.torn)
		err = -EAGAIN;
	for (uint32_t i = 0; !err && i < w.n && i < max; i++)
		out[(*n)++] = w.refs[i].addr;
	free(w.refs);
	return err;
}

void py_threads__free(struct py_threads *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; t->t && i < t->n; i++)
		free(t->t[i].frames);
	free(t->t);
	memset(t, 0, sizeof(*t));
}

/*
 * CPython 3.8-3.10 keep no kernel TID in a thread state, only thread_id,
 * which is pthread_self(): on x86_64 the address of libc's descriptor of
 * the thread, and that descriptor holds the TID (as the target's PID
 * namespace sees it) at a libc-specific offset:
 *
 *   glibc 2.26+: struct pthread { tcbhead_t header (704 bytes; header.self
 *     at +16 points back at the descriptor); list_t list; pid_t tid; },
 *     so tid at +720.  Checked with gdb on Debian 12 (glibc 2.36):
 *     offsetof(struct pthread, tid) == 720, offsetof(..., header.self) == 16.
 *   musl: struct pthread { self at +0; dtv, prev, next, sysinfo, canary;
 *     int tid; }, so tid at +48.
 *
 * A guess counts only when the descriptor's self pointer points at itself
 * and the value is a live thread of the target, so another libc (or a
 * glibc whose layout moved) gives -1 rather than a wrong TID; the thread is
 * then shown by its pthread_t, without TID or name.  No ptrace is needed,
 * which comparing each task's fsbase would take.
 */
struct libc_tid_loc {
	uint16_t self, tid;
};

static const struct libc_tid_loc libc_tid_locs[] = {
	{ 16, 720 }, /* glibc */
	{ 0, 48 },   /* musl */
};

pid_t py_unwind__libc_tid(pid_t pid, uint64_t pthread_id, bool (*is_tid)(pid_t tid, void *ctx),
			  void *ctx)
{
	for (size_t i = 0; pthread_id && i < sizeof(libc_tid_locs) / sizeof(libc_tid_locs[0]);
	     i++) {
		const struct libc_tid_loc *loc = &libc_tid_locs[i];
		uint64_t self = 0;
		int32_t tid = 0;

		if (procmem_read_u64(pid, pthread_id + loc->self, &self) || self != pthread_id)
			continue;
		if (procmem_read(pid, pthread_id + loc->tid, &tid, sizeof(tid)) || tid <= 0)
			continue;
		if (is_tid(tid, ctx))
			return tid;
	}
	return -1;
}
