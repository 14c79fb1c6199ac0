// SPDX-License-Identifier: MIT
/*
 * codecache.c - code objects of one process, cached by address and
 * checked against the time each sample was taken.
 *
 * CPython frees code objects (exec'd or generated functions, reloaded
 * modules) and malloc hands the same address to the next one, and samples
 * are symbolized some milliseconds after they were taken.  So every use
 * re-reads the code object's header (one batched process_vm_readv per
 * sample) and compares a fingerprint; each address remembers its current
 * and previous occupant.  Which one a frame saw is told by the code_fp the
 * BPF side read at sample time (PYSPY_MODE_VERIFY, on while a process is
 * new or churns code objects), or else by time: the span each occupant was
 * seen at the address.  When neither can tell, the frame is "[unknown]"
 * (counted as ambiguous) rather than possibly wrong.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <uthash.h>

#include "codecache.h"
#include "python.h"

/* Past this many distinct code objects, start over (bounded memory). */
#define MAX_ENTRIES 65536
/* Remote iovecs per process_vm_readv call (IOV_MAX). */
#define IOV_BATCH 1024

/*
 * One occupant of an address, and the span of time it is known to have
 * been there: from first_ns (0: no earlier occupant was ever seen) to
 * last_ns, the start of its latest observation.
 */
struct code_gen {
	bool valid;
	struct py_code code;
	uint32_t func_id;
	uint64_t first_ns, last_ns;
};

struct code_entry {
	UT_hash_handle hh;
	uint64_t addr;
	struct code_gen cur, prev;
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

	if (l->code_size == 0 || l->code_size > PY_CODE_HDR_MAX) {
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

static void gen_clear(struct code_gen *g)
{
	if (g->valid)
		py_code__clear(&g->code);
	memset(g, 0, sizeof(*g));
}

static void clear_entries(struct code_cache *c)
{
	struct code_entry *e, *tmp;

	HASH_ITER(hh, c->entries, e, tmp) {
		HASH_DEL(c->entries, e);
		gen_clear(&e->cur);
		gen_clear(&e->prev);
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

static uint64_t mono_ns(void)
{
	struct timespec ts;

	/* The clock of bpf_ktime_get_ns(). */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/*
 * Read one header per frame; hdr_ok[i] says which arrived.  *t_start is
 * taken before the reads: each code object was at its address at some
 * moment after it.
 */
static void read_headers(struct code_cache *c, const struct pyspy_frame *frames, uint32_t n,
			 uint64_t *t_start)
{
	struct iovec local[IOV_BATCH], remote[IOV_BATCH];
	size_t sz = c->l.code_size;

	*t_start = mono_ns();
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

static int gen_load(struct code_cache *c, uint64_t addr, struct code_gen *g)
{
	memset(g, 0, sizeof(*g));
	if (py_code__read(c->pid, &c->l, addr, &g->code))
		return -EINVAL;
	g->func_id = profile__function(c->prof, g->code.qualname, g->code.filename,
				       g->code.firstlineno);
	if (g->func_id == UINT32_MAX) {
		py_code__clear(&g->code);
		return -ENOMEM;
	}
	g->valid = true;
	return 0;
}

static struct code_entry *new_entry(struct code_cache *c, uint64_t addr, uint64_t t_start)
{
	struct code_entry *e;

	if (c->n_entries >= MAX_ENTRIES)
		clear_entries(c);
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->addr = addr;
	if (gen_load(c, addr, &e->cur)) {
		free(e);
		return NULL;
	}
	/* first_ns 0: no earlier occupant is known, so it owns the past. */
	e->cur.last_ns = t_start;
	HASH_ADD(hh, c->entries, addr, sizeof(addr), e);
	c->n_entries++;
	return e;
}

/* Record what is at e->addr now (fingerprint fp, seen after t_start). */
static int observe(struct code_cache *c, struct code_entry *e, const struct py_code_fp *fp,
		   uint64_t t_start)
{
	struct code_gen g;

	if (e->cur.valid && py_code_fp__equal(&e->cur.code.fp, fp)) {
		c->st.hits++;
		if (t_start > e->cur.last_ns)
			e->cur.last_ns = t_start;
		return 0;
	}
	/* Same address, different code object: the old one was freed. */
	c->st.replaced++;
	c->st.last_change_ns = c->st.last_replace_ns = t_start;
	if (gen_load(c, e->addr, &g))
		return -EINVAL;
	g.first_ns = mono_ns();
	g.last_ns = t_start;
	gen_clear(&e->prev);
	e->prev = e->cur;
	e->cur = g;
	return 0;
}

static bool gen_covers(const struct code_gen *g, uint64_t t)
{
	return g->valid && g->first_ns <= t && t <= g->last_ns;
}

static bool gen_matches(const struct code_gen *g, uint32_t code_fp)
{
	return g->valid && pyspy_code_fp(g->code.fp.name, g->code.fp.firstlineno) == code_fp;
}

/* The occupant a frame saw: by its BPF fingerprint, else by time. */
static struct code_gen *pick(struct code_entry *e, const struct pyspy_frame *f, uint64_t t_sample,
			     bool verified)
{
	if (verified) {
		if (gen_matches(&e->cur, f->code_fp))
			return &e->cur;
		if (gen_matches(&e->prev, f->code_fp))
			return &e->prev;
		return NULL;
	}
	if (gen_covers(&e->cur, t_sample))
		return &e->cur;
	if (gen_covers(&e->prev, t_sample))
		return &e->prev;
	return NULL;
}

/* Which occupant of this address the sample at t_sample saw, if known. */
static struct code_gen *lookup(struct code_cache *c, const struct pyspy_frame *f,
			       const uint8_t *hdr, uint64_t t_sample, bool verified,
			       uint64_t t_start)
{
	uint64_t addr = f->code;
	struct py_code_fp fp;
	struct code_gen *g;
	struct code_entry *e;

	if (!is_code(c, hdr) || py_code__fingerprint_from(&c->l, hdr, c->l.code_size, &fp))
		return NULL;
	HASH_FIND(hh, c->entries, &addr, sizeof(addr), e);
	if (!e) {
		c->st.misses++;
		c->st.last_change_ns = t_start;
		e = new_entry(c, addr, t_start);
		if (!e)
			return NULL;
	} else if (observe(c, e, &fp, t_start)) {
		return NULL;
	}
	g = pick(e, f, t_sample, verified);
	if (!g)
		c->st.ambiguous++;
	return g;
}

uint32_t code_cache__resolve(struct code_cache *c, const struct pyspy_frame *frames, uint32_t n,
			     uint64_t t_sample, bool verified, uint32_t *locs)
{
	uint64_t t_start;
	uint32_t bad = 0;

	if (n > PYSPY_MAX_FRAMES)
		n = PYSPY_MAX_FRAMES;
	read_headers(c, frames, n, &t_start);
	for (uint32_t i = 0; i < n; i++) {
		struct code_gen *g = NULL;
		uint32_t loc = UINT32_MAX;

		if (c->hdr_ok[i])
			g = lookup(c, &frames[i], c->hdrs + (size_t)i * c->l.code_size, t_sample,
				   verified, t_start);
		if (g)
			loc = profile__location(c->prof, g->func_id,
						py_code__line(&g->code, frames[i].lasti));
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
