// SPDX-License-Identifier: MIT
/*
 * sampler.c - the engine behind every verb: targets in, symbolized
 * samples out into a profile.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "user/base/hash.h" /* before uthash.h: its HASH_FUNCTION */
#include <uthash.h>

#include "blocked.h"
#include "launch.h"
#include "offcpu.h"
#include "sandbox.h"
#include "sampler.h"
#include "session.h"
#include "targets.h"
#include "watch.h"
#include "symbolize/container.h"
#include "symbolize/cpython/discover.h"
#include "symbolize/cpython/discover_wait.h"
#include "symbolize/proc/procfs.h"
#include "user/base/clock.h"
#include "user/base/log.h"

/* How often exits and children are looked at. */
#define HOUSEKEEP_S 0.2
/* Launch mode: how many descendants are followed. */
#define MAX_DESCENDANTS 256

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
/* A stack's locations at most: Python frames, native ones, kernel ones, markers. */
#define SAMPLER_MAX_LOCS (PYSPY_MAX_FRAMES + SW_MAX_FRAMES + PYSPY_KSTACK_MAX + 2)

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
	sampler_filter_fn filter;
	void *ctx;
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
	struct targets *tg;
	struct code_store *store;   /* every target's code cache lives in it */
	struct container_cache *cc; /* which container each target runs in */
	struct launch launch;
	bool launched;
	struct watch *watch; /* processes that may become targets */
	uint32_t locs[SAMPLER_MAX_LOCS];
	uint32_t off_locs[SAMPLER_MAX_LOCS + 1]; /* reason + stack */
	/* --native / --kernel: the state, and a record's frames without entry bits. */
	struct native_ctx *native;
	struct pyspy_frame clean[PYSPY_MAX_FRAMES];
	uint8_t entry[PYSPY_MAX_FRAMES];
	uint64_t shim[PYSPY_MAX_FRAMES];
	uint32_t py_locs[PYSPY_MAX_FRAMES];
	struct async_split async_split; /* --async: a record's tasks */
	struct offcpu_table *off;
	struct thread_entry *threads;
	uint32_t n_threads;
	struct run_counts rc;
	double t0, next_house;
	double next_async, last_async; /* --async --mode wall: reads of suspended tasks */
};

static void on_event(struct sampler *r, const struct pyspy_sample *ev);

