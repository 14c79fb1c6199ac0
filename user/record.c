// SPDX-License-Identifier: MIT
/*
 * record.c - the `record` verb: find the targets, sample until the
 * duration ends, Ctrl-C/SIGTERM, or the targets exit, then write the
 * profile whole and print the summary.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uthash.h>

#include "discover.h"
#include "launch.h"
#include "log.h"
#include "options.h"
#include "output/output.h"
#include "preflight.h"
#include "profile.h"
#include "session.h"
#include "summary.h"
#include "targets.h"

/* How often exits, children and the progress line are looked at. */
#define HOUSEKEEP_S 0.2
/*
 * Samples mostly arrive without a wakeup (see bpf/pyspy.bpf.c), so this is
 * how stale a sample can get before it is symbolized.
 */
#define POLL_MS 20
/* Launch mode: how many descendants are followed. */
#define MAX_DESCENDANTS 256

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* A child that is not (yet) Python is looked at again after a while. */
struct pending {
	UT_hash_handle hh;
	pid_t pid;
	double next_try;
	bool give_up;
};

struct recorder {
	struct options *o;
	const struct output_writer *writer;
	char out_path[512];
	struct session *s;
	struct profile *prof;
	struct targets *tg;
	struct launch launch;
	bool launched;
	struct pending *pending;
	uint32_t locs[PYSPY_MAX_FRAMES];
	struct run_counts rc;
	uint64_t threads_seen_key;
	double t0;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };

	nanosleep(&ts, NULL);
}

static void read_comm(pid_t pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(buf, len, "?");
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(buf, len, f))
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

/* The one line the user reads when a --pid cannot be profiled. */
static void report_discover_error(pid_t pid, int err, const struct py_target *py, double wait_s)
{
	char comm[32];
	unsigned v = py->version_hex;

	read_comm(pid, comm, sizeof(comm));
	switch (err) {
	case -ESRCH:
		log_error("no such process: PID %d", pid);
		break;
	case -ENOEXEC:
		log_error("PID %d (%s) is not a Python process (no libpython or _PyRuntime found)",
			  pid, comm);
		break;
	case -ENOTSUP:
		if (v)
			log_error("PID %d (%s): unsupported Python version %u.%u.%u "
				  "(supported: CPython 3.8 and newer)",
				  pid, comm, v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff);
		else
			log_error("PID %d (%s): unsupported Python version (supported: CPython 3.8 "
				  "and newer)",
				  pid, comm);
		break;
	case -EAGAIN:
		log_error("PID %d (%s): Python is not initialised yet (waited %.1f s; see "
			  "--init-wait)",
			  pid, comm, wait_s);
		break;
	case -EACCES:
	case -EPERM:
		log_error("PID %d (%s): permission denied reading its memory "
			  "(needs CAP_SYS_PTRACE, or the same user)",
			  pid, comm);
		break;
	default:
		log_error("PID %d (%s): %s", pid, comm, py_target__strerror(err));
	}
}

/* Discover pid, waiting a bounded time for its interpreter to initialise. */
static int discover_wait(pid_t pid, double wait_s, struct py_target *py)
{
	double deadline = now_s() + wait_s;
	int err = py_target__discover(pid, py);

	while (err == -EAGAIN && now_s() < deadline && !stop_requested) {
		sleep_s(0.05);
		if (py_target__initialised(py) > 0)
			return 0;
		if (py_target__alive(py) == 0)
			return -ESRCH;
	}
	return err;
}

static int on_sample(const struct pyspy_sample *smp, size_t len, void *ctx)
{
	struct recorder *r = ctx;
	uint32_t n = smp->n_frames, flags = 0;
	struct target *tg = targets__find(r->tg, smp->pid);

	if (!tg || tg->exited) {
		r->rc.user_dropped++;
		return 0;
	}
	/* Never trust the header's count beyond what arrived. */
	if (n > (len - PYSPY_SAMPLE_HDR_SIZE) / sizeof(struct pyspy_frame))
		n = (len - PYSPY_SAMPLE_HDR_SIZE) / sizeof(struct pyspy_frame);
	if (n > PYSPY_MAX_FRAMES)
		n = PYSPY_MAX_FRAMES;
	if (n == 0)
		return 0;
	r->rc.bad_frames += code_cache__resolve(tg->cache, smp->frames, n, smp->ktime_ns,
						smp->flags & PYSPY_SAMPLE_VERIFIED, r->locs);
	targets__update_mode(r->tg, tg);
	if (smp->flags & PYSPY_SAMPLE_TRUNCATED)
		flags |= PROFILE_STACK_TRUNCATED;
	else if (smp->error)
		flags |= PROFILE_STACK_PARTIAL;
	if (!profile__thread_name(r->prof, smp->pid, smp->tid)) {
		targets__name_thread(r->tg, smp->pid, smp->tid);
		r->rc.threads++;
	}
	profile__add(r->prof, smp->pid, smp->tid, flags, r->locs, n, 1);
	r->rc.samples++;
	tg->samples++;
	return 0;
}

