// SPDX-License-Identifier: MIT
/*
 * unwind.c - walk every Python thread's frame chain of a live process with
 * process_vm_readv: the BPF side's own walk (bpf/pywalk.h), run from
 * userspace over every thread.
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

/* How often the thread list is read again when it changed under us. */
#define LIST_TRIES 20

/* One thread state as listed, before its frames are walked. */
struct tstate_ref {
	uint64_t addr, pthread_id;
	int64_t native_tid;
};

struct list_walk {
	struct pw_buf *b;
	const struct pyspy_proc *p;
	struct tstate_ref *refs;
	uint32_t n;
	bool torn, truncated;
};

struct pw_scan;
static int take_tstate(struct pw_scan *c);

/*
 * The one walk (bpf/pywalk.h), the BPF side's own code, reading the target
 * with process_vm_readv; every thread state a scan passes is listed.
 */
#define PW_ON_TSTATE(c) take_tstate(c)
#include "walk.h"

static bool ts_seen(const struct list_walk *w, uint64_t ts)
{
	for (uint32_t i = 0; i < w->n; i++)
		if (w->refs[i].addr == ts)
			return true;
	return false;
}

/* List the thread state the scan is at (in c->b->tsbuf); 1 to stop. */
static int take_tstate(struct pw_scan *c)
{
	struct list_walk *w = c->ctx;
	struct tstate_ref *r;

	if (w->n == PY_UNWIND_MAX_THREADS) {
		w->truncated = true;
		return 1;
	}
	/* A cycle: the list changed. */
	if (ts_seen(w, c->ts)) {
		w->torn = true;
		return 1;
	}
	r = &w->refs[w->n++];
	r->addr = c->ts;
	r->pthread_id = pw_tstate_thread_id(c->b, c->p);
	r->native_tid =
		c->p->tstate_native_tid ? (int64_t)pw_ts_u64(c->b, c->p->tstate_native_tid) : -1;
	return 0;
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
	__u64 v;

	if (pw_interp_threads(w->b, w->p, interp, &v))
		return false;
	if (v != (first < w->n ? w->refs[first].addr : 0))
		return false;
	for (uint32_t i = first; i < w->n; i++) {
		if (procmem_read(w->b->pid, w->refs[i].addr + w->p->tstate_next, &v, sizeof(v)))
			return false;
		if (v != (i + 1 < w->n ? w->refs[i + 1].addr : 0))
			return false;
	}
	return true;
}

static void list_interp(struct list_walk *w, uint64_t interp)
{
	struct pw_scan c = { .b = w->b, .p = w->p, .interp = interp, .ctx = w };
	uint32_t first = w->n;

	if (pw_interp_threads(w->b, w->p, interp, &c.ts)) {
		w->torn = true;
		return;
	}
	for (uint32_t i = 0; i <= PY_UNWIND_MAX_THREADS && !pw_scan_one(i, &c); i++)
		;
	/* A fault, or a thread state of another interpreter: the list changed. */
	if (c.err)
		w->torn = true;
	if (w->torn || w->truncated)
		return;
	if (!chain_unchanged(w, interp, first))
		w->torn = true;
}

/* One pass over every interpreter's thread list. */
static int list_threads(struct list_walk *w)
{
	__u64 interp = 0;
	int err;

	w->n = 0;
	w->torn = w->truncated = false;
	err = procmem_read(w->b->pid, w->p->runtime_addr + w->p->runtime_interp_head, &interp,
			   sizeof(interp));
	if (err)
		return err;
	for (int i = 0; interp && i < PY_UNWIND_MAX_INTERPS; i++) {
		list_interp(w, interp);
		if (w->torn || w->truncated)
			return 0;
		if (pw_interp_next(w->b, w->p, interp, &interp)) {
			w->torn = true;
			return 0;
		}
	}
	if (interp)
		w->truncated = true;
	return 0;
}

/*
 * The thread state is read again just before its frames: a running thread
 * moves on between the list pass and now, and the newer its frame pointer,
 * the less likely the walk meets a frame that has returned.  Code objects'
 * fingerprints are read with their frames, as in a VERIFY sample: the code
 * cache then knows which object each frame saw, even if one at the same
 * address replaces it before it is looked up.
 */
