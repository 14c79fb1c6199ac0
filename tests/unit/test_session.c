// SPDX-License-Identifier: MIT
/*
 * test_session.c - the BPF side's lifecycle as userspace sees it
 * (user/engine/session.h): the real object loaded and attached, as root,
 * to live interpreters of the behaviour list (tests/interpreters.txt),
 * each running tests/workloads/engine_target.py, which prints its own
 * stack.
 *
 *   - off the CPU (sched_switch): a process in `procs` that blocks sends
 *     its stack, the system call it blocked in and, when it runs again,
 *     the end of its wait; a wait opened from userspace
 *     (session__offcpu_open) is kept as first opened and ended by the
 *     thread's next switch in; an exec is reported and forgets the
 *     process;
 *   - on the CPU (cpu-clock, --all): every sample of a spinning target is
 *     its thread's, whole, its frames the ones the interpreter prints; a
 *     process taken out of `procs` is no longer sampled, but reported
 *     once as new; one marked ignored is neither; one put back is
 *     sampled again; the counters and the run time move; closing the
 *     session unloads the program;
 *   - a session that cannot start says why in one line, and fails.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>

#include "logcap.h"
#include "pychild.h"
#include "unit.h"
#include "symbolize/codecache.h"
#include "symbolize/codestore.h"
#include "symbolize/cpython/discover.h"
#include "symbolize/proc/procfs.h"
#include "user/base/clock.h"
#include "user/engine/session.h"

#define WORKLOAD "tests/workloads/engine_target.py"
#define MAX_KIDS 4
#define MAX_RECS 8192
/* A wait for something the kernel will do: only a hang trips it. */
#define EVENTUALLY_MS 20000

struct rec {
	struct pyspy_event h;
	size_t len;
	struct pyspy_frame f[PYCHILD_FRAMES];
};

/* Records of the processes a test watches, in ring order; the rest counted. */
struct collect {
	pid_t want[MAX_KIDS + 1];
	int n_want;
	struct rec *r;
	unsigned n;
	uint64_t handled, others;
};

static int collect(const struct pyspy_sample *smp, size_t len, void *ctx)
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
	for (uint32_t i = 0; i < smp->n_frames && i < PYCHILD_FRAMES &&
			     PYSPY_SAMPLE_HDR_SIZE + (i + 1) * sizeof(struct pyspy_frame) <= len;
	     i++)
		r->f[i] = smp->frames[i];
	return 0;
}

struct kid {
	const struct interp *it;
	struct pychild p;
	struct py_target py;
	struct code_cache *cache;
};

static bool is_sample(const struct rec *r)
{
	return !(r->h.flags &
		 (PYSPY_EVENT_NEW_PROCESS | PYSPY_EVENT_EXEC | PYSPY_EVENT_OFFCPU_END));
}

/* Records of pid from index from on with all of flags and none of not. */
static unsigned count(const struct collect *c, unsigned from, pid_t pid, uint16_t flags,
		      uint16_t not )
{
	unsigned n = 0;

	for (unsigned i = from; i < c->n; i++)
		n += (pid_t)c->r[i].h.pid == pid && (c->r[i].h.flags & flags) == flags &&
		     !(c->r[i].h.flags & not );
	return n;
}

static unsigned samples(const struct collect *c, unsigned from, pid_t pid)
{
	unsigned n = 0;

	for (unsigned i = from; i < c->n; i++)
		n += (pid_t)c->r[i].h.pid == pid && is_sample(&c->r[i]) &&
		     !(c->r[i].h.flags & PYSPY_SAMPLE_OFFCPU);
	return n;
}

/* Poll until done(ctx) or EVENTUALLY_MS; every poll's count must be what it handed over. */
static bool poll_until(struct session *s, struct collect *c, bool (*done)(void *ctx), void *ctx)
{
	uint64_t end = mono_ns() + EVENTUALLY_MS * 1000000ull;
	uint64_t before = c->handled, counted = 0;
	bool ok;

	while (!(ok = done(ctx)) && mono_ns() < end) {
		int n = session__poll(s, 50);

		CHECK(n >= 0, "poll: %d", n);
		if (n < 0)
			break;
		counted += (uint64_t)n;
	}
	CHECK(counted == c->handled - before, "polls said %" PRIu64 " records, %" PRIu64 " came",
	      counted, c->handled - before);
	return ok;
}

