// SPDX-License-Identifier: MIT
/*
 * test_offcpu.c - the table of waits still open: an end closes the wait it
 * belongs to, and the end of an earlier wait (queued in the ring buffer
 * behind a thread found blocked at registration) does not; and a wait
 * opened from data (a sampled thread's record, or a thread found blocked
 * with what /proc says it waits in) is kept under its reason frame.
 */
#include <stdlib.h>
#include <string.h>

#include "user/engine/offcpu.h"
#include "unit.h"
#include "symbolize/model/profile.h"

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

/* The name of location loc's function. */
static const char *name_of(const struct profile *p, uint32_t loc)
{
	int line;
	const struct profile_function *fn = profile__location_function(p, loc, &line);

	return fn ? profile__str(p, fn->name) : "?";
}

static void test_open(void)
{
	struct offcpu_table *t = offcpu_table__new();
	struct profile *p = profile__new(0);
	const uint32_t stack[3] = { 11, 12, 13 };
	/* A record's header: select(0, NULL, NULL, NULL, &t), time.sleep before 3.11. */
	struct pyspy_sample hdr = { .pid = 1, .tid = 2, .syscall = 23, .arg = 0 };
	struct offcpu_wait w;

	CHECK(t && p, "setup");
	if (!t || !p)
		goto out;
	hdr.flags = PYSPY_SAMPLE_OFFCPU | PYSPY_SAMPLE_ARGS_NULL;
	offcpu_table__open(t, p,
			   &(const struct offcpu_open){ .pid = 1,
							.tid = 2,
							.flags = PROFILE_STACK_PARTIAL,
							.cause = offcpu_cause_of(&hdr),
							.locs = stack,
							.n = 3,
							.start_ns = 100,
							.known_ns = 100 });
	CHECK(offcpu_table__end(t, 2, 100, 400, &w) && w.n == 4 && w.ns == 300 &&
		      w.flags == PROFILE_STACK_PARTIAL,
	      "%u locations", w.n);
	CHECK(w.n == 4 && !strcmp(name_of(p, w.locs[0]), "[sleep]") &&
		      !memcmp(w.locs + 1, stack, sizeof(stack)),
	      "the reason, then the stack: %s", w.n ? name_of(p, w.locs[0]) : "");
	/* Found blocked: the cause as data, a futex inside the GIL struct, no record. */
	offcpu_table__open(t, p,
			   &(const struct offcpu_open){ .pid = 1,
							.tid = 3,
							.cause = { .syscall = 202, .arg = 0x1010 },
							.gil_addr = 0x1000,
							.gil_size = 0x40,
							.locs = stack,
							.n = 1,
							.start_ns = 50,
							.known_ns = 90 });
	CHECK(!offcpu_table__end(t, 3, 10, 80, &w), "a wait over before we looked");
	CHECK(offcpu_table__end(t, 3, 60, 200, &w) && w.n == 2 && w.ns == 150 &&
		      !strcmp(name_of(p, w.locs[0]), "[gil]") && w.locs[1] == 11,
	      "%u locations, %llu ns", w.n, (unsigned long long)w.ns);
	hdr.flags |= PYSPY_SAMPLE_PREEMPTED;
	CHECK(offcpu_cause_of(&hdr).preempted && offcpu_cause_of(&hdr).syscall == 23);
	CHECK(!strcmp(offcpu_reason(&(struct offcpu_cause){ .syscall = 202, .arg = 0x1010 }, 0, 0),
		      "[lock: futex]") &&
	      !strcmp(offcpu_reason(&(struct offcpu_cause){ .syscall = 23, .arg = 0 }, 0, 0),
		      "[poll/select/epoll]") &&
	      !strcmp(offcpu_reason(
			      &(const struct offcpu_cause){ .syscall = 35, .preempted = true }, 0,
			      0),
		      "[preempted]"));
out:
	offcpu_table__free(t);
	profile__free(p);
}

int main(void)
{
	test_open();
	test_stale_end();
	test_settled();
	return unit_done("offcpu");
}