static int add_target(struct recorder *r, const struct py_target *py)
{
	int err = targets__add(r->tg, py);

	if (err && err != -EEXIST) {
		log_error("PID %d: cannot start sampling: %s", py->pid, strerror(-err));
		return err;
	}
	log_debug("sampling PID %d (%s), Python %u.%u, _PyRuntime at 0x%llx", py->pid, py->comm,
		  py->version_hex >> 24, (py->version_hex >> 16) & 0xff,
		  (unsigned long long)py->runtime_addr);
	return 0;
}

/* Launch mode: try to pick up pid (the command or a descendant). */
static void consider(struct recorder *r, pid_t pid, double now)
{
	struct pending *p;
	struct py_target py;
	int err;

	if (targets__has(r->tg, pid))
		return;
	HASH_FIND_INT(r->pending, &pid, p);
	if (p && (p->give_up || now < p->next_try))
		return;
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return;
		p->pid = pid;
		HASH_ADD_INT(r->pending, pid, p);
	}
	err = py_target__discover(pid, &py);
	if (!err) {
		if (!add_target(r, &py)) {
			HASH_DEL(r->pending, p);
			free(p);
		}
		return;
	}
	if (err == -ENOTSUP) {
		report_discover_error(pid, err, &py, 0);
		p->give_up = true;
		return;
	}
	/* Not Python yet (maybe before exec), or not initialised: look again soon. */
	p->next_try = now + (err == -EAGAIN ? 0.02 : 0.1);
}

static void follow_launch(struct recorder *r, double now)
{
	pid_t kids[MAX_DESCENDANTS];
	int n;

	if (launch__poll(&r->launch))
		return;
	consider(r, r->launch.pid, now);
	n = launch__descendants(r->launch.pid, kids, MAX_DESCENDANTS);
	for (int i = 0; i < n; i++)
		consider(r, kids[i], now);
}

static void add_ambiguous(struct target *tg, void *ctx)
{
	*(uint64_t *)ctx += code_cache__stats(tg->cache)->ambiguous;
}

static void refresh_counts(struct recorder *r)
{
	r->rc.ambiguous = 0;
	targets__for_each(r->tg, add_ambiguous, &r->rc.ambiguous);
	session__counters(r->s, r->rc.bpf_err, r->rc.bpf_stat);
	r->rc.elapsed_s = now_s() - r->t0;
	r->rc.processes = targets__count(r->tg);
}

/* True when recording should end. */
static bool housekeep(struct recorder *r, double now)
{
	targets__reap(r->tg);
	if (r->launched) {
		follow_launch(r, now);
		if (launch__poll(&r->launch))
			return true;
	} else if (targets__alive(r->tg) == 0) {
		log_debug("every target exited");
		return true;
	}
	if (!r->o->quiet) {
		refresh_counts(r);
		summary__progress(&r->rc);
	}
	return false;
}

static void loop(struct recorder *r)
{
	double next_house = 0, now;

	while (!stop_requested) {
		if (session__poll(r->s, POLL_MS) < 0)
			break;
		now = now_s();
		if (r->o->duration_s > 0 && now - r->t0 >= r->o->duration_s)
			break;
		if (now >= next_house) {
			next_house = now + HOUSEKEEP_S;
			if (housekeep(r, now))
				break;
		}
	}
	/* Samples already in the ring buffer belong to the recording. */
	for (int i = 0; i < 8 && session__poll(r->s, 0) > 0; i++)
		;
}

