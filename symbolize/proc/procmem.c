// SPDX-License-Identifier: MIT
/* procmem.c - read another process's memory with process_vm_readv. */
#include <errno.h>
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

int procmem_read_u64(pid_t pid, uint64_t addr, uint64_t *out)
{
	uint64_t v;
	int err = procmem_read(pid, addr, &v, sizeof(v));

	if (err)
		return err;
	*out = v;
	return 0;
}
