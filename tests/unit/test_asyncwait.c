// SPDX-License-Identifier: MIT
/*
 * test_asyncwait.c - --async --mode wall's charging of suspended tasks,
 * through symbolize/asyncwait.h's functions alone, on live asyncio
 * targets (tests/workloads/async_waits.py) on every interpreter of the
 * list that has asyncio's debug offsets (3.14+), as root.  The target
 * parks its event loop and says what each task is (state, awaiter,
 * coroutines), so every wait charged is known; the clock is the test's
 * (each tick's now), so every charge is exact.
 *
 *   - one tick through every task, then the end (settle): each suspended
 *     or pending task charged all the time since the start, once, at its
 *     await under the tasks awaiting it ([await], [await task NAME],
 *     [not started]), on the loop's thread; the running task not at all;
 *   - the bound per tick: a cycle takes several ticks, counted as
 *     deferred, and each task is still charged exactly the elapsed time;
 *   - a wait gathered past 10 s goes out at once; one visit charges at
 *     most 60 s;
 *   - tasks that end are charged what they waited before they went, and
 *     forgotten;
 *   - the bound on tasks remembered: of more than 65536 tasks, 65536
 *     are charged.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pychild.h"
#include "unit.h"
#include "user/engine/asyncwait.h"
#include "symbolize/codestore.h"
#include "symbolize/cpython/discover.h"

#define WORKLOAD  "tests/workloads/async_waits.py"
#define SEC	  1000000000ull
#define MAX_TASKS 16
/* asyncwait.c's bound on tasks remembered (PY_ASYNC_MAX_TASKS). */
#define MAX_ENTRIES 65536

struct task_truth {
	char name[64], state[16], awaiter[64];
	struct pyframe f[8]; /* its coroutines, outermost first */
	unsigned n;
};

/* What the target says of itself. */
struct truth {
	pid_t tid;
	unsigned n, many;
	struct task_truth t[MAX_TASKS];
};

static int read_truth(struct pychild *p, struct truth *tr)
{
	char line[PATH_MAX + 256];
	struct task_truth *t = NULL;
	int err;

	memset(tr, 0, sizeof(*tr));
	while (!(err = pychild_line(p, line, sizeof(line))) && strcmp(line, "ready")) {
		char *tab1 = strchr(line, '\t'), *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;

		if (sscanf(line, "tid %d", &tr->tid) == 1 ||
		    sscanf(line, "many %u", &tr->many) == 1)
			continue;
		if (!strncmp(line, "task ", 5) && tr->n < MAX_TASKS) {
			t = &tr->t[tr->n++];
			if (sscanf(line, "task %63s %15s", t->name, t->state) != 2)
				return -EIO;
		} else if (!strncmp(line, "await ", 6) && t) {
			snprintf(t->awaiter, sizeof(t->awaiter), "%.63s", line + 6);
		} else if (!strncmp(line, "F ", 2) && t && tab2 && t->n < 8) {
			*tab1 = *tab2 = 0;
			snprintf(t->f[t->n].name, sizeof(t->f[0].name), "%.127s", line + 2);
			snprintf(t->f[t->n].file, sizeof(t->f[0].file), "%.1000s", tab1 + 1);
			t->f[t->n].line = atoi(tab2 + 1);
			t->n++;
		} else {
			return -EIO;
		}
	}
	return err;
}

static const struct task_truth *task(const struct truth *tr, const char *name)
{
	for (unsigned i = 0; i < tr->n; i++)
		if (!strcmp(tr->t[i].name, name))
			return &tr->t[i];
	return NULL;
}

/* The one task it awaits (by who says it awaits): NULL if none, or several. */
static const struct task_truth *awaits(const struct truth *tr, const struct task_truth *t)
{
	const struct task_truth *one = NULL;
	unsigned n = 0;

	for (unsigned i = 0; i < tr->n; i++)
		if (!strcmp(tr->t[i].awaiter, t->name)) {
			one = &tr->t[i];
			n++;
		}
	return n == 1 ? one : NULL;
}

/* The stack a wait of t is charged at, innermost first, as names ("[await]", "inner", ...). */
static unsigned want_stack(const struct truth *tr, const struct task_truth *t, char (*out)[160],
			   unsigned max)
{
	const struct task_truth *y = awaits(tr, t);
	unsigned n = 0;

	if (!strcmp(t->state, "pending"))
		snprintf(out[n++], 160, "[not started]");
	else if (y)
		snprintf(out[n++], 160, "[await task %s]", y->name);
	else
		snprintf(out[n++], 160, "[await]");
	for (unsigned depth = 0; t && depth < MAX_TASKS; depth++) {
		for (unsigned i = t->n; i-- > 0 && n < max;)
			snprintf(out[n++], 160, "%s:%d", t->f[i].name, t->f[i].line);
		if (n < max)
			snprintf(out[n++], 160, "task %s", t->name);
		t = t->awaiter[0] ? task(tr, t->awaiter) : NULL;
	}
	return n;
}

