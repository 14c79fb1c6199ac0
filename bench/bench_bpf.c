// SPDX-License-Identifier: MIT
/*
 * bench_bpf.c - BPF cost per sample, measured with the kernel's bpf_stats.
 *
 * Runs the real sampler against the given processes for a while, in fast
 * mode (one read per frame) and in verify mode (plus a code-object
 * fingerprint per frame), each next to the calibration program (N bare
 * reads per tick, bpf/calib.bpf.c) on the same ticks, and prints both as
 * ns per run.  Used by bench/run.sh;
 * not a test.
 *
 *   pyspy-bench --pid A [--pid B] --seconds S --rate HZ --reads N [--fast-only] [--repeat K]
 *   pyspy-bench --switch --pid A [--pid B] --seconds S
 *   pyspy-bench --verifier    (what verifying each program costs the kernel)
 */
#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "calib.skel.h"
#include "pyspy.skel.h"
#include "symbolize/cpython/discover.h"
#include "symbolize/base/clock.h"
#include "symbolize/base/log.h"
#include "user/engine/session.h"

struct run_stats {
	unsigned long long ns, cnt;
};

static int get_stats(int prog_fd, struct run_stats *st)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return -errno;
	st->ns = info.run_time_ns;
	st->cnt = info.run_cnt;
	return 0;
}

/* What the samples said: how many, and their reads and frames in total. */
struct tally {
	unsigned long long samples, reads, frames;
};

static int count_sample(const struct pyspy_sample *s, size_t len, void *ctx)
{
	struct tally *t = ctx;

	if (len < PYSPY_SAMPLE_HDR_SIZE)
		return 0;
	t->samples++;
	t->reads += s->reads;
	t->frames += s->n_frames;
	return 0;
}

static void spin_poll(struct session *s, double secs)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		session__poll(s, 100);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec + (t.tv_nsec - t0.tv_nsec) / 1e9 < secs);
}

/*
 * The calibration program runs on the same ticks as the sampler, attached
 * at the same time, so both see the same machine: on a shared VM the cost
 * of a read moves by tens of percent from one second to the next, and only
 * a ratio measured side by side is stable.
 */
struct calib {
	struct calib_bpf *skel;
	struct bpf_link **links;
	int ncpu;
};

struct result {
	double ns, calib_ns, reads, frames;
	unsigned long long runs, samples;
};

static double ratio(const struct result *r)
{
	return r->calib_ns > 0 ? r->ns / r->calib_ns : 0.0;
}

/* One measurement: a fresh sampler session next to the calibration. */
static int measure(struct py_target *t, int n, unsigned rate, double secs, uint8_t mode,
		   struct calib *cal, struct result *r)
{
	struct session_opts so = { .rate_hz = rate };
	struct tally tl = { 0 };
	struct run_stats a, b, ca, cb;
	struct session *s = session__open(&so, count_sample, &tl);
	int cfd = bpf_program__fd(cal->skel->progs.calib_sample);

	if (!s)
		return -errno;
	for (int i = 0; i < n; i++) {
		struct pyspy_proc p;

		py_layout__to_bpf(&t[i].layout, t[i].runtime_addr, t[i].version_hex, &p);
		p.mode = mode;
		session__add_proc(s, t[i].pid, &p);
	}
	get_stats(session__prog_fd(s), &a);
	get_stats(cfd, &ca);
	spin_poll(s, secs);
	get_stats(session__prog_fd(s), &b);
	get_stats(cfd, &cb);
	r->runs = b.cnt - a.cnt;
	r->samples = tl.samples;
	r->ns = r->runs ? (double)(b.ns - a.ns) / r->runs : 0.0;
	r->calib_ns = cb.cnt > ca.cnt ? (double)(cb.ns - ca.ns) / (cb.cnt - ca.cnt) : 0.0;
	r->reads = tl.samples ? (double)tl.reads / tl.samples : 0.0;
	r->frames = tl.samples ? (double)tl.frames / tl.samples : 0.0;
	session__close(s);
	return 0;
}

static int by_ratio(const void *x, const void *y)
{
	double a = ratio(x), b = ratio(y);

	return (a > b) - (a < b);
}

#define MAX_REPEAT 9

