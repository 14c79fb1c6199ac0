// SPDX-License-Identifier: MIT
/*
 * sampler.c - the engine behind every verb: records in, weighed and
 * charged stacks out into the sinks' profiles.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "symbolize/base/hash.h" /* before uthash.h: its HASH_FUNCTION */
#include <uthash.h>

#include "counts.h"
#include "lifecycle.h"
#include "offcpu.h"
#include "sandbox.h"
#include "sampler.h"
#include "session.h"
#include "targets.h"
#include "watch.h"
#include "symbolize/codecache.h"
#include "symbolize/container.h"
#include "symbolize/proc/procfs.h"
#include "symbolize/samplestack.h"
#include "symbolize/base/clock.h"
#include "symbolize/base/log.h"

/* How often exits and children are looked at. */
#define HOUSEKEEP_S 0.2

/*
 * How long the ring buffer is left to fill between drains.  Samples mostly
 * arrive without a wakeup (see bpf/pyspy.bpf.c), so this is how stale a
 * sample gets before it is symbolized, and each drain reads each sampled
 * code object about once (codecache.c): the longer, the less a sample
 * costs.  Short while a target is new or making code (a code object may
 * die soon after it was sampled); then longer, but at most a hundredth of
 * the youngest target's age, since the samples of a process that exits
 * before they are drained can no longer be vouched for and must stay a
 * small share of its profile.  A target in eager mode wakes us itself; one
 * not sampled for a second has nothing in the ring to wait for.
 */
#define DRAIN_MIN_S 0.02
#define DRAIN_MAX_S 0.1

/* Threads whose GIL share is kept (top shows it); more are not tracked. */
#define MAX_THREAD_STATS 65536

struct thread_entry {
	UT_hash_handle hh;
	uint64_t key; /* pid << 32 | tid */
	struct thread_stat st;
	/* wall mode: on the CPU, not yet charged, since (ktime); 0: off it, or unknown */
	uint64_t ran_from_ns;
};

struct sink {
	struct profile *view;
	bool filtered;
	struct profile_filter filter;
};

struct sampler {
	/* Held while samples are added and targets change, so other threads
	 * (serve's HTTP handlers) can read profiles and register sinks. */
	pthread_mutex_t lock;
	bool base_sink;
	struct sink sinks[SAMPLER_MAX_SINKS];
	int n_sinks;
	const struct options *o;
	struct session *s;
	struct profile *prof;
	/* The targets, the watch, a launched command: processes coming and going. */
	struct lifecycle life;
	struct code_store *store;   /* every target's code cache lives in it */
	struct native_ctx *native;  /* --native / --kernel */
	struct sample_stack *stack; /* a record's frames as locations */
	struct offcpu_table *off;
	struct thread_entry *threads;
	uint32_t n_threads;
	struct run_counts rc;
	double t0, next_house;
	double next_async, last_async; /* --async --mode wall: reads of suspended tasks */
};

static void add_to_sinks(struct sampler *r, uint32_t pid, uint32_t tid, uint32_t flags,
			 const uint32_t *locs, uint32_t n, uint64_t weight)
{
	if (r->base_sink)
		profile__add(r->prof, pid, tid, flags, locs, n, weight);
	for (int i = 0; i < r->n_sinks; i++)
		if (!r->sinks[i].filtered ||
		    profile_filter__match(r->sinks[i].view, &r->sinks[i].filter, pid))
			profile__add(r->sinks[i].view, pid, tid, flags, locs, n, weight);
}

static struct thread_entry *thread_of(struct sampler *r, uint32_t pid, uint32_t tid)
{
	uint64_t key = (uint64_t)pid << 32 | tid;
	struct thread_entry *e;

	HASH_FIND(hh, r->threads, &key, sizeof(key), e);
	if (!e) {
		if (r->n_threads >= MAX_THREAD_STATS)
			return NULL;
		e = calloc(1, sizeof(*e));
		if (!e)
			return NULL;
		e->key = key;
		e->st.pid = pid;
		e->st.tid = tid;
		HASH_ADD(hh, r->threads, key, sizeof(e->key), e);
		r->n_threads++;
	}
	return e;
}