/* Waits charged: per task (by its name location), their sum, and the stacks. */
#define MAX_WAITS 64
struct waits {
	const struct profile *prof;
	unsigned calls;
	uint64_t ns;
	struct {
		char stack[16][160];
		unsigned n;
		uint32_t tid;
		uint64_t ns;
	} w[MAX_WAITS];
	unsigned n;
	bool keep; /* stacks too (the many: counts only) */
};

static void on_wait(const struct async_wait_sample *s, void *ctx)
{
	struct waits *ws = ctx;

	ws->calls++;
	ws->ns += s->ns;
	if (!ws->keep || ws->n == MAX_WAITS)
		return;
	ws->w[ws->n].n = s->n < 16 ? s->n : 16;
	ws->w[ws->n].tid = s->tid;
	ws->w[ws->n].ns = s->ns;
	for (uint32_t i = 0; i < ws->w[ws->n].n; i++) {
		int line = -1;
		const struct profile_function *fn =
			profile__location_function(ws->prof, s->locs[i], &line);
		const char *name = fn ? profile__str(ws->prof, fn->name) : "?";

		if (line >= 0)
			snprintf(ws->w[ws->n].stack[i], 160, "%.120s:%d", name, line);
		else
			snprintf(ws->w[ws->n].stack[i], 160, "%.150s", name);
	}
	ws->n++;
}

/* A tick (or the settle) and every wait it leaves, read to the end as the sampler does. */
static void drain(struct async_wait *w, void *ws)
{
	struct async_wait_sample s;

	while (async_wait__next(w, &s))
		on_wait(&s, ws);
}

static void tick(struct async_wait *w, uint64_t now_ns, unsigned max, void *ws)
{
	async_wait__tick(w, now_ns, max);
	drain(w, ws);
}

static void settle(struct async_wait *w, uint64_t now_ns, void *ws)
{
	async_wait__settle(w, now_ns);
	drain(w, ws);
}

/* The task a wait is charged to: its first "task NAME" frame. */
static const char *charged_task(const struct waits *ws, unsigned i)
{
	for (unsigned k = 0; k < ws->w[i].n; k++)
		if (!strncmp(ws->w[i].stack[k], "task ", 5))
			return ws->w[i].stack[k] + 5;
	return "?";
}

/* Total charged to the task named name. */
static uint64_t charged(const struct waits *ws, const char *name)
{
	uint64_t ns = 0;

	for (unsigned i = 0; i < ws->n; i++)
		if (!strcmp(charged_task(ws, i), name))
			ns += ws->w[i].ns;
	return ns;
}

/* A live target and what asyncwait needs of it. */
struct live {
	const struct interp *it;
	struct pychild p;
	struct truth tr;
	struct py_target py;
	struct profile *prof;
	struct code_store *store;
	struct code_cache *cache;
	struct async_proc *ap;
};

static int live_start(struct live *l, const struct interp *it, char *const args[])
{
	int err;

	memset(l, 0, sizeof(*l));
	l->it = it;
	l->p.c.pid = -1;
	err = pychild_start(&l->p, it, WORKLOAD, args);
	if (!err)
		err = read_truth(&l->p, &l->tr);
	if (!err)
		err = py_target__discover(l->p.c.pid, &l->py);
	CHECK(!err, "%s: %s", it->id, strerror(-err));
	l->prof = profile__new(0);
	l->store = code_store__new(0, 0);
	l->cache = !err && l->prof && l->store
			   ? code_cache__new(l->py.pid, &l->py.layout, l->py.code_type_addr,
					     l->prof, l->store)
			   : NULL;
	l->ap = l->cache ? async_proc__new(&l->py, l->prof) : NULL;
	/* asyncio is imported (it said so): its offsets are there at the first look. */
	CHECK(l->ap && async_proc__poll(l->ap, 1) == 1 && async_proc__layout(l->ap),
	      "%s: asyncio not found", it->id);
	return l->ap && async_proc__layout(l->ap) ? 0 : -1;
}

static void live_end(struct live *l)
{
	pychild_end(&l->p, true);
	async_proc__free(l->ap);
	code_cache__free(l->cache);
	code_store__free(l->store);
	profile__free(l->prof);
}