/*
 * Which of the two perf events fires first on a tick, and so which program
 * finds the caches warm, can change from one attach to the next: measure
 * `repeat` times with a fresh session and report the median ratio.
 */
static int bench_sampler(struct py_target *t, int n, unsigned rate, double secs, uint8_t mode,
			 struct calib *cal, int repeat)
{
	struct result res[MAX_REPEAT], *m;
	const char *name = mode ? "verify" : "sampler";
	int err;

	for (int i = 0; i < repeat; i++) {
		err = measure(t, n, rate, secs / repeat, mode, cal, &res[i]);
		if (err)
			return err;
	}
	qsort(res, repeat, sizeof(res[0]), by_ratio);
	m = &res[repeat / 2];
	printf("%s_ns_per_run=%.1f %s_runs=%llu %s_samples=%llu %s_calib_ns_per_run=%.1f "
	       "%s_reads=%.1f %s_frames=%.1f %s_ratio_min=%.3f %s_ratio_max=%.3f\n",
	       name, m->ns, name, m->runs, name, m->samples, name, m->calib_ns, name, m->reads,
	       name, m->frames, name, ratio(&res[0]), name, ratio(&res[repeat - 1]));
	return 0;
}

/* The sched_switch hook: ns per context switch on the whole host. */
static int bench_switch(struct py_target *t, int n, double secs)
{
	struct session_opts so = { .offcpu = true };
	struct tally tl = { 0 };
	struct run_stats a, b;
	struct session *s = session__open(&so, count_sample, &tl);
	int fd;

	if (!s)
		return -errno;
	for (int i = 0; i < n; i++) {
		struct pyspy_proc p;

		py_layout__to_bpf(&t[i].layout, t[i].runtime_addr, t[i].version_hex, &p);
		session__add_proc(s, t[i].pid, &p);
	}
	fd = session__switch_prog_fd(s);
	get_stats(fd, &a);
	spin_poll(s, secs);
	get_stats(fd, &b);
	printf("switch_ns_per_run=%.1f switch_runs_per_s=%.0f switch_records=%llu\n",
	       b.cnt > a.cnt ? (double)(b.ns - a.ns) / (b.cnt - a.cnt) : 0.0,
	       (b.cnt - a.cnt) / secs, tl.samples);
	session__close(s);
	return 0;
}

static int attach_calib(struct calib_bpf *skel, unsigned rate, struct bpf_link **links, int ncpu)
{
	for (int cpu = 0; cpu < ncpu; cpu++) {
		struct perf_event_attr attr = {
			.type = PERF_TYPE_SOFTWARE,
			.config = PERF_COUNT_SW_CPU_CLOCK,
			.size = sizeof(attr),
			.freq = 1,
			.sample_freq = rate,
		};
		int fd = syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);

		if (fd < 0)
			continue;
		links[cpu] = bpf_program__attach_perf_event(skel->progs.calib_sample, fd);
		if (!links[cpu])
			return -errno;
	}
	return 0;
}

static void calib_close(struct calib *c)
{
	for (int i = 0; c->links && i < c->ncpu; i++)
		bpf_link__destroy(c->links[i]);
	free(c->links);
	calib_bpf__destroy(c->skel);
}

static int calib_open(struct calib *c, struct py_target *t, int n, unsigned rate, unsigned reads,
		      unsigned size)
{
	int err;

	c->ncpu = libbpf_num_possible_cpus();
	c->links = calloc(c->ncpu, sizeof(*c->links));
	c->skel = calib_bpf__open();
	if (!c->skel || !c->links)
		return -ENOMEM;
	c->skel->rodata->n_reads = reads;
	c->skel->rodata->read_size = size;
	err = calib_bpf__load(c->skel);
	if (err)
		return err;
	for (int i = 0; i < n; i++) {
		__u32 k = t[i].pid;
		__u64 v = t[i].runtime_addr;

		bpf_map__update_elem(c->skel->maps.calib_targets, &k, sizeof(k), &v, sizeof(v), 0);
	}
	return attach_calib(c->skel, rate, c->links, c->ncpu);
}

