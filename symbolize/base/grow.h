/* SPDX-License-Identifier: MIT */
/*
 * grow.h - the one way an array grows: doubling, from a first size.
 *
 * Owns: ARRAY_ROOM(arr, need, cap, first): room for need elements at arr
 * (cap of them allocated), cap doubled (from first when 0) until they fit.
 * 0, or -ENOMEM with arr and cap as they were: a size past what cap's
 * type holds or size_t can count is refused, never wrapped.  A macro, so
 * that the element type, and the counters' types, are the caller's.
 */
#ifndef PYSPY_GROW_H
#define PYSPY_GROW_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define ARRAY_ROOM(arr, need, cap, first)                                                   \
	({                                                                                  \
		size_t need_ = (need), ncap_ = (cap) ? 2 * (size_t)(cap) : (size_t)(first); \
		__typeof__(arr) arr_ = NULL;                                                \
		int err_ = 0;                                                               \
		if (need_ > (size_t)(cap)) {                                                \
			while (ncap_ < need_ && ncap_ <= SIZE_MAX / 2)                      \
				ncap_ *= 2;                                                 \
			if (ncap_ >= need_ && (__typeof__(cap))ncap_ == ncap_)              \
				arr_ = reallocarray((arr), ncap_, sizeof(*(arr)));          \
			if (arr_) {                                                         \
				(arr) = arr_;                                               \
				(cap) = (__typeof__(cap))ncap_;                             \
			} else {                                                            \
				err_ = -ENOMEM;                                             \
			}                                                                   \
		}                                                                           \
		err_;                                                                       \
	})

#endif /* PYSPY_GROW_H */