static struct thread_entry *count_thread(struct sampler *r, const struct pyspy_sample *smp)
{
	struct thread_entry *e = thread_of(r, smp->pid, smp->tid);

	if (!e)
		return NULL;
	e->st.samples++;
	if (smp->flags & PYSPY_SAMPLE_GIL)
		e->st.gil++;
	return e;
}

/*
 * Wall mode charges a thread's time on the CPU exactly: at each tick, and
 * when it leaves the CPU, the time since it was last charged or came back.
 * A fixed 1/rate per tick would lose the ticks a CPU misses (a vCPU the
 * host deschedules fires one late tick for many periods), and shares
 * would no longer add up.  Capped, so that a baseline gone stale (a record
 * lost in a full ring) cannot charge more than a few periods.
 */
#define WALL_MAX_PERIODS 50

/* --gil keeps some ticks only: those count one period each. */
static bool wall_exact(const struct sampler *r)
{
	return r->o->mode == MODE_WALL && !r->o->gil_only;
}

static uint64_t wall_run_weight(struct sampler *r, struct thread_entry *e, uint64_t now_ns)
{
	uint64_t period = mode_sample_weight(r->o, &(struct pyspy_sample){ .flags = 0 });
	uint64_t w = period;

	if (e && e->ran_from_ns && now_ns > e->ran_from_ns)
		w = now_ns - e->ran_from_ns;
	if (w > WALL_MAX_PERIODS * period)
		w = WALL_MAX_PERIODS * period;
	return w;
}

/*
 * Threads are named when first sampled, which can be before they name
 * themselves (threading.Thread sets the OS name only after it starts, and
 * workers often rename later): name the ones still alive again.
 */
void sampler__refresh_thread_names(struct sampler *r)
{
	struct thread_entry *e;
	char name[64];

	pthread_mutex_lock(&r->lock);
	for (e = r->threads; e; e = e->hh.next)
		if (!procfs_comm(e->st.pid, e->st.tid, name, sizeof(name)))
			profile__set_thread_name(r->prof, e->st.pid, e->st.tid, name);
	pthread_mutex_unlock(&r->lock);
}

