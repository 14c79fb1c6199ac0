// SPDX-License-Identifier: MIT
/*
 * test_targets.c - the set of sampled processes (user/engine/targets.h)
 * over a real BPF session (off-CPU: a target that blocks is sampled, so
 * its `procs` entry shows), as root, with live interpreters of the
 * behaviour list running tests/workloads/engine_target.py:
 *
 *   - added: found by PID once (a second add is refused), counted, its
 *     GIL found, its process named, its entry written in verify mode: it
 *     is sampled, and its own code cache names the frames it says;
 *   - its thread named once, from /proc, not again when it renames;
 *   - an entry deleted under us is written again (refresh); a target
 *     dropped (it called exec) is no longer sampled at once, not written
 *     again, forgotten at the next reap, and can be added again;
 *   - quiet for two seconds, it drops back to fast mode (no fingerprints);
 *   - when it exits it is dropped at the next reap, its code cache's
 *     ambiguities kept in the count, its memory given back;
 *   - the code caches' total budget is first come, first served: a
 *     second target whose code objects do not fit keeps none (counted,
 *     [unknown]) and takes nothing of the first's; freeing the set
 *     takes every entry out of the BPF side and every byte back.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "livetarget.h"
#include "records.h"
#include "unit.h"
#include "symbolize/codestore.h"
#include "symbolize/cpython/unwind.h"
#include "symbolize/base/clock.h"
#include "user/engine/targets.h"

#define MAX_KIDS 4
/* No such process. */
#define NO_PID 0x3ffffff0
/* targets.c's QUIET_NS: this long without new code objects, and a target is in fast mode. */
#define QUIET_NS (2 * 1000000000ull)

static struct profile *prof;
static struct rec *recs;

/* k woken: the sample of it blocking again (its latest switch out), or NULL. */
static const struct rec *blocks(struct session *s, struct collect *c, struct kid *k)
{
	struct want_rec w = { c, c->n,	   k->py.pid, PYSPY_SAMPLE_OFFCPU, PYSPY_SAMPLE_PREEMPTED,
			      1, k->py.pid };

	kid_say(k, "wake");
	if (!poll_until(s, c, got_records, &w))
		return NULL;
	return rec_last(c, w.from, k->py.pid, PYSPY_SAMPLE_OFFCPU, PYSPY_SAMPLE_PREEMPTED);
}

/* k woken, blocked again, and not sampled. */
static bool unsampled(struct session *s, struct collect *c, struct kid *k)
{
	unsigned from = c->n;

	kid_say(k, "wake");
	until_blocked(s, k->py.pid);
	return !rec_count(c, from, k->py.pid, PYSPY_SAMPLE_OFFCPU, 0);
}

/* k's frames walked from userspace (innermost first, fingerprinted): how many. */
static uint32_t walk(struct kid *k, struct pyspy_frame *f, uint32_t max)
{
	struct py_threads th = { 0 };
	uint32_t n = 0;

	if (!py_unwind__threads(k->py.pid, &k->py.layout, k->py.runtime_addr, &th) && th.n == 1)
		n = th.t[0].n_frames < max ? th.t[0].n_frames : max;
	if (n)
		memcpy(f, th.t[0].frames, n * sizeof(*f));
	py_threads__free(&th);
	CHECK(n, "%s: no frame walked", k->it->id);
	return n;
}

static uint64_t store_bytes(const struct code_store *store)
{
	struct code_store_stats st;

	code_store__stats(store, &st);
	return st.bytes;
}

struct visit {
	pid_t seen[MAX_KIDS * 2];
	int n;
};

static void visit(struct target *t, void *ctx)
{
	struct visit *v = ctx;

	if (v->n < MAX_KIDS * 2)
		v->seen[v->n++] = t->py.pid;
}

