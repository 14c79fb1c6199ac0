// SPDX-License-Identifier: MIT
/*
 * test_sampler.c - the sample path (user/engine/sampler.h), started as
 * record starts it (sampler__start: --pid targets discovered, the BPF
 * side loaded, as root), on live interpreters of the behaviour list
 * running tests/workloads/engine_target.py.  Records are fed as the ring
 * buffer hands them over (sampler__feed), made from the targets' own
 * threads walked from userspace (the BPF walk's twin), so what each must
 * become is known; then the ring's own records are taken (sampler__poll).
 *
 *   - a record becomes its thread's stack, named as the interpreter says,
 *     with one count per sample; the counters (samples, frames, reads,
 *     threads, the GIL share) add up; a sink sees what its filter takes,
 *     the base only while it is a sink;
 *   - a record of a process that is not a target, or no longer one (it
 *     exited), is dropped and counted;
 *   - a frame named late (under -v): counted when its code object could
 *     not be told, not otherwise, and not without -v;
 *   - wall mode: a thread's time on the CPU is charged exactly from tick
 *     to tick and up to when it left (capped), its wait from when it left
 *     to when it came back, under the reason it blocked for; a wait still
 *     open is charged up to the drain;
 *   - the BPF side's own samples of a spinning target: its spinning
 *     stack, each holding the GIL.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "livetarget.h"
#include "unit.h"
#include "symbolize/codestore.h"
#include "symbolize/cpython/unwind.h"
#include "symbolize/base/clock.h"
#include "symbolize/base/log.h"
#include "user/engine/sampler.h"

#define MAX_KIDS 4
/* No such process. */
#define NO_PID 0x3ffffff0
#define MS     1000000ull

static struct profile *scratch_prof; /* the kids' own caches name into it */
static struct code_store *scratch_store;

/* The record the BPF side would send of k's thread now (walked from userspace); free it. */
static struct pyspy_sample *record_of(struct kid *k, uint16_t flags, uint64_t ktime, size_t *len)
{
	struct py_threads th = { 0 };
	struct pyspy_sample *rec = NULL;
	uint32_t n = 0;

	if (!py_unwind__threads(k->py.pid, &k->py.layout, k->py.runtime_addr, &th) && th.n == 1)
		n = th.t[0].n_frames;
	*len = PYSPY_SAMPLE_HDR_SIZE + n * sizeof(struct pyspy_frame);
	if (n)
		rec = calloc(1, *len);
	if (rec) {
		rec->pid = (uint32_t)k->py.pid;
		rec->tid = (uint32_t)k->p.tid;
		rec->flags = PYSPY_SAMPLE_VERIFIED | flags;
		rec->ktime_ns = ktime;
		rec->reads = 7;
		rec->n_frames = n;
		rec->syscall = flags & PYSPY_SAMPLE_OFFCPU ? 0 : -1; /* read(0, ...): stdin */
		memcpy(rec->frames, th.t[0].frames, n * sizeof(struct pyspy_frame));
	}
	py_threads__free(&th);
	CHECK(rec, "%s: no record", k->it->id);
	return rec;
}

/* What a profile holds of a thread: its stacks. */
struct found {
	uint32_t pid, tid;
	const struct profile *prof;
	struct kid *k;
	unsigned stacks, as_said;
	uint64_t weight, weight_as_said;
	uint32_t leaf;	/* the first stack's innermost location */
	bool also_spin; /* stacks that are k's spinning stack count as said too */
	struct pyframe *spin;
	unsigned n_spin;
};

static int find_stack(const struct profile_stack *st, struct found *f)
{
	char why[512];

	if (st->pid != f->pid || st->tid != f->tid)
		return 0;
	if (!f->stacks++)
		f->leaf = st->n ? st->locs[0] : UINT32_MAX;
	f->weight += st->weight;
	if ((f->k &&
	     pystack_is(f->prof, st->locs, st->n, f->k->p.f, f->k->p.n, why, sizeof(why))) ||
	    (f->spin &&
	     pystack_is(f->prof, st->locs, st->n, f->spin, f->n_spin, why, sizeof(why)))) {
		f->as_said++;
		f->weight_as_said += st->weight;
	}
	return 0;
}

