// SPDX-License-Identifier: MIT
/* procmem.c - read another process's memory with process_vm_readv. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "procimage.h"
#include "procmem.h"

/*
 * The tap (procmem_tap): one process whose reads are recorded into an
 * image, or served from one without the process being read at all.
 */
static struct {
	pid_t pid;
	struct procimage *img;
	bool replay;
} tap;

void procmem_tap(pid_t pid, struct procimage *img, bool replay)
{
	tap.pid = pid;
	tap.img = img;
	tap.replay = replay;
}

/* What the image holds of the ranges, in order, up to the first it lacks. */
static ssize_t image_readv(const struct iovec *local, const struct iovec *remote, int n)
{
	ssize_t done = 0;

	for (int i = 0; i < n; i++) {
		if (procimage__read(tap.img, (uint64_t)(uintptr_t)remote[i].iov_base,
				    local[i].iov_base, local[i].iov_len))
			break;
		done += (ssize_t)local[i].iov_len;
	}
	if (!done && n) {
		errno = EFAULT;
		return -1;
	}
	return done;
}

/* Keep the bytes a read brought (the ranges are paired one to one). */
static void record(const struct iovec *local, const struct iovec *remote, int n, ssize_t got)
{
	for (int i = 0; i < n && got > 0; i++) {
		size_t take = (size_t)got < local[i].iov_len ? (size_t)got : local[i].iov_len;

		procimage__add(tap.img, (uint64_t)(uintptr_t)remote[i].iov_base, local[i].iov_base,
			       take);
		got -= (ssize_t)take;
	}
}

/* process_vm_readv, through the tap; local[i] and remote[i] have one length. */
static ssize_t vm_readv(pid_t pid, const struct iovec *local, const struct iovec *remote, int n)
{
	ssize_t got;

	if (tap.img && tap.pid == pid && tap.replay)
		return image_readv(local, remote, n);
	do
		got = process_vm_readv(pid, local, (unsigned long)n, remote, (unsigned long)n, 0);
	while (got < 0 && errno == EINTR);
	if (got > 0 && tap.img && tap.pid == pid)
		record(local, remote, n, got);
	return got;
}

int procmem_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
	ssize_t n;

	if (!len)
		return 0;
	/* A range that wraps the address space cannot be valid memory. */
	if (addr + len < addr)
		return -EFAULT;
	n = vm_readv(pid, &local, &remote, 1);
	if (n < 0)
		return -errno;
	/* Partial reads happen when the range crosses into an unmapped page. */
	if ((size_t)n != len)
		return -EFAULT;
	return 0;
}

/* Pages per call of procmem_read_upto: the kernel stops at the first bad one. */
#define UPTO_PAGES 16

ssize_t procmem_read_upto(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local[UPTO_PAGES], remote[UPTO_PAGES];
	size_t done = 0;
	ssize_t n;
	int k;

	if (addr + len < addr)
		len = UINT64_MAX - addr;
	while (done < len) {
		size_t want = 0;

		for (k = 0; k < UPTO_PAGES && done + want < len; k++) {
			uint64_t a = addr + done + want;
			size_t chunk = 4096 - (a & 4095);

			if (chunk > len - done - want)
				chunk = len - done - want;
			local[k] = (struct iovec){ (char *)buf + done + want, chunk };
			remote[k] = (struct iovec){ (void *)(uintptr_t)a, chunk };
			want += chunk;
		}
		n = vm_readv(pid, local, remote, k);
		if (n < 0)
			return done ? (ssize_t)done : -errno;
		done += (size_t)n;
		if ((size_t)n < want)
			break;
	}
	return (ssize_t)done;
}

int procmem_read_u64(pid_t pid, uint64_t addr, uint64_t *out)
{
	uint64_t v;
	int err = procmem_read(pid, addr, &v, sizeof(v));

	if (err)
		return err;
	*out = v;
	return 0;
}

