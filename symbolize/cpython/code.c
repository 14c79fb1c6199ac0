// SPDX-License-Identifier: MIT
/* code.c - read CPython code objects and str objects from a target process. */
#include <linux/types.h> /* pyspy.h (via pyoffsets.h) needs __u32 and friends */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "code.h"
#include "linetable.h"
#include "symbolize/base/freeall.h"
#include "symbolize/proc/procmem.h"

/* Bits of PyASCIIObject.state in 3.8-3.13 GIL builds. */
#define STATE_KIND(s)	 (((s) >> 2) & 7)
#define STATE_COMPACT(s) (((s) >> 5) & 1)
#define STATE_ASCII(s)	 (((s) >> 6) & 1)

/* Field of `size` bytes at off inside a buffer of len bytes? */
static int field_ok(uint16_t off, size_t size, size_t len)
{
	return off != PY_OFF_NONE && (size_t)off + size <= len;
}

static int get_u64(const uint8_t *b, size_t len, uint16_t off, uint64_t *out)
{
	if (!field_ok(off, sizeof(*out), len))
		return -EINVAL;
	memcpy(out, b + off, sizeof(*out));
	return 0;
}

static int get_s32(const uint8_t *b, size_t len, uint16_t off, int32_t *out)
{
	if (!field_ok(off, sizeof(*out), len))
		return -EINVAL;
	memcpy(out, b + off, sizeof(*out));
	return 0;
}

/* Heap objects are 8-aligned and never in the first page. */
static int ptr_plausible(uint64_t p)
{
	return p >= 4096 && !(p & 7) && p < (1ull << 57);
}

int py_code__fingerprint_from(const struct py_layout *l, const void *hdr, size_t len,
			      struct py_code_fp *fp)
{
	const uint8_t *b = hdr;
	struct py_code_fp f = { 0 };

	memset(fp, 0, sizeof(*fp));
	if (!l || !hdr)
		return -EINVAL;
	if (get_u64(b, len, l->code_filename, &f.filename) ||
	    get_u64(b, len, l->code_name, &f.name) ||
	    get_u64(b, len, l->code_linetable, &f.linetable) ||
	    get_s32(b, len, l->code_firstlineno, &f.firstlineno))
		return -EINVAL;
	/* Before 3.11 there is no co_qualname; the fingerprint keeps 0. */
	if (l->code_qualname != PY_OFF_NONE &&
	    (get_u64(b, len, l->code_qualname, &f.qualname) || !ptr_plausible(f.qualname)))
		return -EINVAL;
	if (!ptr_plausible(f.filename) || !ptr_plausible(f.name) || !ptr_plausible(f.linetable))
		return -EINVAL;
	*fp = f;
	return 0;
}

bool py_code_fp__equal(const struct py_code_fp *a, const struct py_code_fp *b)
{
	return a->filename == b->filename && a->name == b->name && a->qualname == b->qualname &&
	       a->linetable == b->linetable && a->firstlineno == b->firstlineno;
}

static int read_header(pid_t pid, const struct py_layout *l, uint64_t addr, uint8_t *hdr)
{
	if (!l || !l->code_size || l->code_size > PY_CODE_HDR_MAX)
		return -EINVAL;
	if (!ptr_plausible(addr))
		return -EFAULT;
	return procmem_read(pid, addr, hdr, l->code_size);
}

int py_code__fingerprint(pid_t pid, const struct py_layout *l, uint64_t addr, struct py_code_fp *fp)
{
	uint8_t hdr[PY_CODE_HDR_MAX];
	int err;

	memset(fp, 0, sizeof(*fp));
	err = read_header(pid, l, addr, hdr);
	if (err)
		return err;
	return py_code__fingerprint_from(l, hdr, l->code_size, fp);
}