/* Poll for ms whatever comes (records already on their way are taken). */
static void poll_for(struct session *s, int ms)
{
	uint64_t end = mono_ns() + (uint64_t)ms * 1000000;

	while (mono_ns() < end)
		session__poll(s, 20);
}

/* What targets.c writes, reduced to the layout and a mode. */
static void proc_of(const struct py_target *py, uint8_t mode, struct pyspy_proc *p)
{
	py_layout__to_bpf(&py->layout, py->runtime_addr, py->version_hex, p);
	p->mode = mode;
	p->state = PYSPY_PROC_PYTHON;
}

static struct profile *prof;
static struct code_store *store;

static void check_record_frames(struct kid *k, const struct rec *r, const char *what)
{
	uint32_t locs[PYCHILD_FRAMES];
	char why[512] = "";
	uint32_t n = r->h.n_frames < PYCHILD_FRAMES ? r->h.n_frames : PYCHILD_FRAMES;

	code_cache__resolve(k->cache, r->f, n, r->h.ktime_ns, r->h.flags & PYSPY_SAMPLE_VERIFIED,
			    locs);
	CHECK(pystack_is(prof, locs, r->h.n_frames, k->p.f, k->p.n, why, sizeof(why)), "%s: %s: %s",
	      k->it->id, what, why);
}

/* The first record of pid from index from on with all of flags and none of not; -1 if none. */
static int find(const struct collect *c, unsigned from, pid_t pid, uint16_t flags, uint16_t not )
{
	for (unsigned i = from; i < c->n; i++)
		if ((pid_t)c->r[i].h.pid == pid && (c->r[i].h.flags & flags) == flags &&
		    !(c->r[i].h.flags & not ))
			return (int)i;
	return -1;
}

struct want_rec {
	const struct collect *c;
	unsigned from;
	pid_t pid;
	uint16_t flags, not ;
	unsigned n;    /* at least this many */
	pid_t blocked; /* and, if not 0, this process sits off the CPU */
};

static bool got(void *ctx)
{
	const struct want_rec *w = ctx;
	struct procfs_stat st;

	if (count(w->c, w->from, w->pid, w->flags, w->not ) < w->n)
		return false;
	return !w->blocked || (!procfs_stat(w->blocked, 0, &st) && st.state == 'S');
}

/* Until pid sits off the CPU (a settle after, for a switch under way to be sent). */
static void until_blocked(struct session *s, pid_t pid)
{
	struct procfs_stat st;
	uint64_t end = mono_ns() + EVENTUALLY_MS * 1000000ull;

	while (mono_ns() < end && (procfs_stat(pid, 0, &st) || st.state != 'S'))
		session__poll(s, 10);
	poll_for(s, 100);
}

/* Wake k: it runs, prints its stack, parks again. */
static void wake(struct kid *k)
{
	CHECK(!pychild_say(&k->p, "wake") && !pychild_until(&k->p, "ready"), "%s: wake", k->it->id);
}

/*
 * A registered target that blocks sends its stack and the system call it
 * blocked in (read, from stdin: fd 0); when it runs again, its wait ends
 * from when it began.
 */
