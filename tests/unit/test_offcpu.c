// SPDX-License-Identifier: MIT
/*
 * test_offcpu.c - the table of waits still open: an end closes the wait it
 * belongs to, and the end of an earlier wait (queued in the ring buffer
 * behind a thread found blocked at registration) does not.
 */
#include <stdlib.h>

#include "user/engine/offcpu.h"
#include "unit.h"

static void test_stale_end(void)
{
	struct offcpu_table *t = offcpu_table__new();
	uint32_t locs[2] = { 7, 8 };
	struct offcpu_wait w;

	CHECK(t, "setup");
	if (!t)
		return;
	/* Found blocked when we looked at 200, in a wait the BPF side saw begin at 100. */
	offcpu_table__start(t, 1, 2, 0, locs, 2, 100, 200);
	CHECK(!offcpu_table__end(t, 2, 50, 90, &w), "an earlier wait's end (at 90) closes nothing");
	CHECK(!offcpu_table__end(t, 2, 150, 160, &w), "nor one before we looked (at 160)");
	CHECK(offcpu_table__end(t, 2, 100, 500, &w), "the wait's own end closes it");
	CHECK(w.ns == 400 && w.pid == 1 && w.tid == 2 && w.n == 2 && w.locs[1] == 8,
	      "charged from its start: %llu ns", (unsigned long long)w.ns);
	CHECK(!offcpu_table__end(t, 2, 100, 600, &w), "and it is gone");

	/* Seen to begin by the BPF side (known = start): every later end is its own. */
	offcpu_table__start(t, 1, 3, 0, locs, 1, 1000, 1000);
	CHECK(offcpu_table__end(t, 3, 1000, 1500, &w) && w.ns == 500, "a sampled wait");
	offcpu_table__free(t);
}

static void settle_cb(const struct offcpu_wait *w, void *ctx)
{
	*(uint64_t *)ctx += w->ns;
}

static void test_settled(void)
{
	struct offcpu_table *t = offcpu_table__new();
	uint32_t loc = 1;
	struct offcpu_wait w;
	uint64_t charged = 0;

	CHECK(t, "setup");
	if (!t)
		return;
	offcpu_table__start(t, 1, 2, 0, &loc, 1, 100, 100);
	offcpu_table__settle(t, 300, settle_cb, &charged);
	CHECK(charged == 200, "settled up to 300: %llu", (unsigned long long)charged);
	/* An end queued behind the settle: it closes the wait, weighing nothing more. */
	CHECK(offcpu_table__end(t, 2, 100, 250, &w) && w.ns == 0, "ended before the settle");
	offcpu_table__free(t);
}

int main(void)
{
	test_stale_end();
	test_settled();
	return unit_done("offcpu");
}
