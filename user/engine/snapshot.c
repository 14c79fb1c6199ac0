// SPDX-License-Identifier: MIT
/*
 * snapshot.c - a process's threads read now: walked, listed, matched to
 * each other, each stack named.
 *
 * Why the order matters: the thread states are walked before /proc is
 * listed in a dump, so that every thread the walk found has its /proc
 * entry by the time it is looked for; the blocked-thread scan lists first
 * (before its process is sampled, see blocked.c) and walks later.  Either
 * way the two are matched once both are read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"
#include "snapshot_async.h"
#include "snapshot_image.h"
#include "symbolize/codecache.h"
#include "symbolize/nativestack.h"
#include "symbolize/samplestack.h"
#include "symbolize/cpython/discover_wait.h"
#include "symbolize/cpython/pytasks.h"
#include "symbolize/cpython/unwind.h"
#include "symbolize/base/clock.h"
#include "symbolize/base/log.h"

_Static_assert(SNAPSHOT_MAX_THREADS == PY_UNWIND_MAX_THREADS, "the bound dump states");
_Static_assert(sizeof(((struct snapshot_task *)0)->comm) == sizeof(((struct py_task *)0)->comm),
	       "a task's name, whole");

struct snapshot_priv {
	const struct py_target *py; /* what the walk read by */
	struct py_target own;	    /* snapshot__open's */
	bool listed, walked;
	struct py_tasks tk;
	struct py_threads th;
	struct sample_stack *x;	      /* scratch for naming a stack */
	struct snapshot_async *async; /* what s->async points into */
	struct procimage *img;	      /* --save-image, while reads are kept */
};

struct snapshot *snapshot__new(pid_t pid)
{
	struct snapshot *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->priv = calloc(1, sizeof(*s->priv));
	if (!s->priv) {
		free(s);
		return NULL;
	}
	s->pid = pid;
	return s;
}

static void free_threads(struct snapshot *s)
{
	for (uint32_t i = 0; s->threads && i < s->n_threads; i++)
		free((uint32_t *)s->threads[i].locs);
	free(s->threads);
	s->threads = NULL;
	s->n_threads = 0;
	py_threads__free(&s->priv->th);
}

void snapshot__free(struct snapshot *s)
{
	if (!s)
		return;
	snapshot_image__drop(s->priv->img);
	free_threads(s);
	free(s->tasks);
	py_tasks__free(&s->priv->tk);
	sample_stack__free(s->priv->x);
	snapshot_async__free(s->priv->async);
	profile__free(s->prof);
	free(s->priv);
	free(s);
}

/* Each thread state's /proc entry, once both are read. */
static void match(struct snapshot *s)
{
	struct snapshot_priv *p = s->priv;

	if (!p->listed || !p->walked)
		return;
	for (uint32_t i = 0; i < s->n_threads; i++) {
		const struct py_task *t = py_tasks__of_thread(s->pid, &p->tk, &p->th.t[i]);

		s->threads[i].task = t ? (int32_t)(t - p->tk.v) : -1;
	}
}

int snapshot__list(struct snapshot *s)
{
	struct snapshot_priv *p = s->priv;
	int err;

	free(s->tasks);
	s->tasks = NULL;
	s->n_tasks = 0;
	py_tasks__free(&p->tk);
	p->listed = false;
	err = py_tasks__read(s->pid, &p->tk);
	if (err)
		return err;
	s->tasks = calloc(p->tk.n ? p->tk.n : 1, sizeof(*s->tasks));
	if (!s->tasks)
		return -ENOMEM;
	for (uint32_t i = 0; i < p->tk.n; i++) {
		s->tasks[i].tid = p->tk.v[i].tid;
		s->tasks[i].state = p->tk.v[i].state;
		memcpy(s->tasks[i].comm, p->tk.v[i].comm, sizeof(s->tasks[i].comm));
	}
	s->n_tasks = p->tk.n;
	p->listed = true;
	match(s);
	return 0;
}

/* Who it is, as every line about it says. */
static void describe(struct snapshot *s, const struct py_target *py)
{
	s->priv->py = py;
	snprintf(s->comm, sizeof(s->comm), "%s", py->comm);
	py_version_str(py->version_hex, true, s->version, sizeof(s->version));
}

int snapshot__walk(struct snapshot *s, const struct py_target *py, bool native)
{
	struct snapshot_priv *p = s->priv;
	int err;

	free_threads(s);
	p->walked = false;
	describe(s, py);
	err = py_unwind__threads_marked(s->pid, &py->layout, py->runtime_addr, native, &p->th);
	if (err)
		return err;
	s->threads = calloc(p->th.n ? p->th.n : 1, sizeof(*s->threads));
	if (!s->threads)
		return -ENOMEM;
	for (uint32_t i = 0; i < p->th.n; i++) {
		const struct py_thread_stack *st = &p->th.t[i];

		s->threads[i] = (struct snapshot_thread){
			.tstate = st->tstate,
			.pthread_id = st->pthread_id,
			.task = -1,
			.truncated = st->flags & PY_STACK_TRUNCATED,
			.partial = st->flags & PY_STACK_PARTIAL,
			.n_frames = st->n_frames,
		};
	}
	s->n_threads = p->th.n;
	s->threads_partial = p->th.list_partial;
	s->threads_truncated = p->th.list_truncated;
	p->walked = true;
	match(s);
	return 0;
}

