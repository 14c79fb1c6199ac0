// SPDX-License-Identifier: MIT
/*
 * watch.c - processes that may become targets, looked at until they are
 * Python (and initialised) or clearly never will be.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include "symbolize/base/hash.h" /* before uthash.h: its HASH_FUNCTION */
#include <uthash.h>

#include "watch.h"
#include "symbolize/cpython/discover_wait.h"
#include "symbolize/proc/procfs.h"
#include "symbolize/base/log.h"

/*
 * A process that may become a target: a launched command or one of its
 * children, or (--all) a tgid the BPF side saw run for the first time.
 * Not Python yet (before exec, before libpython is loaded, before the
 * interpreter is initialised) means another look soon; until give_up.
 */
struct pending {
	UT_hash_handle hh;
	pid_t pid;
	double next_try;
	double deadline;
	double image_at; /* when its image began: its exec if we saw one, else 0 */
	bool give_up;
	char exe[256]; /* /proc/PID/exe when given up: an exec changes it */
};

/* A process (or image) younger than this may still be loading its interpreter. */
#define YOUNG_S 3.0

struct watch {
	struct pending *h;
	struct targets *tg;
	bool all;
	double init_wait_s;
	int (*add)(void *ctx, const struct py_target *py);
	void *ctx;
	double next_gc;
	unsigned refused; /* not --all: Pythons given up on that we cannot sample */
};

struct watch *watch__new(struct targets *tg, bool all, double init_wait_s,
			 int (*add)(void *ctx, const struct py_target *py), void *ctx)
{
	struct watch *w = calloc(1, sizeof(*w));

	if (w)
		*w = (struct watch){
			.tg = tg, .all = all, .init_wait_s = init_wait_s, .add = add, .ctx = ctx
		};
	return w;
}

void watch__free(struct watch *w)
{
	if (!w)
		return;
	HASH_CLEAR_FREE(hh, w->h, free);
	free(w);
}

/*
 * Seconds its current image has run: an exec makes an old process new
 * again (ld.so has yet to map libpython), and its start time in /proc
 * does not change.
 */
static double image_age(const struct pending *p, double now)
{
	double age = procfs_age_s(p->pid);

	return p->image_at > 0 && now - p->image_at < age ? now - p->image_at : age;
}

static void pending_del(struct watch *w, struct pending *p)
{
	HASH_DEL(w->h, p);
	free(p);
}

/* No more looks; with --all the BPF side stops reporting it too. */
static void give_up(struct watch *w, struct pending *p)
{
	p->give_up = true;
	procfs_exe(p->pid, p->exe, sizeof(p->exe));
	if (w->all)
		targets__ignore(w->tg, p->pid);
}

static void try_pending(struct watch *w, struct pending *p, double now)
{
	struct py_target py;
	int err = py_target__discover(p->pid, &py);

	if (!err) {
		err = w->add(w->ctx, &py);
		if (!err)
			pending_del(w, p);
		else if (err == -ENOTSUP) {
			/* add() said why, once (--async and a Python before 3.14) */
			w->refused += !w->all;
			give_up(w, p);
		}
		return;
	}
	if (err == -ESRCH) {
		pending_del(w, p);
		return;
	}
	if (err == -ENOTSUP || err == -EACCES || err == -EPERM || err == -E2BIG) {
		/* A Python we cannot sample (or a file we refused): say so once, then leave it be. */
		if (w->all)
			log_warn("skipping PID %d: %s", p->pid,
				 py.flags & PY_TARGET_LAYOUT_REFUSED || err == -E2BIG
					 ? py.refused
					 : py_target__strerror(err));
		else
			py_target__report(p->pid, err, &py, 0);
		w->refused += !w->all;
		give_up(w, p);
		return;
	}
	if (now >= p->deadline || (err == -ENOEXEC && image_age(p, now) > YOUNG_S)) {
		give_up(w, p);
		return;
	}
	p->next_try = now + (err == -EAGAIN ? 0.02 : 0.1);
}

void watch__consider(struct watch *w, pid_t pid, double now, bool fresh)
{
	struct pending *p;
	char exe[256];

	if (targets__has(w->tg, pid))
		return;
	HASH_FIND_INT(w->h, &pid, p);
	if (p && p->give_up && !fresh) {
		/* A launched tree's process may exec into Python later. */
		procfs_exe(pid, exe, sizeof(exe));
		if (!strcmp(exe, p->exe))
			return;
	}
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return;
		p->pid = pid;
		HASH_ADD_INT(w->h, pid, p);
	}
	if (p->give_up || fresh) {
		p->give_up = false;
		p->next_try = 0;
	}
	if (fresh)
		p->image_at = now;
	p->deadline = now + (w->init_wait_s > YOUNG_S ? w->init_wait_s : YOUNG_S);
	if (now >= p->next_try)
		try_pending(w, p, now);
}

/* How often given-up processes that have exited are forgotten. */
#define PENDING_GC_S 10.0

void watch__retry(struct watch *w, double now)
{
	struct pending *p, *tmp;
	bool gc = now >= w->next_gc;

	if (gc)
		w->next_gc = now + PENDING_GC_S;
	HASH_ITER (hh, w->h, p, tmp) {
		if (!p->give_up && now >= p->next_try)
			try_pending(w, p, now);
		/* --all meets every process on the host: keep none that is gone. */
		else if (gc && p->give_up && kill(p->pid, 0) && errno == ESRCH)
			pending_del(w, p);
	}
}

unsigned watch__refused(const struct watch *w)
{
	return w ? w->refused : 0;
}

bool watch__active(const struct watch *w)
{
	for (const struct pending *p = w->h; p; p = p->hh.next)
		if (!p->give_up)
			return true;
	return false;
}
