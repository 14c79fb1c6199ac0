// SPDX-License-Identifier: MIT
/* snapshot_async.c - a snapshot's asyncio tasks, each named where it is suspended. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot_async.h"
#include "symbolize/cpython/asyncio.h"
#include "symbolize/cpython/code.h"
#include "symbolize/proc/procmem.h"
#include "symbolize/base/clock.h"
#include "symbolize/base/log.h"

_Static_assert(SNAPSHOT_MAX_TASKS == PY_ASYNC_MAX_TASKS, "the bound dump states");
_Static_assert(SNAPSHOT_TASK_NAME_MAX == PY_ASYNC_NAME_MAX, "a task's name, whole");

/* A thread state, which thread of the walk it is, and its /proc TID (-1: not known). */
struct ts_thread {
	uint64_t tstate;
	uint32_t i;
	pid_t tid;
};

struct snapshot_async {
	struct py_async_tasks tasks;
	struct snapshot_async_task *pub; /* tasks.n of them: what the snapshot shows */
	uint32_t **locs;		 /* per task, its frames as locations */
	struct ts_thread *threads;	 /* one per thread walked, sorted by tstate */
	uint32_t n_threads;
};

static int by_tstate(const void *x, const void *y)
{
	const struct ts_thread *a = x, *b = y;

	return (a->tstate > b->tstate) - (a->tstate < b->tstate);
}

/* Each thread's TID once, and thread states sorted to be found in log time. */
static int index_threads(struct snapshot_async *a, const struct snapshot *s)
{
	a->threads = calloc(s->n_threads ? s->n_threads : 1, sizeof(*a->threads));
	if (!a->threads)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->n_threads; i++) {
		const struct snapshot_task *t = snapshot__task_of(s, &s->threads[i]);

		a->threads[i] = (struct ts_thread){ s->threads[i].tstate, i, t ? t->tid : -1 };
	}
	a->n_threads = s->n_threads;
	qsort(a->threads, a->n_threads, sizeof(*a->threads), by_tstate);
	return 0;
}

static const struct ts_thread *thread_of(const struct snapshot_async *a, uint64_t ts)
{
	struct ts_thread key = { .tstate = ts };

	if (!ts || !a->n_threads)
		return NULL;
	return bsearch(&key, a->threads, a->n_threads, sizeof(key), by_tstate);
}

static const struct pyspy_frame *frames_of(const struct snapshot_async *a,
					   const struct py_async_entry *t)
{
	return a->tasks.frames + t->frames_at;
}

/*
 * A running task's stack is its thread's, down to the task's coroutine:
 * the outermost frame of the thread running that code (the event loop's
 * frames are below it).
 */
static uint32_t running_frames(const struct snapshot_async *a, const struct py_threads *th,
			       const struct py_async_entry *t, const struct pyspy_frame **out)
{
	const struct ts_thread *at =
		t->state == PY_TASK_RUNNING ? thread_of(a, t->running_on) : NULL;
	const struct py_thread_stack *st = at ? &th->t[at->i] : NULL;
	uint32_t root = UINT32_MAX;

	if (!st || !t->n_frames)
		return 0;
	for (uint32_t i = 0; i < st->n_frames; i++)
		if ((st->frames[i].code & ~3ull) == frames_of(a, t)[0].code)
			root = i;
	if (root == UINT32_MAX)
		return 0;
	*out = st->frames;
	return root + 1;
}

/* Task i's frames as locations, innermost first, as threads' are. */
static int name_task(struct snapshot_async *a, const struct py_target *py,
		     const struct py_threads *th, struct code_cache *c, uint32_t i)
{
	const struct py_async_entry *t = &a->tasks.t[i];
	struct pyspy_frame rev[PY_ASYNC_MAX_DEPTH];
	const struct pyspy_frame *fr = NULL;
	uint32_t n = running_frames(a, th, t, &fr);
	bool verified = n > 0;

	if (!n) {
		/* Its coroutines come outermost first; fingerprinted now, as the
		 * thread walk does its frames. */
		n = t->n_frames < PY_ASYNC_MAX_DEPTH ? t->n_frames : PY_ASYNC_MAX_DEPTH;
		for (uint32_t k = 0; k < n; k++) {
			struct py_code_fp fp;

			rev[k] = frames_of(a, t)[n - 1 - k];
			if (!py_code__fingerprint(py->pid, &py->layout, rev[k].code, &fp))
				rev[k].code_fp = pyspy_code_fp(fp.name, fp.firstlineno);
		}
		fr = rev;
		verified = true;
	}
	a->locs[i] = calloc(n ? n : 1, sizeof(uint32_t));
	if (!a->locs[i])
		return -ENOMEM;
	if (n)
		code_cache__resolve(c, fr, n, mono_ns(), verified, a->locs[i]);
	a->pub[i].locs = a->locs[i];
	a->pub[i].n_locs = n;
	return 0;
}

