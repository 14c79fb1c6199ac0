// SPDX-License-Identifier: MIT
/*
 * test_snapshot.c - the engine's instant read of a process's threads
 * (user/engine/snapshot.h), as `dump` and the blocked-thread scan use it.
 *
 * Over the saved memory of every interpreter of tests/interpreters.txt
 * (no process, no root): the snapshot's threads are the walk's, with its
 * flags, and each thread named keeps its own stack, the code cache's names
 * for its frames, however many threads are named after it.  Over this
 * very process: /proc's list of its threads holds a thread it made, by
 * its TID and name, off the CPU while it waits in a read.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "corpus.h"
#include "interpreters.h"
#include "symbolize/codecache.h"
#include "symbolize/codestore.h"
#include "symbolize/cpython/discover.h"
#include "symbolize/cpython/unwind.h"
#include "symbolize/proc/procimage.h"
#include "symbolize/proc/procmem.h"
#include "unit.h"
#include "user/engine/snapshot.h"
#include "symbolize/model/profile.h"

/* The snapshot's threads against the walk's own (th), and their names against ref's. */
static void check_threads(const char *id, struct snapshot *s, const struct py_threads *th,
			  struct code_cache *c, struct code_cache *ref)
{
	static uint32_t want[PYSPY_MAX_FRAMES];
	const struct snapshot_names nm = { .cache = c, .tries = 1 };
	uint32_t named = 0;

	CHECK(s->n_threads == th->n && s->threads_partial == th->list_partial &&
		      s->threads_truncated == th->list_truncated,
	      "%s: %u threads of %u", id, s->n_threads, th->n);
	if (s->n_threads != th->n)
		return;
	/* Every thread named first: each must keep its own stack, not the last one's. */
	for (uint32_t i = 0; i < s->n_threads; i++) {
		int err = snapshot__name(s, i, &nm, 0);

		CHECK(!err, "%s: thread %u: %s", id, i, strerror(-err));
	}
	for (uint32_t i = 0; i < s->n_threads; i++) {
		const struct snapshot_thread *t = &s->threads[i];
		const struct py_thread_stack *st = &th->t[i];
		uint32_t flags = st->flags & PY_STACK_TRUNCATED ? PROFILE_STACK_TRUNCATED
				 : st->flags & PY_STACK_PARTIAL ? PROFILE_STACK_PARTIAL
								: 0;

		CHECK(t->tstate == st->tstate && t->pthread_id == st->pthread_id &&
			      t->n_frames == st->n_frames && t->task == -1,
		      "%s: thread %u is not the walk's", id, i);
		CHECK(t->truncated == !!(st->flags & PY_STACK_TRUNCATED) &&
			      t->partial == !!(st->flags & PY_STACK_PARTIAL) && t->flags == flags,
		      "%s: thread %u: flags %#x, the walk's %#x", id, i, t->flags, st->flags);
		if (st->n_frames)
			code_cache__resolve(ref, st->frames, st->n_frames, 0, true, want);
		CHECK(t->locs && t->n_locs == st->n_frames &&
			      !memcmp(t->locs, want, t->n_locs * sizeof(*want)),
		      "%s: thread %u: %u locations of %u frames, or not theirs", id, i, t->n_locs,
		      st->n_frames);
		named += t->n_locs;
	}
	CHECK(named > 400, "%s: %u frames named in all", id, named);
}

