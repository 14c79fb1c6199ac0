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
#include "symbolize/codecache.h"
#include "symbolize/cpython/pytasks.h"
#include "symbolize/cpython/unwind.h"
#include "symbolize/nativestack.h"
#include "symbolize/proc/procfs.h"
#include "user/base/clock.h"
#include "user/base/log.h"
#include "user/model/profile.h"

/* Locations of one stack at most: Python frames, native and kernel ones, a marker. */
#define BLOCKED_MAX_LOCS (PYSPY_MAX_FRAMES + SW_MAX_FRAMES + NATIVE_PROC_KSTACK_MAX + 2)

/* Is a task in this /proc state letter off the CPU (not running or runnable)? */
static bool off_cpu(char state)
{
	return state == 'S' || state == 'D' || state == 'I' || state == 't' || state == 'T';
}

/* What it waits in, as the BPF side would have recorded it; -EAGAIN: it runs now. */
static int wait_header(pid_t pid, pid_t tid, struct pyspy_sample *hdr)
{
	uint64_t args[4];
	int32_t nr = -1;

	memset(hdr, 0, sizeof(*hdr));
	hdr->pid = pid;
	hdr->tid = tid;
	hdr->flags = PYSPY_SAMPLE_OFFCPU;
	hdr->syscall = -1;
	if (py_task__syscall(pid, tid, &nr, args) == -EAGAIN)
		return -EAGAIN;
	hdr->syscall = nr;
	hdr->arg = args[0];
	if (!args[1] && !args[2] && !args[3])
		hdr->flags |= PYSPY_SAMPLE_ARGS_NULL;
	return 0;
}

/* A thread off the CPU when first looked at. */
struct candidate {
	bool counted;	  /* runs is known (schedstat) */
	bool blocked;	  /* off the CPU, and what in is known */
	uint64_t runs;	  /* times it was put on a CPU, before anything else was read */
	uint64_t seen_ns; /* when runs was read: its wait was on then */
	struct pyspy_sample hdr;
};

struct blocked_scan {
	pid_t pid;
	struct py_tasks tk;
	struct candidate *c; /* per task of tk */
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
		c->blocked = !wait_header(pid, tid, &c->hdr);
	}
	return s;
}

void blocked__free(struct blocked_scan *s)
{
	if (!s)
		return;
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

/* Scratch for one stack. */
struct stack_scratch {
	uint32_t locs[BLOCKED_MAX_LOCS];
	struct pyspy_frame clean[PYSPY_MAX_FRAMES];
	uint8_t entry[PYSPY_MAX_FRAMES];
	uint64_t shim[PYSPY_MAX_FRAMES];
	uint32_t py_locs[PYSPY_MAX_FRAMES];
	struct native_proc_scratch proc;
};

/* The thread's whole stack into x->locs: Python frames, and native and kernel ones around them. */
static uint32_t stack_of(struct target *tg, const struct py_thread_stack *st, pid_t tid,
			 uint64_t now_ns, struct stack_scratch *x)
{
	struct native_py py = { x->py_locs, x->entry, x->shim, 0 };
	uint32_t n = st->n_frames < PYSPY_MAX_FRAMES ? st->n_frames : PYSPY_MAX_FRAMES;

	/* The walk read each code object's fingerprint along with its frame. */
	if (!tg->native) {
		code_cache__resolve(tg->cache, st->frames, n, now_ns, true, x->locs);
		return n;
	}
	py.n = native_stack__split(st->frames, n, x->clean, x->entry, x->shim);
	code_cache__resolve(tg->cache, x->clean, py.n, now_ns, true, x->py_locs);
	return native_stack__from_proc(tg->native, tg->py.pid, tid, native_proc__kernel(tg->native),
				       1, &py, &x->proc, x->locs, BLOCKED_MAX_LOCS);
}

int blocked__finish(struct blocked_scan *s, struct target *tg, uint64_t now_ns,
		    const struct blocked_ops *ops, void *ctx)
{
	struct py_threads th = {};
	struct stack_scratch *x = NULL;
	int err = s && s->c ? 0 : -ENOMEM, found = 0;

	if (!err && !s->tk.n)
		err = -ESRCH;
	if (!err)
		err = py_unwind__threads_marked(tg->py.pid, &tg->py.layout, tg->py.runtime_addr,
						tg->native != NULL, &th);
	if (!err && th.n) {
		x = malloc(sizeof(*x));
		err = x ? 0 : -ENOMEM;
	}
	for (uint32_t i = 0; !err && i < th.n; i++) {
		const struct py_thread_stack *st = &th.t[i];
		const struct py_task *task = py_tasks__of_thread(tg->py.pid, &s->tk, st);
		struct candidate *c = candidate_of(s, task);
		struct blocked_thread b = { .hdr = c ? &c->hdr : NULL };

		if (!c || !c->blocked || !st->n_frames) {
			log_debug("PID %d: thread state %u not off the CPU (%s, %u frames)",
				  tg->py.pid, i, !task ? "no task" : "running", st->n_frames);
			continue;
		}
		b.locs = x->locs;
		b.n = stack_of(tg, st, task->tid, now_ns, x);
		b.since_ns = b.known_ns = c->seen_ns;
		/*
		 * Armed, its next run ends its wait; not having run since
		 * blocked__begin, it was in that wait all along, the stack just
		 * read included.
		 */
		ops->arm(task->tid, &b.since_ns, ctx);
		if (ran(s, task->tid, c)) {
			log_debug("PID %d TID %d: ran during the scan", tg->py.pid, task->tid);
			continue;
		}
		if (st->flags & PY_STACK_TRUNCATED)
			b.flags |= PROFILE_STACK_TRUNCATED;
		else if (st->flags & PY_STACK_PARTIAL)
			b.flags |= PROFILE_STACK_PARTIAL;
		ops->found(&b, ctx);
		found++;
	}
	free(x);
	py_threads__free(&th);
	return err ? err : found;
}