static void check_blocks(struct session *s, struct collect *c, struct kid *k)
{
	struct want_rec w = { c, c->n,	   k->py.pid, PYSPY_SAMPLE_OFFCPU, PYSPY_SAMPLE_PREEMPTED,
			      1, k->py.pid };
	const struct rec *r = NULL, *end;
	int i;

	wake(k);
	CHECK(poll_until(s, c, got, &w), "%s: no switch out", k->it->id);
	/* The latest is the one it sits in now. */
	for (unsigned j = w.from; j < c->n; j++)
		if ((pid_t)c->r[j].h.pid == k->py.pid &&
		    (c->r[j].h.flags & (PYSPY_SAMPLE_OFFCPU | PYSPY_SAMPLE_PREEMPTED)) ==
			    PYSPY_SAMPLE_OFFCPU)
			r = &c->r[j];
	if (!r)
		return;
	CHECK((pid_t)r->h.tid == k->p.tid && r->h.syscall == 0 && r->h.arg == 0 && !r->h.error &&
		      (r->h.flags & PYSPY_SAMPLE_VERIFIED),
	      "%s: tid %u (the target says %d), syscall %d (%" PRIu64 "), error %u, flags %#x",
	      k->it->id, r->h.tid, k->p.tid, r->h.syscall, (uint64_t)r->h.arg, r->h.error,
	      r->h.flags);
	check_record_frames(k, r, "blocked in read");

	w = (struct want_rec){ c, c->n, k->py.pid, PYSPY_EVENT_OFFCPU_END, 0, 1, 0 };
	wake(k);
	CHECK(poll_until(s, c, got, &w), "%s: no end of its wait", k->it->id);
	i = find(c, w.from, k->py.pid, PYSPY_EVENT_OFFCPU_END, 0);
	if (i < 0)
		return;
	end = &c->r[i];
	CHECK((pid_t)end->h.tid == k->p.tid && end->h.arg > 0 &&
		      end->h.ktime_ns - end->h.arg >= r->h.ktime_ns && end->len == sizeof(end->h),
	      "%s: the wait of tid %u ended at %" PRIu64 " after %" PRIu64 " ns; it blocked at "
	      "%" PRIu64,
	      k->it->id, end->h.tid, (uint64_t)end->h.ktime_ns, (uint64_t)end->h.arg,
	      (uint64_t)r->h.ktime_ns);
	until_blocked(s, k->py.pid);
}

/* A wait opened from userspace stays as first opened; the thread's next switch in ends it. */
static void check_offcpu_open(struct session *s, struct collect *c)
{
	char *argv[] = { "/bin/sleep", "1000", NULL };
	struct want_rec w = { c, 0, 0, PYSPY_EVENT_OFFCPU_END, 0, 1, 0 };
	uint64_t t = 12345, t2 = 99999;
	struct procfs_stat st = { 0 };
	struct child sl;
	int i, status;

	if (child_spawn(argv, false, &sl)) {
		CHECK(0, "cannot start sleep");
		return;
	}
	c->want[c->n_want++] = sl.pid;
	for (int k = 0; k < 2000 && (procfs_stat(sl.pid, 0, &st) || strcmp(st.comm, "sleep") ||
				     st.state != 'S');
	     k++)
		usleep(10000);
	CHECK(st.state == 'S', "sleep does not sleep");
	CHECK(session__offcpu_open(s, sl.pid, &t) == 0 && t == 12345, "%" PRIu64, t);
	CHECK(session__offcpu_open(s, sl.pid, &t2) == 0 && t2 == 12345,
	      "opened again: %" PRIu64 ", the first open was at 12345", t2);
	w.from = c->n;
	w.pid = sl.pid;
	kill(sl.pid, SIGKILL);
	waitpid(sl.pid, &status, 0);
	close(sl.in);
	close(sl.out);
	CHECK(poll_until(s, c, got, &w), "no end of the wait opened");
	i = find(c, w.from, sl.pid, PYSPY_EVENT_OFFCPU_END, 0);
	CHECK(i >= 0 && (pid_t)c->r[i].h.tid == sl.pid &&
		      c->r[i].h.ktime_ns - c->r[i].h.arg == 12345,
	      "the wait ended %" PRIu64 " ns after %" PRIu64, i >= 0 ? (uint64_t)c->r[i].h.arg : 0,
	      i >= 0 ? (uint64_t)(c->r[i].h.ktime_ns - c->r[i].h.arg) : 0);
	c->n_want--;
}

