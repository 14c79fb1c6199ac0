// SPDX-License-Identifier: MIT
/*
 * test_asynctasks.c - every asyncio task of a process read from outside
 * (py_async__tasks, what dump --async prints), on tasks forged in this
 * process's own memory with 3.14's layout: each thread shows at most its
 * one running task, read once, whatever the coroutines said when they
 * were read; a task met twice is kept once; who awaits whom is indexed
 * both ways, sets of awaiters read whole; and reading is linear in the
 * tasks (a CPU-time ratio) and bounded in frames kept.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "symbolize/cpython/asyncio.h"
#include "async_layout.h"
#include "unit.h"

/* Debian's 3.14.10 _asyncio module, as readelf shows its section. */
static const uint64_t sec_314[13] = { 168,    136,   96,  108, 109, 128, 152,
				      225864, 10880, 936, 864, 872, 880 };

enum {
	TASK_SIZE = 168,
	T_NAME = 136,
	T_AWAITED_BY = 96,
	T_IS_SET = 109,
	T_CORO = 128,
	T_NODE = 152,
	TS_SIZE = 936,
	TS_RUNNING = 872,
	TS_HEAD = 880,
	/* a coroutine: ob_type, frame state, its frame's code, instr, stack pointer */
	G_TYPE = 8,
	G_STATE = 67,
	G_CODE = 72,
	G_INSTR = 72 + 56,
	G_SP = 72 + 64,
	G_SIZE = 160,
	/* an int (a default task name): ob_type, lv_tag, digits; a type's tp_flags */
	L_TAG = 16,
	L_DIGIT = 24,
	TYPE_FLAGS = 168,
	/* a set: mask, table */
	S_MASK = 32,
	S_TABLE = 40,
};

static void put(void *base, unsigned off, uint64_t v)
{
	memcpy((uint8_t *)base + off, &v, 8);
}

static uint64_t addr(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* Forged objects, all in one zeroed arena (8-byte aligned pieces). */
struct arena {
	uint8_t *p;
	size_t used, size;
};

static void *alloc(struct arena *a, size_t n)
{
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (a->used + n > a->size)
		abort();
	p = a->p + a->used;
	a->used += n;
	return p;
}

/* Type objects: only int's flags are read. */
static uint64_t int_type[32], coro_type[32], fut_type[32];

/* An int object of value v (a default name: "Task-v"). */
static uint64_t int_name(struct arena *a, uint32_t v)
{
	uint8_t *o = alloc(a, 32);

	put(o, 8, addr(int_type));
	put(o, L_TAG, (uint64_t)1 << 3);
	memcpy(o + L_DIGIT, &v, 4);
	return addr(o);
}

/* A coroutine in state st (3.14: -2 suspended, -1 in an await, 0 running) awaiting yf. */
static uint8_t *coro(struct arena *a, int8_t st, uint64_t code, uint64_t yf)
{
	uint8_t *g = alloc(a, G_SIZE + 16);
	uint8_t *stack = g + G_SIZE;

	put(g, G_TYPE, addr(coro_type));
	g[G_STATE] = (uint8_t)st;
	put(g, G_CODE, code);
	put(g, G_INSTR, code + 200 + 2 * 7);
	put(stack, 0, yf);
	put(g, G_SP, addr(stack) + 8);
	return g;
}

/* A task named Task-id running coroutine c (0: none). */
static uint8_t *task(struct arena *a, uint32_t id, uint64_t c)
{
	uint8_t *t = alloc(a, TASK_SIZE);

	put(t, T_NAME, int_name(a, id));
	put(t, T_CORO, c);
	return t;
}

/* Awaited by the k tasks in w, as a set whose table has slots slots (spread over it). */
static void awaited_by(struct arena *a, uint8_t *t, uint8_t *const *w, unsigned k, unsigned slots)
{
	uint8_t *set = alloc(a, 64), *table = alloc(a, 16 * slots);

	t[T_IS_SET] = 1;
	put(t, T_AWAITED_BY, addr(set));
	put(set, S_MASK, slots - 1);
	put(set, S_TABLE, addr(table));
	for (unsigned i = 0; i < k; i++) {
		unsigned at = (i * slots / k + slots - 1) % slots; /* the last slot too */

		put(table, 16 * at, addr(w[i]));
		put(table, 16 * at + 8, 1000 + i);
	}
	/* a dummy (a removed key): skipped */
	for (unsigned i = 0; i < slots; i++)
		if (!memcmp(table + 16 * i, "\0\0\0\0\0\0\0\0", 8)) {
			put(table, 16 * i, addr(w[0]));
			put(table, 16 * i + 8, (uint64_t)-1);
			break;
		}
}

/* The list in thread state ts holds tasks t[0..n), in that order. */
static void link_list(uint8_t *ts, uint8_t *const *t, uint32_t n)
{
	uint64_t head = addr(ts) + TS_HEAD, prev = head;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t node = addr(t[i]) + T_NODE;

		put(t[i], T_NODE + 8, prev);
		put(t[i], T_NODE, i + 1 < n ? addr(t[i + 1]) + T_NODE : head);
		prev = node;
	}
	put(ts, TS_HEAD, n ? addr(t[0]) + T_NODE : head);
	put(ts, TS_HEAD + 8, prev);
}

