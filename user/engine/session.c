// SPDX-License-Identifier: MIT
/*
 * session.c - load the sampler, attach it to a cpu-clock event on every
 * CPU, and feed ring-buffer records to the caller.
 */
#include <errno.h>
#include <linux/perf_event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pyspy.skel.h"
#include "session.h"
#include "symbolize/base/clock.h"
#include "symbolize/base/log.h"

#define DEFAULT_RINGBUF (8u << 20)

/*
 * The longest one poll handles records.  libbpf reads on for as long as
 * records keep coming, so a reader slower than the samples (a costly
 * target, a loaded host) would never return: record past its duration
 * (10 s became 140 s), exited targets never dropped, and samples
 * symbolized a minute late, after their process was gone ([unknown]).
 * Past this, the poll stops; the ring keeps the rest for the next one,
 * which reads them at once (no wait: a reader behind must not sleep
 * too), and drops (and counts) what it has no room for.
 */
#define POLL_BUDGET_NS (50 * 1000000ull)
/* on_record's answer when the budget is spent: no error, "come back". */
#define POLL_STOP (-ETIME)

struct session {
	struct pyspy_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link **links;
	int *pfds;
	int ncpus;
	session_sample_fn fn;
	void *ctx;
	int stats_fd;	     /* bpf_enable_stats, while run time is measured; -1 */
	uint64_t poll_until; /* this poll's budget ends (mono_ns) */
	int polled;	     /* records this poll handled */
	bool behind;	     /* the last poll stopped with records left */
	/* cpu-clock's period (ns; 0: page faults) and its dither (see dither) */
	uint64_t period_ns, next_dither_ns, rnd;
};

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && log_verbose < 2)
		return 0;
	if (log_verbose < 1)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int on_record(void *ctx, void *data, size_t len)
{
	struct session *s = ctx;
	int err;

	if (len < PYSPY_SAMPLE_HDR_SIZE)
		return 0;
	err = s->fn(data, len, s->ctx);
	if (err)
		return err;
	s->polled++;
	/*
	 * The budget runs from the poll's first record, not from its wait;
	 * the clock is read after each (a record can take milliseconds: a
	 * hundred code objects to read).  libbpf counts this record consumed,
	 * and stops at a negative answer.
	 */
	if (!s->poll_until)
		s->poll_until = mono_ns() + POLL_BUDGET_NS;
	else if (mono_ns() > s->poll_until)
		return POLL_STOP;
	return 0;
}

/*
 * The event that triggers a sample: a cpu-clock tick at rate_hz (CPU and
 * wall profiles), or every page_fault_period-th page fault (memory).
 */
static int open_perf_event(int cpu, const struct session_opts *o)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.size = sizeof(attr),
		.freq = 1,
		.sample_freq = o->rate_hz,
	};

	if (o->page_fault_period) {
		attr.config = PERF_COUNT_SW_PAGE_FAULTS;
		attr.freq = 0;
		attr.sample_period = o->page_fault_period;
	}
	return syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

/*
 * A clock tick in step with the scheduler's (250 Hz here: 499 Hz is 2.004
 * ms, half its 4 ms) meets a thread that shares its CPU at the same point
 * of every time slice, and a task or function that runs at that point is
 * over-counted by as much as a tenth.  Every DITHER_NS each CPU's period
 * is drawn again within 1/8 of the rate's (the timer restarts from then),
 * so the phase wanders and no part of a slice is favoured; the mean rate
 * stays the one asked for.
 */
#define DITHER_NS (50 * 1000 * 1000ULL)

static void dither(struct session *s, uint64_t now_ns)
{
	if (!s->period_ns || now_ns < s->next_dither_ns)
		return;
	s->next_dither_ns = now_ns + DITHER_NS;
	for (int cpu = 0; cpu < s->ncpus; cpu++) {
		uint64_t period;

		if (s->pfds[cpu] < 0)
			continue;
		/* xorshift64: spread, not secrecy */
		s->rnd ^= s->rnd << 13;
		s->rnd ^= s->rnd >> 7;
		s->rnd ^= s->rnd << 17;
		period = s->period_ns - s->period_ns / 8 + s->rnd % (s->period_ns / 4 + 1);
		if (ioctl(s->pfds[cpu], PERF_EVENT_IOC_PERIOD, &period)) {
			log_debug("the sampling period stays fixed: %s", strerror(errno));
			s->period_ns = 0;
			return;
		}
	}
}