static void replay(const struct interp *it)
{
	struct py_target t = { .pid = NO_PID };
	struct py_threads th = {};
	struct procimage *img = NULL;
	struct code_store *store = NULL;
	struct code_cache *c = NULL, *ref = NULL;
	struct snapshot *s = NULL;
	struct profile *p = NULL;
	uint64_t v = 0;
	char path[256];
	int err;

	snprintf(path, sizeof(path), "tests/corpus/%s.img", it->id);
	err = procimage__load(path, &img);
	CHECK(!err, "%s: %s", path, strerror(-err));
	if (err)
		return;
	procimage__get(img, "version_hex", &v);
	t.version_hex = (uint32_t)v;
	procimage__get(img, "runtime_addr", &t.runtime_addr);
	procimage__get(img, "code_type_addr", &t.code_type_addr);
	snprintf(t.comm, sizeof(t.comm), "replay");
	procmem_tap(NO_PID, img, true);
	err = py_target__layout(&t);
	if (!err)
		err = py_unwind__threads(NO_PID, &t.layout, t.runtime_addr, &th);
	CHECK(!err && th.n >= 7, "%s: the walk: %d", it->id, err);
	s = snapshot__new(NO_PID);
	p = profile__new(0);
	store = code_store__new(0, 0);
	c = p && store ? code_cache__new(NO_PID, &t.layout, t.code_type_addr, p, store) : NULL;
	ref = p && store ? code_cache__new(NO_PID, &t.layout, t.code_type_addr, p, store) : NULL;
	CHECK(s && c && ref, "%s: set-up", it->id);
	if (err || !s || !c || !ref)
		goto out;
	/* No process to list: no thread has a task, and the list says why. */
	CHECK(snapshot__list(s) < 0 && s->n_tasks == 0, "%s: a list of no process", it->id);
	err = snapshot__walk(s, &t, false);
	CHECK(!err, "%s: snapshot__walk: %s", it->id, strerror(-err));
	if (!err)
		check_threads(it->id, s, &th, c, ref);
	CHECK(!strcmp(s->comm, "replay") && !strncmp(s->version, "3.", 2), "%s: %s, Python %s",
	      it->id, s->comm, s->version);
	printf("  %s: %u threads, as walked and named\n", it->id, s->n_threads);
out:
	procmem_tap(0, NULL, false);
	snapshot__free(s);
	code_cache__free(c);
	code_cache__free(ref);
	code_store__free(store);
	profile__free(p);
	py_threads__free(&th);
	procimage__free(img);
}

struct waiter {
	int fd;
	pid_t tid;
	pthread_mutex_t lock;
	pthread_cond_t named;
};

/* Says its TID, takes a name, and waits in a read until the pipe closes. */
static void *wait_in_read(void *arg)
{
	struct waiter *w = arg;
	char c;

	pthread_setname_np(pthread_self(), "snap-waiter");
	pthread_mutex_lock(&w->lock);
	w->tid = gettid();
	pthread_cond_signal(&w->named);
	pthread_mutex_unlock(&w->lock);
	while (read(w->fd, &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

/* /proc's list of this process: the waiting thread, by TID and name, off the CPU. */
static void check_list(void)
{
	struct waiter w = { .lock = PTHREAD_MUTEX_INITIALIZER, .named = PTHREAD_COND_INITIALIZER };
	const struct snapshot_task *found = NULL;
	struct snapshot *s = snapshot__new(getpid());
	pthread_t th;
	int fds[2], err = -1;
	char state = 0;

	CHECK(s && !pipe(fds), "set-up");
	if (!s)
		return;
	w.fd = fds[0];
	CHECK(!pthread_create(&th, NULL, wait_in_read, &w), "thread");
	pthread_mutex_lock(&w.lock);
	while (!w.tid)
		pthread_cond_wait(&w.named, &w.lock);
	pthread_mutex_unlock(&w.lock);
	/* In its read soon after it said its TID: look until it is (2 s at most). */
	for (int k = 0; k < 200 && state != 'S'; k++) {
		err = snapshot__list(s);
		found = NULL;
		for (uint32_t i = 0; !err && i < s->n_tasks; i++)
			if (s->tasks[i].tid == w.tid)
				found = &s->tasks[i];
		state = found ? found->state : 0;
		if (state != 'S')
			usleep(10000);
	}
	CHECK(!err && s->n_tasks >= 2, "list: %d, %u threads", err, s->n_tasks);
	CHECK(found && found->state == 'S' && !strcmp(found->comm, "snap-waiter"),
	      "the waiter: %s, state %c", found ? found->comm : "not listed", state ? state : '?');
	/* This thread, which is reading the list, runs. */
	found = NULL;
	for (uint32_t i = 0; !err && i < s->n_tasks; i++)
		if (s->tasks[i].tid == getpid())
			found = &s->tasks[i];
	CHECK(found && found->state == 'R', "the main thread: %c", found ? found->state : '?');
	close(fds[1]);
	pthread_join(th, NULL);
	close(fds[0]);
	snapshot__free(s);
}

int main(void)
{
	corpus_replay_each(replay);
	check_list();
	return unit_done("snapshot");
}
