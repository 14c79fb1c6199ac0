// SPDX-License-Identifier: MIT
/* rollup.c - own, total and depth per row, once per stack. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rollup.h"
#include "symbolize/base/grow.h"

static int grow(struct rollup *r, uint32_t need)
{
	/* The four arrays grow in step: each to the size the first gets. */
	uint32_t was = r->cap, cap[4] = { was, was, was, was };
	size_t more;

	if (need > was) {
		if (ARRAY_ROOM(r->own, need, cap[0], 64) ||
		    ARRAY_ROOM(r->total, need, cap[1], 64) ||
		    ARRAY_ROOM(r->depth, need, cap[2], 64) ||
		    ARRAY_ROOM(r->stamp, need, cap[3], 64))
			return -ENOMEM;
		more = cap[0] - was;
		memset(r->own + was, 0, more * sizeof(*r->own));
		memset(r->total + was, 0, more * sizeof(*r->total));
		memset(r->depth + was, 0xff, more * sizeof(*r->depth));
		memset(r->stamp + was, 0, more * sizeof(*r->stamp));
		r->cap = cap[0];
	}
	if (need > r->n)
		r->n = need;
	return 0;
}

static uint32_t row_of(const struct profile *p, const struct rollup_map *m, uint32_t loc)
{
	const struct profile_location *l;

	if (m->row)
		return loc < m->n_locs ? m->row[loc] : ROLLUP_SKIP;
	l = profile__get_location(p, loc);
	return l ? l->function : ROLLUP_SKIP;
}

static int count_stack(struct rollup *r, const struct profile *p, const struct rollup_map *m,
		       const struct profile_stack *s)
{
	bool own_done = false;

	r->serial++;
	for (uint32_t i = 0; i < s->n; i++) {
		uint32_t row = row_of(p, m, s->locs[i]);

		if (row == ROLLUP_SKIP)
			continue;
		if (grow(r, row + 1))
			return -ENOMEM;
		if (!own_done)
			r->own[row] += s->weight;
		own_done = own_done || row >= m->n_passes || !m->passes[row];
		if (r->stamp[row] != r->serial) {
			r->stamp[row] = r->serial;
			r->total[row] += s->weight;
		}
		if (s->n - 1 - i < r->depth[row])
			r->depth[row] = s->n - 1 - i;
	}
	return 0;
}

int rollup__count(struct rollup *r, const struct profile *p, const struct rollup_map *m)
{
	struct profile_stack_iter it;
	struct profile_stack s;
	int err = 0;

	if (r->cap) {
		memset(r->own, 0, (size_t)r->cap * sizeof(*r->own));
		memset(r->total, 0, (size_t)r->cap * sizeof(*r->total));
		memset(r->depth, 0xff, (size_t)r->cap * sizeof(*r->depth));
		memset(r->stamp, 0, (size_t)r->cap * sizeof(*r->stamp));
	}
	r->n = 0;
	r->serial = 0;
	it = profile__stacks(p);
	while (!err && profile_stack_iter__next(&it, &s))
		err = count_stack(r, p, m, &s);
	return err;
}

void rollup__free(struct rollup *r)
{
	free(r->own);
	free(r->total);
	free(r->depth);
	free(r->stamp);
	memset(r, 0, sizeof(*r));
}