/* A root: awaited by no task we know of. */
static bool is_root(const struct snapshot_async *a, const struct py_async_entry *t)
{
	const uint64_t *aw = a->tasks.awaiters + t->awaiters_at;

	for (uint32_t k = 0; k < t->n_awaiters; k++)
		if (py_async_tasks__find(&a->tasks, aw[k]) >= 0)
			return false;
	return true;
}

/* What the snapshot shows of task i (its frames: name_task). */
static void show_task(struct snapshot_async *a, uint32_t i)
{
	const struct py_async_entry *t = &a->tasks.t[i];
	const struct ts_thread *on = thread_of(a, t->tstate);

	a->pub[i] = (struct snapshot_async_task){
		.addr = t->addr,
		.name = t->name,
		.state = py_async_task__state_name(t->state),
		.suspended = t->state == PY_TASK_SUSPENDED,
		.partial = t->chain_partial,
		.root = is_root(a, t),
		.tstate = t->tstate,
		.tid = on ? on->tid : -1,
		.awaited_by = t->n_awaiters ? a->tasks.awaiters + t->awaiters_at : NULL,
		.n_awaited_by = t->n_awaiters,
		.awaits = t->n_kids ? a->tasks.kids + t->kids_at : NULL,
		.n_awaits = t->n_kids,
	};
}

static int read_tasks(struct snapshot_async *a, const struct py_target *py,
		      const struct py_threads *th)
{
	uint8_t sec[PY_ASYNC_DEBUG_SIZE + 8];
	struct py_async_layout al;
	uint64_t *ts, interp = 0;
	char why[128] = "", ver[32];
	size_t len = 0;
	int err;

	if ((py->version_hex >> 16) < 0x030e) {
		py_version_str(py->version_hex, false, ver, sizeof(ver));
		log_error("--async needs CPython 3.14 or newer; PID %d runs %s", py->pid, ver);
		return -ENOTSUP;
	}
	err = py_target__asyncio_debug(py, sec, sizeof(sec), &len);
	if (err == -ENOENT) {
		log_error("PID %d (%s) has not imported asyncio: it has no tasks", py->pid,
			  py->comm);
		return err;
	}
	if (!err)
		err = py_async__layout(sec, len, &py->layout, py->layout.minor, &al, why,
				       sizeof(why));
	if (err) {
		log_error("PID %d (%s): its asyncio state cannot be read: %s", py->pid, py->comm,
			  why[0] ? why : strerror(-err));
		return err;
	}
	ts = calloc(th->n ? th->n : 1, sizeof(*ts));
	if (!ts) {
		log_error("PID %d: out of memory for its tasks", py->pid);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < th->n; i++)
		ts[i] = th->t[i].tstate;
	/* The main interpreter holds the tasks of threads that are gone. */
	procmem_read_u64(py->pid, py->runtime_addr + py->layout.runtime_interp_head, &interp);
	err = py_async__tasks(py->pid, &py->layout, &al, ts, th->n, interp, &a->tasks);
	free(ts);
	if (err)
		log_error("PID %d (%s): cannot read its tasks: %s", py->pid, py->comm,
			  strerror(-err));
	return err;
}

int snapshot_async__read(struct snapshot *s, const struct py_target *py,
			 const struct py_threads *th, struct code_cache *cache,
			 struct snapshot_async **out)
{
	struct snapshot_async *a = calloc(1, sizeof(*a));
	uint32_t n;
	int err;

	*out = a;
	if (!a) {
		log_error("PID %d: out of memory for its tasks", py->pid);
		return -ENOMEM;
	}
	err = read_tasks(a, py, th);
	if (err)
		return err;
	n = a->tasks.n ? a->tasks.n : 1;
	err = index_threads(a, s);
	a->pub = calloc(n, sizeof(*a->pub));
	a->locs = calloc(n, sizeof(*a->locs));
	if (!err && (!a->pub || !a->locs))
		err = -ENOMEM;
	for (uint32_t i = 0; !err && i < a->tasks.n; i++) {
		show_task(a, i);
		err = name_task(a, py, th, cache, i);
	}
	if (err) {
		log_error("PID %d: out of memory for its tasks", py->pid);
		return err;
	}
	s->async = a->pub;
	s->n_async = a->tasks.n;
	s->async_truncated = a->tasks.truncated;
	s->async_errors = a->tasks.errors;
	return 0;
}

void snapshot_async__free(struct snapshot_async *a)
{
	if (!a)
		return;
	for (uint32_t i = 0; a->locs && i < a->tasks.n; i++)
		free(a->locs[i]);
	free(a->locs);
	free(a->pub);
	free(a->threads);
	py_async_tasks__free(&a->tasks);
	free(a);
}
