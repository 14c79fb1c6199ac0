// SPDX-License-Identifier: MIT
/*
 * codestore.c - shared line tables and the code caches' byte budget.
 *
 * A line table is up to 1 MiB (PY_LINETABLE_MAX) that a target chooses:
 * one kept per code object lets a small process (many functions, one
 * table) cost the agent gigabytes.  Tables are kept once per content, with
 * a reference count, and looked up by hashing the bytes just read, so
 * sharing never trusts a target's pointers: two code objects share a copy
 * only when their bytes are equal.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "symbolize/base/hash.h" /* before uthash.h: its HASH_FUNCTION */
#include <uthash.h>

#include "codestore.h"

struct table {
	UT_hash_handle hh;
	uint64_t refs;
	size_t len;
	uint8_t bytes[];
};

struct code_store {
	pthread_mutex_t lock;
	struct table *tables;
	size_t per_target, total;
	struct code_store_stats st;
	/* One sample's room (codestore.h), held under its own lock: a cache
	 * that holds it takes `lock` for its tables meanwhile. */
	pthread_mutex_t scratch_lock;
	struct code_scratch scratch;
	uint32_t scratch_frames;
	size_t scratch_hdr, scratch_bytes;
};

struct code_store *code_store__new(size_t per_target, size_t total)
{
	struct code_store *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->scratch_lock, NULL);
	s->per_target = per_target ? per_target : CODE_STORE_DEFAULT_PER_TARGET;
	s->total = total ? total : CODE_STORE_DEFAULT_TOTAL;
	return s;
}

void code_store__free(struct code_store *s)
{
	if (!s)
		return;
	/* Caches put their tables back first; anything left is freed anyway. */
	HASH_CLEAR_FREE(hh, s->tables, free);
	free(s->scratch.hdrs);
	free(s->scratch.hdr_ok);
	free(s->scratch.read_idx);
	free(s->scratch.reqs);
	procmem_scratch__free(&s->scratch.mem);
	pthread_mutex_destroy(&s->scratch_lock);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

size_t code_store__per_target(const struct code_store *s)
{
	return s->per_target;
}

/* What a table costs: its bytes and its header (hash handle included). */
static size_t table_cost(size_t len)
{
	return sizeof(struct table) + len;
}

const uint8_t *code_store__get_table(struct code_store *s, const uint8_t *bytes, size_t len,
				     int *fresh)
{
	struct table *t;

	*fresh = 0;
	pthread_mutex_lock(&s->lock);
	HASH_FIND(hh, s->tables, bytes, len, t);
	if (!t) {
		t = malloc(table_cost(len));
		if (!t)
			goto out;
		t->refs = 0;
		t->len = len;
		memcpy(t->bytes, bytes, len);
		HASH_ADD_KEYPTR(hh, s->tables, t->bytes, len, t);
		s->st.bytes += table_cost(len);
		s->st.tables++;
		*fresh = 1;
	}
	t->refs++;
out:
	pthread_mutex_unlock(&s->lock);
	return t ? t->bytes : NULL;
}

void code_store__put_table(struct code_store *s, const uint8_t *table)
{
	struct table *t;

	if (!table)
		return;
	/* Only the store hands out table pointers: each is a struct table's bytes. */
	t = (struct table *)((const char *)table - offsetof(struct table, bytes));
	pthread_mutex_lock(&s->lock);
	if (--t->refs == 0) {
		HASH_DEL(s->tables, t);
		s->st.bytes -= table_cost(t->len);
		s->st.tables--;
		free(t);
	}
	pthread_mutex_unlock(&s->lock);
}

void code_store__charge(struct code_store *s, long delta)
{
	pthread_mutex_lock(&s->lock);
	s->st.bytes += (uint64_t)delta;
	pthread_mutex_unlock(&s->lock);
}

int code_store__over_total(const struct code_store *s)
{
	struct code_store *m = (struct code_store *)s;
	int over;

	pthread_mutex_lock(&m->lock);
	over = s->st.bytes > s->total;
	pthread_mutex_unlock(&m->lock);
	return over;
}

void code_store__count_evicted(struct code_store *s, uint64_t n)
{
	pthread_mutex_lock(&s->lock);
	s->st.evicted += n;
	pthread_mutex_unlock(&s->lock);
}

void code_store__count_refused(struct code_store *s)
{
	pthread_mutex_lock(&s->lock);
	s->st.refused++;
	pthread_mutex_unlock(&s->lock);
}

void code_store__stats(const struct code_store *s, struct code_store_stats *out)
{
	struct code_store *m = (struct code_store *)s;

	pthread_mutex_lock(&m->lock);
	*out = s->st;
	pthread_mutex_unlock(&m->lock);
}

/* What the room for frames headers of hdr bytes costs. */
static size_t scratch_cost(uint32_t frames, size_t hdr)
{
	return (size_t)frames *
		       (hdr + sizeof(int) + sizeof(uint32_t) + sizeof(struct procmem_req)) +
	       procmem_scratch__cost(frames);
}

/* Grow the room to at least frames headers of hdr bytes (scratch lock held). */
static int scratch_grow(struct code_store *s, uint32_t frames, size_t hdr)
{
	struct code_scratch *sc = &s->scratch;
	uint32_t want = s->scratch_frames ? s->scratch_frames : 64;
	void *h, *ok, *idx, *reqs;
	size_t cost;

	/* Doubling from 64 frames: a few sizes, whatever the depths. */
	while (want < frames)
		want *= 2;
	if (hdr < s->scratch_hdr)
		hdr = s->scratch_hdr;
	h = realloc(sc->hdrs, (size_t)want * hdr);
	if (h)
		sc->hdrs = h;
	ok = realloc(sc->hdr_ok, want * sizeof(*sc->hdr_ok));
	if (ok)
		sc->hdr_ok = ok;
	idx = realloc(sc->read_idx, want * sizeof(*sc->read_idx));
	if (idx)
		sc->read_idx = idx;
	reqs = realloc(sc->reqs, want * sizeof(*sc->reqs));
	if (reqs)
		sc->reqs = reqs;
	if (!h || !ok || !idx || !reqs)
		return -ENOMEM;
	s->scratch_frames = want;
	s->scratch_hdr = hdr;
	cost = scratch_cost(want, hdr);
	code_store__charge(s, (long)cost - (long)s->scratch_bytes);
	s->scratch_bytes = cost;
	return 0;
}

struct code_scratch *code_store__scratch(struct code_store *s, uint32_t frames, size_t hdr_size)
{
	pthread_mutex_lock(&s->scratch_lock);
	if ((frames > s->scratch_frames || hdr_size > s->scratch_hdr) &&
	    scratch_grow(s, frames, hdr_size)) {
		pthread_mutex_unlock(&s->scratch_lock);
		return NULL;
	}
	return &s->scratch;
}

void code_store__scratch_done(struct code_store *s)
{
	pthread_mutex_unlock(&s->scratch_lock);
}