/* Append code point cp as UTF-8 if it fits before the terminator; 0 or -ENOSPC. */
static int put_utf8(char *buf, size_t cap, size_t *pos, uint32_t cp)
{
	uint8_t u[4];
	size_t n, i;

	if (cp < 0x80) {
		u[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (uint8_t)(0xc0 | cp >> 6);
		u[1] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (uint8_t)(0xe0 | cp >> 12);
		u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (uint8_t)(0xf0 | cp >> 18);
		u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (*pos + n > cap - 1)
		return -ENOSPC;
	for (i = 0; i < n; i++)
		buf[(*pos)++] = (char)u[i];
	return 0;
}

/*
 * Code point i of data in kind (1, 2, 4 bytes, little-endian as on x86_64).
 * Surrogates (legal in str, e.g. from surrogateescape) and NUL, which would
 * end the C string, become U+FFFD; beyond U+10FFFF is malformed.
 */
static int code_point(const uint8_t *data, unsigned kind, size_t i, uint32_t *cp)
{
	uint32_t c;

	if (kind == 1) {
		c = data[i];
	} else if (kind == 2) {
		uint16_t v;

		memcpy(&v, data + 2 * i, 2);
		c = v;
	} else {
		memcpy(&c, data + 4 * i, 4);
	}
	if (c > 0x10ffff)
		return -EINVAL;
	if (!c || (c >= 0xd800 && c <= 0xdfff))
		c = 0xfffd;
	*cp = c;
	return 0;
}

static int to_utf8(const uint8_t *data, unsigned kind, int ascii, size_t nchars, char *buf,
		   size_t len)
{
	size_t i, pos = 0;
	uint32_t cp;

	for (i = 0; i < nchars; i++) {
		if (code_point(data, kind, i, &cp))
			return -EINVAL;
		if (ascii && cp >= 0x80)
			return -EINVAL; /* state says ASCII, data says otherwise */
		if (put_utf8(buf, len, &pos, cp))
			break; /* cut on a character boundary */
	}
	buf[pos] = 0;
	return 0;
}

int py_str__read(pid_t pid, const struct py_layout *l, uint64_t addr, char *buf, size_t len)
{
	uint8_t hdr[PY_STR_HDR_MAX], *data;
	size_t hlen, nchars, doff;
	uint64_t length;
	uint32_t state;
	unsigned kind;
	int err;

	if (!buf || !len)
		return -EINVAL;
	buf[0] = 0;
	if (!l || !field_ok(l->unicode_length, 8, sizeof(hdr)) ||
	    !field_ok(l->unicode_state, 4, sizeof(hdr)))
		return -EINVAL;
	if (!ptr_plausible(addr))
		return -EFAULT;
	/* Only as far as state: a short ASCII str may end before the compact data offset. */
	hlen = l->unicode_length + 8u;
	if (l->unicode_state + 4u > hlen)
		hlen = l->unicode_state + 4u;
	err = procmem_read(pid, addr, hdr, hlen);
	if (err)
		return err;
	memcpy(&length, hdr + l->unicode_length, 8);
	memcpy(&state, hdr + l->unicode_state, 4);
	kind = STATE_KIND(state);
	if (!STATE_COMPACT(state) || (kind != 1 && kind != 2 && kind != 4) ||
	    (STATE_ASCII(state) && kind != 1) || length > (uint64_t)PY_STR_MAX * 4)
		return -EINVAL;
	doff = STATE_ASCII(state) ? l->unicode_ascii_data : l->unicode_compact_data;
	if (doff == PY_OFF_NONE || doff < hlen)
		return -EINVAL;
	/* Every character takes at least one UTF-8 byte: more would be cut anyway. */
	nchars = length < len - 1 ? length : len - 1;
	if (!nchars)
		return 0;
	data = malloc(nchars * kind);
	if (!data)
		return -ENOMEM;
	err = procmem_read(pid, addr + doff, data, nchars * kind);
	if (!err)
		err = to_utf8(data, kind, STATE_ASCII(state), nchars, buf, len);
	free(data);
	if (err)
		buf[0] = 0;
	return err;
}

/* A str as a malloc'd UTF-8 string of at most PY_STR_MAX bytes. */
static int read_str_dup(pid_t pid, const struct py_layout *l, uint64_t addr, char **out)
{
	char *buf = malloc(PY_STR_MAX + 1), *s;
	int err;

	*out = NULL;
	if (!buf)
		return -ENOMEM;
	err = py_str__read(pid, l, addr, buf, PY_STR_MAX + 1);
	if (err) {
		free(buf);
		return err;
	}
	s = realloc(buf, strlen(buf) + 1);
	*out = s ? s : buf;
	return 0;
}

/* The bytes object holding the line table. */
static int read_bytes(pid_t pid, const struct py_layout *l, uint64_t addr, uint8_t **out,
		      size_t *len)
{
	int64_t size;
	uint8_t *b;
	int err;

	*out = NULL;
	*len = 0;
	if (l->bytes_size == PY_OFF_NONE || l->bytes_sval == PY_OFF_NONE)
		return -EINVAL;
	err = procmem_read(pid, addr + l->bytes_size, &size, sizeof(size));
	if (err)
		return err;
	if (size < 0 || (uint64_t)size > PY_LINETABLE_MAX)
		return -EINVAL;
	/* Never NULL, so a present-but-empty table differs from none. */
	b = malloc(size ? (size_t)size : 1);
	if (!b)
		return -ENOMEM;
	err = procmem_read(pid, addr + l->bytes_sval, b, (size_t)size);
	if (err) {
		free(b);
		return err;
	}
	*out = b;
	*len = (size_t)size;
	return 0;
}

static int valid_lt_kind(uint32_t k)
{
	return k == PY_LT_LNOTAB || k == PY_LT_LINETABLE || k == PY_LT_LOCATIONS;
}

/*
 * Is the object whose header this is alive?  Its first word is ob_refcnt:
 * the count fits 32 bits even for 3.12+ immortals, and 3.14 keeps flags in
 * the top 16 bits.  Once freed, the allocator writes its own pointer there
 * (pymalloc's free list, glibc's tcache), whose bits 32-47 are not 0, or 0
 * itself, while the rest of the header, pointers included, stays as it was.
 */
static bool alive(const uint8_t *hdr)
{
	uint64_t rc;

	memcpy(&rc, hdr, sizeof(rc));
	return (uint32_t)rc >= 1 && ((rc >> 32) & 0xffff) == 0;
}

/*
 * The header again, after its strings and line table were read: if the
 * code object died meanwhile, what was read may be a freed (and reused)
 * line table, which would give wrong lines.
 */
static int still_same(pid_t pid, const struct py_layout *l, uint64_t addr,
		      const struct py_code_fp *fp)
{
	uint8_t hdr[PY_CODE_HDR_MAX];
	struct py_code_fp now;

	if (read_header(pid, l, addr, hdr) || !alive(hdr) ||
	    py_code__fingerprint_from(l, hdr, l->code_size, &now))
		return -ESTALE;
	return py_code_fp__equal(&now, fp) ? 0 : -ESTALE;
}

static int read_code(pid_t pid, const struct py_layout *l, uint64_t addr, struct py_code *out)
{
	uint8_t hdr[PY_CODE_HDR_MAX];
	int err;

	err = read_header(pid, l, addr, hdr);
	if (err)
		return err;
	err = py_code__fingerprint_from(l, hdr, l->code_size, &out->fp);
	if (err)
		return err;
	if (!alive(hdr))
		return -ESTALE;
	if (!valid_lt_kind(l->linetable_kind))
		return -EINVAL;
	out->lt_kind = l->linetable_kind;
	out->firstlineno = out->fp.firstlineno;
	err = read_str_dup(pid, l, out->fp.qualname ? out->fp.qualname : out->fp.name,
			   &out->qualname);
	if (!err)
		err = read_str_dup(pid, l, out->fp.filename, &out->filename);
	if (!err)
		err = read_bytes(pid, l, out->fp.linetable, &out->linetable, &out->linetable_len);
	if (!err)
		err = still_same(pid, l, addr, &out->fp);
	return err;
}

int py_code__read(pid_t pid, const struct py_layout *l, uint64_t addr, struct py_code *out)
{
	int err;

	memset(out, 0, sizeof(*out));
	err = read_code(pid, l, addr, out);
	if (err)
		py_code__clear(out);
	return err;
}

int py_code__reread_linetable(pid_t pid, const struct py_layout *l, uint64_t addr,
			      struct py_code *c)
{
	int err;

	free(c->linetable);
	c->linetable = NULL;
	c->linetable_len = 0;
	err = read_bytes(pid, l, c->fp.linetable, &c->linetable, &c->linetable_len);
	if (!err)
		err = still_same(pid, l, addr, &c->fp);
	if (err) {
		free(c->linetable);
		c->linetable = NULL;
		c->linetable_len = 0;
	}
	return err;
}

void py_code__clear(struct py_code *c)
{
	if (!c)
		return;
	FREE_ALL(c->qualname, c->filename, c->linetable);
	memset(c, 0, sizeof(*c));
}

int py_code__line(const struct py_code *c, int lasti_bytes)
{
	if (!c)
		return -1;
	return py_linetable_line(c->lt_kind, c->linetable, c->linetable_len, c->firstlineno,
				 lasti_bytes);
}
