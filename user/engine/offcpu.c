// SPDX-License-Identifier: MIT
/*
 * offcpu.c - weights per mode, off-CPU reasons, and the table of stacks of
 * threads waiting to run again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "symbolize/base/hash.h" /* before uthash.h: its HASH_FUNCTION */
#include <uthash.h>

#include "offcpu.h"
#include "symbolize/base/log.h"

/* Threads off the CPU at once that we keep a stack for. */
#define MAX_PENDING 65536
/* Bytes a page fault newly touches (x86_64 base pages). */
#define PAGE_BYTES 4096

/* x86_64 syscall numbers (the BPF side reads orig_ax). */
enum {
	SYS_read = 0,
	SYS_write = 1,
	SYS_poll = 7,
	SYS_pread64 = 17,
	SYS_pwrite64 = 18,
	SYS_readv = 19,
	SYS_writev = 20,
	SYS_select = 23,
	SYS_nanosleep = 35,
	SYS_connect = 42,
	SYS_accept = 43,
	SYS_sendto = 44,
	SYS_recvfrom = 45,
	SYS_sendmsg = 46,
	SYS_recvmsg = 47,
	SYS_wait4 = 61,
	SYS_futex = 202,
	SYS_clock_nanosleep = 230,
	SYS_epoll_wait = 232,
	SYS_waitid = 247,
	SYS_pselect6 = 270,
	SYS_ppoll = 271,
	SYS_epoll_pwait = 281,
	SYS_accept4 = 288,
	SYS_preadv = 295,
	SYS_recvmmsg = 299,
	SYS_futex_waitv = 449,
	SYS_epoll_pwait2 = 441,
};

struct offcpu_cause offcpu_cause_of(const struct pyspy_sample *smp)
{
	return (struct offcpu_cause){
		.syscall = smp->syscall,
		.arg = smp->arg,
		.preempted = smp->flags & PYSPY_SAMPLE_PREEMPTED,
		.args_null = smp->flags & PYSPY_SAMPLE_ARGS_NULL,
	};
}

const char *offcpu_reason(const struct offcpu_cause *c, uint64_t gil_addr, uint32_t gil_size)
{
	if (c->preempted)
		return "[preempted]";
	switch (c->syscall) {
	case SYS_nanosleep:
	case SYS_clock_nanosleep:
		return "[sleep]";
	case SYS_select:
	case SYS_pselect6:
		/* Before 3.11, time.sleep() is select(0, NULL, NULL, NULL, &t). */
		if (c->arg == 0 && c->args_null)
			return "[sleep]";
		return "[poll/select/epoll]";
	case SYS_poll:
	case SYS_ppoll:
	case SYS_epoll_wait:
	case SYS_epoll_pwait:
	case SYS_epoll_pwait2:
		return "[poll/select/epoll]";
	case SYS_read:
	case SYS_pread64:
	case SYS_readv:
	case SYS_preadv:
		return "[io: read]";
	case SYS_recvfrom:
	case SYS_recvmsg:
	case SYS_recvmmsg:
		return "[io: recv]";
	case SYS_write:
	case SYS_pwrite64:
	case SYS_writev:
		return "[io: write]";
	case SYS_sendto:
	case SYS_sendmsg:
		return "[io: send]";
	case SYS_accept:
	case SYS_accept4:
		return "[io: accept]";
	case SYS_connect:
		return "[io: connect]";
	case SYS_futex:
	case SYS_futex_waitv:
		/* Waiting on a word inside the GIL struct: its cond or mutex. */
		if (gil_addr && c->arg >= gil_addr && c->arg < gil_addr + gil_size)
			return "[gil]";
		return "[lock: futex]";
	case SYS_wait4:
	case SYS_waitid:
		return "[wait: child]";
	case -1:
		return "[off-cpu: kernel]";
	default:
		return "[off-cpu: other syscall]";
	}
}

uint64_t mode_sample_weight(const struct options *o, const struct pyspy_sample *smp)
{
	if (o->gil_only && !(smp->flags & PYSPY_SAMPLE_GIL))
		return 0;
	switch (o->mode) {
	case MODE_WALL:
		return 1000000000ull / (o->rate_hz ? o->rate_hz : 1);
	case MODE_MEMORY:
		return (uint64_t)o->fault_period * PAGE_BYTES;
	default:
		return 1;
	}
}

struct pending {
	UT_hash_handle hh;
	uint32_t tid, pid, flags, n;
	uint32_t *locs;
	uint64_t start_ns; /* charged up to here */
	uint64_t known_ns; /* since when we know of this wait (see _end) */
	bool settled;	   /* start_ns is a settle's, not the wait's own start */
};

struct offcpu_table {
	struct pending *h;
	uint32_t count;
	uint64_t dropped;
	uint32_t *out; /* what _end hands out */
};

struct offcpu_table *offcpu_table__new(void)
{
	return calloc(1, sizeof(struct offcpu_table));
}

static void pending_free(struct pending *p)
{
	free(p->locs);
	free(p);
}

void offcpu_table__free(struct offcpu_table *t)
{
	if (!t)
		return;
	HASH_CLEAR_FREE(hh, t->h, pending_free);
	free(t->out);
	free(t);
}

