/* SPDX-License-Identifier: MIT */
/*
 * procmem.h - reading another process's memory from userspace.
 *
 * Owns: process_vm_readv wrappers, and their tap into a memory image
 * (procimage.h).  Used for discovery and symbolization only, never on the
 * sampling path (that is BPF's bpf_probe_read_user).
 */
#ifndef PYSPY_PROCMEM_H
#define PYSPY_PROCMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Read exactly len bytes at addr of pid. 0, or -errno (-EFAULT if short). */
int procmem_read(pid_t pid, uint64_t addr, void *buf, size_t len);

/*
 * Read up to len bytes at addr, stopping at the first page that cannot be
 * read (the end of a mapping): the bytes read, or -errno if none.
 */
ssize_t procmem_read_upto(pid_t pid, uint64_t addr, void *buf, size_t len);

/* One of many reads done together: ok says whether all len bytes came. */
struct procmem_req {
	uint64_t addr;
	void *buf;
	uint32_t len;
	bool ok;
};

/*
 * The one span reader: do n reads in as few process_vm_readv calls and
 * remote ranges as it can.  Requests within 1 KiB of each other are read as
 * one range (the kernel's cost is per range, not per byte), all the ranges
 * of a batch in one call; a range the kernel stops at is read again one
 * request at a time.  Returns how many succeeded, or -errno if the
 * process cannot be read at all (then every ok is false).
 */
int procmem_read_many(pid_t pid, struct procmem_req *r, uint32_t n);

/*
 * The same, in room the caller keeps between batches (the hot path's:
 * nothing allocated per call once it has grown).  Zeroed at first.
 */
struct procmem_scratch {
	uint32_t *idx; /* 2 per request: sorted, and those read again */
	uint8_t *span; /* the bytes of a call's ranges */
	uint32_t cap_idx;
};
int procmem_read_many_in(pid_t pid, struct procmem_req *r, uint32_t n, struct procmem_scratch *sc);
void procmem_scratch__free(struct procmem_scratch *sc);
/* What it holds once it has done batches of up to n requests, at most. */
size_t procmem_scratch__cost(uint32_t n);

/* Read an 8-byte pointer; 0 or -errno. */
int procmem_read_u64(pid_t pid, uint64_t addr, uint64_t *out);

/*
 * Tap pid's reads (img NULL: untap): each one that succeeds is recorded
 * into img (`dump --save-image`), or, with replay, served from img alone,
 * the process not read at all (the unit tests' saved interpreters).  One
 * process at a time; not for the sampler's threads.
 */
struct procimage;
void procmem_tap(pid_t pid, struct procimage *img, bool replay);

#endif /* PYSPY_PROCMEM_H */
