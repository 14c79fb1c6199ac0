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
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "user/base/hash.h" /* before uthash.h: its HASH_FUNCTION */
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
};

struct code_store *code_store__new(size_t per_target, size_t total)
{
	struct code_store *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	s->per_target = per_target ? per_target : CODE_STORE_DEFAULT_PER_TARGET;
	s->total = total ? total : CODE_STORE_DEFAULT_TOTAL;
	return s;
}

void code_store__free(struct code_store *s)
{
	struct table *t, *tmp;

	if (!s)
		return;
	/* Caches put their tables back first; anything left is freed anyway. */
	HASH_ITER (hh, s->tables, t, tmp) {
		HASH_DEL(s->tables, t);
		free(t);
	}
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
