// SPDX-License-Identifier: MIT
/*
 * dwline.c - .debug_line: checkpoints into the line programs, and one
 * address's row found by running a program from the checkpoint below it.
 *
 * Every number is the file's: units, headers and programs are read
 * through dw_cur (dwarf_read.h), so no length leads outside the section;
 * a unit we cannot read (a version, an address size or a VLIW layout x86
 * does not use, a zero line_range) is skipped whole.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "addrtab.h"
#include "dwarf_read.h"
#include "dwline.h"
#include "symbolize/base/freeall.h"

#define LNCT_PATH 1

/* A checkpoint's line when it marks the end of a sequence. */
#define LINE_END INT32_MIN

struct cp {
	uint64_t addr; /* of the row the run starts from */
	uint32_t unit; /* offset of its unit */
	uint32_t pos;  /* offset of the instruction after that row */
	uint32_t file;
	int32_t line; /* LINE_END: no row from addr on */
};

struct dwline {
	uint8_t *sec, *line_str;
	size_t len, line_str_len;
	ADDR_TABLE(struct cp) cps; /* by addr */
	bool truncated;
};

/* One unit's header: what running its program and naming its files need. */
struct unit {
	uint32_t off;
	uint16_t version;
	unsigned osz; /* 4 or 8: the unit's offset size */
	uint8_t min_inst, line_range, opcode_base;
	int8_t line_base;
	const uint8_t *std_lens;
	struct dw_cur files; /* v2-4: the file_names; v5: the file entries */
	struct dw_cur file_fmt;
	uint64_t n_files; /* v5 */
	struct dw_cur prog;
};

/* The size of each fixed-size DW_FORM a v5 entry format may use; 0: another kind. */
static const uint8_t form_size[] = {
	[0x0b] = 1,  /* data1 */
	[0x25] = 1,  /* strx1 */
	[0x05] = 2,  /* data2 */
	[0x26] = 2,  /* strx2 */
	[0x27] = 3,  /* strx3 */
	[0x06] = 4,  /* data4 */
	[0x28] = 4,  /* strx4 */
	[0x07] = 8,  /* data8 */
	[0x1e] = 16, /* data16: an MD5 */
};

/* Skip (or read, for a string) one v5 attribute of form `form`. */
static bool form_value(const struct dwline *d, const struct unit *u, struct dw_cur *c,
		       uint64_t form, const char **str)
{
	uint64_t off, n;

	*str = NULL;
	if (form < sizeof(form_size) && form_size[form]) {
		dw_take(c, form_size[form]);
		return !c->bad;
	}
	switch (form) {
	case 0x08: /* DW_FORM_string */
		*str = dw_str(c);
		break;
	case 0x1f: /* DW_FORM_line_strp */
		off = dw_un(c, u->osz);
		if (d->line_str && off < d->line_str_len &&
		    memchr(d->line_str + off, 0, d->line_str_len - off))
			*str = (const char *)d->line_str + off;
		break;
	case 0x0e: /* DW_FORM_strp: .debug_str, not kept; the name is unknown */
		dw_un(c, u->osz);
		break;
	case 0x0f: /* udata */
	case 0x1a: /* strx */
		dw_uleb(c);
		break;
	case 0x0d: /* sdata */
		dw_sleb(c);
		break;
	case 0x09: /* block */
		n = dw_uleb(c);
		dw_sub(c, n);
		break;
	case 0x0a: /* block1 */
		n = dw_u8(c);
		dw_sub(c, n);
		break;
	default:
		return false;
	}
	return !c->bad;
}

/* Skip a v5 entry-format list: a count, then (content type, form) pairs. */
static struct dw_cur formats(struct dw_cur *h, unsigned *n)
{
	const uint8_t *start;

	*n = dw_u8(h);
	start = h->p;
	for (unsigned i = 0; i < *n && !h->bad; i++) {
		dw_uleb(h);
		dw_uleb(h);
	}
	return h->bad ? (struct dw_cur){ h->p, h->p, true } : dw_cur(start, (size_t)(h->p - start));
}

