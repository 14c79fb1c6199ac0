// SPDX-License-Identifier: MIT
/* linetable.c - byte offset -> source line for co_lnotab, co_linetable and location tables. */
#include <linux/types.h> /* pyspy.h (via pyoffsets.h) needs __u32 and friends */
#include <limits.h>

#include "linetable.h"

/*
 * Every decoder below walks the table from the start, so an entry can only
 * be looked at once and the walk ends after at most len bytes.  Line and
 * address sums are kept in long long so that a hostile table (up to
 * PY_LINETABLE_MAX entries of maximal deltas) cannot overflow them; a line
 * that does not fit an int is reported as malformed.
 */

static int line_or_err(long long line)
{
	if (line < INT_MIN + 1 || line > INT_MAX)
		return -1;
	return (int)line;
}

/*
 * 3.8/3.9 co_lnotab: (addr_incr u8, line_incr s8) pairs in bytes.  The line
 * is the one in force at the last pair whose address is <= addr; there is
 * no "no line" marker and offsets past the table keep the last line.  A
 * trailing odd byte is ignored, as CPython does (it counts len / 2 pairs).
 */
static int lnotab_line(const uint8_t *t, size_t len, int firstlineno, int addr)
{
	long long line = firstlineno, pos = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2) {
		pos += t[i];
		if (pos > addr)
			break;
		line += (int8_t)t[i + 1];
	}
	return line_or_err(line);
}

/*
 * 3.10 co_linetable (PEP 626): (length u8 in bytes, line_delta s8) pairs;
 * delta -128 means the range has no line.  Zero-length entries only move
 * the running line.  Offsets past the last range have no line.
 */
static int linetable310_line(const uint8_t *t, size_t len, int firstlineno, int addr)
{
	long long line = firstlineno, end = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2) {
		int8_t ld = (int8_t)t[i + 1];

		end += t[i];
		if (ld != -128)
			line += ld;
		if (t[i] && end > addr)
			return ld == -128 ? -1 : line_or_err(line);
	}
	return -1;
}

/* Location-table entry codes (bits 3-6 of an entry's first byte). */
enum {
	LOC_ONE_LINE0 = 10,
	LOC_ONE_LINE1 = 11,
	LOC_ONE_LINE2 = 12,
	LOC_NO_COLUMNS = 13,
	LOC_LONG = 14,
	LOC_NONE = 15,
};

/*
 * Unsigned varint of 6-bit chunks, least significant first, bit 6 set on
 * all but the last chunk.  Reads from t[*i] up to end; -1 when the table
 * ends inside it, or when the chunk would start an entry (bit 7), or the
 * value would not fit 32 bits.
 */
static int read_varint(const uint8_t *t, size_t end, size_t *i, uint32_t *out)
{
	uint32_t val = 0;
	unsigned shift = 0;

	for (;;) {
		uint8_t b;

		if (*i >= end || shift > 30)
			return -1;
		b = t[(*i)++];
		if (b & 0x80)
			return -1;
		val |= (uint32_t)(b & 63) << shift;
		if (!(b & 64))
			break;
		shift += 6;
	}
	*out = val;
	return 0;
}

/* Line delta carried by the entry starting at t[i]; -1 if malformed. */
static int loc_line_delta(const uint8_t *t, size_t len, size_t i, long long *delta)
{
	unsigned code = (t[i] >> 3) & 15;
	uint32_t v;

	*delta = 0;
	switch (code) {
	case LOC_ONE_LINE1:
		*delta = 1;
		return 0;
	case LOC_ONE_LINE2:
		*delta = 2;
		return 0;
	case LOC_NO_COLUMNS:
	case LOC_LONG:
		i++;
		if (read_varint(t, len, &i, &v))
			return -1;
		*delta = (v & 1) ? -(long long)(v >> 1) : (long long)(v >> 1);
		return 0;
	default: /* short forms, ONE_LINE0 and NONE keep the line */
		return 0;
	}
}

/*
 * 3.11+ location table: entries of a first byte with bit 7 set (bits 3-6
 * code, bits 0-2 length-1 in code units) plus payload bytes with bit 7
 * clear.  Like CPython, the next entry is found by scanning for bit 7, so
 * the payload of forms whose line is irrelevant need not be parsed.  The
 * running line advances even across "no location" entries.
 */
static int locations_line(const uint8_t *t, size_t len, int firstlineno, int addr)
{
	long long line = firstlineno, end = 0, delta;
	size_t i = 0;

	while (i < len) {
		uint8_t b = t[i];

		if (!(b & 0x80))
			return -1; /* not at an entry start: malformed */
		if (loc_line_delta(t, len, i, &delta))
			return -1;
		line += delta;
		end += 2 * ((b & 7) + 1);
		if (end > addr)
			return ((b >> 3) & 15) == LOC_NONE ? -1 : line_or_err(line);
		do
			i++;
		while (i < len && !(t[i] & 0x80));
	}
	return -1;
}

int py_linetable_line(enum py_linetable_kind kind, const uint8_t *table, size_t len,
		      int firstlineno, int addr)
{
	if (addr < 0)
		return firstlineno;
	if (!table)
		len = 0;
	switch (kind) {
	case PY_LT_LNOTAB:
		return lnotab_line(table, len, firstlineno, addr);
	case PY_LT_LINETABLE:
		return linetable310_line(table, len, firstlineno, addr);
	case PY_LT_LOCATIONS:
		return locations_line(table, len, firstlineno, addr);
	}
	return -1;
}