static void walk_thread(struct pw_buf *b, const struct pyspy_proc *p, bool marks,
			struct pyspy_frame *frames, struct py_thread_stack *st)
{
	struct pw_walk w = { .marks = marks };

	if (pw_read_tstate(b, p, st->tstate)) {
		st->flags |= PY_STACK_PARTIAL;
		return;
	}
	pw_walk_start(&w, b, p, frames);
	for (uint32_t i = 0; i < PW_STEPS && !pw_walk_one(i, &w); i++)
		;
	pw_walk_end(&w);
	st->n_frames = w.n;
	if (w.truncated)
		st->flags |= PY_STACK_TRUNCATED;
	else if (w.err)
		st->flags |= PY_STACK_PARTIAL;
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

static int walk_all(struct pw_buf *b, const struct pyspy_proc *p, const struct list_walk *w,
		    bool marks, struct py_threads *out)
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
		walk_thread(b, p, marks, frames, st);
		err = keep_frames(st, frames);
		out->n = i + 1;
	}
	free(frames);
	return err;
}

/* The layout's fields must lie inside the walk's buffers. */
static int check_layout(const struct py_layout *l, const struct pyspy_proc *p)
{
	uint32_t ts_max = pw_max3(p->tstate_next, p->tstate_thread_id, p->tstate_frame);

	ts_max = pw_max3(ts_max, p->tstate_interp, p->tstate_native_tid);
	if (ts_max + 8 > PYSPY_TSTATE_BUF || p->tstate_chunk + 8 > PYSPY_TSTATE_BUF ||
	    pw_frame_size(p) >= PYSPY_FRAME_BUF)
		return -EINVAL;
	if (l->frame_model == PYSPY_FM_CFRAME && l->cframe_current == PY_OFF_NONE)
		return -EINVAL;
	if (l->frame_model < PYSPY_FM_FRAMEOBJECT || l->frame_model > PYSPY_FM_CURRENT)
		return -EINVAL;
	return 0;
}

/* The walk's state for pid, or -errno. */
static int walk_setup(pid_t pid, const struct py_layout *l, uint64_t runtime_addr,
		      struct pyspy_proc *p, struct list_walk *w)
{
	int err;

	py_layout__to_bpf(l, runtime_addr, 0, p);
	/* Fingerprints with the frames, as in verify mode (walk_thread). */
	p->mode |= PYSPY_MODE_VERIFY;
	err = check_layout(l, p);
	if (err)
		return err;
	*w = (struct list_walk){ .p = p };
	w->b = calloc(1, sizeof(*w->b));
	w->refs = calloc(PY_UNWIND_MAX_THREADS, sizeof(*w->refs));
	if (!w->b || !w->refs)
		return -ENOMEM;
	w->b->pid = pid;
	for (int i = 0; i < LIST_TRIES; i++) {
		err = list_threads(w);
		if (err || !w->torn)
			break;
	}
	return err;
}

static void walk_free(struct list_walk *w)
{
	free(w->b);
	free(w->refs);
}

int py_unwind__threads(pid_t pid, const struct py_layout *l, uint64_t runtime_addr,
		       struct py_threads *out)
{
	return py_unwind__threads_marked(pid, l, runtime_addr, false, out);
}

int py_unwind__threads_marked(pid_t pid, const struct py_layout *l, uint64_t runtime_addr,
			      bool marks, struct py_threads *out)
{
	struct list_walk w = { 0 };
	struct pyspy_proc p;
	int err;

	memset(out, 0, sizeof(*out));
	err = walk_setup(pid, l, runtime_addr, &p, &w);
	if (!err) {
		out->list_partial = w.torn;
		out->list_truncated = w.truncated;
		err = walk_all(w.b, &p, &w, marks, out);
	}
	walk_free(&w);
	return err;
}

int py_unwind__thread_states(pid_t pid, const struct py_layout *l, uint64_t runtime_addr,
			     uint64_t *out, uint32_t max, uint32_t *n)
{
	struct list_walk w = { 0 };
	struct pyspy_proc p;
	int err;

	*n = 0;
	err = walk_setup(pid, l, runtime_addr, &p, &w);
	if (!err && w.torn)
		err = -EAGAIN;
	for (uint32_t i = 0; !err && i < w.n && i < max; i++)
		out[(*n)++] = w.refs[i].addr;
	walk_free(&w);
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