/* Discover k (again, after an exec): its layout and a code cache for its frames. */
static int find_kid(struct kid *k)
{
	int err = py_target__discover(k->p.c.pid, &k->py);

	CHECK(!err && k->py.pid == k->p.pid, "%s: discover: %s", k->it->id,
	      py_target__strerror(err));
	code_cache__free(k->cache);
	k->cache =
		err ? NULL
		    : code_cache__new(k->py.pid, &k->py.layout, k->py.code_type_addr, prof, store);
	return k->cache ? 0 : -1;
}

/* An exec is reported, and the process forgotten: it blocks unsampled. */
static void check_exec(struct session *s, struct collect *c, struct kid *k)
{
	struct want_rec w = { c, c->n, k->py.pid, PYSPY_EVENT_EXEC, 0, 1, 0 };
	unsigned from;
	int i;

	CHECK(!pychild_say(&k->p, "exec") && !pychild_until(&k->p, "ready"), "%s: exec", k->it->id);
	CHECK(poll_until(s, c, got, &w), "%s: no exec reported", k->it->id);
	i = find(c, w.from, k->py.pid, PYSPY_EVENT_EXEC, 0);
	CHECK(i >= 0 && (pid_t)c->r[i].h.tid == k->py.pid && !c->r[i].h.n_frames &&
		      c->r[i].len == sizeof(c->r[i].h),
	      "%s: exec record", k->it->id);
	find_kid(k);
	from = c->n;
	wake(k);
	until_blocked(s, k->py.pid);
	CHECK(count(c, from, k->py.pid, PYSPY_SAMPLE_OFFCPU, 0) == 0, "%s: sampled after its exec",
	      k->it->id);
}

static struct rec *recs;

static void test_offcpu(struct kid *kids, int n)
{
	struct collect c = { .r = recs };
	struct session *s;
	struct pyspy_proc p;

	for (int i = 0; i < n; i++)
		c.want[c.n_want++] = kids[i].py.pid;
	s = session__open(&(const struct session_opts){ .offcpu = true }, collect, &c);
	CHECK(s, "offcpu session: %s", strerror(errno));
	if (!s)
		return;
	CHECK(session__switch_prog_fd(s) >= 0);
	for (int i = 0; i < n; i++) {
		proc_of(&kids[i].py, PYSPY_MODE_VERIFY, &p);
		CHECK(session__add_proc(s, kids[i].py.pid, &p) == 0, "%s", kids[i].it->id);
	}
	for (int i = 0; i < n; i++)
		check_blocks(s, &c, &kids[i]);
	check_offcpu_open(s, &c);
	if (n)
		check_exec(s, &c, &kids[0]);
	printf("  off the CPU: %u records of the targets, %" PRIu64 " others\n", c.n, c.others);
	session__close(s);
}

struct want_samples {
	const struct collect *c;
	unsigned from;
	struct kid *kids;
	int n;
	unsigned each;
};

static bool each_sampled(void *ctx)
{
	const struct want_samples *w = ctx;

	for (int i = 0; i < w->n; i++)
		if (samples(w->c, w->from, w->kids[i].py.pid) < w->each)
			return false;
	return true;
}

/* Every sample of k from index from on: its spinning thread, whole, as it says. */
static void check_samples(const struct collect *c, unsigned from, struct kid *k)
{
	unsigned n = 0, bad = 0;

	for (unsigned i = from; i < c->n; i++) {
		const struct rec *r = &c->r[i];

		if ((pid_t)r->h.pid != k->py.pid || !is_sample(r))
			continue;
		n++;
		bad += (pid_t)r->h.tid != k->p.tid || r->h.error ||
		       !(r->h.flags & PYSPY_SAMPLE_VERIFIED) ||
		       (r->h.flags & PYSPY_SAMPLE_OFFCPU) ||
		       r->len != PYSPY_SAMPLE_HDR_SIZE + r->h.n_frames * sizeof(struct pyspy_frame);
		if (n <= 3)
			check_record_frames(k, r, "spinning");
	}
	CHECK(n && !bad, "%s: %u of %u samples not the spinning thread's, whole", k->it->id, bad,
	      n);
}