/* Keep tid's wait: its stack, the reason (if any) first. */
static void put(struct offcpu_table *t, uint32_t pid, uint32_t tid, uint32_t flags,
		const uint32_t *reason, const uint32_t *locs, uint32_t n, uint64_t start_ns,
		uint64_t known_ns)
{
	uint32_t head = reason ? 1 : 0;
	struct pending *p;
	uint32_t *copy;

	HASH_FIND(hh, t->h, &tid, sizeof(tid), p);
	if (!p) {
		if (t->count >= MAX_PENDING) {
			t->dropped++;
			return;
		}
		p = calloc(1, sizeof(*p));
		if (!p)
			return;
		p->tid = tid;
		HASH_ADD(hh, t->h, tid, sizeof(p->tid), p);
		t->count++;
	}
	copy = realloc(p->locs, (head + n) * sizeof(*copy));
	if (!copy && head + n)
		return;
	if (head)
		copy[0] = *reason;
	memcpy(copy + head, locs, n * sizeof(*copy));
	p->locs = copy;
	p->n = head + n;
	p->pid = pid;
	p->flags = flags;
	p->start_ns = start_ns;
	p->known_ns = known_ns;
	p->settled = false;
}

void offcpu_table__start(struct offcpu_table *t, uint32_t pid, uint32_t tid, uint32_t flags,
			 const uint32_t *locs, uint32_t n, uint64_t start_ns, uint64_t known_ns)
{
	put(t, pid, tid, flags, NULL, locs, n, start_ns, known_ns);
}

void offcpu_table__open(struct offcpu_table *t, struct profile *prof, const struct offcpu_open *w)
{
	const char *why = offcpu_reason(&w->cause, w->gil_addr, w->gil_size);
	uint32_t reason = profile__location(prof, profile__function(prof, why, "", 0), -1);

	if (log_verbose > 1)
		log_debug("PID %u TID %u: left the CPU (%s), %u frames", w->pid, w->tid, why, w->n);
	put(t, w->pid, w->tid, w->flags, &reason, w->locs, w->n, w->start_ns, w->known_ns);
}

static void wait_of(const struct pending *p, uint64_t from_ns, uint64_t now_ns,
		    struct offcpu_wait *w)
{
	w->pid = p->pid;
	w->tid = p->tid;
	w->flags = p->flags;
	w->n = p->n;
	w->locs = p->locs;
	/* A record that was queued behind a settle can end before it. */
	w->ns = now_ns > from_ns ? now_ns - from_ns : 0;
}

bool offcpu_table__end(struct offcpu_table *t, uint32_t tid, uint64_t begin_ns, uint64_t end_ns,
		       struct offcpu_wait *w)
{
	uint64_t from;
	struct pending *p;

	HASH_FIND(hh, t->h, &tid, sizeof(tid), p);
	if (!p)
		return false;
	/*
	 * The end of a wait that was over before we knew of this one: a
	 * thread found blocked at registration, whose previous wait's end
	 * was still queued in the ring buffer.  It must not close this one.
	 */
	if (!p->settled && end_ns < p->known_ns)
		return false;
	HASH_DEL(t->h, p);
	t->count--;
	/*
	 * Unsettled, the wait is charged from its start as the BPF side saw
	 * it, if that is earlier than ours: a thread found blocked at
	 * registration may have woken and left again before its start was
	 * looked up, so ours can be a later wait's.
	 */
	from = p->settled || begin_ns > p->start_ns ? p->start_ns : begin_ns;
	wait_of(p, from, end_ns, w);
	free(t->out);
	t->out = p->locs;
	p->locs = NULL;
	pending_free(p);
	return true;
}

void offcpu_table__settle(struct offcpu_table *t, uint64_t now_ns,
			  void (*fn)(const struct offcpu_wait *w, void *ctx), void *ctx)
{
	struct offcpu_wait w;
	struct pending *p;

	for (p = t->h; p; p = p->hh.next) {
		wait_of(p, p->start_ns, now_ns, &w);
		if (w.ns)
			fn(&w, ctx);
		if (now_ns > p->start_ns)
			p->start_ns = now_ns;
		p->settled = true;
	}
}

uint64_t offcpu_table__dropped(const struct offcpu_table *t)
{
	return t->dropped;
}

static const char *const mode_names[] = {
	[MODE_CPU] = "cpu",
	[MODE_OFFCPU] = "offcpu",
	[MODE_WALL] = "wall",
	[MODE_MEMORY] = "memory",
};

int profile_mode_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
		if (!strcmp(s, mode_names[i]))
			return i;
	return -1;
}

const char *profile_mode_name(int mode)
{
	return mode >= 0 && mode <= MODE_MEMORY ? mode_names[mode] : "?";
}

void profile_mode_units(int mode, const char **type, const char **unit)
{
	static const char *const units[][2] = {
		[MODE_OFFCPU] = { "offcpu", "nanoseconds" },
		[MODE_WALL] = { "wall", "nanoseconds" },
		[MODE_MEMORY] = { "memory", "bytes" },
	};

	*type = *unit = NULL;
	if (mode > MODE_CPU && mode <= MODE_MEMORY) {
		*type = units[mode][0];
		*unit = units[mode][1];
	}
}

void offcpu_table__remap(struct offcpu_table *t, struct profile_remap *m)
{
	for (struct pending *p = t->h; p; p = p->hh.next)
		for (uint32_t i = 0; i < p->n; i++)
			p->locs[i] = profile_remap__location(m, p->locs[i]);
}
