// SPDX-License-Identifier: MIT
/*
 * codecache.c - code objects of one process, cached by address and
 * validated by fingerprint on every use.
 *
 * Why validate every time: CPython frees code objects (exec'd or generated
 * functions, reloaded modules) and malloc hands the same address to the
 * next one.  The fingerprint (string and table pointers, first line) comes
 * from one batched process_vm_readv per sample, so the check costs one
 * syscall per sample, not per frame.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <uthash.h>

#include "codecache.h"
#include "python.h"

/* Past this many distinct code objects, start over (bounded memory). */
#define MAX_ENTRIES 65536
/* Largest code-object header we read per frame. */
#define HDR_MAX 512
/* Remote iovecs per process_vm_readv call (IOV_MAX). */
#define IOV_BATCH 1024

struct code_entry {
	UT_hash_handle hh;
	uint64_t addr;
	struct py_code code;
	uint32_t func_id;
};

struct code_cache {
	pid_t pid;
	struct py_layout l;
	uint64_t code_type;
	struct profile *prof;
	struct code_entry *entries;
	uint32_t n_entries;
	uint32_t unknown_loc;
	uint8_t *hdrs; /* PYSPY_MAX_FRAMES headers */
	int *hdr_ok;
	struct code_cache_stats st;
};

struct code_cache *code_cache__new(pid_t pid, const struct py_layout *l, uint64_t code_type_addr,
				   struct profile *prof)
{
	struct code_cache *c;

	if (l->code_size == 0 || l->code_size > HDR_MAX) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->pid = pid;
	c->l = *l;
	c->code_type = code_type_addr;
	c->prof = prof;
	c->hdrs = malloc((size_t)PYSPY_MAX_FRAMES * l->code_size);
	c->hdr_ok = malloc(PYSPY_MAX_FRAMES * sizeof(*c->hdr_ok));
	c->unknown_loc = profile__location(prof, profile__function(prof, "[unknown]", "", 0), -1);
	if (!c->hdrs || !c->hdr_ok || c->unknown_loc == UINT32_MAX) {
		code_cache__free(c);
		errno = ENOMEM;
		return NULL;
	}
	return c;
}

static void clear_entries(struct code_cache *c)
{
	struct code_entry *e, *tmp;

	HASH_ITER(hh, c->entries, e, tmp) {
		HASH_DEL(c->entries, e);
		py_code__clear(&e->code);
		free(e);
	}
	c->n_entries = 0;
}

void code_cache__free(struct code_cache *c)
{
	if (!c)
		return;
	clear_entries(c);
	free(c->hdrs);
	free(c->hdr_ok);
	free(c);
}

/* Read one header per frame; hdr_ok[i] says which arrived. */
static void read_headers(struct code_cache *c, const struct pyspy_frame *frames, uint32_t n)
{
	struct iovec local[IOV_BATCH], remote[IOV_BATCH];
	size_t sz = c->l.code_size;

	for (uint32_t base = 0; base < n; base += IOV_BATCH) {
		uint32_t cnt = n - base < IOV_BATCH ? n - base : IOV_BATCH;
		ssize_t got;

		for (uint32_t i = 0; i < cnt; i++) {
			local[i] = (struct iovec){ c->hdrs + (size_t)(base + i) * sz, sz };
			remote[i] = (struct iovec){ (void *)(uintptr_t)frames[base + i].code, sz };
		}
		got = process_vm_readv(c->pid, local, cnt, remote, cnt, 0);
		if (got < 0)
			got = 0;
		/* The kernel stops at the first bad remote iovec: redo the rest one by one. */
		for (uint32_t i = 0; i < cnt; i++) {
			if ((size_t)got >= (i + 1) * sz) {
				c->hdr_ok[base + i] = 1;
				continue;
			}
			c->hdr_ok[base + i] =
				process_vm_readv(c->pid, &local[i], 1, &remote[i], 1, 0) == (ssize_t)sz;
		}
	}
}

static int is_code(const struct code_cache *c, const uint8_t *hdr)
{
	uint64_t type;

	if (!c->code_type)
		return 1;
	memcpy(&type, hdr + c->l.object_type, sizeof(type));
	return type == c->code_type;
}

static struct code_entry *load_entry(struct code_cache *c, uint64_t addr)
{
	struct code_entry *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	if (py_code__read(c->pid, &c->l, addr, &e->code)) {
		free(e);
		return NULL;
	}
	e->addr = addr;
	e->func_id = profile__function(c->prof, e->code.qualname, e->code.filename,
				       e->code.firstlineno);
	if (e->func_id == UINT32_MAX) {
		py_code__clear(&e->code);
		free(e);
		return NULL;
	}
	return e;
}

static struct code_entry *lookup(struct code_cache *c, uint64_t addr, const uint8_t *hdr)
{
	struct py_code_fp fp;
	struct code_entry *e;

	if (!is_code(c, hdr) || py_code__fingerprint_from(&c->l, hdr, c->l.code_size, &fp))
		return NULL;
	HASH_FIND(hh, c->entries, &addr, sizeof(addr), e);
	if (e && !memcmp(&e->code.fp, &fp, sizeof(fp))) {
		c->st.hits++;
		return e;
	}
	if (e) {
		/* Same address, different code object: the old one was freed. */
		c->st.replaced++;
		HASH_DEL(c->entries, e);
		py_code__clear(&e->code);
		free(e);
		c->n_entries--;
	}
	c->st.misses++;
	if (c->n_entries >= MAX_ENTRIES)
		clear_entries(c);
	e = load_entry(c, addr);
	if (!e)
		return NULL;
	/* The object may have changed between the two reads; trust the newer. */
	HASH_ADD(hh, c->entries, addr, sizeof(addr), e);
	c->n_entries++;
	return e;
}

uint32_t code_cache__resolve(struct code_cache *c, const struct pyspy_frame *frames, uint32_t n,
			     uint32_t *locs)
{
	uint32_t bad = 0;

	if (n > PYSPY_MAX_FRAMES)
		n = PYSPY_MAX_FRAMES;
	read_headers(c, frames, n);
	for (uint32_t i = 0; i < n; i++) {
		struct code_entry *e = NULL;
		uint32_t loc = UINT32_MAX;

		if (c->hdr_ok[i])
			e = lookup(c, frames[i].code, c->hdrs + (size_t)i * c->l.code_size);
		if (e)
			loc = profile__location(c->prof, e->func_id,
						py_code__line(&e->code, frames[i].lasti));
		if (loc == UINT32_MAX) {
			c->st.bad_code++;
			bad++;
			loc = c->unknown_loc;
		}
		locs[i] = loc;
	}
	return bad;
}

const struct code_cache_stats *code_cache__stats(const struct code_cache *c)
{
	return &c->st;
}