/* Closing the session unloads the sampler program (the kernel frees it by its id). */
static void check_close(struct session *s)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);
	uint64_t end;
	int fd = -1;

	CHECK(!bpf_obj_get_info_by_fd(session__prog_fd(s), &info, &len) && info.id, "program info");
	session__close(s);
	end = mono_ns() + EVENTUALLY_MS * 1000000ull;
	do {
		if (fd >= 0)
			close(fd);
		fd = bpf_prog_get_fd_by_id(info.id);
		if (fd >= 0)
			usleep(10000);
	} while (fd >= 0 && mono_ns() < end);
	CHECK(fd < 0 && errno == ENOENT, "program %u still loaded after the session closed",
	      info.id);
	if (fd >= 0)
		close(fd);
}

static void test_cpu(struct kid *kids, int n)
{
	struct collect c = { .r = recs };
	struct want_samples ws = { &c, 0, kids, n, 3 };
	uint64_t err[PYSPY_ERR__COUNT], st[PYSPY_STAT__COUNT], t = 1;
	struct session *s;
	struct pyspy_proc p;
	unsigned m0, m;

	for (int i = 0; i < n; i++)
		c.want[c.n_want++] = kids[i].py.pid;
	s = session__open(&(const struct session_opts){ .rate_hz = 99, .discover_all = true },
			  collect, &c);
	CHECK(s, "cpu session: %s", strerror(errno));
	if (!s)
		return;
	CHECK(session__measure_run_time(s) == 0);
	CHECK(session__switch_prog_fd(s) < 0 && session__prog_fd(s) >= 0);
	CHECK(n && session__offcpu_open(s, kids[0].py.pid, &t) == -ENOTSUP, "without off-CPU");
	for (int i = 0; i < n; i++) {
		proc_of(&kids[i].py, PYSPY_MODE_VERIFY, &p);
		CHECK(session__add_proc(s, kids[i].py.pid, &p) == 0, "%s", kids[i].it->id);
		CHECK(!pychild_say(&kids[i].p, "spin") && !pychild_until(&kids[i].p, "spinning"),
		      "%s: spin", kids[i].it->id);
	}
	CHECK(poll_until(s, &c, each_sampled, &ws), "not every target sampled");
	for (int i = 0; i < n; i++) {
		check_samples(&c, 0, &kids[i]);
		CHECK(!count(&c, 0, kids[i].py.pid, PYSPY_EVENT_NEW_PROCESS, 0),
		      "%s: a target reported as new", kids[i].it->id);
	}
	session__counters(s, err, st);
	CHECK(st[PYSPY_STAT_TSTATE_SCAN] >= (uint64_t)n, "%" PRIu64 " thread list walks",
	      st[PYSPY_STAT_TSTATE_SCAN]);
	CHECK(session__run_time_ns(s) > 0, "no run time measured");

	/* Out of procs: no sample; under --all, reported once as new.  Ignored: neither. */
	m0 = c.n;
	if (n == 3) {
		CHECK(session__remove_proc(s, kids[0].py.pid) == 0);
		CHECK(session__remove_proc(s, kids[0].py.pid) == 0, "removed twice");
		CHECK(session__set_state(s, kids[1].py.pid, PYSPY_PROC_IGNORE) == 0);
		poll_for(s, 200);
		m = c.n;
		ws = (struct want_samples){ &c, m, kids + 2, 1, 3 };
		CHECK(poll_until(s, &c, each_sampled, &ws), "%s: no longer sampled",
		      kids[2].it->id);
		CHECK(!samples(&c, m, kids[0].py.pid) && !samples(&c, m, kids[1].py.pid),
		      "sampled out of procs: %u, ignored: %u", samples(&c, m, kids[0].py.pid),
		      samples(&c, m, kids[1].py.pid));
		CHECK(count(&c, m0, kids[0].py.pid, PYSPY_EVENT_NEW_PROCESS, 0) == 1 &&
			      !count(&c, m0, kids[1].py.pid, PYSPY_EVENT_NEW_PROCESS, 0),
		      "reported as new: %u once out of procs, %u ignored",
		      count(&c, m0, kids[0].py.pid, PYSPY_EVENT_NEW_PROCESS, 0),
		      count(&c, m0, kids[1].py.pid, PYSPY_EVENT_NEW_PROCESS, 0));
		/* Put back: sampled again. */
		proc_of(&kids[1].py, PYSPY_MODE_VERIFY, &p);
		CHECK(session__add_proc(s, kids[1].py.pid, &p) == 0);
		ws = (struct want_samples){ &c, c.n, kids + 1, 1, 2 };
		CHECK(poll_until(s, &c, each_sampled, &ws), "%s: not sampled again",
		      kids[1].it->id);
	}
	printf("  on the CPU: %u records of the targets, %" PRIu64 " others\n", c.n, c.others);
	check_close(s);
}