static struct py_async_layout async_layout(const struct py_layout *l)
{
	struct py_async_layout a;
	char why[128] = "";
	int err = py_async__layout(sec_314, sizeof(sec_314), l, 14, &a, why, sizeof(why));

	CHECK(err == 0, "%d %s", err, why);
	return a;
}

static void types(void)
{
	int_type[TYPE_FLAGS / 8] = 1ul << 24; /* Py_TPFLAGS_LONG_SUBCLASS */
}

/*
 * One thread: R is its running task (and its coroutine runs), E's
 * coroutine says it runs too (two reads apart: a moment later it would
 * not), S is suspended two coroutines deep in a future.  Only R shows
 * running; E is suspended where it was seen, and says it is partial.
 * The same list given twice: each task once, the repeats counted.
 */
static void test_running_once(void)
{
	struct py_layout l = test_layout_async(14);
	struct py_async_layout a = async_layout(&l);
	struct arena ar = { calloc(1, 1 << 16), 0, 1 << 16 };
	uint8_t *ts = alloc(&ar, TS_SIZE), *fut = alloc(&ar, 64), *t[3];
	uint8_t *s_in = coro(&ar, -2, 0x5000, 0);
	uint64_t tss[2] = { addr(ts), addr(ts) };
	struct py_async_tasks o;
	int running = 0, err;

	put(fut, G_TYPE, addr(fut_type));
	put(s_in, G_SP, addr(s_in + G_SIZE) + 8);
	s_in[G_STATE] = (uint8_t)-1;
	put(s_in + G_SIZE, 0, addr(fut)); /* awaits a future: the chain ends */
	t[0] = task(&ar, 1, addr(coro(&ar, 0, 0x1000, 0)));
	t[1] = task(&ar, 2, addr(coro(&ar, 0, 0x2000, 0)));
	t[2] = task(&ar, 3, addr(coro(&ar, -1, 0x3000, addr(s_in))));
	put(t[2], T_AWAITED_BY, addr(t[0])); /* one awaiter: no set */
	link_list(ts, t, 3);
	put(ts, TS_RUNNING, addr(t[0]));

	err = py_async__tasks(getpid(), &l, &a, tss, 1, 0, &o);
	CHECK(err == 0 && o.n == 3 && o.errors == 0, "%d %u %u", err, o.n, o.errors);
	for (uint32_t i = 0; !err && i < o.n; i++)
		running += o.t[i].state == PY_TASK_RUNNING;
	CHECK(running == 1, "%d running", running);
	if (!err && o.n == 3) {
		CHECK(o.t[0].state == PY_TASK_RUNNING && o.t[0].running_on == addr(ts));
		CHECK(!strcmp(o.t[0].name, "Task-1"), "%s", o.t[0].name);
		CHECK(o.t[1].state == PY_TASK_SUSPENDED && o.t[1].chain_partial);
		CHECK(o.t[1].n_frames == 1 && o.frames[o.t[1].frames_at].code == 0x2000);
		CHECK(o.t[2].state == PY_TASK_SUSPENDED && !o.t[2].chain_partial);
		CHECK(o.t[2].n_frames == 2 && o.frames[o.t[2].frames_at + 1].code == 0x5000);
		/* R awaits S: S is R's one kid */
		CHECK(o.t[0].n_kids == 1 && o.kids[o.t[0].kids_at] == 2);
		CHECK(py_async_tasks__find(&o, addr(t[1])) == 1);
		CHECK(py_async_tasks__find(&o, addr(t[1]) + 8) == -1);
	}
	py_async_tasks__free(&o);

	/* Nobody runs: no task shows running, however its coroutine looked. */
	put(ts, TS_RUNNING, 0);
	err = py_async__tasks(getpid(), &l, &a, tss, 1, 0, &o);
	running = 0;
	for (uint32_t i = 0; !err && i < o.n; i++)
		running += o.t[i].state == PY_TASK_RUNNING;
	CHECK(err == 0 && running == 0 && o.n == 3, "%d %d", err, running);
	py_async_tasks__free(&o);

	/* The same list twice (a task in two lists): each task once. */
	put(ts, TS_RUNNING, addr(t[0]));
	err = py_async__tasks(getpid(), &l, &a, tss, 2, 0, &o);
	CHECK(err == 0 && o.n == 3 && o.errors == 3, "%d %u %u", err, o.n, o.errors);
	running = 0;
	for (uint32_t i = 0; !err && i < o.n; i++)
		running += o.t[i].state == PY_TASK_RUNNING;
	CHECK(running == 1 && o.t[0].addr == addr(t[0]) && o.t[2].addr == addr(t[2]));
	py_async_tasks__free(&o);
	free(ar.p);
}