static struct found stacks_of(const struct profile *p, uint32_t pid, uint32_t tid, struct kid *k)
{
	struct found f = { .pid = pid, .tid = tid, .prof = p, .k = k };
	struct profile_stack_iter it = profile__stacks(p);
	struct profile_stack st;

	while (profile_stack_iter__next(&it, &st))
		find_stack(&st, &f);
	return f;
}

/* k's thread as the sampler counts it (zero if not among pid's busiest). */
static struct thread_stat thread_stat(struct sampler *s, struct kid *k)
{
	struct thread_stat top[8], st = { 0 };
	int n = sampler__busiest_threads(s, (uint32_t)k->py.pid, top, 8);

	for (int i = 0; i < n; i++)
		if (top[i].tid == (uint32_t)k->p.tid)
			st = top[i];
	return st;
}

static void feed(struct sampler *s, struct kid *k, uint16_t flags, uint64_t ktime)
{
	size_t len;
	struct pyspy_sample *rec = record_of(k, flags, ktime, &len);

	if (rec)
		sampler__feed(s, rec, len);
	free(rec);
}

/* A record into its stack and counts; sinks; processes not (or no longer) sampled. */
static void test_records(struct sampler *s, struct profile *prof, struct kid *kids, int n)
{
	struct run_counts rc0, rc;
	struct profile *view = profile__new_view(prof, 0);
	struct profile_filter only;
	uint32_t tid0 = (uint32_t)kids[0].p.tid;
	uint64_t frames = 0;

	sampler__counts(s, &rc0);
	CHECK(rc0.processes == n && sampler__n_processes(s) == n && !rc0.samples, "%d processes",
	      rc0.processes);
	for (int i = 0; i < n; i++) {
		struct kid *k = &kids[i];
		struct found f;
		struct thread_stat ts;
		const char *name;

		feed(s, k, 0, mono_ns());
		feed(s, k, PYSPY_SAMPLE_GIL, mono_ns());
		f = stacks_of(prof, (uint32_t)k->py.pid, (uint32_t)k->p.tid, k);
		CHECK(f.stacks == 1 && f.as_said == 1 && f.weight == 2,
		      "%s: %u stacks (%u as it says), weight %" PRIu64, k->it->id, f.stacks,
		      f.as_said, f.weight);
		ts = thread_stat(s, k);
		CHECK(ts.samples == 2 && ts.gil == 1, "%s: %" PRIu64 " samples, %" PRIu64 " GIL",
		      k->it->id, ts.samples, ts.gil);
		name = profile__thread_name(prof, (uint32_t)k->py.pid, (uint32_t)k->p.tid);
		CHECK(name && !strcmp(name, k->p.comm), "%s: thread named %s", k->it->id,
		      name ? name : "(none)");
		frames += 2 * k->p.n;
	}
	sampler__counts(s, &rc);
	CHECK(rc.samples == 2u * n && rc.frames == frames && rc.reads == 14u * n &&
		      rc.threads == n && !rc.user_dropped && !rc.bad_frames,
	      "%" PRIu64 " samples, %" PRIu64 " frames, %" PRIu64 " reads, %d threads", rc.samples,
	      rc.frames, rc.reads, rc.threads);

	/* A sink sees what its filter takes; the base, only while it is a sink. */
	only = (struct profile_filter){ .pid = (uint32_t)kids[0].py.pid };
	CHECK(view && !sampler__add_sink(s, view, &only), "sink");
	for (int i = 0; i < n; i++)
		feed(s, &kids[i], 0, mono_ns());
	CHECK(view && profile__n_stacks(view) == 1 && profile__total_weight(view) == 1 &&
		      stacks_of(view, (uint32_t)kids[0].py.pid, tid0, &kids[0]).as_said == 1,
	      "the sink: %u stacks", view ? profile__n_stacks(view) : 0);
	sampler__remove_sink(s, view);
	sampler__set_base_sink(s, false);
	feed(s, &kids[0], 0, mono_ns());
	sampler__set_base_sink(s, true);
	CHECK(profile__total_weight(view) == 1 && profile__total_weight(prof) == 3u * n,
	      "after the sink went and the base stopped: %" PRIu64 ", base %" PRIu64,
	      profile__total_weight(view), profile__total_weight(prof));

	/* Not a target: dropped, counted, nothing added. */
	{
		size_t len;
		struct pyspy_sample *rec = record_of(&kids[0], 0, mono_ns(), &len);

		if (rec) {
			rec->pid = NO_PID;
			sampler__feed(s, rec, len);
			/* A record with no frame: nothing, not counted as dropped. */
			rec->pid = (uint32_t)kids[0].py.pid;
			rec->n_frames = 0;
			sampler__feed(s, rec, PYSPY_SAMPLE_HDR_SIZE);
		}
		free(rec);
	}
	sampler__counts(s, &rc);
	CHECK(rc.user_dropped == 1 && rc.samples == 3u * n + 1 &&
		      profile__total_weight(prof) == 3u * n,
	      "an unknown PID: %" PRIu64 " dropped, %" PRIu64 " samples", rc.user_dropped,
	      rc.samples);
	profile__free(view);
}