/* Each suspended or pending task charged exactly ns, at its stack, on the loop's thread. */
static void check_charged(struct live *l, const struct waits *ws, uint64_t ns, const char *what)
{
	unsigned tasks = 0;

	for (unsigned i = 0; i < l->tr.n; i++) {
		const struct task_truth *t = &l->tr.t[i];
		bool waits = strcmp(t->state, "running");

		tasks += waits;
		CHECK(charged(ws, t->name) == (waits ? ns : 0),
		      "%s: %s: task %s (%s) charged %.3f s, not %.3f s", l->it->id, what, t->name,
		      t->state, charged(ws, t->name) / 1e9, waits ? ns / 1e9 : 0.0);
	}
	for (unsigned i = 0; i < ws->n; i++) {
		const struct task_truth *t = task(&l->tr, charged_task(ws, i));
		char want[16][160];
		unsigned n = t ? want_stack(&l->tr, t, want, 16) : 0, same = 0;

		while (same < n && same < ws->w[i].n && !strcmp(want[same], ws->w[i].stack[same]))
			same++;
		CHECK(t && same == n && n == ws->w[i].n && ws->w[i].tid == (uint32_t)l->tr.tid,
		      "%s: %s: the wait of task %s at %s, not %s (frame %u of %u), on TID %u, not %d",
		      l->it->id, what, charged_task(ws, i),
		      same < ws->w[i].n ? ws->w[i].stack[same] : "(end)",
		      same < n ? want[same] : "(end)", same, n, ws->w[i].tid, l->tr.tid);
	}
	CHECK(ws->calls >= tasks, "%s: %s: %u waits for %u tasks", l->it->id, what, ws->calls,
	      tasks);
}

/*
 * One tick through every task, the end two seconds later; then a second
 * cycle and the tasks held by the future ending: what they waited goes
 * out, and they are forgotten.
 */
static void test_cycle(struct live *l)
{
	struct waits ws = { .prof = l->prof, .keep = true };
	struct async_wait *w = async_wait__new(&l->py, l->ap, l->cache, l->prof, 0, 64);
	const struct async_wait_stats *st;
	struct truth after;

	CHECK(w, "%s: async_wait__new", l->it->id);
	if (!w)
		return;
	st = async_wait__stats(w);
	tick(w, 1 * SEC, 64, &ws);
	CHECK(!ws.calls && st->read == l->tr.n && st->tasks == l->tr.n && st->cycles == 1 &&
		      !st->deferred && !st->list_errors,
	      "%s: %u waits out before 10 s; %" PRIu64 " read, %u tasks (%u), %" PRIu64
	      " cycles, %" PRIu64 " deferred, %" PRIu64 " list errors",
	      l->it->id, ws.calls, st->read, st->tasks, l->tr.n, st->cycles, st->deferred,
	      st->list_errors);
	settle(w, 3 * SEC, &ws);
	check_charged(l, &ws, 3 * SEC, "one tick, then the end");

	/* Another second waited; then the future is resolved and the tasks it held end. */
	memset(&ws, 0, sizeof(ws));
	ws.prof = l->prof;
	ws.keep = true;
	tick(w, 4 * SEC, 64, &ws);
	CHECK(!ws.calls && st->cycles == 2, "%s: %u waits out", l->it->id, ws.calls);
	CHECK(!pychild_say(&l->p, "next") && !read_truth(&l->p, &after) && after.n == 1,
	      "%s: %u tasks left", l->it->id, after.n);
	tick(w, 5 * SEC, 64, &ws);
	check_charged(l, &ws, 1 * SEC, "the tasks that ended");
	CHECK(st->tasks == 1 && st->cycles == 3, "%s: %u tasks remembered", l->it->id, st->tasks);
	memset(&ws, 0, sizeof(ws));
	settle(w, 6 * SEC, &ws);
	CHECK(!ws.calls, "%s: the running task charged", l->it->id);
	async_wait__free(w);
}

