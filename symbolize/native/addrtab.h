/* SPDX-License-Identifier: MIT */
/*
 * addrtab.h - a table of entries sorted by address: the one shape of the
 * native symbolizer's indexes (cfi's FDEs, dwline's checkpoints, kallsyms'
 * and an object's symbols).
 *
 * Owns: ADDR_TABLE(type), `at`: n entries of type (cap of them allocated),
 * and the macros over it: ADDR_TABLE_PUSH (a new last entry, grown by
 * grow.h's doubling), ADDR_TABLE_SORT (by the owner's comparator),
 * ADDR_TABLE_FLOOR (the last entry whose field is at or below an address,
 * by search.h's upper_bound) and ADDR_TABLE_BYTES (what the entries hold).
 * Macros, so that each owner keeps its own entry type and the lookup reads
 * the field without a callback per step.  What the owner decides stays
 * with it: its comparator, so which of several entries at one address a
 * lookup finds (kallsyms the last listed, an object the first sized), the
 * bytes the entries point into, its caps, and freeing `at` with the rest.
 */
#ifndef PYSPY_ADDRTAB_H
#define PYSPY_ADDRTAB_H

#include <stddef.h>
#include <stdlib.h>
#include "symbolize/base/grow.h"
#include "symbolize/base/search.h"

#define ADDR_TABLE(type)       \
	struct {               \
		type *at;      \
		size_t n, cap; \
	}

/* A pointer to a new last entry, first entries allocated at first; NULL (the table as it was) without memory. */
#define ADDR_TABLE_PUSH(t, first) \
	(ARRAY_ROOM((t).at, (t).n + 1, (t).cap, (first)) ? NULL : &(t).at[(t).n++])

#define ADDR_TABLE_SORT(t, cmp)                                       \
	do {                                                          \
		if ((t).n)                                            \
			qsort((t).at, (t).n, sizeof(*(t).at), (cmp)); \
	} while (0)

/* The last entry whose field is at or below x (the table sorted by field), or NULL. */
#define ADDR_TABLE_FLOOR(t, field, x)                               \
	({                                                          \
		size_t i_ = upper_bound((t).at, (t).n, field, (x)); \
		i_ ? &(t).at[i_ - 1] : NULL;                        \
	})

#define ADDR_TABLE_BYTES(t) ((t).cap * sizeof(*(t).at))

#endif /* PYSPY_ADDRTAB_H */