/* CPU seconds of this thread. */
static double cpu_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/*
 * n tasks in one list, each awaited by the 16 after it (sets of 64 slots,
 * the last slot used too): every awaiter read, every task awaiting 16.
 * Returns the CPU seconds py_async__tasks took, or -1.
 */
static double flood(uint32_t n, bool check)
{
	struct py_layout l = test_layout_async(14);
	struct py_async_layout a = async_layout(&l);
	size_t size = (size_t)n * (TASK_SIZE + 32 + 64 + 16 * 64 + 64) + 4096;
	struct arena ar = { calloc(1, size), 0, size };
	uint8_t **t = calloc(n, sizeof(*t)), *ts = alloc(&ar, TS_SIZE);
	uint64_t tss = addr(ts);
	struct py_async_tasks o;
	uint32_t bad = 0;
	double t0;
	int err;

	for (uint32_t i = 0; i < n; i++)
		t[i] = task(&ar, i, 0);
	for (uint32_t i = 0; i < n; i++) {
		uint8_t *w[16];

		for (unsigned k = 0; k < 16; k++)
			w[k] = t[(i + 1 + k) % n];
		awaited_by(&ar, t[i], w, 16, 64);
	}
	link_list(ts, t, n);
	t0 = cpu_s();
	err = py_async__tasks(getpid(), &l, &a, &tss, 1, 0, &o);
	t0 = cpu_s() - t0;
	CHECK(err == 0 && o.n == n && !o.truncated && !o.errors, "%d %u", err, o.n);
	for (uint32_t i = 0; check && !err && i < o.n; i++) {
		const uint32_t *kids = o.kids + o.t[i].kids_at;

		bad += o.t[i].n_awaiters != 16 || o.t[i].n_kids != 16;
		/* i awaits the 16 before it */
		for (uint32_t k = 0; k < o.t[i].n_kids && k < 16; k++)
			bad += (kids[k] + n - i) % n < n - 16;
	}
	CHECK(bad == 0, "%u tasks with the wrong awaiters", bad);
	py_async_tasks__free(&o);
	free(t);
	free(ar.p);
	return err ? -1 : t0;
}