static void add_to_sinks(struct sampler *r, uint32_t pid, uint32_t tid, uint32_t flags,
			 const uint32_t *locs, uint32_t n, uint64_t weight)
{
	if (r->base_sink)
		profile__add(r->prof, pid, tid, flags, locs, n, weight);
	for (int i = 0; i < r->n_sinks; i++)
		if (!r->sinks[i].filter || r->sinks[i].filter(pid, tid, r->sinks[i].ctx))
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

void sampler__for_each_thread(struct sampler *r, void (*cb)(const struct thread_stat *t, void *ctx),
			      void *ctx)
{
	struct thread_entry *e;

	pthread_mutex_lock(&r->lock);
	for (e = r->threads; e; e = e->hh.next)
		cb(&e->st, ctx);
	pthread_mutex_unlock(&r->lock);
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
	const struct target *tg;
	uint64_t now;
	unsigned ticks; /* ticks since the last read, taken together */
};

static void charge_task_wait(const struct async_wait_sample *s, void *ctx)
{
	const struct async_tick_ctx *c = ctx;
	pid_t pid = c->tg->py.pid;

	add_to_sinks(c->r, pid, s->tid ? s->tid : (uint32_t)pid, 0, s->locs, s->n, s->ns);
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

	c->tg = tg;
	if (tg->exited || !async_proc__layout(tg->async))
		return;
	if (!tg->wait) {
		tg->wait = async_wait__new(&tg->py, tg->async, tg->cache, c->r->prof, c->now,
					   k * ASYNC_TICKS_MAX);
		if (!tg->wait)
			return;
	}
	async_wait__tick(tg->wait, c->now, k * c->ticks, charge_task_wait, c);
}

static void async_tick(struct sampler *r, unsigned ticks)
{
	struct async_tick_ctx c = { r, NULL, mono_ns(), ticks };

	pthread_mutex_lock(&r->lock);
	targets__for_each(r->tg, async_tick_one, &c);
	pthread_mutex_unlock(&r->lock);
}

static void async_settle_one(struct target *tg, void *ctx)
{
	struct async_tick_ctx *c = ctx;

	c->tg = tg;
	if (tg->wait && !tg->exited)
		async_wait__settle(tg->wait, c->now, charge_task_wait, c);
}

/*
 * A thread left the CPU at start_ns (known to us since known_ns): keep its
 * stack (locs, innermost first), under its reason, until it is back.
 */
static void offcpu_start(struct sampler *r, const struct target *tg, const struct pyspy_sample *smp,
			 uint32_t flags, const uint32_t *locs, uint32_t n, uint64_t start_ns,
			 uint64_t known_ns)
{
	const char *why = offcpu_reason(smp, tg->py.gil_addr, tg->py.layout.gil_size);

	if (log_verbose > 1)
		log_debug("PID %d TID %d: left the CPU (%s), %u frames", smp->pid, smp->tid, why,
			  n);
	r->off_locs[0] = profile__location(r->prof, profile__function(r->prof, why, "", 0), -1);
	memcpy(&r->off_locs[1], locs, n * sizeof(*locs));
	offcpu_table__start(r->off, smp->pid, smp->tid, flags, r->off_locs, n + 1, start_ns,
			    known_ns);
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
		if (log_verbose > 1 && targets__has(r->tg, ev->pid))
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
	struct async_tick_ctx c = { r, NULL, mono_ns(), 1 };

	if (r->off)
		offcpu_table__settle(r->off, c.now, charge_wait, r);
	if (async_waits(r) && r->tg)
		targets__for_each(r->tg, async_settle_one, &c);
}

struct blocked_ctx {
	struct sampler *r;
	const struct target *tg;
};

/* Before a thread is seen blocked: its next run ends its wait (and when that began). */
static void arm_blocked(pid_t tid, uint64_t *since, void *ctx)
{
	const struct blocked_ctx *c = ctx;

	session__offcpu_open(c->r->s, tid, since);
}

/*
 * A thread found blocked at registration: its wait is open from when it
 * began, as far as we know.  If it ran and left again since, the record
 * of that wait (queued behind us) replaces this one, and the end of a
 * wait that was over before we looked does not close it.
 */
static void open_blocked_one(const struct blocked_thread *b, void *ctx)
{
	const struct blocked_ctx *c = ctx;
	struct sampler *r = c->r;

	if (!profile__thread_name(r->prof, b->hdr->pid, b->hdr->tid)) {
		targets__name_thread(r->tg, b->hdr->pid, b->hdr->tid);
		r->rc.threads++;
	}
	offcpu_start(r, c->tg, b->hdr, b->flags, b->locs, b->n, b->since_ns, b->known_ns);
}

/* Threads already off the CPU are looked for in these modes (blocked.h). */
static bool wants_blocked(const struct sampler *r)
{
	return r->off && (r->o->mode == MODE_OFFCPU || r->o->mode == MODE_WALL);
}

/* CPU time of this thread, ms. */
static double thread_cpu_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/*
 * The second step of blocked.h's scan, once pid is registered; begin_ms:
 * the CPU the first step took (the cost `make bench` reads is the sum).
 */
static void open_blocked(struct sampler *r, pid_t pid, struct blocked_scan *bs, double begin_ms)
{
	struct target *tg = targets__find(r->tg, pid);
	struct blocked_ctx c = { r, tg };
	double t0 = thread_cpu_ms();
	int n;

	if (!tg || !bs)
		return;
	n = blocked__finish(bs, tg, mono_ns(),
			    &(const struct blocked_ops){ arm_blocked, open_blocked_one }, &c);
	if (n < 0)
		log_debug("PID %d: cannot list its blocked threads: %s", pid, strerror(-n));
	else
		log_debug("PID %d: %d threads off the CPU at registration (%.2f ms of CPU)", pid, n,
			  begin_ms + thread_cpu_ms() - t0);
}

/* Frames in the record: never more than arrived, whatever the header says. */
static uint32_t frames_in(const struct pyspy_sample *smp, size_t len)
{
	uint32_t n = smp->n_frames;

	if (n > (len - PYSPY_SAMPLE_HDR_SIZE) / sizeof(struct pyspy_frame))
		n = (len - PYSPY_SAMPLE_HDR_SIZE) / sizeof(struct pyspy_frame);
	if (n == 0 && log_verbose > 1 && (smp->flags & PYSPY_SAMPLE_OFFCPU))
		log_debug("PID %d TID %d: left the CPU with no Python frames (error %d)", smp->pid,
			  smp->tid, smp->error);
	return n < PYSPY_MAX_FRAMES ? n : PYSPY_MAX_FRAMES;
}

/*
 * Python frames, then native and kernel ones around them: the whole stack
 * of a --native / --kernel record in r->locs; *n becomes its length.
 */
static void symbolize_native(struct sampler *r, struct target *tg, const struct pyspy_sample *smp,
			     size_t len, uint32_t *n)
{
	struct native_py py = { r->py_locs, r->entry, r->shim, 0 };

	py.n = native_stack__split(smp->frames, *n, r->clean, r->entry, r->shim);
	r->rc.bad_frames += code_cache__resolve(tg->cache, r->clean, py.n, smp->ktime_ns,
						smp->flags & PYSPY_SAMPLE_VERIFIED, r->py_locs);
	*n = native_stack__build(tg->native, smp, len, &py, r->locs, SAMPLER_MAX_LOCS);
}

/*
 * --async: the running task's stack, under the tasks awaiting it, in
 * r->locs; *n becomes its length.
 */
static void symbolize_async(struct sampler *r, struct target *tg, const struct pyspy_sample *smp,
			    uint32_t *n)
{
	struct async_split *sp = &r->async_split;

	async_stack__split(tg->async, smp->frames, *n, r->clean, sp);
	r->rc.bad_frames += code_cache__resolve(tg->cache, r->clean, sp->n_py, smp->ktime_ns,
						smp->flags & PYSPY_SAMPLE_VERIFIED, r->py_locs);
	*n = async_stack__merge(tg->async, sp, r->py_locs, r->locs, SAMPLER_MAX_LOCS);
}

/*
 * The n frames as profile locations in r->locs (*n: how many, with native
 * frames), and what is known of the sample's process and thread; returns
 * the stack's PROFILE_STACK_* flags.
 */
static uint32_t symbolize(struct sampler *r, struct target *tg, const struct pyspy_sample *smp,
			  size_t len, uint32_t *n)
{
	if (tg->native && (smp->flags & PYSPY_SAMPLE_NATIVE))
		symbolize_native(r, tg, smp, len, n);
	else if (tg->async && async_stack__has_tasks(smp->frames, *n))
		symbolize_async(r, tg, smp, n);
	else
		r->rc.bad_frames +=
			code_cache__resolve(tg->cache, smp->frames, *n, smp->ktime_ns,
					    smp->flags & PYSPY_SAMPLE_VERIFIED, r->locs);
	tg->last_sample_ns = smp->ktime_ns;
	targets__update_mode(r->tg, tg);
	if (!profile__thread_name(r->prof, smp->pid, smp->tid)) {
		targets__name_thread(r->tg, smp->pid, smp->tid);
		r->rc.threads++;
	}
	/* Before the sinks: their filters may ask for the process's container. */
	container_cache__sample(r->cc, r->prof, smp->pid, smp->cgroup_id);
	if (smp->flags & PYSPY_SAMPLE_TRUNCATED)
		return PROFILE_STACK_TRUNCATED;
	return smp->error ? PROFILE_STACK_PARTIAL : 0;
}

/* A thread left the CPU: in wall mode its run up to here is charged; its wait opens. */
static void left_cpu(struct sampler *r, struct target *tg, const struct pyspy_sample *smp,
		     uint32_t flags, uint32_t n)
{
	struct thread_entry *e;

	if (wall_exact(r)) {
		e = thread_of(r, smp->pid, smp->tid);
		if (e && e->ran_from_ns)
			add_to_sinks(r, smp->pid, smp->tid, flags, r->locs, n,
				     wall_run_weight(r, e, smp->ktime_ns));
		if (e)
			e->ran_from_ns = 0;
	}
	offcpu_start(r, tg, smp, flags, r->locs, n, smp->ktime_ns, smp->ktime_ns);
}

/* A tick (or a page fault) on the CPU: its weight in this mode, to every sink. */
static void on_cpu(struct sampler *r, struct target *tg, const struct pyspy_sample *smp,
		   uint32_t flags, uint32_t n)
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
	add_to_sinks(r, smp->pid, smp->tid, flags, r->locs, n, weight);
	/* Start-up, as make bench measures it: when the first sample was taken. */
	if (!r->rc.samples)
		log_debug("first sample taken at %.6f s (CLOCK_MONOTONIC), handled %.1f ms later",
			  smp->ktime_ns / 1e9, (mono_ns() - smp->ktime_ns) / 1e6);
	r->rc.samples++;
	r->rc.reads += smp->reads;
	r->rc.frames += n;
	tg->samples++;
}