/* The kernel's verdict on one program, from its stats log (log level 4). */
static void put_verifier_line(const char *name, const char *variant, const char *log)
{
	unsigned long long us = 0, insns = 0, states = 0, peak = 0;
	const char *p;

	if ((p = strstr(log, "verification time")))
		sscanf(p, "verification time %llu usec", &us);
	if ((p = strstr(log, "processed ")))
		sscanf(p,
		       "processed %llu insns (limit %*u) max_states_per_insn %*u total_states %llu "
		       "peak_states %llu",
		       &insns, &states, &peak);
	printf("verifier prog=%s variant=%s verify_ms=%.1f processed_insns=%llu total_states=%llu "
	       "peak_states=%llu\n",
	       name, variant, us / 1e3, insns, states, peak);
}

/*
 * Load every program of the sampler with the verifier's statistics on:
 * as by default, then with --async's code (async_tasks), which the
 * verifier skips when it is off.
 */
static int bench_verifier_one(bool async)
{
	static char logs[8][4096];
	struct pyspy_bpf *skel = pyspy_bpf__open();
	struct bpf_program *prog;
	double t0;
	int i = 0, err;

	if (!skel)
		return -errno;
	skel->rodata->async_tasks = async;
	bpf_object__for_each_program (prog, skel->obj) {
		if (i == 8)
			break;
		bpf_program__set_log_level(prog, 4);
		bpf_program__set_log_buf(prog, logs[i++], sizeof(logs[0]));
	}
	t0 = mono_s();
	err = pyspy_bpf__load(skel);
	t0 = (mono_s() - t0) * 1e3;
	if (!err) {
		printf("verifier load_all_ms=%.1f variant=%s\n", t0, async ? "async" : "default");
		i = 0;
		bpf_object__for_each_program (prog, skel->obj) {
			if (i < 8)
				put_verifier_line(bpf_program__name(prog),
						  async ? "async" : "default", logs[i++]);
		}
	}
	pyspy_bpf__destroy(skel);
	return err;
}

static int bench_verifier(void)
{
	return bench_verifier_one(false) || bench_verifier_one(true);
}

int main(int argc, char **argv)
{
	struct py_target t[8];
	struct calib cal = {};
	int n = 0, c, stats_fd, err;
	unsigned rate = 999, reads = 32;
	double secs = 5;

	static const struct option lo[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "seconds", required_argument, NULL, 's' },
		{ "rate", required_argument, NULL, 'r' },
		{ "reads", required_argument, NULL, 'n' },
		{ "switch", no_argument, NULL, 'w' },
		{ "fast-only", no_argument, NULL, 'f' },
		{ "repeat", required_argument, NULL, 'k' },
		{ "verifier", no_argument, NULL, 'v' },
		{},
	};
	bool switch_only = false, fast_only = false;
	int repeat = 3;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (n < 8 && !py_target__discover(atoi(optarg), &t[n]))
				n++;
			else
				fprintf(stderr, "pyspy-bench: cannot use PID %s\n", optarg);
			break;
		case 's':
			secs = atof(optarg);
			break;
		case 'r':
			rate = atoi(optarg);
			break;
		case 'n':
			reads = atoi(optarg);
			break;
		case 'w':
			switch_only = true;
			break;
		case 'f':
			fast_only = true;
			break;
		case 'k':
			repeat = atoi(optarg);
			if (repeat < 1 || repeat > MAX_REPEAT) {
				fprintf(stderr, "pyspy-bench: --repeat 1..%d\n", MAX_REPEAT);
				return 2;
			}
			break;
		case 'v':
			return bench_verifier() ? 1 : 0;
		default:
			return 2;
		}
	}
	if (!n)
		return 2;
	/* bpf_stats are only collected while this fd is open. */
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats_fd < 0) {
		fprintf(stderr, "pyspy-bench: cannot enable bpf_stats: %s\n", strerror(errno));
		return 1;
	}
	if (switch_only) {
		err = bench_switch(t, n, secs);
		close(stats_fd);
		return err ? 1 : 0;
	}
	err = calib_open(&cal, t, n, rate, reads, t[0].layout.frame_size);
	/* Fast mode (one read per frame) is what a quiet process gets. */
	if (!err)
		err = bench_sampler(t, n, rate, secs, 0, &cal, repeat);
	if (!err && !fast_only)
		err = bench_sampler(t, n, rate, secs, PYSPY_MODE_VERIFY, &cal, repeat);
	calib_close(&cal);
	close(stats_fd);
	return err ? 1 : 0;
}