static int attach_cpus(struct session *s, const struct session_opts *o)
{
	int attached = 0;

	if (!o->page_fault_period && o->rate_hz) {
		s->period_ns = 1000000000ULL / o->rate_hz;
		if (getrandom(&s->rnd, sizeof(s->rnd), GRND_NONBLOCK) != sizeof(s->rnd))
			s->rnd = mono_ns();
		s->rnd |= 1;
	}

	for (int cpu = 0; cpu < s->ncpus; cpu++) {
		int fd = open_perf_event(cpu, o);

		if (fd < 0) {
			if (errno == ENODEV) /* possible but offline CPU */
				continue;
			log_error("cannot open a %s perf event on CPU %d: %s",
				  o->page_fault_period ? "page-faults" : "cpu-clock", cpu,
				  strerror(errno));
			return -errno;
		}
		s->pfds[cpu] = fd;
		s->links[cpu] = bpf_program__attach_perf_event(s->skel->progs.pyspy_sample, fd);
		if (!s->links[cpu]) {
			int err = -errno;

			log_error("cannot attach the sampler to CPU %d: %s", cpu, strerror(-err));
			return err;
		}
		attached++;
	}
	if (!attached) {
		log_error("no online CPU to sample");
		return -ENODEV;
	}
	return 0;
}

static int load(struct session *s, const struct session_opts *o)
{
	/* --native records carry up to 16 KiB of stack each: room for as many. */
	size_t rb = o->ringbuf_bytes ? o->ringbuf_bytes
		    : o->native	     ? 2 * DEFAULT_RINGBUF
				     : DEFAULT_RINGBUF;
	unsigned threads;
	int err;

	s->skel = pyspy_bpf__open();
	if (!s->skel) {
		err = -errno;
		log_error("cannot open the BPF sampler: %s", strerror(-err));
		return err;
	}
	bpf_map__set_max_entries(s->skel->maps.events, rb);
	/* LRU maps: past this many, the least recently used is forgotten (and found again). */
	threads = o->max_threads ? o->max_threads : SESSION_DEFAULT_MAX_THREADS;
	bpf_map__set_max_entries(s->skel->maps.procs, threads);
	bpf_map__set_max_entries(s->skel->maps.tstates, threads);
	bpf_map__set_max_entries(s->skel->maps.offcpu_start, threads);
	s->skel->rodata->wakeup_bytes = rb / 4;
	s->skel->rodata->discover_all = o->discover_all;
	s->skel->rodata->native_stacks = o->native;
	s->skel->rodata->kernel_stacks = o->kernel;
	s->skel->rodata->async_tasks = o->async;
	if (o->ustack_bytes && o->ustack_bytes < PYSPY_USTACK_MAX)
		s->skel->rodata->ustack_max = o->ustack_bytes;
	/* The context-switch hook costs every switch on the host: only when asked. */
	bpf_program__set_autoload(s->skel->progs.pyspy_switch, o->offcpu);
	err = pyspy_bpf__load(s->skel);
	if (err) {
		log_error("cannot load the BPF sampler: %s (needs Linux 5.17+ with BPF, BTF and "
			  "bpf_loop; run with -v for the verifier log)",
			  strerror(-err));
		return err;
	}
	return 0;
}

struct session *session__open(const struct session_opts *o, session_sample_fn fn, void *ctx)
{
	struct session *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return NULL;
	s->fn = fn;
	s->ctx = ctx;
	s->stats_fd = -1;
	libbpf_set_print(libbpf_print);
	err = load(s, o);
	if (err)
		goto fail;
	s->ncpus = libbpf_num_possible_cpus();
	if (s->ncpus <= 0) {
		err = s->ncpus ? s->ncpus : -ENODEV;
		log_error("cannot count CPUs: %s", strerror(-err));
		goto fail;
	}
	s->links = calloc(s->ncpus, sizeof(*s->links));
	s->pfds = malloc(s->ncpus * sizeof(*s->pfds));
	if (!s->links || !s->pfds) {
		err = -ENOMEM;
		goto fail;
	}
	for (int i = 0; i < s->ncpus; i++)
		s->pfds[i] = -1;
	s->rb = ring_buffer__new(bpf_map__fd(s->skel->maps.events), on_record, s, NULL);
	if (!s->rb) {
		err = -errno;
		log_error("cannot open the ring buffer: %s", strerror(-err));
		goto fail;
	}
	/* exec/exit (and sched_switch) raw tracepoints: no tracefs, no kprobes. */
	err = pyspy_bpf__attach(s->skel);
	if (err) {
		log_error("cannot attach the tracepoint programs: %s", strerror(-err));
		goto fail;
	}
	if (o->rate_hz || o->page_fault_period) {
		err = attach_cpus(s, o);
		if (err)
			goto fail;
	}
	return s;
fail:
	session__close(s);
	errno = -err;
	return NULL;
}

