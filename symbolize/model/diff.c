// SPDX-License-Identifier: MIT
/*
 * diff.c - the arithmetic of a comparison of two profiles (diff.h): rows
 * per function, own and total weights per side, and the profile by
 * function that a differential flame graph draws.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "symbolize/base/hash.h" /* before uthash.h: its HASH_FUNCTION */
#include <uthash.h>

#include "diff.h"
#include "profile.h"
#include "rollup.h"
#include "symbolize/base/grow.h"

/* No row (nor memory for one): the memo's array is the rollup's map as it is. */
#define NONE ROLLUP_SKIP

struct fn_entry {
	UT_hash_handle hh;
	uint32_t row;
};

/*
 * One value per location of a profile, made from the location's function
 * (name, file) the first time it is asked for, and kept: a diff row, or a
 * location of the profile by function.
 */
struct fn_memo {
	const struct profile *p;
	uint32_t *of_loc; /* NONE until made */
	uint32_t n;
	uint32_t (*make)(void *ctx, const char *name, const char *file); /* NONE: no memory */
	void *ctx;
};

struct builder {
	struct diff_row *rows;
	size_t n, cap;
	struct fn_entry *by_key; /* "name\0file" -> row */
	struct fn_memo row_of;	 /* location of the side's profile -> row */
};

/* The row of function (name, file) in builder ctx, made if new; NONE on ENOMEM. */
static uint32_t find_or_add(void *ctx, const char *name, const char *file)
{
	struct builder *b = ctx;
	size_t ln = strlen(name), lf = strlen(file), keylen = ln + 1 + lf;
	struct fn_entry *e;
	char *key;

	key = malloc(keylen + 1);
	if (!key)
		return NONE;
	memcpy(key, name, ln + 1);
	memcpy(key + ln + 1, file, lf + 1);
	HASH_FIND(hh, b->by_key, key, keylen, e);
	if (e) {
		free(key);
		return e->row;
	}
	if (ARRAY_ROOM(b->rows, b->n + 1, b->cap, 256)) {
		free(key);
		return NONE;
	}
	e = calloc(1, sizeof(*e));
	if (!e || b->n >= NONE) {
		free(e);
		free(key);
		return NONE;
	}
	/* The row owns the key: its name, then its file. */
	b->rows[b->n] = (struct diff_row){ .name = key, .file = key + ln + 1 };
	e->row = (uint32_t)b->n++;
	HASH_ADD_KEYPTR(hh, b->by_key, key, keylen, e);
	return e->row;
}

static int fn_memo_init(struct fn_memo *m, const struct profile *p,
			uint32_t (*make)(void *ctx, const char *name, const char *file), void *ctx)
{
	*m = (struct fn_memo){ .p = p, .n = profile__n_locations(p), .make = make, .ctx = ctx };
	m->of_loc = malloc(((size_t)m->n + 1) * sizeof(*m->of_loc));
	if (!m->of_loc)
		return -ENOMEM;
	memset(m->of_loc, 0xff, ((size_t)m->n + 1) * sizeof(*m->of_loc));
	return 0;
}

/* m's value for loc: a location is known by its function's name and file. */
static uint32_t fn_memo_get(struct fn_memo *m, uint32_t loc)
{
	const struct profile_location *l;
	const struct profile_function *fn;
	uint32_t v;

	if (loc < m->n && m->of_loc[loc] != NONE)
		return m->of_loc[loc];
	l = profile__get_location(m->p, loc);
	fn = l ? profile__get_function(m->p, l->function) : NULL;
	v = m->make(m->ctx, fn ? profile__str(m->p, fn->name) : "[unknown]",
		    fn ? profile__str(m->p, fn->file) : "");
	if (v != NONE && loc < m->n)
		m->of_loc[loc] = v;
	return v;
}