/* Named late: counted (under -v) only when a code object could not be told. */
static void test_late(struct sampler *s, struct profile *prof, struct kid *k)
{
	uint64_t old = mono_ns() - 2000 * MS;
	struct run_counts rc0, rc;
	size_t len;
	struct pyspy_sample *rec = record_of(k, 0, old, &len);
	struct found f;

	if (!rec)
		return;
	sampler__counts(s, &rc0);
	log_verbose = 1;
	sampler__feed(s, rec, len); /* late, every frame told */
	sampler__counts(s, &rc);
	CHECK(rc.late == rc0.late && rc.bad_frames == rc0.bad_frames, "late, but told");
	rec->frames[0].code_fp ^= 1; /* a fingerprint no occupant has */
	sampler__feed(s, rec, len);
	sampler__counts(s, &rc);
	CHECK(rc.late == rc0.late + 1 && rc.bad_frames == rc0.bad_frames + 1 &&
		      rc.ambiguous == rc0.ambiguous + 1,
	      "named late: %" PRIu64 " late, %" PRIu64 " bad", rc.late - rc0.late,
	      rc.bad_frames - rc0.bad_frames);
	log_verbose = 0;
	sampler__feed(s, rec, len);
	sampler__counts(s, &rc);
	CHECK(rc.late == rc0.late + 1 && rc.bad_frames == rc0.bad_frames + 2,
	      "counted without -v: %" PRIu64 " late", rc.late - rc0.late);
	f = stacks_of(prof, (uint32_t)k->py.pid, (uint32_t)k->p.tid, k);
	CHECK(f.stacks == 2 && f.as_said == 1, "%s: %u stacks", k->it->id, f.stacks);
	free(rec);
}

/* Exited: its records are dropped once it is reaped. */
static void test_exited(struct sampler *s, struct kid *k)
{
	struct run_counts rc0, rc;
	size_t len;
	struct pyspy_sample *rec = record_of(k, 0, mono_ns(), &len);

	if (!rec)
		return;
	sampler__counts(s, &rc0);
	pychild_end(&k->p, true);
	CHECK(!sampler__poll(s, 0), "over with targets left");
	sampler__feed(s, rec, len);
	sampler__counts(s, &rc);
	CHECK(rc.user_dropped == rc0.user_dropped + 1 && rc.samples == rc0.samples,
	      "%s: a record after it exited: %" PRIu64 " dropped", k->it->id,
	      rc.user_dropped - rc0.user_dropped);
	free(rec);
}

struct spun {
	struct sampler *s;
	struct kid *k;
	struct thread_stat before;
};