static void test_add(struct session *s, struct collect *c, struct targets *tg, struct kid *kids,
		     int n)
{
	struct visit v = { .n = 0 };

	CHECK(targets__count(tg) == 0 && targets__alive(tg) == 0 &&
	      !targets__find(tg, kids[0].py.pid));
	for (int i = 0; i < n; i++) {
		struct kid *k = &kids[i];
		uint64_t t0 = mono_ns(), t1;
		const char *name;
		struct target *t;

		CHECK(targets__add(tg, &k->py) == 0, "%s", k->it->id);
		t1 = mono_ns();
		t = targets__find(tg, k->py.pid);
		CHECK(t && t->py.pid == k->py.pid && t->cache && !t->exited &&
			      t->mode == PYSPY_MODE_VERIFY && t->added_ns >= t0 &&
			      t->added_ns <= t1 && !t->native && !t->async && !t->wait,
		      "%s: as added", k->it->id);
		CHECK(t && t->py.gil_addr, "%s: its GIL not found", k->it->id);
		CHECK(targets__has(tg, k->py.pid) && targets__count(tg) == i + 1 &&
			      targets__alive(tg) == i + 1,
		      "%s: %d targets, %d alive", k->it->id, targets__count(tg),
		      targets__alive(tg));
		CHECK(targets__add(tg, &k->py) == -EEXIST && targets__count(tg) == i + 1,
		      "%s: added twice", k->it->id);
		name = profile__process_name(prof, (uint32_t)k->py.pid);
		CHECK(name && !strcmp(name, k->p.comm), "%s: process named %s, its comm is %s",
		      k->it->id, name ? name : "(none)", k->p.comm);
	}
	CHECK(!targets__find(tg, NO_PID) && !targets__has(tg, NO_PID));
	targets__for_each(tg, visit, &v);
	CHECK(v.n == n, "visited %d of %d", v.n, n);
	for (int i = 0; i < n; i++) {
		struct kid *k = &kids[i];
		struct target *t = targets__find(tg, k->py.pid);
		const struct rec *r = blocks(s, c, k);

		CHECK(r && (r->h.flags & PYSPY_SAMPLE_VERIFIED), "%s: not sampled in verify mode",
		      k->it->id);
		if (r && t)
			kid_frames_are(k, t->cache, prof, r->f, r->h.n_frames, r->h.ktime_ns, true,
				       "named by its target's cache");
		/* Just added: verify mode stays. */
		if (t)
			targets__update_mode(tg, t);
		CHECK(t && t->mode == PYSPY_MODE_VERIFY, "%s: mode %#x", k->it->id,
		      t ? t->mode : 0);
	}
}

static void test_names(struct targets *tg, struct kid *k)
{
	const char *name = profile__thread_name(prof, (uint32_t)k->py.pid, (uint32_t)k->p.tid);

	CHECK(!name, "%s: named before it was seen", k->it->id);
	targets__name_thread(tg, k->py.pid, k->p.tid);
	name = profile__thread_name(prof, (uint32_t)k->py.pid, (uint32_t)k->p.tid);
	CHECK(name && !strcmp(name, k->p.comm), "%s: thread named %s, its comm is %s", k->it->id,
	      name ? name : "(none)", k->p.comm);
	kid_say(k, "name renamed");
	targets__name_thread(tg, k->py.pid, k->p.tid);
	name = profile__thread_name(prof, (uint32_t)k->py.pid, (uint32_t)k->p.tid);
	CHECK(name && !strcmp(name, k->p.comm), "%s: named again: %s", k->it->id,
	      name ? name : "(none)");
}

static void test_drop(struct session *s, struct collect *c, struct targets *tg, struct kid *k,
		      int n)
{
	struct target *t;

	/* Deleted under us (evicted): written again. */
	CHECK(session__remove_proc(s, k->py.pid) == 0);
	CHECK(unsampled(s, c, k), "%s: sampled once out of procs", k->it->id);
	targets__refresh(tg, k->py.pid);
	CHECK(blocks(s, c, k), "%s: not sampled once written again", k->it->id);

	/* It called exec: no longer sampled, at once. */
	targets__drop(tg, k->py.pid, "it called exec");
	t = targets__find(tg, k->py.pid);
	CHECK(t && t->exited && !targets__has(tg, k->py.pid) && targets__alive(tg) == n - 1 &&
		      targets__count(tg) == n,
	      "%s: dropped: %d alive, %d in all", k->it->id, targets__alive(tg),
	      targets__count(tg));
	CHECK(unsampled(s, c, k), "%s: sampled once dropped", k->it->id);
	targets__refresh(tg, k->py.pid);
	targets__drop(tg, k->py.pid, "again");
	CHECK(unsampled(s, c, k) && targets__alive(tg) == n - 1,
	      "%s: a dropped target written again, or counted twice", k->it->id);
	CHECK(targets__reap(tg) == n - 1 && !targets__find(tg, k->py.pid) &&
		      targets__count(tg) == n,
	      "%s: reaped: %d alive, %d in all", k->it->id, targets__alive(tg), targets__count(tg));

	/* Found again: a target again. */
	CHECK(targets__add(tg, &k->py) == 0 && targets__count(tg) == n + 1 &&
		      targets__alive(tg) == n,
	      "%s: added again", k->it->id);
	CHECK(blocks(s, c, k), "%s: not sampled once added again", k->it->id);
}

