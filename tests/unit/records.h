/* SPDX-License-Identifier: MIT */
/*
 * records.h - what the BPF side sends through a real session
 * (user/engine/session.h), for the unit tests that load it: the records
 * of the processes a test watches, kept in ring order (header and first
 * frames), the rest counted; polled until what the test waits for came,
 * bounded only against a hang.
 */
#ifndef PYSPY_TEST_RECORDS_H
#define PYSPY_TEST_RECORDS_H

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "unit.h"
#include "symbolize/proc/procfs.h"
#include "symbolize/base/clock.h"
#include "user/engine/session.h"

/* Frames kept of a record, and records kept. */
#define REC_FRAMES 64
#define MAX_RECS   8192
#define REC_WANT   8
/* A wait for something the kernel will do: only a hang trips it. */
#define EVENTUALLY_MS 20000

struct rec {
	struct pyspy_event h;
	size_t len;
	struct pyspy_frame f[REC_FRAMES];
};

struct collect {
	pid_t want[REC_WANT];
	int n_want;
	struct rec *r; /* MAX_RECS of them */
	unsigned n;
	uint64_t handled, others;
};

/* The session's callback (ctx: a struct collect). */
static inline int collect(const struct pyspy_sample *smp, size_t len, void *ctx)
{
	struct collect *c = ctx;
	struct rec *r;
	bool want = false;

	c->handled++;
	for (int i = 0; i < c->n_want; i++)
		want |= (pid_t)smp->pid == c->want[i];
	if (!want || c->n == MAX_RECS) {
		c->others++;
		return 0;
	}
	r = &c->r[c->n++];
	memcpy(&r->h, smp, sizeof(r->h));
	r->len = len;
	for (uint32_t i = 0; i < smp->n_frames && i < REC_FRAMES &&
			     PYSPY_SAMPLE_HDR_SIZE + (i + 1) * sizeof(struct pyspy_frame) <= len;
	     i++)
		r->f[i] = smp->frames[i];
	return 0;
}

static inline bool rec_is_event(const struct rec *r)
{
	return r->h.flags & (PYSPY_EVENT_NEW_PROCESS | PYSPY_EVENT_EXEC | PYSPY_EVENT_OFFCPU_END);
}

/* Records of pid from index from on with all of flags and none of none. */
static inline unsigned rec_count(const struct collect *c, unsigned from, pid_t pid, uint16_t flags,
				 uint16_t none)
{
	unsigned n = 0;

	for (unsigned i = from; i < c->n; i++)
		n += (pid_t)c->r[i].h.pid == pid && (c->r[i].h.flags & flags) == flags &&
		     !(c->r[i].h.flags & none);
	return n;
}

/* ... the first of them, -1 if none; the last of them. */
static inline int rec_find(const struct collect *c, unsigned from, pid_t pid, uint16_t flags,
			   uint16_t none)
{
	for (unsigned i = from; i < c->n; i++)
		if ((pid_t)c->r[i].h.pid == pid && (c->r[i].h.flags & flags) == flags &&
		    !(c->r[i].h.flags & none))
			return (int)i;
	return -1;
}

static inline const struct rec *rec_last(const struct collect *c, unsigned from, pid_t pid,
					 uint16_t flags, uint16_t none)
{
	const struct rec *r = NULL;

	for (unsigned i = from; i < c->n; i++)
		if ((pid_t)c->r[i].h.pid == pid && (c->r[i].h.flags & flags) == flags &&
		    !(c->r[i].h.flags & none))
			r = &c->r[i];
	return r;
}

/* On-CPU samples of pid from index from on. */
static inline unsigned rec_cpu_samples(const struct collect *c, unsigned from, pid_t pid)
{
	unsigned n = 0;

	for (unsigned i = from; i < c->n; i++)
		n += (pid_t)c->r[i].h.pid == pid && !rec_is_event(&c->r[i]) &&
		     !(c->r[i].h.flags & PYSPY_SAMPLE_OFFCPU);
	return n;
}

/* Poll until done(ctx) or EVENTUALLY_MS; every poll's count must be what it handed over. */
static inline bool poll_until(struct session *s, struct collect *c, bool (*done)(void *ctx),
			      void *ctx)
{
	uint64_t end = mono_ns() + EVENTUALLY_MS * 1000000ull;
	uint64_t before = c->handled, counted = 0;
	bool ok;

	while (!(ok = done(ctx)) && mono_ns() < end) {
		int n = session__poll(s, 50);

		if (n < 0) {
			CHECK(0, "poll: %d", n);
			break;
		}
		counted += (uint64_t)n;
	}
	CHECK(counted == c->handled - before, "polls said %" PRIu64 " records, %" PRIu64 " came",
	      counted, c->handled - before);
	return ok;
}

/* Poll for ms whatever comes (records already on their way are taken). */
static inline void poll_for(struct session *s, int ms)
{
	uint64_t end = mono_ns() + (uint64_t)ms * 1000000;

	while (mono_ns() < end)
		session__poll(s, 20);
}

/* What poll_until waits for: records of pid, and (if not 0) process blocked off the CPU. */
struct want_rec {
	const struct collect *c;
	unsigned from;
	pid_t pid;
	uint16_t flags, none;
	unsigned n;    /* at least this many */
	pid_t blocked; /* and, if not 0, this process sits off the CPU */
};

static inline bool got_records(void *ctx)
{
	const struct want_rec *w = ctx;
	struct procfs_stat st;

	if (rec_count(w->c, w->from, w->pid, w->flags, w->none) < w->n)
		return false;
	return !w->blocked || (!procfs_stat(w->blocked, 0, &st) && st.state == 'S');
}

/* Until pid sits off the CPU, then a settle: a switch under way is sent. */
static inline void until_blocked(struct session *s, pid_t pid)
{
	struct procfs_stat st;
	uint64_t end = mono_ns() + EVENTUALLY_MS * 1000000ull;

	while (mono_ns() < end && (procfs_stat(pid, 0, &st) || st.state != 'S'))
		session__poll(s, 10);
	poll_for(s, 100);
}

#endif /* PYSPY_TEST_RECORDS_H */
