// SPDX-License-Identifier: MIT
/*
 * test_unwind.c - the userspace thread/frame walker on hostile input built
 * in our own memory (cycles, dangling pointers, shims, endless chains),
 * and the libc TID lookup against our own threads' gettid().
 */
#include <linux/types.h> /* pyspy.h (via pyoffsets.h) needs __u32 and friends */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "unit.h"
#include "symbolize/cpython/unwind.h"

#define N_FRAMES 1200

/* A fake interpreter in our own memory, laid out as CPython 3.12 or 3.10. */
struct fake {
	const struct py_layout *l;
	uint8_t runtime[4096], interp[4096];
	uint8_t ts[3][4096];
	uint8_t cframe[64];
	uint8_t (*frames)[512];
};

static void put64(uint8_t *base, uint16_t off, uint64_t v)
{
	memcpy(base + off, &v, sizeof(v));
}

static uint64_t addr(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* A thread state pointing at frames[0]; frame i's code is 0x1000 * (i + 1). */
static void fake_init(struct fake *f, unsigned minor, int n_ts)
{
	const struct py_layout *l = py_layout__from_table(3, minor);

	f->l = l;
	put64(f->runtime, l->runtime_interp_head, addr(f->interp));
	put64(f->interp, l->interp_threads_head, addr(f->ts[0]));
	for (int i = 0; i < n_ts; i++) {
		put64(f->ts[i], l->tstate_next, i + 1 < n_ts ? addr(f->ts[i + 1]) : 0);
		put64(f->ts[i], l->tstate_interp, addr(f->interp));
		put64(f->ts[i], l->tstate_thread_id, 0x7000 + i);
		if (l->frame_model == PYSPY_FM_CFRAME) {
			put64(f->ts[i], l->tstate_frame, addr(f->cframe));
			put64(f->cframe, l->cframe_current, addr(f->frames[0]));
		} else {
			put64(f->ts[i], l->tstate_frame, addr(f->frames[0]));
		}
	}
	for (int i = 0; i < N_FRAMES; i++) {
		uint64_t code = 0x1000 * (i + 1);

		put64(f->frames[i], l->frame_code, code);
		put64(f->frames[i], l->frame_back, 0);
		if (l->frame_model == PYSPY_FM_FRAMEOBJECT) {
			int32_t lasti = i;

			memcpy(f->frames[i] + l->frame_instr, &lasti, sizeof(lasti));
		} else {
			put64(f->frames[i], l->frame_instr, code + l->code_adaptive + 2 * i);
		}
	}
}

static void chain(struct fake *f, int n)
{
	for (int i = 0; i + 1 < n; i++)
		put64(f->frames[i], f->l->frame_back, addr(f->frames[i + 1]));
	put64(f->frames[n - 1], f->l->frame_back, 0);
}

static int walk(struct fake *f, struct py_threads *t)
{
	py_threads__free(t);
	return py_unwind__threads(getpid(), f->l, addr(f->runtime), t);
}

static void test_whole(struct fake *f, unsigned minor)
{
	struct py_threads t = {};
	int lasti_unit = minor == 10 ? 2 : 1;

	fake_init(f, minor, 2);
	chain(f, 5);
	CHECK(walk(f, &t) == 0);
	CHECK(t.n == 2 && !t.list_partial && !t.list_truncated, "3.%u: n %u", minor, t.n);
	for (uint32_t k = 0; k < t.n; k++) {
		CHECK(t.t[k].pthread_id == 0x7000 + k);
		CHECK(t.t[k].n_frames == 5 && t.t[k].flags == 0, "3.%u: %u frames flags %u", minor,
		      t.t[k].n_frames, t.t[k].flags);
		for (uint32_t i = 0; i < t.t[k].n_frames; i++)
			CHECK(t.t[k].frames[i].code == 0x1000 * (i + 1) &&
				      t.t[k].frames[i].lasti ==
					      (int32_t)(i * (minor >= 11 ? 2 : lasti_unit)),
			      "3.%u frame %u: code %llx lasti %d", minor, i,
			      (unsigned long long)t.t[k].frames[i].code, t.t[k].frames[i].lasti);
	}
	py_threads__free(&t);
}

static void test_hostile(struct fake *f)
{
	const struct py_layout *l;
	struct py_threads t = {};
	void *hole;

	fake_init(f, 12, 3);
	l = f->l;
	/* Endless frame chain: truncated at PYSPY_MAX_FRAMES, no hang. */
	chain(f, 2);
	put64(f->frames[1], l->frame_back, addr(f->frames[0]));
	CHECK(walk(f, &t) == 0 && t.n == 3);
	CHECK(t.t[0].n_frames == PYSPY_MAX_FRAMES && (t.t[0].flags & PY_STACK_TRUNCATED));
	/* A stack deeper than the limit: the innermost PYSPY_MAX_FRAMES. */
	chain(f, N_FRAMES);
	CHECK(walk(f, &t) == 0 && t.t[0].n_frames == PYSPY_MAX_FRAMES);
	CHECK(t.t[0].flags == PY_STACK_TRUNCATED && t.t[0].frames[1023].code == 0x1000 * 1024);
	/* Shims (owner 3) are skipped. */
	chain(f, 4);
	f->frames[1][l->frame_owner] = 3;
	CHECK(walk(f, &t) == 0 && t.t[0].n_frames == 3 && t.t[0].frames[1].code == 0x3000);
	f->frames[1][l->frame_owner] = 0;
	/* A frame pointer into unmapped memory: partial, frames before it kept. */
	hole = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	put64(f->frames[2], l->frame_back, addr(hole));
	CHECK(walk(f, &t) == 0 && t.t[0].n_frames == 3 && t.t[0].flags == PY_STACK_PARTIAL);
	/* A thread list with a cycle, and one whose state moved interpreter. */
	put64(f->ts[1], l->tstate_next, addr(f->ts[0]));
	CHECK(walk(f, &t) == 0 && t.list_partial && t.n == 2, "n %u", t.n);
	put64(f->ts[1], l->tstate_next, addr(f->ts[2]));
	put64(f->ts[2], l->tstate_interp, 0xdead);
	CHECK(walk(f, &t) == 0 && t.list_partial && t.n == 2);
	/* A dangling thread state pointer. */
	put64(f->ts[1], l->tstate_next, addr(hole));
	CHECK(walk(f, &t) == 0 && t.list_partial && t.n == 2);
	/* The runtime itself unreadable: an error, not an empty dump. */
	py_threads__free(&t);
	CHECK(py_unwind__threads(getpid(), l, addr(hole), &t) == -EFAULT);
	py_threads__free(&t);
	munmap(hole, 4096);
}

static void test_bad_layout(struct fake *f)
{
	struct py_layout l = *py_layout__from_table(3, 12);
	struct py_threads t = {};

	fake_init(f, 12, 1);
	l.tstate_frame = 60000;
	CHECK(py_unwind__threads(getpid(), &l, addr(f->runtime), &t) == -EINVAL);
	l = *py_layout__from_table(3, 12);
	l.frame_back = 4000;
	CHECK(py_unwind__threads(getpid(), &l, addr(f->runtime), &t) == -EINVAL);
	py_threads__free(&t);
}

/* --- libc TIDs --------------------------------------------------------------- */

struct thr {
	pthread_t self;
	pid_t tid;
	pthread_barrier_t *b;
};

static void *thr_main(void *arg)
{
	struct thr *t = arg;

	t->self = pthread_self();
	t->tid = syscall(SYS_gettid);
	pthread_barrier_wait(t->b); /* ids published */
	pthread_barrier_wait(t->b); /* checked: exit */
	return NULL;
}

static bool is_task(pid_t tid, void *ctx)
{
	char path[64];

	(void)ctx;
	snprintf(path, sizeof(path), "/proc/self/task/%d", tid);
	return access(path, F_OK) == 0;
}

static bool never(pid_t tid, void *ctx)
{
	(void)tid;
	(void)ctx;
	return false;
}

static void test_libc_tid(void)
{
	pthread_barrier_t b;
	struct thr t[4] = {};
	pthread_t h[4];
	uint64_t junk[128] = { 0 };
	pid_t me = getpid();

	pthread_barrier_init(&b, NULL, 5);
	for (int i = 0; i < 4; i++) {
		t[i].b = &b;
		pthread_create(&h[i], NULL, thr_main, &t[i]);
	}
	pthread_barrier_wait(&b);
	for (int i = 0; i < 4; i++)
		CHECK(py_unwind__libc_tid(me, t[i].self, is_task, NULL) == t[i].tid,
		      "thread %d: tid %d", i, t[i].tid);
	CHECK(py_unwind__libc_tid(me, pthread_self(), is_task, NULL) == me);
	CHECK(py_unwind__libc_tid(me, pthread_self(), never, NULL) == -1);
	CHECK(py_unwind__libc_tid(me, 0, is_task, NULL) == -1);
	CHECK(py_unwind__libc_tid(me, addr(junk), is_task, NULL) == -1);
	CHECK(py_unwind__libc_tid(me, 8, is_task, NULL) == -1);
	pthread_barrier_wait(&b);
	for (int i = 0; i < 4; i++)
		pthread_join(h[i], NULL);
	pthread_barrier_destroy(&b);
}

int main(void)
{
	struct fake *f = calloc(1, sizeof(*f));

	f->frames = calloc(N_FRAMES, sizeof(*f->frames));
	test_whole(f, 10);
	test_whole(f, 12);
	test_whole(f, 13);
	test_hostile(f);
	test_bad_layout(f);
	test_libc_tid();
	free(f->frames);
	free(f);
	return unit_done("test_unwind");
}