/* Quiet for QUIET_NS since it was added and since its cache last met a new code object. */
static void test_fast(struct session *s, struct collect *c, struct targets *tg, struct kid *k)
{
	struct target *t = targets__find(tg, k->py.pid);
	const struct rec *r;
	uint64_t since, now = mono_ns();

	if (!t)
		return;
	since = t->added_ns;
	if (code_cache__stats(t->cache)->last_change_ns > since)
		since = code_cache__stats(t->cache)->last_change_ns;
	if (since + QUIET_NS + 50000000ull > now)
		usleep((useconds_t)((since + QUIET_NS + 50000000ull - now) / 1000));
	targets__update_mode(tg, t);
	CHECK(t->mode == 0, "%s: mode %#x after %.1f s quiet", k->it->id, t->mode,
	      (mono_ns() - since) / 1e9);
	r = blocks(s, c, k);
	CHECK(r && !(r->h.flags & PYSPY_SAMPLE_VERIFIED), "%s: still fingerprinted", k->it->id);
}

/* Every target exits: dropped at the next reap, its ambiguities kept, its bytes given back. */
static void test_exit(struct targets *tg, struct kid *kids, int n, struct code_store *store,
		      uint64_t base_bytes)
{
	uint64_t ambiguous = targets__retired_ambiguous(tg);

	for (int i = 0; i < n; i++) {
		struct kid *k = &kids[i];
		struct target *t = targets__find(tg, k->py.pid);
		struct pyspy_frame f[PYCHILD_FRAMES];
		uint32_t locs[PYCHILD_FRAMES], m = walk(k, f, PYCHILD_FRAMES);
		uint64_t before;

		if (!t || !m)
			continue;
		/* A fingerprint no occupant has: ambiguous, [unknown]. */
		before = code_cache__stats(t->cache)->ambiguous;
		f[0].code_fp ^= 1;
		CHECK(code_cache__resolve(t->cache, f, m, mono_ns(), true, locs) == 1 &&
			      code_cache__stats(t->cache)->ambiguous == before + 1,
		      "%s: a wrong fingerprint", k->it->id);
		ambiguous += code_cache__stats(t->cache)->ambiguous;
		pychild_end(&k->p, true);
		CHECK(targets__reap(tg) == n - 1 - i && !targets__find(tg, k->py.pid) &&
			      !targets__has(tg, k->py.pid),
		      "%s: exited: %d alive", k->it->id, targets__alive(tg));
	}
	CHECK(targets__retired_ambiguous(tg) == ambiguous,
	      "%" PRIu64 " ambiguous frames kept of the gone, %" PRIu64 " in their caches",
	      targets__retired_ambiguous(tg), ambiguous);
	CHECK(store_bytes(store) == base_bytes,
	      "every target gone: %" PRIu64 " bytes held, %" PRIu64 " before they came",
	      store_bytes(store), base_bytes);
}

/* Caches of each kid resolving 64 frames: the store's room for a sample, grown once. */
static void grow_scratch(struct code_store *store, struct kid *kids, int n)
{
	for (int i = 0; i < n; i++) {
		struct pyspy_frame f[PYCHILD_FRAMES];
		uint32_t locs[PYCHILD_FRAMES], m = walk(&kids[i], f, PYCHILD_FRAMES);
		struct code_cache *cc = code_cache__new(kids[i].py.pid, &kids[i].py.layout,
							kids[i].py.code_type_addr, prof, store);

		for (uint32_t j = m; m && j < PYCHILD_FRAMES; j++)
			f[j] = f[j % m];
		if (cc && m)
			code_cache__resolve(cc, f, PYCHILD_FRAMES, mono_ns(), true, locs);
		code_cache__free(cc);
	}
}

/* k's frames through its target's cache: how many bad; named as it says if none. */
static uint32_t resolve_target(struct targets *tg, struct kid *k, uint32_t *locs)
{
	struct target *t = targets__find(tg, k->py.pid);
	struct pyspy_frame f[PYCHILD_FRAMES];
	uint32_t m = walk(k, f, PYCHILD_FRAMES), bad;
	char why[512];

	if (!t || !m)
		return UINT32_MAX;
	bad = code_cache__resolve(t->cache, f, m, mono_ns(), true, locs);
	if (!bad)
		CHECK(pystack_is(prof, locs, m, k->p.f, k->p.n, why, sizeof(why)), "%s: %s",
		      k->it->id, why);
	return bad;
}

/*
 * The total budget, exactly what the first target's code objects take
 * beside the store's room for a sample: a second target's do not fit,
 * and take nothing of the first's.
 */