/* One v5 entry of the formats in fmt: its path, if it has one. */
static bool entry(const struct dwline *d, const struct unit *u, struct dw_cur *c, struct dw_cur fmt,
		  const char **path)
{
	*path = NULL;
	while (dw_left(&fmt)) {
		uint64_t type = dw_uleb(&fmt), form = dw_uleb(&fmt);
		const char *s;

		if (fmt.bad || !form_value(d, u, c, form, &s))
			return false;
		if (type == LNCT_PATH)
			*path = s;
	}
	return true;
}

/* The unit at off: false if it cannot be read.  *next: the unit after it. */
static bool parse_unit(const struct dwline *d, uint64_t off, struct unit *u, uint64_t *next)
{
	struct dw_cur c = dw_cur(d->sec + off, d->len - off), unit, h;
	uint64_t len, hlen;

	*u = (struct unit){ .off = (uint32_t)off };
	len = dw_initial_length(&c, &u->osz);
	unit = dw_sub(&c, len);
	if (c.bad)
		return false;
	*next = (uint64_t)(c.p - d->sec);
	u->version = dw_u16(&unit);
	if (u->version < 2 || u->version > 5)
		return false;
	if (u->version == 5 && (dw_u8(&unit) != 8 || dw_u8(&unit) != 0))
		return false; /* address and segment selector sizes */
	hlen = dw_un(&unit, u->osz);
	h = dw_sub(&unit, hlen);
	u->prog = unit;
	u->min_inst = dw_u8(&h);
	if (u->version >= 4 && dw_u8(&h) != 1)
		return false; /* maximum_operations_per_instruction: VLIW only */
	dw_u8(&h);	      /* default_is_stmt */
	u->line_base = (int8_t)dw_u8(&h);
	u->line_range = dw_u8(&h);
	u->opcode_base = dw_u8(&h);
	if (h.bad || !u->line_range || !u->opcode_base)
		return false;
	u->std_lens = dw_take(&h, u->opcode_base - 1u);
	if (u->version < 5) {
		const char *dir;

		while ((dir = dw_str(&h)) && *dir)
			;
		u->files = h;
	} else {
		struct dw_cur dfmt;
		unsigned nf;
		uint64_t ndirs;
		const char *s;

		/* Every entry takes a byte at least: a count past the bytes left is a lie. */
		dfmt = formats(&h, &nf);
		ndirs = dw_uleb(&h);
		if ((ndirs && !nf) || ndirs > dw_left(&h))
			return false;
		for (uint64_t i = 0; i < ndirs && !h.bad; i++)
			if (!entry(d, u, &h, dfmt, &s))
				return false;
		u->file_fmt = formats(&h, &nf);
		u->n_files = dw_uleb(&h);
		if ((u->n_files && !nf) || u->n_files > dw_left(&h))
			return false;
		u->files = h;
	}
	return !h.bad && !unit.bad && !u->file_fmt.bad;
}

