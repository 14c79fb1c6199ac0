// SPDX-License-Identifier: MIT
/* targets.c - the sampled processes, keyed by host PID. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "symbolize/base/hash.h" /* before uthash.h: its HASH_FUNCTION */
#include <uthash.h>

#include "targets.h"
#include "symbolize/proc/procfs.h"
#include "symbolize/base/clock.h"
#include "symbolize/base/log.h"

struct target_entry {
	UT_hash_handle hh;
	pid_t pid;
	int pidfd; /* readable once the process is gone; -1: look in /proc */
	struct target t;
};

struct targets {
	struct session *s;
	struct profile *prof;
	struct code_store *store;
	bool frames_one_by_one;
	struct native_ctx *native;
	bool async;
	struct target_entry *h;
	int n, alive;
	/*
	 * The targets' pidfds: one epoll_wait tells which exited, where
	 * reading /proc/PID/stat of each, five times a second, cost an agent
	 * with 1000 idle targets 5 % of a core.
	 */
	int epfd;
	uint64_t retired_ambiguous; /* code_cache ambiguous counts of the gone */
};

/* How long without new code objects before one read per frame will do. */
#define QUIET_NS (2 * 1000000000ull)

static int write_proc(struct targets *t, struct target *tg, uint8_t mode);

void targets__set_native(struct targets *t, struct native_ctx *nc)
{
	t->native = nc;
}

void targets__set_async(struct targets *t)
{
	t->async = true;
}

struct targets *targets__new(struct session *s, struct profile *prof, struct code_store *store,
			     bool frames_one_by_one)
{
	struct targets *t = calloc(1, sizeof(*t));

	if (t)
		*t = (struct targets){ .s = s,
				       .prof = prof,
				       .store = store,
				       .frames_one_by_one = frames_one_by_one,
				       .epfd = epoll_create1(EPOLL_CLOEXEC) };
	return t;
}

static void entry_free(struct target_entry *e)
{
	if (e->pidfd >= 0)
		close(e->pidfd); /* leaves the epoll set with it */
	code_cache__free(e->t.cache);
	native_proc__free(e->t.native);
	async_wait__free(e->t.wait);
	async_proc__free(e->t.async);
	free(e);
}

/*
 * A pidfd for the process discovered as py, so that its exit is noticed
 * without a look at /proc; -1 (and /proc it is) if there is none, or if
 * the PID already names another process.
 */