void session__close(struct session *s)
{
	if (!s)
		return;
	for (int i = 0; s->links && i < s->ncpus; i++)
		bpf_link__destroy(s->links[i]);
	for (int i = 0; s->pfds && i < s->ncpus; i++)
		if (s->pfds[i] >= 0)
			close(s->pfds[i]);
	ring_buffer__free(s->rb);
	if (s->stats_fd >= 0)
		close(s->stats_fd);
	pyspy_bpf__destroy(s->skel);
	free(s->links);
	free(s->pfds);
	free(s);
}

/*
 * Each CPU keeps a copy of the procs entry it used last; the BPF side drops
 * it when procs_gen moves, so every change to the map is followed by this.
 */
static void procs_changed(struct session *s)
{
	__atomic_add_fetch(&s->skel->bss->procs_gen, 1, __ATOMIC_SEQ_CST);
}

int session__add_proc(struct session *s, pid_t pid, const struct pyspy_proc *p)
{
	__u32 key = pid;
	int err = 0;

	if (bpf_map__update_elem(s->skel->maps.procs, &key, sizeof(key), p, sizeof(*p), BPF_ANY))
		err = -errno;
	procs_changed(s);
	return err;
}

int session__remove_proc(struct session *s, pid_t pid)
{
	__u32 key = pid;
	int err = 0;

	if (bpf_map__delete_elem(s->skel->maps.procs, &key, sizeof(key), 0) && errno != ENOENT)
		err = -errno;
	procs_changed(s);
	return err;
}

int session__offcpu_open(struct session *s, pid_t tid, uint64_t *ktime_ns)
{
	__u32 key = tid;
	__u64 val = *ktime_ns;

	if (!bpf_program__autoload(s->skel->progs.pyspy_switch))
		return -ENOTSUP;
	if (!bpf_map__update_elem(s->skel->maps.offcpu_start, &key, sizeof(key), &val, sizeof(val),
				  BPF_NOEXIST))
		return 0;
	if (errno != EEXIST)
		return -errno;
	/* It left before we looked (or just now): that time is when it began. */
	if (bpf_map__lookup_elem(s->skel->maps.offcpu_start, &key, sizeof(key), &val, sizeof(val),
				 0))
		return -errno;
	*ktime_ns = val;
	return 0;
}

int session__set_state(struct session *s, pid_t pid, uint8_t state)
{
	struct pyspy_proc p = { .state = state };

	return session__add_proc(s, pid, &p);
}

int session__poll(struct session *s, int timeout_ms)
{
	int err;

	s->polled = 0;
	s->poll_until = 0;
	dither(s, mono_ns());
	err = ring_buffer__poll(s->rb, s->behind ? 0 : timeout_ms);
	/* Most records come without a wakeup (see the BPF side): take them too. */
	if (err >= 0 || err == -EINTR)
		err = ring_buffer__consume(s->rb);
	s->behind = err == POLL_STOP;
	if (err < 0 && err != -EINTR && err != POLL_STOP)
		return err;
	return s->polled;
}

static void sum_percpu(struct bpf_map *map, uint32_t n, uint64_t *out, int ncpus)
{
	uint64_t *vals = calloc(ncpus, sizeof(*vals));

	for (uint32_t k = 0; vals && k < n; k++) {
		out[k] = 0;
		if (bpf_map__lookup_elem(map, &k, sizeof(k), vals, ncpus * sizeof(*vals), 0))
			continue;
		for (int c = 0; c < ncpus; c++)
			out[k] += vals[c];
	}
	free(vals);
}

void session__counters(struct session *s, uint64_t errors[PYSPY_ERR__COUNT],
		       uint64_t stats[PYSPY_STAT__COUNT])
{
	sum_percpu(s->skel->maps.errors, PYSPY_ERR__COUNT, errors, s->ncpus);
	sum_percpu(s->skel->maps.stats, PYSPY_STAT__COUNT, stats, s->ncpus);
}

int session__measure_run_time(struct session *s)
{
	if (s->stats_fd < 0)
		s->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	return s->stats_fd < 0 ? -errno : 0;
}

uint64_t session__run_time_ns(struct session *s)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (s->stats_fd < 0 || bpf_obj_get_info_by_fd(session__prog_fd(s), &info, &len))
		return 0;
	return info.run_time_ns;
}

int session__prog_fd(struct session *s)
{
	return bpf_program__fd(s->skel->progs.pyspy_sample);
}

int session__switch_prog_fd(struct session *s)
{
	return bpf_program__fd(s->skel->progs.pyspy_switch);
}