/* The sample path: one ring-buffer record into the profile. */
static int handle_sample(struct sampler *r, const struct pyspy_sample *smp, size_t len)
{
	struct target *tg;
	uint32_t n, flags;

	if (smp->flags & (PYSPY_EVENT_NEW_PROCESS | PYSPY_EVENT_EXEC)) {
		on_event(r, smp);
		return 0;
	}
	if (smp->flags & PYSPY_EVENT_OFFCPU_END)
		return offcpu_end(r, smp);
	tg = targets__find(r->tg, smp->pid);
	if (!tg || tg->exited) {
		r->rc.user_dropped++;
		return 0;
	}
	n = frames_in(smp, len);
	if (!n)
		return 0;
	flags = symbolize(r, tg, smp, len, &n);
	if (smp->flags & PYSPY_SAMPLE_OFFCPU)
		left_cpu(r, tg, smp, flags, n);
	else
		on_cpu(r, tg, smp, flags, n);
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

/*
 * --async and a Python before 3.14: one line, and -ENOTSUP (a warning
 * with --all, where no process was asked for by name).
 */
static int async_refuses(const struct options *o, const struct py_target *py)
{
	char ver[32];

	if (!o->async || (py->version_hex >> 16) >= 0x030e)
		return 0;
	py_version_str(py->version_hex, false, ver, sizeof(ver));
	if (o->all)
		log_warn("skipping PID %d: --async needs CPython 3.14 or newer; it runs %s",
			 py->pid, ver);
	else
		log_error("--async needs CPython 3.14 or newer; PID %d runs %s", py->pid, ver);
	return -ENOTSUP;
}

static int add_target(void *ctx, const struct py_target *py)
{
	struct sampler *r = ctx;
	int err = async_refuses(r->o, py);
	struct blocked_scan *bs = NULL;
	double begin_ms = thread_cpu_ms();
	char ver[32];

	if (err)
		return err;
	/* Its threads already off the CPU, seen before it is sampled (blocked.h). */
	if (wants_blocked(r) && !targets__has(r->tg, py->pid))
		bs = blocked__begin(py->pid);
	begin_ms = thread_cpu_ms() - begin_ms;
	err = targets__add(r->tg, py);
	if (err && err != -EEXIST) {
		log_error("PID %d: cannot start sampling: %s", py->pid, strerror(-err));
		blocked__free(bs);
		return err;
	}
	py_version_str(py->version_hex, false, ver, sizeof(ver));
	/* When, on the clock a target can read too (how soon a late starter is picked up). */
	log_debug("sampling PID %d (%s), Python %s, _PyRuntime at 0x%llx, from %.3f s (CLOCK_MONOTONIC)",
		  py->pid, py->comm, ver, (unsigned long long)py->runtime_addr, mono_s());
	if (!err) {
		container_cache__add_process(r->cc, r->prof, py->pid, py->nspid);
		open_blocked(r, py->pid, bs, begin_ms);
	}
	blocked__free(bs);
	return 0;
}

/* Events from the BPF side: processes to look at. */
static void on_event(struct sampler *r, const struct pyspy_sample *ev)
{
	double now = mono_s();

	if (ev->flags & PYSPY_EVENT_EXEC) {
		struct target *tg = targets__find(r->tg, ev->pid);

		/*
		 * Records wait in the ring while a launched command execs its
		 * way to Python and is found: an exec from before we looked is
		 * already in what we found, and dropping it would lose the
		 * samples and waits (a first sleep) of a re-registration.
		 */
		if (tg && ev->ktime_ns < tg->py.looked_ns) {
			log_debug("PID %u called exec before it was found: nothing to redo",
				  ev->pid);
			return;
		}
		log_debug("PID %u called exec", ev->pid);
		targets__drop(r->tg, ev->pid, "it called exec");
		watch__consider(r->watch, ev->pid, now, true);
	} else if (targets__has(r->tg, ev->pid)) {
		/* Its entry was evicted or the leader thread exited: put it back. */
		targets__refresh(r->tg, ev->pid);
	} else {
		watch__consider(r->watch, ev->pid, now, true);
	}
}

static void follow_launch(struct sampler *r, double now)
{
	pid_t kids[MAX_DESCENDANTS];
	int n;

	if (launch__poll(&r->launch))
		return;
	watch__consider(r->watch, r->launch.pid, now, false);
	n = launch__descendants(r->launch.pid, kids, MAX_DESCENDANTS);
	for (int i = 0; i < n; i++)
		watch__consider(r->watch, kids[i], now, false);
}

static void add_ambiguous(struct target *tg, void *ctx)
{
	*(uint64_t *)ctx += code_cache__stats(tg->cache)->ambiguous;
}

static void add_async(struct target *tg, void *ctx)
{
	struct run_counts *rc = ctx;

	if (tg->async) {
		const struct async_stats *s = async_proc__stats(tg->async);

		rc->async_samples += s->samples;
		rc->async_names_lost += s->names_lost;
		rc->async_await_cycles += s->cycles;
	}
	if (tg->wait) {
		const struct async_wait_stats *w = async_wait__stats(tg->wait);

		rc->async_read += w->read;
		rc->async_deferred += w->deferred;
		rc->async_list_errors += w->list_errors;
		rc->async_cycles += w->cycles;
		rc->async_tasks += w->tasks;
	}
}

static void refresh_counts(struct sampler *r)
{
	r->rc.ambiguous = targets__retired_ambiguous(r->tg);
	targets__for_each(r->tg, add_ambiguous, &r->rc.ambiguous);
	session__counters(r->s, r->rc.bpf_err, r->rc.bpf_stat);
	r->rc.elapsed_s = mono_s() - r->t0;
	r->rc.processes = targets__count(r->tg);
	r->rc.refused = watch__refused(r->watch);
	if (r->o->async) {
		r->rc.async = true;
		r->rc.async_samples = r->rc.async_names_lost = r->rc.async_await_cycles = 0;
		r->rc.async_read = r->rc.async_deferred = r->rc.async_list_errors = 0;
		r->rc.async_cycles = r->rc.async_tasks = 0;
		targets__for_each(r->tg, add_async, &r->rc);
	}
	if (r->native && r->o->native) {
		r->rc.native = true;
		r->rc.native_st = *native_ctx__stats(r->native);
	}
	if (r->store) {
		struct code_store_stats cs;

		code_store__stats(r->store, &cs);
		r->rc.code_bytes = cs.bytes;
		r->rc.code_evicted = cs.evicted;
		r->rc.code_refused = cs.refused;
	}
}

/* True when there is nothing left to sample. */
static bool housekeep(struct sampler *r, double now)
{
	targets__reap(r->tg);
	watch__retry(r->watch, now);
	if (r->o->all)
		return false;
	if (r->launched) {
		follow_launch(r, now);
		if (launch__poll(&r->launch))
			return true;
	} else if (targets__alive(r->tg) == 0 && !watch__active(r->watch)) {
		log_debug("every target exited");
		return true;
	}
	return false;
}

static int discover_pids(const struct options *o, struct py_target *pys)
{
	for (int i = 0; i < o->n_pids; i++) {
		int err = py_target__discover_wait(o->pids[i], o->init_wait_s, &pys[i]);

		if (err)
			return err;
	}
	return 0;
}

/* --async on a --pid older than 3.14: one clear line, and no recording. */
static int async_versions(const struct options *o, const struct py_target *pys)
{
	for (int i = 0; i < o->n_pids; i++)
		if (async_refuses(o, &pys[i]))
			return -ENOTSUP;
	return 0;
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
	err = discover_pids(o, pys);
	if (!err && o->async)
		err = async_versions(o, pys);
	if (err)
		goto out;
	r->s = session__open(&so, on_sample, r);
	err = r->s ? 0 : -errno;
	if (err)
		goto out;
	r->tg = targets__new(r->s, r->prof, r->store, o->frames_one_by_one);
	if (r->tg && (so.native || so.kernel)) {
		/* Before the sandbox: /proc/kallsyms shows addresses to CAP_SYSLOG. */
		r->native = native_ctx__new(r->prof, so.native, o->native_all, so.kernel);
		if (!r->native) {
			err = -ENOMEM;
			goto out;
		}
		targets__set_native(r->tg, r->native);
	}
	if (r->tg && o->async)
		targets__set_async(r->tg);
	r->watch = r->tg ? watch__new(r->tg, o->all, o->init_wait_s, add_target, r) : NULL;
	err = r->watch ? 0 : -ENOMEM;
	/* bpf_enable_stats needs CAP_SYS_ADMIN: before the sandbox too. */
	if (!err && o->measure_bpf && session__measure_run_time(r->s))
		log_warn("cannot measure the BPF side's run time (/metrics shows 0)");
	/* Forked now (it waits for its release), so that it is not confined. */
	if (!err && o->cmd) {
		err = launch__start(o->cmd, &r->launch);
		r->launched = !err;
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
		err = add_target(r, &pys[i]);
	if (!err && r->launched) {
		/*
		 * Known before its exec: the waits of its start-up are timed
		 * from the start, and its exec is reported at once.
		 */
		if (so.offcpu)
			targets__watch(r->tg, r->launch.pid);
		launch__release(&r->launch);
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
	r->cc = container_cache__new(NULL, NULL, NULL);
	r->store = code_store__new(o->cache_per_target, o->cache_total);
	if (o->symbol_bytes)
		profile__set_symbol_budget(prof, o->symbol_bytes);
	err = r->cc && r->store ? start(r) : -ENOMEM;
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
	targets__for_each(r->tg, drain_for, &d);
	if (r->launched && (watch__active(r->watch) || targets__alive(r->tg) == 0))
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
		if (r->launched) {
			pthread_mutex_lock(&r->lock);
			watch__retry(r->watch, now);
			pthread_mutex_unlock(&r->lock);
		}
		return false;
	}
	r->next_house = now + HOUSEKEEP_S;
	pthread_mutex_lock(&r->lock);
	done = housekeep(r, now);
	pthread_mutex_unlock(&r->lock);
	return done;
}

int sampler__add_sink(struct sampler *r, struct profile *view, sampler_filter_fn filter, void *ctx)
{
	int err = 0;

	pthread_mutex_lock(&r->lock);
	sampler__settle_locked(r);
	if (r->n_sinks < SAMPLER_MAX_SINKS)
		r->sinks[r->n_sinks++] = (struct sink){ view, filter, ctx };
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

/* Everything that holds ids of the base profile (see profile__compact). */
static void symbol_holders(struct profile_remap *m, void *ctx)
{
	struct sampler *r = ctx;

	for (int i = 0; i < r->n_sinks; i++)
		profile_remap__view(m, r->sinks[i].view);
	offcpu_table__remap(r->off, m);
	if (r->native)
		native_ctx__remap(r->native, m);
	targets__for_each(r->tg, hold_target, m);
}

int sampler__compact_symbols(struct sampler *r)
{
	int err;

	uint32_t before;

	pthread_mutex_lock(&r->lock);
	before = profile__n_functions(r->prof);
	err = profile__compact(r->prof, symbol_holders, r);
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
	return r->tg ? targets__count(r->tg) : 0;
}

void sampler__stop(struct sampler *r)
{
	if (!r)
		return;
	if (r->launched)
		launch__stop(&r->launch);
	targets__free(r->tg);
	native_ctx__free(r->native); /* after the targets: they hold its objects */
	code_store__free(r->store);
	session__close(r->s);
	watch__free(r->watch);
	container_cache__free(r->cc);
	HASH_CLEAR_FREE(hh, r->threads, free);
	pthread_mutex_destroy(&r->lock);
	offcpu_table__free(r->off);
	free(r);
}
