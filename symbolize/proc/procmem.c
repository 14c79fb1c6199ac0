// SPDX-License-Identifier: MIT
/* procmem.c - read another process's memory with process_vm_readv. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/uio.h>

#include "procmem.h"

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
	do
		n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	while (n < 0 && errno == EINTR);
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
		do
			n = process_vm_readv(pid, local, k, remote, k, 0);
		while (n < 0 && errno == EINTR);
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

int procmem_read_many(pid_t pid, struct procmem_req *r, uint32_t n)
{
	struct iovec local[MANY_IOV], remote[MANY_IOV];
	uint32_t i = 0, good = 0;

	for (uint32_t k = 0; k < n; k++)
		r[k].ok = false;
	while (i < n) {
		uint32_t k = 0, first = i;
		ssize_t got;

		/* A range that wraps the address space fails on its own. */
		while (i < n && r[i].len && r[i].addr + r[i].len < r[i].addr)
			i++;
		first = i;
		for (; i < n && k < MANY_IOV; i++, k++) {
			if (!r[i].len || r[i].addr + r[i].len < r[i].addr)
				break;
			local[k] = (struct iovec){ r[i].buf, r[i].len };
			remote[k] = (struct iovec){ (void *)(uintptr_t)r[i].addr, r[i].len };
		}
		if (!k) {
			i++; /* an empty or wrapping range: not read */
			continue;
		}
		do
			got = process_vm_readv(pid, local, k, remote, k, 0);
		while (got < 0 && errno == EINTR);
		if (got < 0 && !good && first == 0 && errno != EFAULT)
			return -errno;
		if (got < 0)
			got = 0;
		/* Whole ranges up to where it stopped; the one it stopped in failed. */
		i = first;
		for (uint32_t j = 0; j < k; j++, i++) {
			if ((size_t)got < r[i].len)
				break;
			got -= (ssize_t)r[i].len;
			r[i].ok = true;
			good++;
		}
		if (i < first + k)
			i++; /* the range it stopped in */
	}
	return (int)good;
}