static int choose_output(struct recorder *r)
{
	struct options *o = r->o;
	char stamp[32];
	time_t t = time(NULL);

	if (o->format) {
		r->writer = output__by_name(o->format);
		if (!r->writer) {
			log_error("unknown format '%s' (known: %s)", o->format, output__names());
			return -EINVAL;
		}
	} else if (o->output && strcmp(o->output, "-")) {
		r->writer = output__by_path(o->output);
		if (!r->writer) {
			log_error("cannot tell the format from '%s': use --format (known: %s)",
				  o->output, output__names());
			return -EINVAL;
		}
	} else {
		r->writer = &output_folded;
	}
	if (o->output) {
		snprintf(r->out_path, sizeof(r->out_path), "%s", o->output);
	} else {
		strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", localtime(&t));
		snprintf(r->out_path, sizeof(r->out_path), "pyspy-bpf-%s.%s", stamp,
			 r->writer->exts[0] + 1);
	}
	return 0;
}

static int add_pid_targets(struct recorder *r, struct py_target *pys)
{
	for (int i = 0; i < r->o->n_pids; i++) {
		int err = add_target(r, &pys[i]);

		if (err)
			return err;
	}
	return 0;
}

static int discover_pids(struct recorder *r, struct py_target *pys)
{
	for (int i = 0; i < r->o->n_pids; i++) {
		int err = discover_wait(r->o->pids[i], r->o->init_wait_s, &pys[i]);

		if (err) {
			report_discover_error(r->o->pids[i], err, &pys[i], r->o->init_wait_s);
			return err;
		}
	}
	return 0;
}

static int write_profile(struct recorder *r)
{
	struct output_opts oo = {
		.show_threads = r->o->threads,
		.show_pids = r->o->pids_frames ||
			     (!r->o->no_pids_frames && targets__count(r->tg) > 1),
		.rate_hz = r->o->rate_hz,
		.duration_s = r->rc.elapsed_s,
	};
	int err = output__write_file(r->writer, r->prof, &oo, r->out_path);

	if (err)
		log_error("cannot write %s: %s", r->out_path, strerror(-err));
	else if (!r->o->quiet && strcmp(r->out_path, "-"))
		fprintf(stderr, "  wrote %s (%s, %u stacks)\n", r->out_path, r->writer->name,
			profile__n_stacks(r->prof));
	return err;
}

static void setup_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	/* No SA_RESTART: the poll must return so the loop sees the flag. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void free_pending(struct recorder *r)
{
	struct pending *p, *tmp;

	HASH_ITER(hh, r->pending, p, tmp) {
		HASH_DEL(r->pending, p);
		free(p);
	}
}

static int run(struct recorder *r, struct py_target *pys)
{
	struct session_opts so = { .rate_hz = r->o->rate_hz };
	int err;

	err = discover_pids(r, pys);
	if (err)
		return err;
	r->s = session__open(&so, on_sample, r);
	if (!r->s)
		return -errno;
	r->tg = targets__new(r->s, r->prof);
	if (!r->tg)
		return -ENOMEM;
	err = add_pid_targets(r, pys);
	if (err)
		return err;
	if (r->o->cmd) {
		err = launch__start(r->o->cmd, &r->launch);
		if (err)
			return err;
		r->launched = true;
		launch__release(&r->launch);
	}
	r->t0 = now_s();
	loop(r);
	refresh_counts(r);
	err = write_profile(r);
	if (!r->o->quiet)
		summary__print(&r->rc, r->prof, 10);
	return err;
}

int cmd_record(struct options *o)
{
	struct recorder *r = calloc(1, sizeof(*r));
	struct py_target *pys = calloc(o->n_pids ? o->n_pids : 1, sizeof(*pys));
	int err = -ENOMEM;

	if (!r || !pys)
		goto out;
	r->o = o;
	r->rc.rate_hz = o->rate_hz;
	setup_signals();
	err = choose_output(r);
	if (err)
		goto out;
	err = preflight_privileges();
	if (err)
		goto out;
	err = preflight_btf();
	if (err)
		goto out;
	r->prof = profile__new(0);
	if (!r->prof) {
		err = -ENOMEM;
		goto out;
	}
	err = run(r, pys);
	if (r->launched)
		launch__stop(&r->launch);
out:
	if (r) {
		targets__free(r->tg);
		session__close(r->s);
		profile__free(r->prof);
		free_pending(r);
	}
	free(r);
	free(pys);
	return err ? 1 : 0;
}