static int watch_exit(struct targets *t, const struct py_target *py)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)py->pid };
	int fd;

	if (t->epfd < 0)
		return -1;
	fd = (int)syscall(SYS_pidfd_open, py->pid, 0);
	if (fd < 0)
		return -1;
	/* Opened after discovery: the same process only if its start time still matches. */
	if (py_target__alive(py) != 1 || epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Stop sampling e (why: for the log); the BPF side forgets it at once. */
static void drop(struct targets *t, struct target_entry *e, const char *why)
{
	if (e->t.exited)
		return;
	log_debug("PID %d (%s): no longer sampled: %s", e->pid, e->t.py.comm, why);
	e->t.exited = true;
	t->alive--;
	if (t->s)
		session__remove_proc(t->s, e->pid);
}

void targets__free(struct targets *t)
{
	struct target_entry *e, *tmp;

	if (!t)
		return;
	HASH_ITER (hh, t->h, e, tmp)
		drop(t, e, "the recording is over");
	HASH_CLEAR_FREE(hh, t->h, entry_free);
	if (t->epfd >= 0)
		close(t->epfd);
	free(t);
}

int targets__add(struct targets *t, const struct py_target *py)
{
	struct target_entry *e;
	int err;

	HASH_FIND_INT(t->h, &py->pid, e);
	if (e && !e->t.exited)
		return -EEXIST;
	if (e) { /* PID reused by a new process: start over */
		HASH_DEL(t->h, e);
		entry_free(e);
		t->n--;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->pid = py->pid;
	e->pidfd = -1;
	e->t.py = *py;
	e->t.cache = code_cache__new(py->pid, &py->layout, py->code_type_addr, t->prof, t->store);
	if (!e->t.cache) {
		err = -errno;
		free(e);
		return err;
	}
	if (t->native) {
		e->t.native = native_proc__new(t->native, py->pid, py->elf_path, py->version_hex);
		if (!e->t.native) {
			entry_free(e);
			return -ENOMEM;
		}
	}
	if (t->async) {
		e->t.async = async_proc__new(&e->t.py, t->prof);
		if (!e->t.async) {
			entry_free(e);
			return -ENOMEM;
		}
		async_proc__poll(e->t.async, mono_ns());
	}
	/* Best effort: without it samples just never say they held the GIL. */
	py_target__find_gil(&e->t.py);
	e->t.mode = PYSPY_MODE_VERIFY;
	e->t.added_ns = mono_ns();
	err = write_proc(t, &e->t, e->t.mode);
	if (err) {
		entry_free(e);
		return err;
	}
	e->pidfd = watch_exit(t, py);
	profile__set_process_name(t->prof, py->pid, py->comm);
	HASH_ADD_INT(t->h, pid, e);
	t->n++;
	t->alive++;
	return 0;
}

struct target *targets__find(struct targets *t, pid_t pid)
{
	struct target_entry *e;

	HASH_FIND_INT(t->h, &pid, e);
	return e ? &e->t : NULL;
}

bool targets__has(struct targets *t, pid_t pid)
{
	struct target *tg = targets__find(t, pid);

	return tg && !tg->exited;
}

static int write_proc(struct targets *t, struct target *tg, uint8_t mode)
{
	struct pyspy_proc proc;

	py_layout__to_bpf(&tg->py.layout, tg->py.runtime_addr, tg->py.version_hex, &proc);
	proc.mode = mode;
	proc.ustack_bytes = tg->ustack_bytes;
	if (t->frames_one_by_one)
		proc.tstate_chunk = 0;
	async_proc__to_bpf(tg->async, &proc);
	if (tg->py.gil_addr) {
		proc.gil_addr = tg->py.gil_addr;
		proc.gil_holder = tg->py.layout.gil_last_holder;
		proc.gil_locked = tg->py.layout.gil_locked;
	}
	return session__add_proc(t->s, tg->py.pid, &proc);
}

void targets__update_mode(struct targets *t, struct target *tg)
{
	const struct code_cache_stats *st = code_cache__stats(tg->cache);
	uint64_t now_ns = mono_ns();
	uint8_t want = 0;

	if (now_ns - tg->added_ns < QUIET_NS || now_ns - st->last_change_ns < QUIET_NS)
		want |= PYSPY_MODE_VERIFY;
	if (st->last_replace_ns && now_ns - st->last_replace_ns < QUIET_NS)
		want |= PYSPY_MODE_EAGER;
	if (tg->async && !tg->exited && async_proc__poll(tg->async, now_ns) == 1 &&
	    write_proc(t, tg, tg->mode))
		log_warn("PID %d: cannot start reading its tasks", tg->py.pid);
	if (tg->native && native_proc__ustack_hint(tg->native) != tg->ustack_bytes && !tg->exited) {
		tg->ustack_bytes = native_proc__ustack_hint(tg->native);
		if (write_proc(t, tg, tg->mode))
			log_warn("PID %d: cannot change the stack copy", tg->py.pid);
		else
			log_debug("PID %d: user stack copied per sample: %u bytes", tg->py.pid,
				  tg->ustack_bytes ? tg->ustack_bytes : PYSPY_USTACK_MAX);
	}
	if (want == tg->mode || tg->exited)
		return;
	if (write_proc(t, tg, want)) {
		log_warn("PID %d: cannot change the sampling mode", tg->py.pid);
		return;
	}
	log_debug("PID %d: mode %s%s", tg->py.pid, want & PYSPY_MODE_VERIFY ? "verify" : "fast",
		  want & PYSPY_MODE_EAGER ? "+eager" : "");
	tg->mode = want;
}

void targets__ignore(struct targets *t, pid_t pid)
{
	if (session__set_state(t->s, pid, PYSPY_PROC_IGNORE))
		log_debug("PID %d: cannot mark it ignored", pid);
}

void targets__watch(struct targets *t, pid_t pid)
{
	if (session__set_state(t->s, pid, PYSPY_PROC_WATCH))
		log_debug("PID %d: cannot watch it", pid);
}

void targets__drop(struct targets *t, pid_t pid, const char *why)
{
	struct target_entry *e;

	HASH_FIND_INT(t->h, &pid, e);
	if (e)
		drop(t, e, why);
}

void targets__refresh(struct targets *t, pid_t pid)
{
	struct target *tg = targets__find(t, pid);

	if (tg && !tg->exited && write_proc(t, tg, tg->mode))
		log_warn("PID %d: cannot restore its sampler entry", pid);
}

/*
 * Forget a process that is gone, keeping only its counts: a host agent
 * sees processes come and go for weeks, so nothing per process may stay.
 */
static void retire(struct targets *t, struct target_entry *e)
{
	t->retired_ambiguous += code_cache__stats(e->t.cache)->ambiguous;
	HASH_DEL(t->h, e);
	entry_free(e);
}

/* Drop the targets whose pidfd says they are gone. */
static void reap_pidfds(struct targets *t)
{
	struct epoll_event ev[64];
	struct target_entry *e;
	int n;

	do {
		n = t->epfd < 0 ? 0 : epoll_wait(t->epfd, ev, 64, 0);
		for (int i = 0; i < n; i++) {
			pid_t pid = (pid_t)ev[i].data.u64;

			HASH_FIND_INT(t->h, &pid, e);
			if (e && e->pidfd >= 0) {
				drop(t, e, "exited");
				/* Out of the set now: it stays readable. */
				close(e->pidfd);
				e->pidfd = -1;
			}
		}
	} while (n == 64);
}

int targets__reap(struct targets *t)
{
	struct target_entry *e, *tmp;

	reap_pidfds(t);
	HASH_ITER (hh, t->h, e, tmp) {
		if (!e->t.exited && e->pidfd < 0 && py_target__alive(&e->t.py) == 0)
			drop(t, e, "exited");
		if (e->t.exited)
			retire(t, e);
	}
	return t->alive;
}

uint64_t targets__retired_ambiguous(const struct targets *t)
{
	return t->retired_ambiguous;
}

int targets__count(const struct targets *t)
{
	return t->n;
}

int targets__alive(const struct targets *t)
{
	return t->alive;
}

void targets__name_thread(struct targets *t, pid_t pid, pid_t tid)
{
	char name[64];

	if (profile__thread_name(t->prof, pid, tid))
		return;
	procfs_comm(pid, tid, name, sizeof(name));
	profile__set_thread_name(t->prof, pid, tid, name);
}

void targets__for_each(struct targets *t, void (*cb)(struct target *tg, void *ctx), void *ctx)
{
	for (struct target_entry *e = t->h; e; e = e->hh.next)
		cb(&e->t, ctx);
}