/* Two tasks a tick: a cycle takes three ticks, and still each task is charged all the time. */
static void test_bounded(struct live *l)
{
	struct waits ws = { .prof = l->prof, .keep = true };
	struct async_wait *w = async_wait__new(&l->py, l->ap, l->cache, l->prof, 0, 2);
	const struct async_wait_stats *st;
	uint64_t now = 0;
	unsigned ticks = 0;

	if (!w)
		return;
	st = async_wait__stats(w);
	/* Ask for more than the bound: _new's holds. */
	while (st->cycles < 2 && ticks < 20) {
		now += SEC / 10;
		tick(w, now, 64, &ws);
		ticks++;
	}
	CHECK(ticks == 2 * ((l->tr.n + 1) / 2) && st->read == 2 * l->tr.n &&
		      st->deferred == (l->tr.n - 2) * ((l->tr.n + 1) / 2 - 1),
	      "%s: %u ticks, %" PRIu64 " read, %" PRIu64 " deferred", l->it->id, ticks, st->read,
	      st->deferred);
	settle(w, now + SEC, &ws);
	check_charged(l, &ws, now + SEC, "two tasks a tick");
	async_wait__free(w);
}

/*
 * A cycle of 1 ms (what each awaits is known from the cycle before),
 * then 100 s unseen: a visit charges 60 s at most, and a wait of 10 s or
 * more goes out at once; 5 s more waits for the end.
 */
static void test_caps(struct live *l)
{
	struct waits ws = { .prof = l->prof, .keep = true };
	struct async_wait *w = async_wait__new(&l->py, l->ap, l->cache, l->prof, 0, 64);
	const uint64_t ms = SEC / 1000;
	unsigned waiting = 0;

	if (!w)
		return;
	for (unsigned i = 0; i < l->tr.n; i++)
		waiting += !!strcmp(l->tr.t[i].state, "running");
	tick(w, ms, 64, &ws);
	tick(w, 100 * SEC, 64, &ws);
	CHECK(ws.calls == waiting && ws.ns == waiting * (60 * SEC + ms),
	      "%s: %u waits out at once, %.3f s", l->it->id, ws.calls, ws.ns / 1e9);
	tick(w, 105 * SEC, 64, &ws);
	CHECK(ws.calls == waiting, "%s: 5 s went out before 10 s", l->it->id);
	settle(w, 105 * SEC, &ws);
	check_charged(l, &ws, 65 * SEC + ms, "100 s unseen, then 5 s");
	async_wait__free(w);
}

/* More tasks than it remembers: 65536 are, and only they are charged. */
static void test_many(const struct interp *it)
{
	char *args[] = { "--many", "65600", NULL };
	struct waits ws = { .keep = false };
	struct async_wait *w = NULL;
	const struct async_wait_stats *st;
	struct live l;
	unsigned ticks = 0;

	if (live_start(&l, it, args))
		goto out;
	w = async_wait__new(&l.py, l.ap, l.cache, l.prof, 0, 4096);
	if (!w)
		goto out;
	st = async_wait__stats(w);
	while (!st->cycles && ticks++ < 64)
		tick(w, ticks * (SEC / 100), 4096, &ws);
	CHECK(st->cycles == 1 && st->read == l.tr.n + l.tr.many && st->tasks == MAX_ENTRIES &&
		      l.tr.many + l.tr.n > MAX_ENTRIES,
	      "%s: %" PRIu64 " read of %u tasks, %u remembered", it->id, st->read,
	      l.tr.n + l.tr.many, st->tasks);
	settle(w, SEC, &ws);
	CHECK(ws.calls >= MAX_ENTRIES - 1 && ws.calls <= MAX_ENTRIES && ws.ns == ws.calls * SEC,
	      "%s: %u tasks charged, %.1f s", it->id, ws.calls, ws.ns / 1e9);
	printf("  %s: %u tasks, %u remembered and charged\n", it->id, l.tr.n + l.tr.many, ws.calls);
out:
	async_wait__free(w);
	live_end(&l);
}

int main(void)
{
	static struct interp all[INTERPS_MAX];
	const struct interp *last = NULL;
	int n = interps_load("", all, INTERPS_MAX), tried = 0;

	signal(SIGPIPE, SIG_IGN);
	CHECK(n >= 11, "tests/interpreters.py: %d", n);
	for (int i = 0; i < n; i++) {
		struct live l;

		if (all[i].major == 3 && all[i].minor < 14)
			continue;
		tried++;
		last = &all[i];
		if (!live_start(&l, &all[i], NULL)) {
			CHECK(l.tr.n == 5 && l.tr.tid > 0, "%s: %u tasks", all[i].id, l.tr.n);
			test_bounded(&l);
			test_caps(&l);
			test_cycle(&l);
			printf("  %s: %u tasks charged as they say\n", all[i].id, l.tr.n);
		}
		live_end(&l);
	}
	CHECK(tried >= 3, "%d interpreters with asyncio's debug offsets", tried);
	if (last)
		test_many(last);
	return unit_done("asyncwait");
}
