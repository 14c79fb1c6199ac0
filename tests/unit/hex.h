/* SPDX-License-Identifier: MIT */
/*
 * hex.h - bytes from the lowercase hex the tests' Python helpers print
 * (dump_linetables.py, dump_debug_offsets.py).
 */
#ifndef PYSPY_TEST_HEX_H
#define PYSPY_TEST_HEX_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

static inline int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* len bytes from the 2 * len digits at s; -EINVAL at the first that is not one. */
static inline int hex_decode(const char *s, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		/* Not past a digit that is not one: s may end there. */
		int hi = hex_digit(s[2 * i]), lo = hi < 0 ? -1 : hex_digit(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

#endif /* PYSPY_TEST_HEX_H */