static bool spun_enough(void *ctx)
{
	struct spun *sp = ctx;

	return thread_stat(sp->s, sp->k).samples >= sp->before.samples + 3;
}

/*
 * The ring's own samples of a spinning target, from a sink made once it
 * spins (what was taken on its way there drained first): its spinning
 * stack, each sample holding the GIL.
 */
static void test_spin(struct sampler *s, struct profile *prof, struct kid *k)
{
	struct profile *view = profile__new_view(prof, 0);
	uint32_t tid = (uint32_t)k->p.tid;
	struct profile_filter only;
	struct spun sp = { .s = s, .k = k };
	struct thread_stat ts;
	struct found f;
	uint64_t end, got;

	CHECK(!pychild_say(&k->p, "spin") && !pychild_until(&k->p, "spinning"), "%s: spin",
	      k->it->id);
	usleep(20000);
	sampler__drain(s);
	sp.before = thread_stat(s, k);
	only = (struct profile_filter){ .pid = (uint32_t)k->py.pid };
	CHECK(view && !sampler__add_sink(s, view, &only), "sink");
	end = mono_ns() + 20000 * MS;
	while (!spun_enough(&sp) && mono_ns() < end)
		if (sampler__poll(s, 50)) {
			CHECK(0, "over with targets left");
			break;
		}
	/* Records are handled only in our polls: the sink and the counts see the same ones. */
	sampler__remove_sink(s, view);
	ts = thread_stat(s, k);
	got = ts.samples - sp.before.samples;
	f = view ? stacks_of(view, (uint32_t)k->py.pid, tid, k) : (struct found){ 0 };
	CHECK(got >= 3 && ts.gil - sp.before.gil == got,
	      "%s: %" PRIu64 " samples spinning, %" PRIu64 " holding the GIL", k->it->id, got,
	      ts.gil - sp.before.gil);
	CHECK(f.stacks == 1 && f.as_said == 1 && f.weight == got,
	      "%s: %u stacks (%u as it says), "
	      "weight %" PRIu64 " of %" PRIu64 " samples",
	      k->it->id, f.stacks, f.as_said, f.weight, got);
	profile__free(view);
}

/* A thread's stacks in wall mode: its own (on the CPU), under [io: read] (off it), others. */
struct wall {
	uint32_t pid, tid;
	const struct profile *prof;
	struct kid *k;
	uint64_t run, wait;
	unsigned other;
};

static int wall_stack(const struct profile_stack *st, struct wall *w)
{
	char why[512];

	if (st->pid != w->pid || st->tid != w->tid)
		return 0;
	if (pystack_is(w->prof, st->locs, st->n, w->k->p.f, w->k->p.n, why, sizeof(why)))
		w->run += st->weight;
	else if (st->n && !strcmp(pyloc_name(w->prof, st->locs[0]), "[io: read]") &&
		 pystack_is(w->prof, st->locs + 1, st->n - 1, w->k->p.f, w->k->p.n, why,
			    sizeof(why)))
		w->wait += st->weight;
	else
		w->other++;
	return 0;
}

/*
 * Wall mode, from fed records: the thread runs from T (one period, 10
 * ms: no earlier tick), is sampled at T+3 ms, leaves the CPU at T+5 ms
 * (blocked in read) and is back at T+25 ms; its next tick, a second
 * later, is capped at 50 periods, and so is its run from there until it
 * leaves again, seconds later.  A wait left open is charged up to the
 * drain.
 */
