/* SPDX-License-Identifier: MIT */
/*
 * diff.h - the arithmetic of a comparison of two profiles, for the `diff`
 * verb (user/cmd/diff.c) and any other front end, and unit tests on
 * hand-built profiles.
 *
 * A function is its qualname and file: lines and first lines are ignored,
 * so a function that moved between two releases is still one row.  Own
 * weight is that of the stacks it is the innermost frame of; total weight
 * that of the stacks it appears in, once per stack however deep it
 * recurses.  Process, thread and grouping frames play no part.
 */
#ifndef PYSPY_DIFF_H
#define PYSPY_DIFF_H

#include <stddef.h>

#include "profile.h"

enum {
	DIFF_BEFORE,
	DIFF_AFTER
};

struct diff_row {
	const char *name, *file; /* owned by the row ("" for a marker's file) */
	double own[2], total[2]; /* [DIFF_BEFORE], [DIFF_AFTER], scaled */
};

/*
 * One row per function of either profile, sorted by the largest absolute
 * change of own, then of total, then by name and file.  Each side's weights
 * are multiplied by scale[side]; NULL scales each by 1/its total weight, so
 * values are shares of all samples (0..1).  0 or -ENOMEM; free with
 * diff_rows_free.
 */
int diff_compute(const struct profile *before, const struct profile *after, const double scale[2],
		 struct diff_row **rows, size_t *n);
void diff_rows_free(struct diff_row *rows, size_t n);

/*
 * The profile with every frame replaced by its function (qualname, file;
 * no line, first line 0) and pid/tid 0: what the differential flame graph
 * draws, so that frames match across releases whose lines moved.  NULL on
 * ENOMEM.
 */
struct profile *diff_by_function(const struct profile *p);

#endif /* PYSPY_DIFF_H */
