// SPDX-License-Identifier: MIT
/*
 * lifecycle.c - targets found, registered (with their blocked threads),
 * re-registered after exec, followed and dropped.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "blocked.h"
#include "lifecycle.h"
#include "symbolize/cpython/discover_wait.h"
#include "symbolize/base/clock.h"
#include "symbolize/base/log.h"

/* Launch mode: how many descendants are followed. */
#define MAX_DESCENDANTS 256

/*
 * --async and a Python before 3.14: one line, and -ENOTSUP (a warning
 * with --all, where no process was asked for by name).
 */
static int async_refuses(const struct options *o, const struct py_target *py)
{
	char ver[32];

	if (!o->async || (py->version_hex >> 16) >= 0x030e)
		return 0;
	py_version_str(py->version_hex, false, ver, sizeof(ver));
	if (o->all)
		log_warn("skipping PID %d: --async needs CPython 3.14 or newer; it runs %s",
			 py->pid, ver);
	else
		log_error("--async needs CPython 3.14 or newer; PID %d runs %s", py->pid, ver);
	return -ENOTSUP;
}

int lifecycle__discover(const struct options *o, struct py_target *pys)
{
	for (int i = 0; i < o->n_pids; i++) {
		int err = py_target__discover_wait(o->pids[i], o->init_wait_s, &pys[i]);

		if (err)
			return err;
	}
	/* --async on a --pid older than 3.14: one clear line, and no recording. */
	for (int i = 0; i < o->n_pids; i++)
		if (async_refuses(o, &pys[i]))
			return -ENOTSUP;
	return 0;
}

void lifecycle__name_thread(struct lifecycle *l, pid_t pid, pid_t tid)
{
	if (profile__thread_name(l->prof, pid, tid))
		return;
	targets__name_thread(l->tg, pid, tid);
	l->threads++;
}

/* Threads already off the CPU are looked for in these modes (blocked.h). */
static bool wants_blocked(const struct lifecycle *l)
{
	return l->off && (l->o->mode == MODE_OFFCPU || l->o->mode == MODE_WALL);
}

/* CPU time of this thread, ms. */
static double thread_cpu_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/*
 * The second step of blocked.h's scan, once pid is registered: each
 * thread found blocked has its wait opened from when it began, as far as
 * we know.  If it ran and left again since, the record of that wait
 * (queued behind us) replaces this one, and the end of a wait that was
 * over before we looked does not close it.  begin_ms: the CPU the first
 * step took (the cost `make bench` reads is the sum).
 */
static void open_blocked(struct lifecycle *l, pid_t pid, struct blocked_scan *bs, double begin_ms)
{
	struct target *tg = targets__find(l->tg, pid);
	const struct offcpu_open *found = NULL;
	double t0 = thread_cpu_ms();
	int n;

	if (!tg || !bs)
		return;
	n = blocked__finish(bs, tg, l->s, mono_ns(), &found);
	if (n < 0) {
		log_debug("PID %d: cannot list its blocked threads: %s", pid, strerror(-n));
		return;
	}
	for (int i = 0; i < n; i++) {
		lifecycle__name_thread(l, found[i].pid, found[i].tid);
		offcpu_table__open(l->off, l->prof, &found[i]);
	}
	log_debug("PID %d: %d threads off the CPU at registration (%.2f ms of CPU)", pid, n,
		  begin_ms + thread_cpu_ms() - t0);
}

int lifecycle__register(void *ctx, const struct py_target *py)
{
	struct lifecycle *l = ctx;
	int err = async_refuses(l->o, py);
	struct blocked_scan *bs = NULL;
	double begin_ms = thread_cpu_ms();
	char ver[32];

	if (err)
		return err;
	/* Its threads already off the CPU, seen before it is sampled (blocked.h). */
	if (wants_blocked(l) && !targets__has(l->tg, py->pid))
		bs = blocked__begin(py->pid);
	begin_ms = thread_cpu_ms() - begin_ms;
	err = targets__add(l->tg, py);
	if (err && err != -EEXIST) {
		log_error("PID %d: cannot start sampling: %s", py->pid, strerror(-err));
		blocked__free(bs);
		return err;
	}
	py_version_str(py->version_hex, false, ver, sizeof(ver));
	/* When, on the clock a target can read too (how soon a late starter is picked up). */
	log_debug(
		"sampling PID %d (%s), Python %s, _PyRuntime at 0x%llx, from %.3f s (CLOCK_MONOTONIC)",
		py->pid, py->comm, ver, (unsigned long long)py->runtime_addr, mono_s());
	if (!err) {
		container_cache__add_process(l->cc, l->prof, py->pid, py->nspid);
		open_blocked(l, py->pid, bs, begin_ms);
	}
	blocked__free(bs);
	return 0;
}

void lifecycle__event(struct lifecycle *l, const struct pyspy_sample *ev)
{
	double now = mono_s();

	if (ev->flags & PYSPY_EVENT_EXEC) {
		struct target *tg = targets__find(l->tg, ev->pid);

		/*
		 * Records wait in the ring while a launched command execs its
		 * way to Python and is found: an exec from before we looked is
		 * already in what we found, and dropping it would lose the
		 * samples and waits (a first sleep) of a re-registration.
		 */
		if (tg && ev->ktime_ns < tg->py.looked_ns) {
			log_debug("PID %u called exec before it was found: nothing to redo",
				  ev->pid);
			return;
		}
		log_debug("PID %u called exec", ev->pid);
		targets__drop(l->tg, ev->pid, "it called exec");
		watch__consider(l->watch, ev->pid, now, true);
	} else if (targets__has(l->tg, ev->pid)) {
		/* Its entry was evicted or the leader thread exited: put it back. */
		targets__refresh(l->tg, ev->pid);
	} else {
		watch__consider(l->watch, ev->pid, now, true);
	}
}

static void follow_launch(struct lifecycle *l, double now)
{
	pid_t kids[MAX_DESCENDANTS];
	int n;

	if (launch__poll(&l->launch))
		return;
	watch__consider(l->watch, l->launch.pid, now, false);
	n = launch__descendants(l->launch.pid, kids, MAX_DESCENDANTS);
	for (int i = 0; i < n; i++)
		watch__consider(l->watch, kids[i], now, false);
}

bool lifecycle__housekeep(struct lifecycle *l, double now)
{
	targets__reap(l->tg);
	watch__retry(l->watch, now);
	if (l->o->all)
		return false;
	if (l->launched) {
		follow_launch(l, now);
		if (launch__poll(&l->launch))
			return true;
	} else if (targets__alive(l->tg) == 0 && !watch__active(l->watch)) {
		log_debug("every target exited");
		return true;
	}
	return false;
}
