// SPDX-License-Identifier: MIT
/*
 * replay.c - the userspace pipeline alone, at full speed: ring-buffer
 * records captured from real processes are fed again and again through
 * the sampler (batch, symbolization, aggregation), and the profile is
 * written as pprof; prints samples per second per core.  Used by
 * bench/run.sh; not a test.
 *
 *   pyspy-replay --seconds S --rounds R PID...
 *
 * A sampler with --all finds the processes first.  Capture: a bare BPF
 * session on the PIDs (fast mode, 999 Hz) for S seconds; each record is
 * copied and handed to the sampler as it comes, as its own would be, so
 * that the code objects are read as in a live recording.  Replay: every
 * record is fed R more times; their times lie in the spans the capture's
 * reads established, so this is the steady state: no reads, kept stacks.
 * CPU time is this thread's (CLOCK_THREAD_CPUTIME_ID), also for the
 * capture's own handling of the records (the "live" figure).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "symbolize/cpython/discover.h"
#include "symbolize/base/hash.h"
#include "symbolize/base/log.h"
#include "user/engine/sampler.h"
#include "user/engine/session.h"
#include "user/output/output.h"

#define MAX_PIDS 1024

struct capture {
	uint8_t *buf;
	size_t len, cap;
	unsigned long n, frames;
	struct sampler *r; /* handed each record as it comes */
	double cpu_s;	   /* spent in the sampler doing that */
};

static double now_s(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int keep(const struct pyspy_sample *s, size_t len, void *ctx)
{
	struct capture *c = ctx;
	double t;

	if (len < PYSPY_SAMPLE_HDR_SIZE || !s->n_frames || s->flags >= PYSPY_EVENT_NEW_PROCESS)
		return 0;
	if (c->len + len + 8 > c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 1 << 20;
		uint8_t *b = realloc(c->buf, cap);

		if (!b)
			return -ENOMEM;
		c->buf = b;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, &len, sizeof(uint32_t));
	memcpy(c->buf + c->len + 8, s, len);
	c->len += 8 + ((len + 7) & ~(size_t)7);
	c->n++;
	c->frames += s->n_frames;
	t = now_s(CLOCK_THREAD_CPUTIME_ID);
	sampler__feed(c->r, s, len);
	c->cpu_s += now_s(CLOCK_THREAD_CPUTIME_ID) - t;
	return 0;
}

static int capture(const pid_t *pids, int n, double secs, struct capture *c)
{
	struct session_opts so = { .rate_hz = 999 };
	struct session *s = session__open(&so, keep, c);
	double end;

	if (!s)
		return -errno;
	for (int i = 0; i < n; i++) {
		struct py_target t;
		struct pyspy_proc p;

		if (py_target__discover(pids[i], &t)) {
			fprintf(stderr, "pyspy-replay: PID %d is not a Python process\n", pids[i]);
			continue;
		}
		py_layout__to_bpf(&t.layout, t.runtime_addr, t.version_hex, &p);
		session__add_proc(s, pids[i], &p);
	}
	end = now_s(CLOCK_MONOTONIC) + secs;
	while (now_s(CLOCK_MONOTONIC) < end)
		session__poll(s, 100);
	session__close(s);
	return 0;
}

static void feed_all(struct sampler *r, const struct capture *c)
{
	for (size_t off = 0; off < c->len;) {
		uint32_t len;

		memcpy(&len, c->buf + off, sizeof(len));
		sampler__feed(r, (const struct pyspy_sample *)(c->buf + off + 8), len);
		off += 8 + ((len + 7) & ~(size_t)7);
	}
}

int main(int argc, char **argv)
{
	struct options o = { OPTIONS_DEFAULTS };
	struct capture c = { 0 };
	pid_t pids[MAX_PIDS];
	int n = 0, rounds = 20, err, fd;
	double secs = 5, t0, t1, w0, w1;
	struct run_counts rc;
	struct profile *prof;
	struct sampler *r;
	char path[] = "/tmp/pyspy-replay-XXXXXX";
	struct output_opts oo = { .rate_hz = 99 };

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			secs = atof(argv[++i]);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (n < MAX_PIDS)
			pids[n++] = atoi(argv[i]);
	}
	if (!n || rounds < 2) {
		fprintf(stderr, "usage: pyspy-replay --seconds S --rounds R(>=2) PID...\n");
		return 2;
	}
	/* Keyed as the agent's tables are (user/cmd/main.c). */
	if (hash_seed())
		return 1;
	/* Found as a host agent finds them. */
	o.all = true;
	o.quiet = true;
	prof = profile__new(0);
	r = prof ? sampler__start(&o, prof) : NULL;
	if (!r)
		return 1;
	for (int i = 0; i < 300 && sampler__n_processes(r) < n; i++)
		sampler__poll(r, 100);
	c.r = r;
	err = capture(pids, n, secs, &c);
	if (err || !c.n) {
		fprintf(stderr, "pyspy-replay: nothing captured: %s\n", strerror(-err));
		return 1;
	}
	t0 = now_s(CLOCK_THREAD_CPUTIME_ID);
	for (int k = 0; k < rounds; k++)
		feed_all(r, &c);
	sampler__drain(r);
	t1 = now_s(CLOCK_THREAD_CPUTIME_ID);
	w0 = now_s(CLOCK_THREAD_CPUTIME_ID);
	fd = mkstemp(path);
	if (fd >= 0)
		close(fd);
	err = fd < 0 ? -errno : output__write_file(&output_pprof, prof, &oo, path);
	w1 = now_s(CLOCK_THREAD_CPUTIME_ID);
	unlink(path);
	sampler__counts(r, &rc);
	printf("replay processes=%d registered=%d records=%lu frames_per_record=%.1f rounds=%d "
	       "live_per_s=%.0f steady_per_s=%.0f pprof_ms=%.1f per_s_with_pprof=%.0f "
	       "unknown_frames=%llu\n",
	       n, sampler__n_processes(r), c.n, (double)c.frames / c.n, rounds, c.n / c.cpu_s,
	       c.n * (double)rounds / (t1 - t0), (w1 - w0) * 1e3,
	       c.n * (double)rounds / (t1 - t0 + w1 - w0), (unsigned long long)rc.bad_frames);
	sampler__stop(r);
	profile__free(prof);
	free(c.buf);
	return err ? 1 : 0;
}
