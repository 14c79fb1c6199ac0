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
#include <unistd.h>

#include <bpf/bpf.h>

#include "livetarget.h"
#include "logcap.h"
#include "records.h"
#include "unit.h"
#include "symbolize/codestore.h"
#include "user/engine/session.h"

#define MAX_KIDS 4

static struct profile *prof;
static struct code_store *store;
static struct rec *recs;

/* What targets.c writes, reduced to the layout and a mode. */
static void proc_of(const struct py_target *py, uint8_t mode, struct pyspy_proc *p)
{
	py_layout__to_bpf(&py->layout, py->runtime_addr, py->version_hex, p);
	p->mode = mode;
	p->state = PYSPY_PROC_PYTHON;
}

static void check_record_frames(struct kid *k, const struct rec *r, const char *what)
{
	kid_frames_are(k, k->cache, prof, r->f, r->h.n_frames, r->h.ktime_ns,
		       r->h.flags & PYSPY_SAMPLE_VERIFIED, what);
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
	const struct rec *r, *end;
	int i;

	kid_say(k, "wake");
	CHECK(poll_until(s, c, got_records, &w), "%s: no switch out", k->it->id);
	/* The latest is the one it sits in now. */
	r = rec_last(c, w.from, k->py.pid, PYSPY_SAMPLE_OFFCPU, PYSPY_SAMPLE_PREEMPTED);
	if (!r)
		return;
	CHECK((pid_t)r->h.tid == k->p.tid && r->h.syscall == 0 && r->h.arg == 0 && !r->h.error &&
		      (r->h.flags & PYSPY_SAMPLE_VERIFIED),
	      "%s: tid %u (the target says %d), syscall %d (%" PRIu64 "), error %u, flags %#x",
	      k->it->id, r->h.tid, k->p.tid, r->h.syscall, (uint64_t)r->h.arg, r->h.error,
	      r->h.flags);
	check_record_frames(k, r, "blocked in read");

	w = (struct want_rec){ c, c->n, k->py.pid, PYSPY_EVENT_OFFCPU_END, 0, 1, 0 };
	kid_say(k, "wake");
	CHECK(poll_until(s, c, got_records, &w), "%s: no end of its wait", k->it->id);
	i = rec_find(c, w.from, k->py.pid, PYSPY_EVENT_OFFCPU_END, 0);
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
	CHECK(poll_until(s, c, got_records, &w), "no end of the wait opened");
	i = rec_find(c, w.from, sl.pid, PYSPY_EVENT_OFFCPU_END, 0);
	CHECK(i >= 0 && (pid_t)c->r[i].h.tid == sl.pid &&
		      c->r[i].h.ktime_ns - c->r[i].h.arg == 12345,
	      "the wait ended %" PRIu64 " ns after %" PRIu64, i >= 0 ? (uint64_t)c->r[i].h.arg : 0,
	      i >= 0 ? (uint64_t)(c->r[i].h.ktime_ns - c->r[i].h.arg) : 0);
	c->n_want--;
}

/* An exec is reported, and the process forgotten: it blocks unsampled. */
static void check_exec(struct session *s, struct collect *c, struct kid *k)
{
	struct want_rec w = { c, c->n, k->py.pid, PYSPY_EVENT_EXEC, 0, 1, 0 };
	unsigned from;
	int i;

	CHECK(!pychild_say(&k->p, "exec") && !pychild_until(&k->p, "ready"), "%s: exec", k->it->id);
	CHECK(poll_until(s, c, got_records, &w), "%s: no exec reported", k->it->id);
	i = rec_find(c, w.from, k->py.pid, PYSPY_EVENT_EXEC, 0);
	CHECK(i >= 0 && (pid_t)c->r[i].h.tid == k->py.pid && !c->r[i].h.n_frames &&
		      c->r[i].len == sizeof(c->r[i].h),
	      "%s: exec record", k->it->id);
	kid_find(k, prof, store);
	from = c->n;
	kid_say(k, "wake");
	until_blocked(s, k->py.pid);
	CHECK(rec_count(c, from, k->py.pid, PYSPY_SAMPLE_OFFCPU, 0) == 0,
	      "%s: sampled after its exec", k->it->id);
}

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
		if (rec_cpu_samples(w->c, w->from, w->kids[i].py.pid) < w->each)
			return false;
	return true;
}

/* Every sample of k from index from on: its spinning thread, whole, as it says. */
static void check_samples(const struct collect *c, unsigned from, struct kid *k)
{
	unsigned n = 0, bad = 0;

	for (unsigned i = from; i < c->n; i++) {
		const struct rec *r = &c->r[i];

		if ((pid_t)r->h.pid != k->py.pid || rec_is_event(r))
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
	uint64_t err[PYSPY_ERR__COUNT], st[PYSPY_STAT__COUNT], t = 1, added;
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
	/* Sampled once they spin (said so, and a moment later in the loop), never on the way. */
	for (int i = 0; i < n; i++)
		CHECK(!pychild_say(&kids[i].p, "spin") && !pychild_until(&kids[i].p, "spinning"),
		      "%s: spin", kids[i].it->id);
	usleep(20000);
	for (int i = 0; i < n; i++) {
		proc_of(&kids[i].py, PYSPY_MODE_VERIFY, &p);
		CHECK(session__add_proc(s, kids[i].py.pid, &p) == 0, "%s", kids[i].it->id);
	}
	added = mono_ns();
	CHECK(poll_until(s, &c, each_sampled, &ws), "not every target sampled");
	for (int i = 0; i < n; i++) {
		unsigned late_new = 0;

		check_samples(&c, 0, &kids[i]);
		/* Spinning before it was added, under --all it was new; once added, never. */
		for (unsigned j = 0; j < c.n; j++)
			late_new += (pid_t)c.r[j].h.pid == kids[i].py.pid &&
				    (c.r[j].h.flags & PYSPY_EVENT_NEW_PROCESS) &&
				    c.r[j].h.ktime_ns >= added;
		CHECK(!late_new, "%s: a target reported as new %u times", kids[i].it->id, late_new);
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
		CHECK(!rec_cpu_samples(&c, m, kids[0].py.pid) &&
			      !rec_cpu_samples(&c, m, kids[1].py.pid),
		      "sampled out of procs: %u, ignored: %u",
		      rec_cpu_samples(&c, m, kids[0].py.pid),
		      rec_cpu_samples(&c, m, kids[1].py.pid));
		CHECK(rec_count(&c, m0, kids[0].py.pid, PYSPY_EVENT_NEW_PROCESS, 0) == 1 &&
			      !rec_count(&c, m0, kids[1].py.pid, PYSPY_EVENT_NEW_PROCESS, 0),
		      "reported as new: %u once out of procs, %u ignored",
		      rec_count(&c, m0, kids[0].py.pid, PYSPY_EVENT_NEW_PROCESS, 0),
		      rec_count(&c, m0, kids[1].py.pid, PYSPY_EVENT_NEW_PROCESS, 0));
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
	for (int i = 0; i < n && k < MAX_KIDS; i++)
		k += !kid_start(&kids[k], &all[i], prof, store);
	test_errors();
	test_offcpu(kids, k);
	test_cpu(kids, k);
	kids_end(kids, k, prof, store);
	free(recs);
	return unit_done("session");
}
