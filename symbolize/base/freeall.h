/* SPDX-License-Identifier: MIT */
/*
 * freeall.h - a structure's buffers freed in one statement.
 *
 * Owns: FREE_ALL(p, ...): free() each of the pointers given (NULL ones
 * too, as free() does), in order.  For destructors that own many plain
 * buffers, so that the list reads as one and no buffer is missed by a
 * line dropped from a long column of free() calls.
 */
#ifndef PYSPY_FREEALL_H
#define PYSPY_FREEALL_H

#include <stddef.h>
#include <stdlib.h>

#define FREE_ALL(...)                                                            \
	do {                                                                     \
		void *ptrs_[] = { __VA_ARGS__ };                                 \
		for (size_t i_ = 0; i_ < sizeof(ptrs_) / sizeof(ptrs_[0]); i_++) \
			free(ptrs_[i_]);                                         \
	} while (0)

#endif