static void test_budget(struct session *s, struct collect *c, struct kid *kids, int n)
{
	struct code_store *probe = code_store__new(0, 0), *store = NULL;
	struct targets *tg = NULL;
	struct code_store_stats st;
	uint64_t room, first;
	uint32_t locs[PYCHILD_FRAMES];
	struct code_cache *cc;

	if (n < 2 || !probe)
		goto out;
	grow_scratch(probe, kids, n);
	room = store_bytes(probe);
	cc = code_cache__new(kids[0].py.pid, &kids[0].py.layout, kids[0].py.code_type_addr, prof,
			     probe);
	if (cc) {
		struct pyspy_frame f[PYCHILD_FRAMES];
		uint32_t m = walk(&kids[0], f, PYCHILD_FRAMES);

		code_cache__resolve(cc, f, m, mono_ns(), true, locs);
	}
	first = store_bytes(probe) - room;
	code_cache__free(cc);
	CHECK(first > 0 && store_bytes(probe) == room, "a cache freed: %" PRIu64 " bytes, %" PRIu64,
	      store_bytes(probe), room);

	store = code_store__new(0, room + first);
	if (!store)
		goto out;
	grow_scratch(store, kids, n);
	CHECK(store_bytes(store) == room, "%" PRIu64 " bytes, %" PRIu64 " before",
	      store_bytes(store), room);
	tg = targets__new(s, prof, store, false);
	CHECK(tg && !targets__add(tg, &kids[0].py) && !targets__add(tg, &kids[1].py), "set-up");
	if (!tg || targets__alive(tg) != 2)
		goto out;
	CHECK(resolve_target(tg, &kids[0], locs) == 0, "%s: its code objects not kept",
	      kids[0].it->id);
	CHECK(store_bytes(store) == room + first, "%" PRIu64 " bytes, the budget %" PRIu64,
	      store_bytes(store), room + first);
	CHECK(resolve_target(tg, &kids[1], locs) == kids[1].p.n &&
		      !strcmp(pyloc_name(prof, locs[0]), "[unknown]"),
	      "%s: kept past the total", kids[1].it->id);
	code_store__stats(store, &st);
	CHECK(st.bytes <= room + first && st.refused > 0 && !st.evicted,
	      "%" PRIu64 " bytes, %" PRIu64 " refused, %" PRIu64 " evicted", st.bytes, st.refused,
	      st.evicted);
	CHECK(resolve_target(tg, &kids[0], locs) == 0, "%s: lost its code objects", kids[0].it->id);
	CHECK(blocks(s, c, &kids[0]), "%s: not sampled", kids[0].it->id);
	targets__free(tg);
	tg = NULL;
	CHECK(store_bytes(store) == room, "freed: %" PRIu64 " bytes held", store_bytes(store));
	CHECK(unsampled(s, c, &kids[0]) && unsampled(s, c, &kids[1]),
	      "sampled after the set was freed");
out:
	targets__free(tg);
	code_store__free(store);
	code_store__free(probe);
}

int main(void)
{
	static struct interp all[INTERPS_MAX];
	static struct kid kids[MAX_KIDS];
	int n = interps_load("--tag behaviour", all, INTERPS_MAX), k = 0;
	struct collect c = { .n = 0 };
	struct code_store *store = code_store__new(0, 0), *own = code_store__new(0, 0);
	struct targets *tg = NULL;
	struct session *s = NULL;
	uint64_t base;

	signal(SIGPIPE, SIG_IGN);
	CHECK(n == 3, "tests/interpreters.py --tag behaviour: %d", n);
	prof = profile__new(0);
	recs = calloc(MAX_RECS, sizeof(*recs));
	if (!prof || !store || !own || !recs)
		return unit_done("targets");
	for (int i = 0; i < n && k < MAX_KIDS; i++)
		k += !kid_start(&kids[k], &all[i], prof, own);
	c.r = recs;
	for (int i = 0; i < k; i++)
		c.want[c.n_want++] = kids[i].py.pid;
	s = session__open(&(const struct session_opts){ .offcpu = true }, collect, &c);
	CHECK(s && k == 3, "session: %s, %d targets", s ? "" : strerror(errno), k);
	if (!s || k != 3)
		goto out;
	test_budget(s, &c, kids, k);
	grow_scratch(store, kids, k);
	base = store_bytes(store);
	tg = targets__new(s, prof, store, false);
	CHECK(tg, "targets__new");
	if (!tg)
		goto out;
	test_add(s, &c, tg, kids, k);
	test_names(tg, &kids[0]);
	test_drop(s, &c, tg, &kids[1], k);
	test_fast(s, &c, tg, &kids[2]);
	test_exit(tg, kids, k, store, base);
	printf("  %u records of %d targets\n", c.n, k);
out:
	targets__free(tg);
	session__close(s);
	kids_end(kids, k, prof, own);
	code_store__free(store);
	free(recs);
	return unit_done("targets");
}