/* Own and total of side's profile p, per row (name, file) across both. */
static int count_side(struct builder *b, const struct profile *p, int side)
{
	struct rollup r = {};
	struct rollup_map m;
	struct profile_stack_iter it;
	struct profile_stack s;
	int err = 0;

	free(b->row_of.of_loc);
	if (fn_memo_init(&b->row_of, p, find_or_add, b))
		return -ENOMEM;
	/* Every location a stack holds gets its row first: the map is data. */
	it = profile__stacks(p);
	while (!err && profile_stack_iter__next(&it, &s))
		for (uint32_t i = 0; !err && i < s.n; i++)
			if (fn_memo_get(&b->row_of, s.locs[i]) == NONE)
				err = -ENOMEM;
	m = (struct rollup_map){ .row = b->row_of.of_loc, .n_locs = b->row_of.n };
	if (!err)
		err = rollup__count(&r, p, &m);
	for (uint32_t i = 0; !err && i < r.n; i++) {
		b->rows[i].own[side] = (double)r.own[i];
		b->rows[i].total[side] = (double)r.total[i];
	}
	rollup__free(&r);
	return err;
}

static double absd(double x)
{
	return x < 0 ? -x : x;
}

static int cmp_row(const void *a, const void *b)
{
	const struct diff_row *x = a, *y = b;
	double dx = absd(x->own[DIFF_AFTER] - x->own[DIFF_BEFORE]);
	double dy = absd(y->own[DIFF_AFTER] - y->own[DIFF_BEFORE]);
	int c;

	if (dx != dy)
		return dx < dy ? 1 : -1;
	dx = absd(x->total[DIFF_AFTER] - x->total[DIFF_BEFORE]);
	dy = absd(y->total[DIFF_AFTER] - y->total[DIFF_BEFORE]);
	if (dx != dy)
		return dx < dy ? 1 : -1;
	c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->file, y->file);
}

void diff_rows_free(struct diff_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((char *)rows[i].name); /* name and file are one block */
	free(rows);
}

int diff_compute(const struct profile *before, const struct profile *after, const double scale[2],
		 struct diff_row **rows, size_t *n)
{
	const struct profile *p[2] = { before, after };
	struct builder b = { 0 };
	double k[2];
	int err = 0;

	for (int side = 0; side < 2 && !err; side++) {
		uint64_t total = profile__total_weight(p[side]);

		k[side] = scale ? scale[side] : total ? 1.0 / (double)total : 0;
		err = count_side(&b, p[side], side);
	}
	HASH_CLEAR_FREE(hh, b.by_key, free);
	free(b.row_of.of_loc);
	if (err) {
		diff_rows_free(b.rows, b.n);
		return err;
	}
	for (size_t i = 0; i < b.n; i++)
		for (int side = 0; side < 2; side++) {
			b.rows[i].own[side] *= k[side];
			b.rows[i].total[side] *= k[side];
		}
	if (b.n)
		qsort(b.rows, b.n, sizeof(*b.rows), cmp_row);
	*rows = b.rows;
	*n = b.n;
	return 0;
}

/* --- the profile by function, for the flame graph ----------------------------- */

struct by_fn {
	struct profile *q;
	struct fn_memo loc_of; /* location of p -> location of q */
	uint32_t *buf;
	size_t cap;
	int err;
};

static uint32_t make_location(void *ctx, const char *name, const char *file)
{
	struct profile *q = ctx;
	uint32_t f = profile__function(q, name, file, 0);

	return f == NONE ? NONE : profile__location(q, f, -1);
}

static int by_fn_stack(struct by_fn *c, const struct profile_stack *s)
{
	int err;

	if (ARRAY_ROOM(c->buf, s->n, c->cap, 64))
		return c->err = -ENOMEM;
	for (uint32_t i = 0; i < s->n; i++) {
		c->buf[i] = fn_memo_get(&c->loc_of, s->locs[i]);
		if (c->buf[i] == NONE)
			return c->err = -ENOMEM;
	}
	err = profile__add(c->q, 0, 0, s->flags, c->buf, s->n, s->weight);
	if (err && err != -ENOSPC) /* cannot happen: never more stacks than p has */
		return c->err = err;
	return 0;
}

struct profile *diff_by_function(const struct profile *p)
{
	struct by_fn c = { .q = profile__new(0) };

	if (!c.q || fn_memo_init(&c.loc_of, p, make_location, c.q)) {
		c.err = -ENOMEM;
	} else {
		struct profile_stack_iter it = profile__stacks(p);
		struct profile_stack s;

		while (profile_stack_iter__next(&it, &s) && !by_fn_stack(&c, &s))
			;
	}
	if (c.err) {
		profile__free(c.q);
		c.q = NULL;
	}
	free(c.loc_of.of_loc);
	free(c.buf);
	return c.q;
}

/* --- the verb ------------------------------------------------------------------- */