int snapshot__name(struct snapshot *s, uint32_t i, const struct snapshot_names *nm, uint64_t now_ns)
{
	struct snapshot_priv *p = s->priv;
	struct snapshot_thread *t = &s->threads[i];
	const struct snapshot_task *task = snapshot__task_of(s, t);
	const struct stack_sources src = { nm->cache, nm->native, NULL };
	struct stack_locs out;
	uint32_t *locs;

	if (!p->x && !(p->x = sample_stack__new()))
		return -ENOMEM;
	sample_stack__of_thread(p->x, &src, s->pid, task ? task->tid : -1, &p->th.t[i], nm->kernel,
				nm->tries, now_ns, &out);
	/* The scratch is the next stack's: each thread keeps its own. */
	locs = malloc((out.n ? out.n : 1) * sizeof(*locs));
	if (!locs)
		return -ENOMEM;
	memcpy(locs, out.locs, out.n * sizeof(*locs));
	free((uint32_t *)t->locs);
	t->locs = locs;
	t->n_locs = out.n;
	t->flags = out.flags;
	return 0;
}

/* --- `dump` ------------------------------------------------------------------ */

int snapshot__open(pid_t pid, double wait_s, struct snapshot **out)
{
	struct snapshot *s = snapshot__new(pid);
	int err;

	if (!s) {
		log_error("out of memory");
		return -ENOMEM;
	}
	err = py_target__discover_wait(pid, wait_s, &s->priv->own);
	if (err) {
		snapshot__free(s);
		return err;
	}
	describe(s, &s->priv->own);
	*out = s;
	return 0;
}

static void report(const struct snapshot *s, int err)
{
	if (err == -ESRCH)
		log_error("PID %d (%s) exited while it was read", s->pid, s->comm);
	else if (err == -EPERM || err == -EACCES)
		log_error("PID %d (%s): permission denied reading its memory "
			  "(needs CAP_SYS_PTRACE, or the same user)",
			  s->pid, s->comm);
	else
		log_error("PID %d (%s): cannot read its threads: %s", s->pid, s->comm,
			  strerror(-err));
}

/* What a dump's stacks are named with: its own, for one read. */
struct dump_names {
	struct code_store *store;
	struct native_ctx *nc;
	struct snapshot_names nm;
};

static int names_new(struct snapshot *s, const struct snapshot_req *req, struct dump_names *d)
{
	const struct py_target *py = s->priv->py;
	bool native = req->native || req->kernel;

	/* Kernel frames by name from /proc: no kernel symbols are loaded for them. */
	d->nm = (struct snapshot_names){ .kernel = req->kernel, .tries = 5 };
	s->prof = profile__new(0);
	d->store = s->prof ? code_store__new(0, 0) : NULL;
	d->nm.cache = d->store ? code_cache__new(s->pid, &py->layout, py->code_type_addr, s->prof,
						 d->store)
			       : NULL;
	if (native && d->nm.cache) {
		d->nc = native_ctx__new(s->prof, req->native, req->native_all, false);
		d->nm.native =
			d->nc ? native_proc__new(d->nc, s->pid, py->elf_path, py->version_hex)
			      : NULL;
	}
	return d->nm.cache && (!native || d->nm.native) ? 0 : -ENOMEM;
}

static void names_free(struct dump_names *d)
{
	native_proc__free(d->nm.native);
	native_ctx__free(d->nc);
	code_cache__free(d->nm.cache);
	code_store__free(d->store);
}

int snapshot__take(struct snapshot *s, const struct snapshot_req *req)
{
	struct snapshot_priv *p = s->priv;
	struct dump_names d = { 0 };
	int err = snapshot__walk(s, p->py, req->native || req->kernel);

	if (!err)
		err = snapshot__list(s);
	if (!err)
		err = names_new(s, req, &d);
	if (!err && req->async) {
		/* Its own lines say why not. */
		err = snapshot_async__read(s, p->py, &p->th, d.nm.cache, &p->async);
		names_free(&d);
		return err;
	}
	/*
	 * A thread that mostly waits (a reader of a pipe, a worker on a
	 * queue) is caught between two waits now and then: with native frames,
	 * its registers are read a few times while it runs (d.nm.tries).
	 */
	for (uint32_t i = 0; !err && i < s->n_threads; i++)
		err = snapshot__name(s, i, &d.nm, mono_ns());
	names_free(&d);
	if (err)
		report(s, err);
	return err;
}

int snapshot__keep_reads(struct snapshot *s, bool asyncio)
{
	struct snapshot_priv *p = s->priv;

	snapshot_image__drop(p->img);
	p->img = snapshot_image__start(p->py, asyncio);
	return p->img ? 0 : -ENOMEM;
}

int snapshot__save_reads(struct snapshot *s, const char *path)
{
	struct procimage *img = s->priv->img;

	s->priv->img = NULL;
	if (!img) {
		log_error("cannot write %s: no reads were kept", path);
		return -EINVAL;
	}
	return snapshot_image__save(img, path);
}