/* Linear: 16 times the tasks cost far less than 256 times the time (quadratic). */
static void test_flood_linear(void)
{
	double small = 0, big;

	for (int i = 0; i < 3; i++) { /* the least of three: noise only adds */
		double s = flood(4096, i == 0);

		if (!i || s < small)
			small = s;
	}
	big = flood(65536, true);
	CHECK(big > 0 && small > 0 && big < 48 * small, "%.3f s for 65536 tasks, %.3f s for 4096",
	      big, small);
}

/* More than PY_ASYNC_MAX_TASKS in a list: the first ones, and it says so. */
static void test_truncated(void)
{
	struct py_layout l = test_layout_async(14);
	struct py_async_layout a = async_layout(&l);
	uint32_t n = PY_ASYNC_MAX_TASKS + 10;
	size_t size = (size_t)n * (TASK_SIZE + 64) + 4096;
	struct arena ar = { calloc(1, size), 0, size };
	uint8_t **t = calloc(n, sizeof(*t)), *ts = alloc(&ar, TS_SIZE);
	uint64_t tss = addr(ts);
	struct py_async_tasks o;
	int err;

	for (uint32_t i = 0; i < n; i++)
		t[i] = task(&ar, i, 0);
	link_list(ts, t, n);
	err = py_async__tasks(getpid(), &l, &a, &tss, 1, 0, &o);
	CHECK(err == 0 && o.n == PY_ASYNC_MAX_TASKS && o.truncated, "%d %u", err, o.n);
	py_async_tasks__free(&o);
	free(t);
	free(ar.p);
}

/*
 * Tasks that all share one chain of 255 coroutines: frames kept for them
 * all stop at PY_ASYNC_FRAMES_TOTAL; the tasks past it say they are partial.
 */
static void test_frames_bounded(void)
{
	struct py_layout l = test_layout_async(14);
	struct py_async_layout a = async_layout(&l);
	uint32_t n = PY_ASYNC_FRAMES_TOTAL / 255 + 64, partial = 0;
	size_t size = (size_t)n * (TASK_SIZE + 64) + 256 * (G_SIZE + 32) + 4096;
	struct arena ar = { calloc(1, size), 0, size };
	uint8_t **t = calloc(n, sizeof(*t)), *ts = alloc(&ar, TS_SIZE);
	uint64_t tss = addr(ts), next = 0;
	struct py_async_tasks o;
	int err;

	for (int i = 0; i < 255; i++)
		next = addr(coro(&ar, i ? -1 : -2, 0x1000 + 16 * i, next));
	for (uint32_t i = 0; i < n; i++)
		t[i] = task(&ar, i, next);
	link_list(ts, t, n);
	err = py_async__tasks(getpid(), &l, &a, &tss, 1, 0, &o);
	CHECK(err == 0 && o.n == n, "%d %u", err, o.n);
	CHECK(o.n_fr <= PY_ASYNC_FRAMES_TOTAL, "%u frames", o.n_fr);
	for (uint32_t i = 0; !err && i < o.n; i++)
		partial += o.t[i].chain_partial;
	CHECK(!err && o.t[0].n_frames == 255 && !o.t[0].chain_partial);
	CHECK(partial >= 64 && partial < 66, "%u partial", partial);
	py_async_tasks__free(&o);
	free(t);
	free(ar.p);
}

int main(void)
{
	types();
	test_running_once();
	test_flood_linear();
	test_truncated();
	test_frames_bounded();
	return unit_done("test_asynctasks");
}
