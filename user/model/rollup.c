// SPDX-License-Identifier: MIT
/* rollup.c - own, total and depth per row, once per stack. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rollup.h"
#include "user/base/grow.h"

struct count_ctx {
	struct rollup *r;
	const struct rollup_ops *ops;
	void *ctx;
	int err;
};

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

static int count_stack(const struct profile_stack *s, void *arg)
{
	struct count_ctx *c = arg;
	struct rollup *r = c->r;
	bool own_done = false;

	r->serial++;
	for (uint32_t i = 0; i < s->n; i++) {
		uint32_t row = c->ops->row_of(c->ctx, s->locs[i]);

		if (row == ROLLUP_SKIP)
			continue;
		if (row == ROLLUP_FAIL || grow(r, row + 1))
			return c->err = -ENOMEM;
		if (!own_done)
			r->own[row] += s->weight;
		own_done = own_done || !c->ops->own_passes || !c->ops->own_passes(c->ctx, row);
		if (r->stamp[row] != r->serial) {
			r->stamp[row] = r->serial;
			r->total[row] += s->weight;
		}
		if (s->n - 1 - i < r->depth[row])
			r->depth[row] = s->n - 1 - i;
	}
	return 0;
}

int rollup__count(struct rollup *r, const struct profile *p, const struct rollup_ops *ops,
		  void *ctx)
{
	struct count_ctx c = { .r = r, .ops = ops, .ctx = ctx };

	if (r->cap) {
		memset(r->own, 0, (size_t)r->cap * sizeof(*r->own));
		memset(r->total, 0, (size_t)r->cap * sizeof(*r->total));
		memset(r->depth, 0xff, (size_t)r->cap * sizeof(*r->depth));
		memset(r->stamp, 0, (size_t)r->cap * sizeof(*r->stamp));
	}
	r->n = 0;
	r->serial = 0;
	profile__for_each_stack(p, count_stack, &c);
	return c.err;
}

void rollup__free(struct rollup *r)
{
	free(r->own);
	free(r->total);
	free(r->depth);
	free(r->stamp);
	memset(r, 0, sizeof(*r));
}
