/* SPDX-License-Identifier: MIT */
/*
 * rollup.h - own and total weight per row over a profile's stacks.
 *
 * Owns: the one definition of own and total that `top`, `diff` and the
 * summary share.  A caller maps each frame to a row (a function, a line,
 * a name across files); own is the weight of stacks whose innermost frame
 * is in the row, total the weight of stacks that have the row anywhere,
 * counted once per stack however deep the recursion; depth the row's
 * least distance from a root.  Rows are numbered by the caller and the
 * arrays grow to the largest row seen.
 */
#ifndef PYSPY_ROLLUP_H
#define PYSPY_ROLLUP_H

#include <stdbool.h>
#include <stdint.h>

#include "profile.h"

#define ROLLUP_SKIP UINT32_MAX	     /* row_of: this frame is in no row */
#define ROLLUP_FAIL (UINT32_MAX - 1) /* row_of: out of memory, stop */

struct rollup_ops {
	/* The row of a location id, or ROLLUP_SKIP / ROLLUP_FAIL. */
	uint32_t (*row_of)(void *ctx, uint32_t loc);
	/*
	 * Optional: own goes on past this row to the next frame out (a wait's
	 * reason below the Python line it waits at: both are charged).
	 */
	bool (*own_passes)(void *ctx, uint32_t row);
};

struct rollup {
	uint64_t *own, *total;
	uint32_t *depth; /* UINT32_MAX: never seen */
	uint32_t n;	 /* rows the arrays hold */
	/* private */
	uint32_t *stamp, serial, cap;
};

/* Count every stack of p (zeroing what was counted before). 0 or -ENOMEM. */
int rollup__count(struct rollup *r, const struct profile *p, const struct rollup_ops *ops,
		  void *ctx);
void rollup__free(struct rollup *r); /* and zero it */

#endif /* PYSPY_ROLLUP_H */