/* The base name of file `index` of the unit, or NULL. */
static const char *file_name(const struct dwline *d, const struct unit *u, uint64_t index)
{
	struct dw_cur c = u->files;
	const char *path = NULL, *slash;

	if (u->version < 5) {
		/* 1-based; an empty name ends the list. */
		for (uint64_t i = 1;; i++) {
			const char *s = dw_str(&c);

			if (!s || !*s)
				return NULL;
			dw_uleb(&c); /* directory, mtime, length */
			dw_uleb(&c);
			dw_uleb(&c);
			if (c.bad)
				return NULL;
			if (i == index) {
				path = s;
				break;
			}
		}
	} else {
		if (index >= u->n_files)
			return NULL;
		for (uint64_t i = 0; i <= index; i++)
			if (!entry(d, u, &c, u->file_fmt, &path))
				return NULL;
	}
	if (!path || !*path)
		return NULL;
	slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* --- running a program --------------------------------------------------- */

struct state {
	uint64_t addr, file;
	int64_t line;
};

enum {
	RUN_ROW,  /* a row at st */
	RUN_END,  /* the sequence ends at st.addr */
	RUN_STOP, /* the program ended, or went wrong */
};

static void state_reset(struct state *st)
{
	*st = (struct state){ .addr = 0, .file = 1, .line = 1 };
}

/* Wrapping adds: the numbers are the file's, and a row that makes no sense is dropped later. */
static void add_line(struct state *st, int64_t d)
{
	st->line = (int64_t)((uint64_t)st->line + (uint64_t)d);
}

/* Run c until the next row or the end of a sequence. */
static int next_row(const struct unit *u, struct dw_cur *c, struct state *st)
{
	while (dw_left(c)) {
		uint8_t op = dw_u8(c);

		if (op >= u->opcode_base) { /* special */
			unsigned adj = op - u->opcode_base;

			st->addr += (uint64_t)(adj / u->line_range) * u->min_inst;
			add_line(st, u->line_base + (int)(adj % u->line_range));
			return RUN_ROW;
		}
		switch (op) {
		case 0: { /* extended */
			struct dw_cur e = dw_sub(c, dw_uleb(c));
			uint8_t sub = dw_u8(&e);

			if (c->bad || e.bad)
				return RUN_STOP;
			if (sub == 1) /* end_sequence */
				return RUN_END;
			if (sub == 2 && dw_left(&e) == 8) /* set_address */
				st->addr = dw_u64(&e);
			break;
		}
		case 1: /* copy */
			return RUN_ROW;
		case 2: /* advance_pc */
			st->addr += dw_uleb(c) * u->min_inst;
			break;
		case 3:
			add_line(st, dw_sleb(c));
			break;
		case 4:
			st->file = dw_uleb(c);
			break;
		case 5:	 /* set_column */
		case 12: /* set_isa */
			dw_uleb(c);
			break;
		case 8: /* const_add_pc */
			st->addr +=
				(uint64_t)((255u - u->opcode_base) / u->line_range) * u->min_inst;
			break;
		case 9: /* fixed_advance_pc */
			st->addr += dw_u16(c);
			break;
		case 6: /* negate_stmt, basic_block, prologue_end, epilogue_begin */
		case 7:
		case 10:
		case 11:
			break;
		default: /* one we do not know: its operands are ULEBs, as many as the header says */
			for (unsigned i = 0; i < u->std_lens[op - 1]; i++)
				dw_uleb(c);
			break;
		}
	}
	return RUN_STOP;
}

/* --- the index ------------------------------------------------------------ */

static int32_t clamp_line(int64_t l)
{
	return l > INT32_MAX ? INT32_MAX : l <= LINE_END ? LINE_END + 1 : (int32_t)l;
}

static bool add_cp(struct dwline *d, const struct unit *u, const struct dw_cur *c,
		   const struct state *st, bool end)
{
	struct cp *cp = d->cps.n < DWLINE_CPS_MAX ? ADDR_TABLE_PUSH(d->cps, 1024) : NULL;

	if (!cp) {
		d->truncated = true;
		return false;
	}
	*cp = (struct cp){
		.addr = st->addr,
		.unit = u->off,
		.pos = (uint32_t)(c->p - d->sec),
		.file = st->file > UINT32_MAX ? UINT32_MAX : (uint32_t)st->file,
		.line = end ? LINE_END : clamp_line(st->line),
	};
	return true;
}

/*
 * One unit's sequences: a checkpoint at each one's first row, then at the
 * first row DWLINE_STRIDE bytes or more after the last checkpoint, and one
 * where it ends.  A sequence whose addresses go back is cut there.
 */
static bool index_unit(struct dwline *d, const struct unit *u)
{
	struct dw_cur c = u->prog;
	struct state st;
	uint64_t top = 0;
	const uint8_t *last = NULL;
	bool in_seq = false, cut = false;
	int kind;

	state_reset(&st);
	while ((kind = next_row(u, &c, &st)) != RUN_STOP) {
		if (kind == RUN_END) {
			if (in_seq && !cut && st.addr >= top) {
				top = st.addr;
				if (!add_cp(d, u, &c, &st, true))
					return false;
			}
			state_reset(&st);
			in_seq = cut = false;
			continue;
		}
		if (cut)
			continue;
		if (!in_seq) {
			in_seq = true;
			top = st.addr;
			last = c.p;
			if (!add_cp(d, u, &c, &st, false))
				return false;
			continue;
		}
		if (st.addr < top) {
			/* Backwards: what the sequence covered so far ends after its last row. */
			struct state end = { .addr = top + 1 };

			cut = true;
			if (!add_cp(d, u, &c, &end, true))
				return false;
			continue;
		}
		top = st.addr;
		if ((size_t)(c.p - last) >= DWLINE_STRIDE) {
			last = c.p;
			if (!add_cp(d, u, &c, &st, false))
				return false;
		}
	}
	return true;
}

static int by_addr(const void *a, const void *b)
{
	const struct cp *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	/* At one address a sequence's end sorts before the next one's start. */
	return (x->line != LINE_END) - (y->line != LINE_END);
}

struct dwline *dwline__new(uint8_t *line, size_t len, uint8_t *line_str, size_t line_str_len)
{
	struct dwline *d = calloc(1, sizeof(*d));
	uint64_t off = 0, next;
	struct unit u;

	if (!d || len > UINT32_MAX) {
		free(d);
		free(line);
		free(line_str);
		errno = d ? EFBIG : ENOMEM;
		return NULL;
	}
	*d = (struct dwline){
		.sec = line, .len = len, .line_str = line_str, .line_str_len = line_str_len
	};
	while (off < len) {
		bool ok = parse_unit(d, off, &u, &next);

		if (next <= off)
			break;
		if (ok && !index_unit(d, &u))
			break;
		off = next;
	}
	if (!d->cps.n) {
		dwline__free(d);
		errno = ENOENT;
		return NULL;
	}
	ADDR_TABLE_SORT(d->cps, by_addr);
	return d;
}

void dwline__free(struct dwline *d)
{
	if (!d)
		return;
	FREE_ALL(d->sec, d->line_str, d->cps.at, d);
}

size_t dwline__index_bytes(const struct dwline *d)
{
	return d ? sizeof(*d) + ADDR_TABLE_BYTES(d->cps) : 0;
}

size_t dwline__count(const struct dwline *d)
{
	return d ? d->cps.n : 0;
}

bool dwline__truncated(const struct dwline *d)
{
	return d && d->truncated;
}

bool dwline__find(const struct dwline *d, uint64_t vaddr, const char **file, int *line)
{
	const struct cp *cp = d ? ADDR_TABLE_FLOOR(d->cps, addr, vaddr) : NULL;
	struct state st, best;
	struct unit u;
	struct dw_cur c;
	uint64_t next;
	bool capped;

	if (!cp || cp->line == LINE_END)
		return false;
	if (!parse_unit(d, cp->unit, &u, &next) || cp->pos < (size_t)(u.prog.p - d->sec) ||
	    cp->pos > (size_t)(u.prog.end - d->sec))
		return false;
	c = dw_cur(d->sec + cp->pos, (size_t)(u.prog.end - d->sec) - cp->pos);
	capped = dw_left(&c) > DWLINE_REPLAY_MAX;
	if (capped)
		c.end = c.p + DWLINE_REPLAY_MAX;
	st = best = (struct state){ cp->addr, cp->file, cp->line };
	for (;;) {
		int kind = next_row(&u, &c, &st);

		if (kind == RUN_END && st.addr <= vaddr)
			return false; /* past the sequence's end */
		/* Out of budget before a row past vaddr: the row is not known. */
		if (kind == RUN_STOP && capped)
			return false;
		if (kind != RUN_ROW || st.addr > vaddr || st.addr < best.addr)
			break;
		best = st;
	}
	if (best.line <= 0 || best.line > INT32_MAX)
		return false;
	*file = file_name(d, &u, best.file);
	*line = (int)best.line;
	return *file != NULL;
}
