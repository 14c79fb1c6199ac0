// SPDX-License-Identifier: MIT
/* rollup.c - own, total and depth per row, once per stack. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rollup.h"

struct count_ctx {
	struct rollup *r;
	const struct rollup_ops *ops;
	void *ctx;
	int err;
};

static int grow(struct rollup *r, uint32_t need)
{
	uint32_t cap = r->cap ? r->cap : 64;
	uint64_t *own, *total;
	uint32_t *depth, *stamp;

	if (need <= r->cap)
		goto out;
	while (cap < need)
		cap *= 2;
	own = realloc(r->own, (size_t)cap * sizeof(*own));
	if (own)
		r->own = own;
	total = realloc(r->total, (size_t)cap * sizeof(*total));
	if (total)
		r->total = total;
	depth = realloc(r->depth, (size_t)cap * sizeof(*depth));
	if (depth)
		r->depth = depth;
	stamp = realloc(r->stamp, (size_t)cap * sizeof(*stamp));
	if (stamp)
		r->stamp = stamp;
	if (!own || !total || !depth || !stamp)
		return -ENOMEM;
	memset(r->own + r->cap, 0, (size_t)(cap - r->cap) * sizeof(*own));
	memset(r->total + r->cap, 0, (size_t)(cap - r->cap) * sizeof(*total));
	memset(r->depth + r->cap, 0xff, (size_t)(cap - r->cap) * sizeof(*depth));
	memset(r->stamp + r->cap, 0, (size_t)(cap - r->cap) * sizeof(*stamp));
	r->cap = cap;
out:
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
