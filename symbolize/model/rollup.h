/* SPDX-License-Identifier: MIT */
/*
 * rollup.h - own and total weight per row over a profile's stacks.
 *
 * Owns: the one definition of own and total that `top`, `diff` and the
 * summary share.  A caller maps each frame to a row (a function, a line,
 * a name across files: struct rollup_map); own is the weight of stacks whose innermost frame
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

#define ROLLUP_SKIP UINT32_MAX /* a frame in no row */

/*
 * Which row each frame counts in, as data the caller fills (the model
 * calls no one back).
 */
struct rollup_map {
	/*
	 * By location id: its row, or ROLLUP_SKIP; ids at or past n_locs are
	 * in no row.  NULL: a location's row is its function's id.
	 */
	const uint32_t *row;
	uint32_t n_locs;
	/*
	 * By row (NULL: none): own goes on past this row to the next frame
	 * out (a wait's reason below the Python line it waits at: both are
	 * charged).  Rows at or past n_passes do not pass.
	 */
	const bool *passes;
	uint32_t n_passes;
};

struct rollup {
	uint64_t *own, *total;
	uint32_t *depth; /* UINT32_MAX: never seen */
	uint32_t n;	 /* rows the arrays hold */
	/* private */
	uint32_t *stamp, serial, cap;
};

/* Count every stack of p (zeroing what was counted before). 0 or -ENOMEM. */
int rollup__count(struct rollup *r, const struct profile *p, const struct rollup_map *m);
void rollup__free(struct rollup *r); /* and zero it */

#endif /* PYSPY_ROLLUP_H */
