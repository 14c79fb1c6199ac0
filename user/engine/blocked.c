// SPDX-License-Identifier: MIT
/*
 * blocked.c - threads already off the CPU when their process is registered.
 *
 * The order is what makes it right: how often a thread ran is read first;
 * then that it is off the CPU and in what; then its stack; then it is
 * armed (the BPF side reports its next run, which ends the wait); and
 * last how often it ran again.  Unchanged, the thread was in one wait all
 * along: the stack is that wait's, and the wait's end will be reported
 * however soon it comes.  Otherwise it ran during the scan, and the BPF
 * side saw whatever wait it is in now begin.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blocked.h"
#include "snapshot.h"
#include "symbolize/cpython/pytasks.h"
#include "symbolize/proc/procfs.h"
#include "symbolize/base/clock.h"
#include "symbolize/base/log.h"

/* Is a task in this /proc state letter off the CPU (not running or runnable)? */
static bool off_cpu(char state)
{
	return state == 'S' || state == 'D' || state == 'I' || state == 't' || state == 'T';
}

/* What it waits in, as the BPF side would have seen it; -EAGAIN: it runs now. */
static int wait_cause(pid_t pid, pid_t tid, struct offcpu_cause *c)
{
	uint64_t args[4] = { 0 };
	int32_t nr = -1;

	if (py_task__syscall(pid, tid, &nr, args) == -EAGAIN)
		return -EAGAIN;
	*c = (struct offcpu_cause){
		.syscall = nr,
		.arg = args[0],
		.args_null = !args[1] && !args[2] && !args[3],
	};
	return 0;
}

/* A thread off the CPU when first looked at. */
struct candidate {
	bool counted;	  /* runs is known (schedstat) */
	bool blocked;	  /* off the CPU, and what in is known */
	uint64_t runs;	  /* times it was put on a CPU, before anything else was read */
	uint64_t seen_ns; /* when runs was read: its wait was on then */
	struct offcpu_cause cause;
};

struct blocked_scan {
	pid_t pid;
	/* Its threads, listed at blocked__begin, walked and named at _finish:
	 * the stacks found point into it. */
	struct snapshot *snap;
	int list_err;
	struct candidate *c;	   /* per /proc task of snap */
	struct offcpu_open *found; /* at most one per task */
	uint32_t n_found;
};

struct blocked_scan *blocked__begin(pid_t pid)
{
	struct blocked_scan *s = calloc(1, sizeof(*s));
	const struct snapshot *snap;

	if (!s)
		return NULL;
	s->pid = pid;
	s->snap = snapshot__new(pid);
	if (!s->snap) {
		free(s);
		return NULL;
	}
	snap = s->snap;
	s->list_err = snapshot__list(s->snap);
	if (s->list_err)
		return s; /* blocked__finish says so */
	s->c = calloc(snap->n_tasks ? snap->n_tasks : 1, sizeof(*s->c));
	for (uint32_t i = 0; s->c && i < snap->n_tasks; i++) {
		struct candidate *c = &s->c[i];
		pid_t tid = snap->tasks[i].tid;

		if (!off_cpu(snap->tasks[i].state))
			continue;
		/*
		 * First how often it ran, then that it is off the CPU (see
		 * above): its syscall file says "running" for a task that is on
		 * a CPU or about to be.
		 */
		c->seen_ns = mono_ns();
		c->counted = !procfs_runs(pid, tid, &c->runs);
		c->blocked = !wait_cause(pid, tid, &c->cause);
	}
	return s;
}

void blocked__free(struct blocked_scan *s)
{
	if (!s)
		return;
	free(s->found);
	free(s->c);
	snapshot__free(s->snap);
	free(s);
}

/*
 * Has the thread run since blocked__begin (then the stack read may not be
 * its wait's, and the wait may have ended before it was armed)?
 */
static bool ran(const struct blocked_scan *s, pid_t tid, const struct candidate *c)
{
	struct procfs_stat ps;
	uint64_t runs;

	if (c->counted)
		return procfs_runs(s->pid, tid, &runs) || runs != c->runs;
	/* No schedstat: still off the CPU, the best sign there is. */
	return procfs_stat(s->pid, tid, &ps) || !off_cpu(ps.state);
}

int blocked__finish(struct blocked_scan *s, struct target *tg, struct session *ses, uint64_t now_ns,
		    const struct offcpu_open **found)
{
	/* Named as a sampled stack of the process is, kernel frames included if those are. */
	const struct snapshot_names nm = {
		.cache = tg->cache,
		.native = tg->native,
		.tries = 1,
	};
	struct snapshot *snap = s ? s->snap : NULL;
	int err = !s ? -ENOMEM : s->list_err ? s->list_err : s->c ? 0 : -ENOMEM;

	if (!err && !snap->n_tasks)
		err = -ESRCH;
	if (!err)
		err = snapshot__walk(snap, &tg->py, tg->native != NULL);
	if (!err && snap->n_threads) {
		s->found = calloc(snap->n_tasks, sizeof(*s->found));
		err = s->found ? 0 : -ENOMEM;
	}
	for (uint32_t i = 0; !err && i < snap->n_threads; i++) {
		const struct snapshot_thread *t = &snap->threads[i];
		const struct snapshot_task *task = snapshot__task_of(snap, t);
		const struct candidate *c = task ? &s->c[t->task] : NULL;
		struct offcpu_open b;

		if (!c || !c->blocked || !t->n_frames) {
			log_debug("PID %d: thread state %u not off the CPU (%s, %u frames)",
				  tg->py.pid, i, !task ? "no task" : "running", t->n_frames);
			continue;
		}
		err = snapshot__name(snap, i, &nm, now_ns);
		if (err)
			break;
		b = (struct offcpu_open){ .pid = (uint32_t)tg->py.pid,
					  .tid = (uint32_t)task->tid,
					  .cause = c->cause,
					  .gil_addr = tg->py.gil_addr,
					  .gil_size = tg->py.layout.gil_size,
					  .locs = t->locs,
					  .n = t->n_locs,
					  .flags = t->flags,
					  .start_ns = c->seen_ns,
					  .known_ns = c->seen_ns };
		/*
		 * Armed, its next run ends its wait; not having run since
		 * blocked__begin, it was in that wait all along, the stack just
		 * read included.
		 */
		session__offcpu_open(ses, task->tid, &b.start_ns);
		if (ran(s, task->tid, c)) {
			log_debug("PID %d TID %d: ran during the scan", tg->py.pid, task->tid);
			continue;
		}
		/* Two thread states of one task: its first. */
		if (s->n_found < snap->n_tasks)
			s->found[s->n_found++] = b;
	}
	if (err)
		return err;
	*found = s->found;
	return (int)s->n_found;
}