/* A session that cannot start: NULL, errno, and one line that says why. */
static void test_errors(void)
{
	struct collect c = { .r = recs };
	char buf[64] = "";
	unsigned long max = 0;
	struct logcap l;
	struct session *s;
	int err, lines;

	/* A rate the kernel refuses: the first CPU fails, and that is said once. */
	procfs_read("/proc/sys/kernel/perf_event_max_sample_rate", buf, sizeof(buf));
	max = strtoul(buf, NULL, 10);
	CHECK(max > 0, "perf_event_max_sample_rate: %s", buf);
	logcap_begin(&l);
	errno = 0;
	s = session__open(&(const struct session_opts){ .rate_hz = (unsigned)max + 1 }, collect,
			  &c);
	err = errno;
	lines = logcap_end(&l, "perf event");
	CHECK(!s && err == EINVAL && lines == 1 && logcap_lines(&l) == 1,
	      "a rate of %lu Hz: errno %d, %d lines", max + 1, err, logcap_lines(&l));
	session__close(s);

	/* Maps the kernel will not make (more than 2^31 entries): the load fails, said once. */
	logcap_begin(&l);
	errno = 0;
	s = session__open(
		&(const struct session_opts){ .rate_hz = 99, .max_threads = 1u << 31 | 1 }, collect,
		&c);
	err = errno;
	lines = logcap_end(&l, "cannot load the BPF sampler");
	CHECK(!s && err && lines == 1 && logcap_lines(&l) == 1,
	      "maps of 2^31 + 1 entries: errno %d, %d lines", err, logcap_lines(&l));
	session__close(s);
}

int main(void)
{
	static struct interp all[INTERPS_MAX];
	static struct kid kids[MAX_KIDS];
	int n = interps_load("--tag behaviour", all, INTERPS_MAX), k = 0;

	signal(SIGPIPE, SIG_IGN);
	CHECK(n == 3, "tests/interpreters.py --tag behaviour: %d", n);
	prof = profile__new(0);
	store = code_store__new(0, 0);
	recs = calloc(MAX_RECS, sizeof(*recs));
	if (!prof || !store || !recs)
		return unit_done("session");
	for (int i = 0; i < n && k < MAX_KIDS; i++) {
		struct kid *kid = &kids[k];
		int err;

		kid->it = &all[i];
		err = pychild_start(&kid->p, kid->it, WORKLOAD, NULL);
		if (!err)
			err = pychild_until(&kid->p, "ready");
		CHECK(!err && kid->p.pid == kid->p.c.pid, "%s: %s", kid->it->id, strerror(-err));
		if (err) {
			pychild_end(&kid->p, true);
			continue;
		}
		if (!find_kid(kid))
			k++;
	}
	test_errors();
	test_offcpu(kids, k);
	test_cpu(kids, k);
	for (int i = 0; i < k; i++) {
		pychild_end(&kids[i].p, true);
		code_cache__free(kids[i].cache);
	}
	code_store__free(store);
	profile__free(prof);
	free(recs);
	return unit_done("session");
}