int sampler__busiest_threads(struct sampler *r, uint32_t pid, struct thread_stat *top, int max)
{
	struct thread_entry *e;
	int n = 0, i;

	pthread_mutex_lock(&r->lock);
	for (e = r->threads; e; e = e->hh.next) {
		if (e->st.pid != pid)
			continue;
		for (i = n; i > 0 && top[i - 1].samples < e->st.samples; i--)
			if (i < max)
				top[i] = top[i - 1];
		if (i < max) {
			top[i] = e->st;
			if (n < max)
				n++;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return n;
}

/* --- --async --mode wall: suspended tasks, read at the sampling rate ----- */

/* Suspended tasks read per tick by default (--async-tasks). */
#define ASYNC_TASKS_DEFAULT 8
/*
 * The ticks are taken together when the loop wakes anyway (to drain the
 * ring, every 20-100 ms), the budget being the ticks' sum: waking up at
 * the sampling rate for them cost more than reading the tasks, and one
 * read of many tasks costs about what one of a few does.  At most this
 * many ticks at once.
 */
#define ASYNC_TICKS_MAX 16

struct async_tick_ctx {
	struct sampler *r;
	uint64_t now;
	unsigned ticks; /* ticks since the last read, taken together */
};

/* The waits the target's last tick or settle left, to the sinks. */
static void charge_task_waits(struct sampler *r, const struct target *tg)
{
	struct async_wait_sample s;
	uint32_t pid = (uint32_t)tg->py.pid;

	while (async_wait__next(tg->wait, &s))
		add_to_sinks(r, pid, s.tid ? s.tid : pid, 0, s.locs, s.n, s.ns);
}

static bool async_waits(const struct sampler *r)
{
	return r->o->async && r->o->mode == MODE_WALL;
}

static void async_tick_one(struct target *tg, void *ctx)
{
	struct async_tick_ctx *c = ctx;
	const struct options *o = c->r->o;
	unsigned k = o->async_tasks ? o->async_tasks : ASYNC_TASKS_DEFAULT;

	if (tg->exited || !async_proc__layout(tg->async))
		return;
	if (!tg->wait) {
		tg->wait = async_wait__new(&tg->py, tg->async, tg->cache, c->r->prof, c->now,
					   k * ASYNC_TICKS_MAX);
		if (!tg->wait)
			return;
	}
	async_wait__tick(tg->wait, c->now, k * c->ticks);
	charge_task_waits(c->r, tg);
}

static void async_tick(struct sampler *r, unsigned ticks)
{
	struct async_tick_ctx c = { r, mono_ns(), ticks };

	pthread_mutex_lock(&r->lock);
	targets__for_each(r->life.tg, async_tick_one, &c);
	pthread_mutex_unlock(&r->lock);
}

static void async_settle_one(struct target *tg, void *ctx)
{
	struct async_tick_ctx *c = ctx;

	if (!tg->wait || tg->exited)
		return;
	async_wait__settle(tg->wait, c->now);
	charge_task_waits(c->r, tg);
}

static void charge_wait(const struct offcpu_wait *w, void *ctx)
{
	struct sampler *r = ctx;

	/* A wait seen to end before it was seen to begin (a thread found
	 * blocked at registration that had already woken) weighs nothing. */
	if (!w->ns)
		return;
	add_to_sinks(r, w->pid, w->tid, w->flags, w->locs, w->n, w->ns);
	r->rc.samples++;
}

/* ...and is back: the time since it left (or since the last settle) is its weight. */
static int offcpu_end(struct sampler *r, const struct pyspy_sample *ev)
{
	/* arg: how long the BPF side saw it off the CPU. */
	uint64_t begin = ev->arg <= ev->ktime_ns ? ev->ktime_ns - ev->arg : ev->ktime_ns;
	struct offcpu_wait w;

	if (wall_exact(r)) {
		struct thread_entry *e = thread_of(r, ev->pid, ev->tid);

		if (e)
			e->ran_from_ns = ev->ktime_ns; /* on the CPU again from here */
	}
	if (!offcpu_table__end(r->off, ev->tid, begin, ev->ktime_ns, &w) || w.pid != ev->pid) {
		/* A wait of a sampled thread whose start was never seen: say so (-vv). */
		if (log_verbose > 1 && targets__has(r->life.tg, ev->pid))
			log_debug("PID %d TID %d: back after %.1f ms off the CPU, no wait open",
				  ev->pid, ev->tid, ev->arg / 1e6);
		return 0;
	}
	if (log_verbose > 1)
		log_debug("PID %d TID %d: back after %.1f ms off the CPU, charged %.1f ms", ev->pid,
			  ev->tid, ev->arg / 1e6, w.ns / 1e6);
	charge_wait(&w, r);
	return 0;
}

/*
 * Charge every wait still open its time up to now, to the sinks there are
 * now: at the end of a recording, and whenever a sink comes or goes, so
 * that each sink gets exactly the part of each wait that fell in its time.
 */
void sampler__settle_locked(struct sampler *r)
{
	struct async_tick_ctx c = { r, mono_ns(), 1 };

	if (r->off)
		offcpu_table__settle(r->off, c.now, charge_wait, r);
	if (async_waits(r) && r->life.tg)
		targets__for_each(r->life.tg, async_settle_one, &c);
}

/*
 * A record's stack as locations (one step, symbolize/samplestack.h), and
 * what is known of its process and thread.  false: it holds no frame.
 */
static bool symbolize(struct sampler *r, struct target *tg, const struct pyspy_sample *smp,
		      size_t len, struct stack_locs *st)
{
	const struct stack_sources src = { tg->cache, tg->native, tg->async };
	/* Named late, a frame whose code object changed hands meanwhile (LATE_NS; -v says). */
	bool late = log_verbose && mono_ns() - smp->ktime_ns > LATE_NS;
	uint64_t ambiguous = code_cache__stats(tg->cache)->ambiguous;

	if (!sample_stack__of_record(r->stack, &src, smp, len, st))
		return false;
	r->rc.late += late && code_cache__stats(tg->cache)->ambiguous != ambiguous;
	r->rc.bad_frames += st->bad;
	tg->last_sample_ns = smp->ktime_ns;
	targets__update_mode(r->life.tg, tg);
	lifecycle__name_thread(&r->life, smp->pid, smp->tid);
	/* Before the sinks: their filters may ask for the process's container. */
	container_cache__sample(r->life.cc, r->prof, smp->pid, smp->cgroup_id);
	return true;
}

/* A thread left the CPU: in wall mode its run up to here is charged; its wait opens. */
static void left_cpu(struct sampler *r, const struct target *tg, const struct pyspy_sample *smp,
		     const struct stack_locs *st)
{
	struct thread_entry *e;

	if (wall_exact(r)) {
		e = thread_of(r, smp->pid, smp->tid);
		if (e && e->ran_from_ns)
			add_to_sinks(r, smp->pid, smp->tid, st->flags, st->locs, st->n,
				     wall_run_weight(r, e, smp->ktime_ns));
		if (e)
			e->ran_from_ns = 0;
	}
	offcpu_table__open(r->off, r->prof,
			   &(const struct offcpu_open){ .pid = smp->pid,
							.tid = smp->tid,
							.flags = st->flags,
							.cause = offcpu_cause_of(smp),
							.gil_addr = tg->py.gil_addr,
							.gil_size = tg->py.layout.gil_size,
							.locs = st->locs,
							.n = st->n,
							.start_ns = smp->ktime_ns,
							.known_ns = smp->ktime_ns });
}

/* A tick (or a page fault) on the CPU: its weight in this mode, to every sink. */
static void on_cpu(struct sampler *r, struct target *tg, const struct pyspy_sample *smp,
		   const struct stack_locs *st)
{
	struct thread_entry *e = count_thread(r, smp);
	uint64_t weight = mode_sample_weight(r->o, smp);

	if (!weight)
		return;
	if (wall_exact(r)) {
		weight = wall_run_weight(r, e, smp->ktime_ns);
		if (e)
			e->ran_from_ns = smp->ktime_ns;
	}
	add_to_sinks(r, smp->pid, smp->tid, st->flags, st->locs, st->n, weight);
	/* Start-up, as make bench measures it: when the first sample was taken. */
	if (!r->rc.samples)
		log_debug("first sample taken at %.6f s (CLOCK_MONOTONIC), handled %.1f ms later",
			  smp->ktime_ns / 1e9, (mono_ns() - smp->ktime_ns) / 1e6);
	r->rc.samples++;
	r->rc.reads += smp->reads;
	r->rc.frames += st->n;
	tg->samples++;
}

/* The sample path: one ring-buffer record into the profile. */
static int handle_sample(struct sampler *r, const struct pyspy_sample *smp, size_t len)
{
	struct stack_locs st;
	struct target *tg;

	if (smp->flags & (PYSPY_EVENT_NEW_PROCESS | PYSPY_EVENT_EXEC)) {
		lifecycle__event(&r->life, smp);
		return 0;
	}
	if (smp->flags & PYSPY_EVENT_OFFCPU_END)
		return offcpu_end(r, smp);
	tg = targets__find(r->life.tg, smp->pid);
	if (!tg || tg->exited) {
		r->rc.user_dropped++;
		return 0;
	}
	if (!symbolize(r, tg, smp, len, &st))
		return 0;
	if (smp->flags & PYSPY_SAMPLE_OFFCPU)
		left_cpu(r, tg, smp, &st);
	else
		on_cpu(r, tg, smp, &st);
	return 0;
}

static int on_sample(const struct pyspy_sample *smp, size_t len, void *ctx)
{
	struct sampler *r = ctx;
	int ret;

	pthread_mutex_lock(&r->lock);
	ret = handle_sample(r, smp, len);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

void sampler__feed(struct sampler *r, const struct pyspy_sample *rec, size_t len)
{
	on_sample(rec, len, r);
}

static void refresh_counts(struct sampler *r)
{
	run_counts__refresh(&r->rc, &(const struct counts_sources){ .o = r->o,
								    .tg = r->life.tg,
								    .s = r->s,
								    .watch = r->life.watch,
								    .native = r->native,
								    .store = r->store,
								    .threads = r->life.threads,
								    .t0 = r->t0 });
}

/* What the sampler still needs once started (user/engine/sandbox.h). */
static unsigned sandbox_needs(const struct options *o)
{
	unsigned needs = SANDBOX_TARGETS;

	/* /proc/PID/task/TID/stack of a thread found blocked. */
	if (o->kernel && (o->mode == MODE_OFFCPU || o->mode == MODE_WALL))
		needs |= SANDBOX_KERNEL_STACKS;
	return needs;
}

static int start(struct sampler *r)
{
	const struct options *o = r->o;
	struct session_opts so = {
		/* Off-CPU alone needs no clock; memory samples page faults instead. */
		.rate_hz = o->mode == MODE_OFFCPU || o->mode == MODE_MEMORY ? 0 : o->rate_hz,
		.discover_all = o->all,
		.offcpu = o->mode == MODE_OFFCPU || o->mode == MODE_WALL,
		.page_fault_period = o->mode == MODE_MEMORY ? o->fault_period : 0,
		.max_threads = o->max_threads,
		.native = o->native || o->native_all,
		.async = o->async,
		.kernel = o->kernel,
		.ustack_bytes = o->ustack_bytes,
	};
	struct py_target *pys = calloc(o->n_pids ? o->n_pids : 1, sizeof(*pys));
	int err = -ENOMEM;

	if (!pys)
		return err;
	/*
	 * Before the BPF side loads (a second or two): a target alive when
	 * the command ran is caught.  The one thing read from a target with
	 * start-up privileges, and only from those named on the command line.
	 */
	err = lifecycle__discover(o, pys);
	if (err)
		goto out;
	r->s = r->life.s = session__open(&so, on_sample, r);
	err = r->s ? 0 : -errno;
	if (err)
		goto out;
	r->life.tg = targets__new(r->s, r->prof, r->store, o->frames_one_by_one);
	if (r->life.tg && (so.native || so.kernel)) {
		/* Before the sandbox: /proc/kallsyms shows addresses to CAP_SYSLOG. */
		r->native = native_ctx__new(r->prof, so.native, o->native_all, so.kernel);
		if (!r->native) {
			err = -ENOMEM;
			goto out;
		}
		targets__set_native(r->life.tg, r->native);
	}
	if (r->life.tg && o->async)
		targets__set_async(r->life.tg);
	r->life.watch = r->life.tg ? watch__new(r->life.tg, o->all, o->init_wait_s,
						lifecycle__register, &r->life)
				   : NULL;
	err = r->life.watch ? 0 : -ENOMEM;
	/* bpf_enable_stats needs CAP_SYS_ADMIN: before the sandbox too. */
	if (!err && o->measure_bpf && session__measure_run_time(r->s))
		log_warn("cannot measure the BPF side's run time (/metrics shows 0)");
	/* Forked now (it waits for its release), so that it is not confined. */
	if (!err && o->cmd) {
		err = launch__start(o->cmd, &r->life.launch);
		r->life.launched = !err;
	}
	/* What needed privilege is done: what targets come later is read confined. */
	if (!err && o->sandbox)
		err = sandbox__enter(sandbox_needs(o));
	if (err)
		goto out;
	/*
	 * The recording starts as its first target is added (kernel symbols
	 * and the like are loaded): a wait found open is charged from here.
	 */
	r->t0 = mono_s();
	for (int i = 0; !err && i < o->n_pids; i++)
		err = lifecycle__register(&r->life, &pys[i]);
	if (!err && r->life.launched) {
		/*
		 * Known before its exec: the waits of its start-up are timed
		 * from the start, and its exec is reported at once.
		 */
		if (so.offcpu)
			targets__watch(r->life.tg, r->life.launch.pid);
		launch__release(&r->life.launch);
	}
out:
	free(pys);
	return err;
}

struct sampler *sampler__start(const struct options *o, struct profile *prof)
{
	struct sampler *r = calloc(1, sizeof(*r));
	int err;

	if (!r)
		return NULL;
	r->off = offcpu_table__new();
	if (!r->off) {
		free(r);
		return NULL;
	}
	pthread_mutex_init(&r->lock, NULL);
	r->base_sink = true;
	r->o = o;
	r->prof = prof;
	r->rc.rate_hz = o->rate_hz;
	r->life = (struct lifecycle){ .o = o, .prof = prof, .off = r->off };
	r->life.cc = container_cache__new(NULL, NULL, NULL);
	r->store = code_store__new(o->cache_per_target, o->cache_total);
	r->stack = sample_stack__new();
	if (o->symbol_bytes)
		profile__set_symbol_budget(prof, o->symbol_bytes);
	err = r->life.cc && r->store && r->stack ? start(r) : -ENOMEM;
	if (err) {
		sampler__stop(r);
		errno = -err;
		return NULL;
	}
	return r;
}

double sampler__elapsed(struct sampler *r)
{
	return mono_s() - r->t0;
}

struct drain_ctx {
	uint64_t now_ns;
	double s; /* the next drain, seconds from now */
};

static void drain_for(struct target *tg, void *ctx)
{
	uint64_t seen = tg->last_sample_ns ? tg->last_sample_ns : tg->added_ns;
	struct drain_ctx *d = ctx;
	double s = DRAIN_MIN_S;

	/* Not sampled for a second (nor added in it): nothing of it waits in the ring. */
	if (tg->exited || d->now_ns > seen + 1000000000ull)
		return;
	if (!(tg->mode & PYSPY_MODE_VERIFY) && d->now_ns > tg->added_ns)
		s = (d->now_ns - tg->added_ns) / 1e9 / 100;
	if (s < d->s)
		d->s = s < DRAIN_MIN_S ? DRAIN_MIN_S : s;
}

/*
 * Sleep until the next drain (above), housekeeping, or (a launched command
 * not yet Python) the next look at it, and at most timeout_ms.
 */
static int poll_timeout(struct sampler *r, int timeout_ms)
{
	struct drain_ctx d = { mono_ns(), DRAIN_MAX_S };
	double now = d.now_ns / 1e9, due = r->next_house;

	pthread_mutex_lock(&r->lock);
	targets__for_each(r->life.tg, drain_for, &d);
	if (r->life.launched && (watch__active(r->life.watch) || targets__alive(r->life.tg) == 0))
		d.s = DRAIN_MIN_S;
	pthread_mutex_unlock(&r->lock);
	if (now + d.s < due)
		due = now + d.s;

	if (due <= now)
		return 0;
	if ((due - now) * 1e3 < timeout_ms)
		return (int)((due - now) * 1e3) + 1;
	return timeout_ms;
}

bool sampler__poll(struct sampler *r, int timeout_ms)
{
	double now;
	bool done;

	if (session__poll(r->s, poll_timeout(r, timeout_ms)) < 0)
		return true;
	now = mono_s();
	if (async_waits(r) && now >= r->next_async) {
		double period = 1.0 / (r->o->rate_hz ? r->o->rate_hz : 99);
		double ticks = r->last_async ? (now - r->last_async) / period : 1;

		async_tick(r, ticks < 1			? 1
			      : ticks > ASYNC_TICKS_MAX ? ASYNC_TICKS_MAX
							: (unsigned)ticks);
		r->last_async = now;
		r->next_async = now + period;
	}
	if (now < r->next_house) {
		/* A launched command becomes Python soon after its exec: look often. */
		if (r->life.launched) {
			pthread_mutex_lock(&r->lock);
			watch__retry(r->life.watch, now);
			pthread_mutex_unlock(&r->lock);
		}
		return false;
	}
	r->next_house = now + HOUSEKEEP_S;
	pthread_mutex_lock(&r->lock);
	done = lifecycle__housekeep(&r->life, now);
	pthread_mutex_unlock(&r->lock);
	return done;
}

int sampler__add_sink(struct sampler *r, struct profile *view, const struct profile_filter *filter)
{
	int err = 0;

	pthread_mutex_lock(&r->lock);
	sampler__settle_locked(r);
	if (r->n_sinks < SAMPLER_MAX_SINKS)
		r->sinks[r->n_sinks++] =
			(struct sink){ view, filter, filter ? *filter : (struct profile_filter){} };
	else
		err = -ENOSPC;
	pthread_mutex_unlock(&r->lock);
	return err;
}

void sampler__remove_sink_locked(struct sampler *r, struct profile *view)
{
	sampler__settle_locked(r);
	for (int i = 0; i < r->n_sinks; i++) {
		if (r->sinks[i].view != view)
			continue;
		r->sinks[i] = r->sinks[--r->n_sinks];
		break;
	}
}

void sampler__remove_sink(struct sampler *r, struct profile *view)
{
	pthread_mutex_lock(&r->lock);
	sampler__remove_sink_locked(r, view);
	pthread_mutex_unlock(&r->lock);
}

static void hold_target(struct target *tg, void *ctx)
{
	code_cache__remap(tg->cache, ctx);
	if (tg->async)
		async_proc__remap(tg->async, ctx);
	if (tg->wait)
		async_wait__remap(tg->wait, ctx);
}

/* Everything that holds ids of the base profile (see profile__compact_begin). */
static void symbol_holders(struct sampler *r, struct profile_remap *m)
{
	for (int i = 0; i < r->n_sinks; i++)
		profile_remap__view(m, r->sinks[i].view);
	offcpu_table__remap(r->off, m);
	if (r->native)
		native_ctx__remap(r->native, m);
	targets__for_each(r->life.tg, hold_target, m);
}

int sampler__compact_symbols(struct sampler *r)
{
	struct profile_remap *m;
	int err;

	uint32_t before;

	pthread_mutex_lock(&r->lock);
	before = profile__n_functions(r->prof);
	m = profile__compact_begin(r->prof);
	if (m) {
		symbol_holders(r, m);
		profile_remap__rewrite(m);
		symbol_holders(r, m);
		profile_remap__end(m);
	}
	err = m ? 0 : -ENOMEM;
	log_debug("symbols rebuilt: %u functions, %u before", profile__n_functions(r->prof),
		  before);
	pthread_mutex_unlock(&r->lock);
	return err;
}

void sampler__set_base_sink(struct sampler *r, bool on)
{
	pthread_mutex_lock(&r->lock);
	r->base_sink = on;
	pthread_mutex_unlock(&r->lock);
}

void sampler__lock(struct sampler *r)
{
	pthread_mutex_lock(&r->lock);
}

void sampler__unlock(struct sampler *r)
{
	pthread_mutex_unlock(&r->lock);
}

void sampler__drain(struct sampler *r)
{
	/* Samples already in the ring buffer belong to the recording. */
	for (int i = 0; r->s && i < 8 && session__poll(r->s, 0) > 0; i++)
		;
	/* ...and so does the time threads still off the CPU have waited. */
	pthread_mutex_lock(&r->lock);
	sampler__settle_locked(r);
	pthread_mutex_unlock(&r->lock);
}

void sampler__counts(struct sampler *r, struct run_counts *rc)
{
	pthread_mutex_lock(&r->lock);
	refresh_counts(r);
	*rc = r->rc;
	pthread_mutex_unlock(&r->lock);
}

uint64_t sampler__bpf_run_time_ns(struct sampler *r)
{
	return session__run_time_ns(r->s);
}

int sampler__n_processes(const struct sampler *r)
{
	return r->life.tg ? targets__count(r->life.tg) : 0;
}

void sampler__stop(struct sampler *r)
{
	if (!r)
		return;
	if (r->life.launched)
		launch__stop(&r->life.launch);
	targets__free(r->life.tg);
	native_ctx__free(r->native); /* after the targets: they hold its objects */
	code_store__free(r->store);
	session__close(r->s);
	watch__free(r->life.watch);
	container_cache__free(r->life.cc);
	sample_stack__free(r->stack);
	HASH_CLEAR_FREE(hh, r->threads, free);
	pthread_mutex_destroy(&r->lock);
	offcpu_table__free(r->off);
	free(r);
}
