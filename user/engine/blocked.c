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
#include "symbolize/cpython/pytasks.h"
#include "symbolize/cpython/unwind.h"
#include "symbolize/proc/procfs.h"
#include "symbolize/samplestack.h"
#include "user/base/clock.h"
#include "user/base/log.h"

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
	struct py_tasks tk;
	struct candidate *c;	   /* per task of tk */
	struct offcpu_open *found; /* at most one per task; each its own locs */
	uint32_t n_found;
};

struct blocked_scan *blocked__begin(pid_t pid)
{
	struct blocked_scan *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->pid = pid;
	if (py_tasks__read(pid, &s->tk))
		return s; /* blocked__finish says so */
	s->c = calloc(s->tk.n ? s->tk.n : 1, sizeof(*s->c));
	for (uint32_t i = 0; s->c && i < s->tk.n; i++) {
		struct candidate *c = &s->c[i];
		pid_t tid = s->tk.v[i].tid;

		if (!off_cpu(s->tk.v[i].state))
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
	for (uint32_t i = 0; i < s->n_found; i++)
		free((uint32_t *)s->found[i].locs);
	free(s->found);
	free(s->c);
	py_tasks__free(&s->tk);
	free(s);
}

static struct candidate *candidate_of(struct blocked_scan *s, const struct py_task *task)
{
	return task ? &s->c[task - s->tk.v] : NULL;
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

/* Keep b, its stack copied: 0 or -ENOMEM. */
static int keep(struct blocked_scan *s, struct offcpu_open *b, const struct stack_locs *st)
{
	uint32_t *locs;

	if (s->n_found >= s->tk.n) /* two thread states of one task */
		return 0;
	locs = malloc((st->n ? st->n : 1) * sizeof(*locs));
	if (!locs)
		return -ENOMEM;
	memcpy(locs, st->locs, st->n * sizeof(*locs));
	b->locs = locs;
	b->n = st->n;
	b->flags = st->flags;
	s->found[s->n_found++] = *b;
	return 0;
}

int blocked__finish(struct blocked_scan *s, struct target *tg, struct session *ses, uint64_t now_ns,
		    const struct offcpu_open **found)
{
	struct stack_sources src = { tg->cache, tg->native, NULL };
	struct py_threads th = {};
	struct sample_stack *x = NULL;
	int err = s && s->c ? 0 : -ENOMEM;

	if (!err && !s->tk.n)
		err = -ESRCH;
	if (!err)
		err = py_unwind__threads_marked(tg->py.pid, &tg->py.layout, tg->py.runtime_addr,
						tg->native != NULL, &th);
	if (!err && th.n) {
		x = sample_stack__new();
		s->found = calloc(s->tk.n, sizeof(*s->found));
		err = x && s->found ? 0 : -ENOMEM;
	}
	for (uint32_t i = 0; !err && i < th.n; i++) {
		const struct py_thread_stack *st = &th.t[i];
		const struct py_task *task = py_tasks__of_thread(tg->py.pid, &s->tk, st);
		struct candidate *c = candidate_of(s, task);
		struct stack_locs locs;
		struct offcpu_open b;

		if (!c || !c->blocked || !st->n_frames) {
			log_debug("PID %d: thread state %u not off the CPU (%s, %u frames)",
				  tg->py.pid, i, !task ? "no task" : "running", st->n_frames);
			continue;
		}
		sample_stack__of_thread(x, &src, tg->py.pid, task->tid, st, now_ns, &locs);
		b = (struct offcpu_open){ .pid = (uint32_t)tg->py.pid,
					  .tid = (uint32_t)task->tid,
					  .cause = c->cause,
					  .gil_addr = tg->py.gil_addr,
					  .gil_size = tg->py.layout.gil_size,
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
		err = keep(s, &b, &locs);
	}
	sample_stack__free(x);
	py_threads__free(&th);
	if (err)
		return err;
	*found = s->found;
	return (int)s->n_found;
}
