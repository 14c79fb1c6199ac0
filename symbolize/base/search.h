/* SPDX-License-Identifier: MIT */
/*
 * search.h - the one binary search over sorted tables.
 *
 * Owns: upper_bound(arr, n, field, x), for an array sorted by `field`
 * (ascending): the count of leading elements whose field is at or below x.
 * [i - 1] is then the last one at or below x (i > 0), and [i] the first
 * above it (i < n).  A macro, so it reads the field of any element type
 * without a callback per step.
 */
#ifndef PYSPY_SEARCH_H
#define PYSPY_SEARCH_H

#include <stddef.h>

#define upper_bound(arr, n, field, x)                        \
	({                                                   \
		size_t lo_ = 0, hi_ = (n);                   \
		while (lo_ < hi_) {                          \
			size_t mid_ = lo_ + (hi_ - lo_) / 2; \
			if ((arr)[mid_].field <= (x))        \
				lo_ = mid_ + 1;              \
			else                                 \
				hi_ = mid_;                  \
		}                                            \
		lo_;                                         \
	})

#endif /* PYSPY_SEARCH_H */