/* Ranges per call: the kernel's UIO_MAXIOV. */
#define MANY_IOV 1024
/*
 * Requests closer than this are read as one range: the kernel's cost is
 * per range (a mapping lookup, the pages pinned), not per byte, and the
 * objects read together (code objects made together, tasks, coroutines)
 * sit together in the heap.  A range holds at most SPAN_MAX bytes, and one
 * call at most SPAN_CALL of them.
 */
#define SPAN_GAP  1024
#define SPAN_MAX  (16u << 10)
#define SPAN_CALL (64u << 10)

/* The requests one by one, as few calls as the kernel allows. */
static int read_each(pid_t pid, struct procmem_req *r, uint32_t n, const uint32_t *idx)
{
	struct iovec local[MANY_IOV], remote[MANY_IOV];
	uint32_t i = 0, good = 0;

	while (i < n) {
		uint32_t k = 0, first = i;
		ssize_t got;

		for (; i < n && k < MANY_IOV; i++, k++) {
			struct procmem_req *q = &r[idx[i]];

			if (!q->len || q->addr + q->len < q->addr)
				break;
			local[k] = (struct iovec){ q->buf, q->len };
			remote[k] = (struct iovec){ (void *)(uintptr_t)q->addr, q->len };
		}
		if (!k) {
			i++; /* an empty or wrapping range: not read */
			continue;
		}
		got = vm_readv(pid, local, remote, (int)k);
		if (got < 0 && errno != EFAULT)
			return -errno;
		if (got < 0)
			got = 0;
		/* Whole ranges up to where it stopped; the one it stopped in failed. */
		i = first;
		for (uint32_t j = 0; j < k; j++, i++) {
			if ((size_t)got < r[idx[i]].len)
				break;
			got -= (ssize_t)r[idx[i]].len;
			r[idx[i]].ok = true;
			good++;
		}
		if (i < first + k)
			i++; /* the range it stopped in */
	}
	return (int)good;
}

static int by_addr(const void *a, const void *b, void *ctx)
{
	const struct procmem_req *r = ctx;
	uint64_t x = r[*(const uint32_t *)a].addr, y = r[*(const uint32_t *)b].addr;

	return (x > y) - (x < y);
}

static bool req_ok(const struct procmem_req *q)
{
	return q->len && q->addr + q->len > q->addr;
}

/* One range of nearby requests, sorted idx[first..last], at off in the span bytes. */
struct run {
	uint64_t lo, hi;
	uint32_t first, last;
	size_t off;
};

/*
 * Read runs[0..n) in one call, each into its place in sc->span (or, alone,
 * straight into its request's buffer); hand each request its bytes.  The
 * requests of a run the kernel stopped at, or after, are listed in left.
 */
static int read_runs(pid_t pid, struct procmem_req *r, const uint32_t *idx, const struct run *runs,
		     uint32_t n, struct procmem_scratch *sc, uint32_t *left, uint32_t *n_left)
{
	struct iovec local[MANY_IOV], remote[MANY_IOV];
	size_t want = 0;
	ssize_t got;
	int good = 0;

	if (!n || n > MANY_IOV)
		return 0;
	local[0] = remote[0] = (struct iovec){ 0 }; /* n > 0; set below, for the compiler */
	for (uint32_t i = 0; i < n; i++) {
		bool alone = runs[i].first == runs[i].last;

		local[i] =
			(struct iovec){ alone ? r[idx[runs[i].first]].buf : sc->span + runs[i].off,
					runs[i].hi - runs[i].lo };
		remote[i] =
			(struct iovec){ (void *)(uintptr_t)runs[i].lo, runs[i].hi - runs[i].lo };
	}
	got = vm_readv(pid, local, remote, (int)n);
	if (got < 0 && errno != EFAULT)
		return -errno;
	if (got < 0)
		got = 0;
	for (uint32_t i = 0; i < n; i++) {
		/* The kernel stops at the first range it cannot read whole. */
		bool whole = (size_t)got >= want + (runs[i].hi - runs[i].lo);

		want += runs[i].hi - runs[i].lo;
		for (uint32_t k = runs[i].first; k <= runs[i].last; k++) {
			struct procmem_req *q = &r[idx[k]];

			if (!whole) {
				left[(*n_left)++] = idx[k];
				continue;
			}
			if (runs[i].first != runs[i].last)
				memcpy(q->buf, sc->span + runs[i].off + (q->addr - runs[i].lo),
				       q->len);
			q->ok = true;
			good++;
		}
	}
	return good;
}

