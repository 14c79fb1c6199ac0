/* SPDX-License-Identifier: MIT */
/*
 * dwarf_read.h - a bounded cursor over DWARF bytes (.eh_frame,
 * .debug_frame, .debug_line).
 *
 * Owns: reading the fixed-size and LEB128 numbers DWARF is made of, where
 * every read is checked against the end of what it reads: a read past it
 * sets `bad` and yields 0, so a parser checks once per record instead of
 * once per field, and a crafted length can never take it outside its
 * buffer.  LEB128s longer than 10 bytes are bad too (no value needs more).
 */
#ifndef PYSPY_DWARF_READ_H
#define PYSPY_DWARF_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct dw_cur {
	const uint8_t *p, *end;
	bool bad;
};

static inline struct dw_cur dw_cur(const uint8_t *p, size_t len)
{
	return (struct dw_cur){ p, p + len, false };
}

static inline size_t dw_left(const struct dw_cur *c)
{
	return c->bad ? 0 : (size_t)(c->end - c->p);
}

/* Take n bytes: a pointer to them, or NULL (and bad) if fewer are left. */
static inline const uint8_t *dw_take(struct dw_cur *c, size_t n)
{
	const uint8_t *p = c->p;

	if (c->bad || n > (size_t)(c->end - c->p)) {
		c->bad = true;
		return NULL;
	}
	c->p += n;
	return p;
}

/* A little-endian unsigned number of n (1..8) bytes. */
static inline uint64_t dw_un(struct dw_cur *c, size_t n)
{
	const uint8_t *p = dw_take(c, n);
	uint64_t v = 0;

	if (!p)
		return 0;
	for (size_t i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

static inline uint8_t dw_u8(struct dw_cur *c)
{
	return (uint8_t)dw_un(c, 1);
}

static inline uint16_t dw_u16(struct dw_cur *c)
{
	return (uint16_t)dw_un(c, 2);
}

static inline uint32_t dw_u32(struct dw_cur *c)
{
	return (uint32_t)dw_un(c, 4);
}

static inline uint64_t dw_u64(struct dw_cur *c)
{
	return dw_un(c, 8);
}

/* A signed number of n (1..8) bytes. */
static inline int64_t dw_sn(struct dw_cur *c, size_t n)
{
	uint64_t v = dw_un(c, n);
	unsigned shift = (unsigned)(64 - 8 * n);

	return shift ? (int64_t)(v << shift) >> shift : (int64_t)v;
}

static inline uint64_t dw_uleb(struct dw_cur *c)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 10; i++) {
		const uint8_t *p = dw_take(c, 1);

		if (!p)
			return 0;
		if (i < 9 || (*p & 0x7f) <= 1)
			v |= (uint64_t)(*p & 0x7f) << (7 * i);
		if (!(*p & 0x80))
			return v;
	}
	c->bad = true;
	return 0;
}

static inline int64_t dw_sleb(struct dw_cur *c)
{
	uint64_t v = 0;
	unsigned shift = 0;

	for (unsigned i = 0; i < 10; i++) {
		const uint8_t *p = dw_take(c, 1);

		if (!p)
			return 0;
		if (shift < 64)
			v |= (uint64_t)(*p & 0x7f) << shift;
		shift += 7;
		if (!(*p & 0x80)) {
			if (shift < 64 && (*p & 0x40))
				v |= ~0ull << shift;
			return (int64_t)v;
		}
	}
	c->bad = true;
	return 0;
}

/* A NUL-terminated string inside what is left, or NULL (and bad). */
static inline const char *dw_str(struct dw_cur *c)
{
	const uint8_t *nul;
	const char *s = (const char *)c->p;

	if (c->bad || !(nul = memchr(c->p, 0, (size_t)(c->end - c->p)))) {
		c->bad = true;
		return NULL;
	}
	c->p = nul + 1;
	return s;
}

/*
 * A DWARF initial length: 32-bit, or 0xffffffff then 64-bit (*offset_size
 * becomes 8).  Values 0xfffffff0-0xfffffffe are reserved: bad.
 */
static inline uint64_t dw_initial_length(struct dw_cur *c, unsigned *offset_size)
{
	uint64_t len = dw_u32(c);

	*offset_size = 4;
	if (len == 0xffffffffu) {
		*offset_size = 8;
		return dw_u64(c);
	}
	if (len >= 0xfffffff0u)
		c->bad = true;
	return len;
}

/*
 * A sub-cursor over the next len bytes, which c skips; bad (both) if
 * fewer are left.
 */
static inline struct dw_cur dw_sub(struct dw_cur *c, uint64_t len)
{
	const uint8_t *p = len <= SIZE_MAX ? dw_take(c, (size_t)len) : NULL;

	if (!p) {
		c->bad = true;
		return (struct dw_cur){ c->p, c->p, true };
	}
	return dw_cur(p, (size_t)len);
}

#endif /* PYSPY_DWARF_READ_H */