static void test_wall(struct kid *k)
{
	struct options o = { OPTIONS_DEFAULTS, .mode = MODE_WALL };
	struct profile *prof = profile__new(0);
	struct sampler *s;
	uint64_t t = mono_ns() - 10000 * MS, t0, t1;
	struct pyspy_event back = { .pid = (uint32_t)k->py.pid,
				    .tid = (uint32_t)k->p.tid,
				    .flags = PYSPY_EVENT_OFFCPU_END,
				    .ktime_ns = t + 25 * MS,
				    .arg = 20 * MS };
	struct wall w = { .pid = (uint32_t)k->py.pid, .tid = (uint32_t)k->p.tid, .k = k };
	struct run_counts rc;
	struct profile_stack_iter it;
	struct profile_stack st;
	uint64_t waited;

	o.rate_hz = 100; /* a period of 10 ms */
	o.pids[o.n_pids++] = k->py.pid;
	s = prof ? sampler__start(&o, prof) : NULL;
	CHECK(s, "%s: wall sampler: %s", k->it->id, strerror(errno));
	if (!s)
		goto out;
	feed(s, k, 0, t);
	feed(s, k, 0, t + 3 * MS);
	feed(s, k, PYSPY_SAMPLE_OFFCPU, t + 5 * MS);
	sampler__feed(s, (const struct pyspy_sample *)&back, sizeof(back));
	feed(s, k, 0, t + 1025 * MS);
	w.prof = prof;
	it = profile__stacks(prof);
	while (profile_stack_iter__next(&it, &st))
		wall_stack(&st, &w);
	CHECK(w.run == 515 * MS && w.wait == 20 * MS && !w.other,
	      "%s: on the CPU %.1f ms, off it %.1f ms ([io: read]), %u other stacks", k->it->id,
	      w.run / 1e6, w.wait / 1e6, w.other);
	sampler__counts(s, &rc);
	CHECK(rc.samples == 4, "%" PRIu64 " samples (3 ticks and a wait)", rc.samples);

	/* Off the CPU again (its run since the last tick capped, 500 ms), left open: charged up to the drain. */
	t0 = mono_ns();
	feed(s, k, PYSPY_SAMPLE_OFFCPU, t0 - 1000 * MS);
	sampler__drain(s);
	t1 = mono_ns();
	waited = w.wait;
	w.run = w.wait = w.other = 0;
	it = profile__stacks(prof);
	while (profile_stack_iter__next(&it, &st))
		wall_stack(&st, &w);
	CHECK(w.wait - waited >= 1000 * MS && w.wait - waited <= t1 - (t0 - 1000 * MS) &&
		      w.run == 1015 * MS && !w.other,
	      "%s: an open wait charged %.3f ms at the drain, %.3f ms after it began (on the CPU "
	      "%.3f ms, %u other stacks)",
	      k->it->id, (w.wait - waited) / 1e6, (t1 - (t0 - 1000 * MS)) / 1e6, w.run / 1e6,
	      w.other);
out:
	sampler__stop(s);
	profile__free(prof);
}

int main(void)
{
	static struct interp all[INTERPS_MAX];
	static struct kid kids[MAX_KIDS];
	struct options o = { OPTIONS_DEFAULTS };
	struct profile *prof = profile__new(0);
	int n = interps_load("--tag behaviour", all, INTERPS_MAX), k = 0;
	struct sampler *s = NULL;

	signal(SIGPIPE, SIG_IGN);
	CHECK(n == 3, "tests/interpreters.py --tag behaviour: %d", n);
	scratch_prof = profile__new(0);
	scratch_store = code_store__new(0, 0);
	if (!prof || !scratch_prof || !scratch_store)
		return unit_done("sampler");
	for (int i = 0; i < n && k < MAX_KIDS; i++)
		k += !kid_start(&kids[k], &all[i], scratch_prof, scratch_store);
	CHECK(k == 3, "%d targets", k);
	if (k != 3)
		goto out;
	test_wall(&kids[0]);
	for (int i = 0; i < k; i++)
		o.pids[o.n_pids++] = kids[i].py.pid;
	s = sampler__start(&o, prof);
	CHECK(s, "sampler: %s", strerror(errno));
	if (!s)
		goto out;
	test_records(s, prof, kids, k);
	test_late(s, prof, &kids[2]);
	test_exited(s, &kids[2]);
	test_spin(s, prof, &kids[0]);
	test_spin(s, prof, &kids[1]);
out:
	sampler__stop(s);
	kids_end(kids, k, scratch_prof, scratch_store);
	profile__free(prof);
	return unit_done("sampler");
}