/* At least n bytes of each kind of room. */
static int scratch_fit(struct procmem_scratch *sc, uint32_t n)
{
	if (!sc->span && !(sc->span = malloc(SPAN_CALL)))
		return -ENOMEM;
	if (n > sc->cap_idx) {
		uint32_t cap = sc->cap_idx ? sc->cap_idx : 64;
		uint32_t *idx;

		while (cap < n)
			cap *= 2;
		idx = realloc(sc->idx, (size_t)cap * 2 * sizeof(*idx));
		if (!idx)
			return -ENOMEM;
		sc->idx = idx;
		sc->cap_idx = cap;
	}
	return 0;
}

void procmem_scratch__free(struct procmem_scratch *sc)
{
	free(sc->idx);
	free(sc->span);
	*sc = (struct procmem_scratch){ 0 };
}

size_t procmem_scratch__cost(uint32_t n)
{
	uint32_t cap = 64;

	while (cap < n)
		cap *= 2;
	return SPAN_CALL + (size_t)cap * 2 * sizeof(uint32_t);
}

int procmem_read_many_in(pid_t pid, struct procmem_req *r, uint32_t n, struct procmem_scratch *sc)
{
	struct run runs[MANY_IOV];
	uint32_t *idx, *left, n_left = 0, n_runs = 0;
	size_t used = 0;
	int good = 0, got, err = 0;

	for (uint32_t k = 0; k < n; k++)
		r[k].ok = false;
	if (!n)
		return 0;
	if (scratch_fit(sc, n))
		return -ENOMEM;
	idx = sc->idx;
	left = sc->idx + n;
	for (uint32_t k = 0; k < n; k++)
		idx[k] = k;
	qsort_r(idx, n, sizeof(*idx), by_addr, r);
	for (uint32_t k = 0; k < n && !err; k++) {
		const struct procmem_req *q = &r[idx[k]];
		struct run *last = n_runs ? &runs[n_runs - 1] : NULL;

		if (!req_ok(q))
			continue; /* empty or wrapping: not read, not ok */
		if (last && q->addr <= last->hi + SPAN_GAP) {
			uint64_t hi = q->addr + q->len > last->hi ? q->addr + q->len : last->hi;

			if (hi - last->lo <= SPAN_MAX && last->off + (hi - last->lo) <= SPAN_CALL) {
				used = last->off + (hi - last->lo);
				last->hi = hi;
				last->last = k;
				continue;
			}
		}
		if (n_runs == MANY_IOV || used + q->len > SPAN_CALL) {
			got = read_runs(pid, r, idx, runs, n_runs, sc, left, &n_left);
			err = got < 0 ? got : 0;
			good += got > 0 ? got : 0;
			n_runs = 0;
			used = 0;
		}
		/* A request past a call's room is read on its own, straight into its buffer. */
		if (q->len > SPAN_CALL) {
			left[n_left++] = idx[k];
			continue;
		}
		runs[n_runs++] = (struct run){ q->addr, q->addr + q->len, k, k, used };
		used += q->len;
	}
	if (!err && n_runs) {
		got = read_runs(pid, r, idx, runs, n_runs, sc, left, &n_left);
		err = got < 0 ? got : 0;
		good += got > 0 ? got : 0;
	}
	/* What a run took down with it: each on its own. */
	if (!err && n_left) {
		got = read_each(pid, r, n_left, left);
		err = got < 0 ? got : 0;
		good += got > 0 ? got : 0;
	}
	return err && !good ? err : good;
}

int procmem_read_many(pid_t pid, struct procmem_req *r, uint32_t n)
{
	struct procmem_scratch sc = { 0 };
	int got = procmem_read_many_in(pid, r, n, &sc);

	procmem_scratch__free(&sc);
	return got;
}
