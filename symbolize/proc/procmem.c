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
 * objects a walk reads (tasks, coroutines) sit together in the heap.
 */
#define SPAN_GAP 512
#define SPAN_MAX (16u << 10)

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

int procmem_read_many(pid_t pid, struct procmem_req *r, uint32_t n)
{
	uint32_t *idx = malloc((size_t)(n ? n : 1) * 2 * sizeof(*idx)), *left;
	uint32_t n_left = 0, good = 0;
	int err = 0;

	for (uint32_t k = 0; k < n; k++)
		r[k].ok = false;
	if (!idx)
		return -ENOMEM;
	left = idx + n;
	for (uint32_t k = 0; k < n; k++)
		idx[k] = k;
	qsort_r(idx, n, sizeof(*idx), by_addr, r);
	/* Runs of nearby requests, each read as one range into a buffer. */
	for (uint32_t i = 0; i < n && !err;) {
		uint64_t lo = r[idx[i]].addr, hi = lo + r[idx[i]].len;
		uint32_t j = i + 1;
		uint8_t *buf;

		if (!r[idx[i]].len || hi < lo) {
			i++;
			continue;
		}
		while (j < n && r[idx[j]].len && r[idx[j]].addr + r[idx[j]].len > r[idx[j]].addr &&
		       r[idx[j]].addr <= hi + SPAN_GAP &&
		       (r[idx[j]].addr + r[idx[j]].len > hi ? r[idx[j]].addr + r[idx[j]].len : hi) -
				       lo <=
			       SPAN_MAX) {
			if (r[idx[j]].addr + r[idx[j]].len > hi)
				hi = r[idx[j]].addr + r[idx[j]].len;
			j++;
		}
		buf = j - i > 1 ? malloc(hi - lo) : NULL;
		if (buf && !procmem_read(pid, lo, buf, hi - lo)) {
			for (uint32_t k = i; k < j; k++) {
				struct procmem_req *q = &r[idx[k]];

				memcpy(q->buf, buf + (q->addr - lo), q->len);
				q->ok = true;
				good++;
			}
		} else {
			/* Alone, or a run crossing an unmapped page: each on its own. */
			for (uint32_t k = i; k < j; k++)
				left[n_left++] = idx[k];
		}
		free(buf);
		i = j;
	}
	if (n_left) {
		int got = read_each(pid, r, n_left, left);

		if (got < 0)
			err = got;
		else
			good += (uint32_t)got;
	}
	free(idx);
	return err && !good ? err : (int)good;
}
