// SPDX-License-Identifier: MIT
/*
 * cfi.c - .eh_frame and .debug_frame: an index of FDEs by address, and
 * one FDE's instructions run up to an address.
 *
 * Every number here is the file's: records are read through dw_cur
 * (dwarf_read.h), so no length takes a read outside the section; an FDE
 * must lie in the section and name a CIE that parses; the state stack and
 * the instructions run per lookup are bounded (cfi.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cfi.h"
#include "dwarf_read.h"
#include "addrtab.h"

/* DWARF register numbers on x86-64. */
#define REG_RBP 6
#define REG_RSP 7
#define REG_RIP 16

/* Pointer encodings (DW_EH_PE_*): a format in the low nibble, an application above. */
#define PE_OMIT	    0xff
#define PE_FMT	    0x0f
#define PE_APP	    0x70
#define PE_INDIRECT 0x80
#define PE_PCREL    0x10
#define PE_SIGNED   0x08 /* of PE_FMT */
#define PE_LEB	    0xff /* a format's width: (S)LEB128 */

struct fde_ent {
	uint64_t lo;
	uint32_t len; /* the FDE covers [lo, lo + len) */
	uint32_t off; /* of its record in the section */
};

struct cfi_table {
	uint8_t *sec;
	size_t len;
	uint64_t vaddr;
	bool eh;
	ADDR_TABLE(struct fde_ent) fdes; /* by lo */
	size_t refused;			 /* FDEs past CFI_INSNS_MAX */
};

struct cie {
	uint64_t code_align;
	int64_t data_align;
	uint64_t ra_reg;
	uint8_t fde_enc;
	bool aug_z, signal;
	struct dw_cur insns;
};

struct fde {
	uint64_t lo, hi;
	struct cie cie;
	struct dw_cur insns;
};

/*
 * A pointer in encoding enc.  raw: the number as stored (a range, or a
 * pointer only skipped over); else applied: pc-relative to the field's own
 * address.  Other applications and indirection mean nothing without the
 * running process: false.
 */
static bool read_ptr(const struct cfi_table *t, struct dw_cur *c, uint8_t enc, bool raw,
		     uint64_t *out)
{
	/* Each format's bytes: absptr and udata8/sdata8 8, data2 2, data4 4. */
	static const uint8_t widths[PE_FMT + 1] = {
		[0x00] = 8,	 [0x01] = PE_LEB, [0x02] = 2, [0x03] = 4, [0x04] = 8,
		[0x09] = PE_LEB, [0x0a] = 2,	  [0x0b] = 4, [0x0c] = 8,
	};
	uint64_t field = t->vaddr + (uint64_t)(c->p - t->sec);
	unsigned fmt = enc & PE_FMT, width = widths[fmt];
	uint64_t v;

	if (!width) /* not one we read */
		return false;
	if (width == PE_LEB)
		v = fmt & PE_SIGNED ? (uint64_t)dw_sleb(c) : dw_uleb(c);
	else
		v = fmt & PE_SIGNED ? (uint64_t)dw_sn(c, width) : dw_un(c, width);
	if (c->bad || enc == PE_OMIT)
		return false;
	if (!raw) {
		if (enc & PE_INDIRECT)
			return false;
		if ((enc & PE_APP) == PE_PCREL)
			v += field;
		else if (enc & PE_APP)
			return false;
	}
	*out = v;
	return true;
}

/* The CIE whose record starts at off. */
static bool parse_cie(const struct cfi_table *t, uint64_t off, struct cie *cie)
{
	struct dw_cur c, rec;
	unsigned osz;
	uint64_t id, len;
	const char *aug;
	uint8_t version;

	if (off >= t->len)
		return false;
	c = dw_cur(t->sec + off, t->len - off);
	len = dw_initial_length(&c, &osz);
	rec = dw_sub(&c, len);
	if (c.bad || !len)
		return false;
	id = dw_un(&rec, osz);
	if (t->eh ? id != 0 : id != (osz == 4 ? 0xffffffffull : UINT64_MAX))
		return false;
	*cie = (struct cie){ .fde_enc = 0 };
	version = dw_u8(&rec);
	if (version != 1 && version != 3 && version != 4)
		return false;
	aug = dw_str(&rec);
	if (!aug)
		return false;
	/* .debug_frame v4: address and segment selector sizes. */
	if (version == 4 && (dw_u8(&rec) != 8 || dw_u8(&rec) != 0))
		return false;
	cie->code_align = dw_uleb(&rec);
	cie->data_align = dw_sleb(&rec);
	cie->ra_reg = version == 1 ? dw_u8(&rec) : dw_uleb(&rec);
	if (aug[0] == 'z') {
		struct dw_cur a = dw_sub(&rec, dw_uleb(&rec));
		uint64_t skip;

		cie->aug_z = true;
		for (const char *s = aug + 1; *s && !a.bad; s++) {
			switch (*s) {
			case 'L': /* the LSDA's encoding: the FDE's data, skipped whole */
				dw_u8(&a);
				break;
			case 'R':
				cie->fde_enc = dw_u8(&a);
				break;
			case 'P':
				if (!read_ptr(t, &a, dw_u8(&a), true, &skip))
					return false;
				break;
			case 'S':
				cie->signal = true;
				break;
			default: /* what follows it could not be found */
				return false;
			}
		}
		if (a.bad)
			return false;
	} else if (aug[0]) {
		return false; /* "eh" and other pre-'z' forms */
	}
	if (rec.bad || !cie->code_align)
		return false;
	cie->insns = rec;
	return true;
}

/*
 * The record at off: 1 an FDE (*f filled), 0 something else (a CIE),
 * -1 the end or a record that does not parse.  *next: the record after.
 */
static int parse_record(const struct cfi_table *t, uint64_t off, struct fde *f, uint64_t *next)
{
	struct dw_cur c = dw_cur(t->sec + off, t->len - off), rec;
	const uint8_t *id_at;
	unsigned osz;
	uint64_t len, id, cie_off, lo, range;

	len = dw_initial_length(&c, &osz);
	if (c.bad || !len) /* .eh_frame ends with a zero length */
		return -1;
	rec = dw_sub(&c, len);
	if (c.bad)
		return -1;
	*next = (uint64_t)(c.p - t->sec);
	id_at = rec.p;
	id = dw_un(&rec, osz);
	if (rec.bad)
		return -1;
	if (t->eh) {
		/* The distance back from this very field to its CIE. */
		if (!id)
			return 0;
		if (id > (uint64_t)(id_at - t->sec))
			return -1;
		cie_off = (uint64_t)(id_at - t->sec) - id;
	} else {
		if (id == (osz == 4 ? 0xffffffffull : UINT64_MAX))
			return 0;
		cie_off = id;
	}
	if (!parse_cie(t, cie_off, &f->cie))
		return -1;
	if (!read_ptr(t, &rec, t->eh ? f->cie.fde_enc : 0, false, &lo) ||
	    !read_ptr(t, &rec, t->eh ? f->cie.fde_enc : 0, true, &range))
		return -1;
	if (f->cie.aug_z)
		dw_sub(&rec, dw_uleb(&rec));
	if (rec.bad || !range || lo > UINT64_MAX - range)
		return -1;
	f->lo = lo;
	f->hi = lo + range;
	f->insns = rec;
	return 1;
}

static int by_lo(const void *a, const void *b)
{
	const struct fde_ent *x = a, *y = b;

	return (x->lo > y->lo) - (x->lo < y->lo);
}

struct cfi_table *cfi_table__new(uint8_t *bytes, size_t len, uint64_t vaddr, bool eh)
{
	struct cfi_table *t = calloc(1, sizeof(*t));
	uint64_t off = 0, next;
	struct fde f;
	int kind;

	if (!t || len > UINT32_MAX) {
		free(t);
		free(bytes);
		errno = t ? EFBIG : ENOMEM;
		return NULL;
	}
	*t = (struct cfi_table){ .sec = bytes, .len = len, .vaddr = vaddr, .eh = eh };
	/* Each record is at least 16 bytes, so the index is at most the section's size. */
	while (off < len && (kind = parse_record(t, off, &f, &next)) >= 0) {
		/* An FDE no lookup would run to its end is left out, and counted. */
		if (kind == 1 && dw_left(&f.insns) > CFI_INSNS_MAX)
			t->refused++;
		else if (kind == 1 && f.hi - f.lo <= UINT32_MAX) {
			struct fde_ent *e = ADDR_TABLE_PUSH(t->fdes, 256);

			if (!e)
				break;
			*e = (struct fde_ent){ f.lo, (uint32_t)(f.hi - f.lo), (uint32_t)off };
		}
		off = next;
	}
	if (!t->fdes.n && !t->refused) {
		cfi_table__free(t);
		errno = ENOENT;
		return NULL;
	}
	ADDR_TABLE_SORT(t->fdes, by_lo);
	return t;
}

void cfi_table__free(struct cfi_table *t)
{
	if (!t)
		return;
	free(t->sec);
	free(t->fdes.at);
	free(t);
}

size_t cfi_table__index_bytes(const struct cfi_table *t)
{
	return t ? sizeof(*t) + ADDR_TABLE_BYTES(t->fdes) : 0;
}

size_t cfi_table__count(const struct cfi_table *t)
{
	return t ? t->fdes.n : 0;
}

size_t cfi_table__refused(const struct cfi_table *t)
{
	return t ? t->refused : 0;
}

/* --- running the instructions ---------------------------------------------- */

enum how {
	HOW_SAME,  /* the caller's value is this frame's */
	HOW_UNDEF, /* lost */
	HOW_AT,	   /* saved at CFA + off */
	HOW_OTHER, /* in another register, or by an expression: not followed */
};

enum cfa_how {
	CFA_REG, /* reg + off */
	CFA_PLT, /* the lazy PLT's expression */
	CFA_OTHER,
};

struct reg_rule {
	uint8_t how; /* enum how */
	int64_t off;
};

struct row {
	uint8_t cfa_how; /* enum cfa_how */
	uint8_t plt_ge;
	uint64_t cfa_reg;
	int64_t cfa_off;
	struct reg_rule rbp, ra;
};

struct run {
	const struct cfi_table *t;
	const struct cie *cie;
	struct row row, init;
	struct row saved[CFI_STATES_MAX];
	unsigned depth;
	uint64_t loc, target, hi;
	bool in_cie, done, bad;
};

/* The column of reg, if it is one the walk needs. */
static struct reg_rule *column(struct run *r, uint64_t reg)
{
	if (reg == REG_RBP)
		return &r->row.rbp;
	if (reg == r->cie->ra_reg)
		return &r->row.ra;
	return NULL;
}

static const struct reg_rule *init_column(const struct run *r, uint64_t reg)
{
	if (reg == REG_RBP)
		return &r->init.rbp;
	if (reg == r->cie->ra_reg)
		return &r->init.ra;
	return NULL;
}

static void set_reg(struct run *r, uint64_t reg, uint8_t how, int64_t off)
{
	struct reg_rule *c = column(r, reg);

	if (c)
		*c = (struct reg_rule){ how, off };
}

/* n factored by the data alignment, as an offset: false on overflow. */
static bool factored(const struct run *r, int64_t n, int64_t *out)
{
	return !__builtin_mul_overflow(n, r->cie->data_align, out);
}

/* The next row starts at loc: stop if that is past the target. */
static void move_to(struct run *r, uint64_t loc)
{
	if (r->in_cie || loc < r->loc) {
		r->bad = true;
		return;
	}
	if (loc > r->target) {
		r->hi = loc;
		r->done = true;
		return;
	}
	r->loc = loc;
}

static void advance(struct run *r, uint64_t delta)
{
	uint64_t d;

	if (__builtin_mul_overflow(delta, r->cie->code_align, &d) || r->loc > UINT64_MAX - d) {
		r->bad = true;
		return;
	}
	move_to(r, r->loc + d);
}

/*
 * DW_CFA_def_cfa_expression: only the lazy-binding PLT's, as binutils
 * writes it for every 16-byte stub: rsp + 8, plus 8 more past the stub's
 * push (ip & 15 >= 11, or 10 for the second PLT).
 */
static void cfa_expression(struct run *r, struct dw_cur block)
{
	static const uint8_t shape[] = { 0x77, 0x08, /* DW_OP_breg7 8 */
					 0x80, 0x00, /* DW_OP_breg16 0 */
					 0x3f,	     /* DW_OP_lit15 */
					 0x1a,	     /* DW_OP_and */
					 0x00,	     /* DW_OP_lit1..lit15 */
					 0x2a,	     /* DW_OP_ge */
					 0x33,	     /* DW_OP_lit3 */
					 0x24,	     /* DW_OP_shl */
					 0x22 };     /* DW_OP_plus */
	size_t n = dw_left(&block);

	r->row.cfa_how = CFA_OTHER;
	if (n != sizeof(shape))
		return;
	for (size_t i = 0; i < n; i++)
		if (shape[i] && block.p[i] != shape[i])
			return;
	if (block.p[6] < 0x31 || block.p[6] > 0x3f)
		return;
	r->row.cfa_how = CFA_PLT;
	r->row.plt_ge = (uint8_t)(block.p[6] - 0x30);
}

/* One instruction. */
static void step(struct run *r, struct dw_cur *c)
{
	uint8_t op = dw_u8(c);
	uint64_t reg, u;
	int64_t s, off = 0;

	switch (op & 0xc0) {
	case 0x40: /* DW_CFA_advance_loc */
		advance(r, op & 0x3f);
		return;
	case 0x80: /* DW_CFA_offset */
		u = dw_uleb(c);
		if (u > INT64_MAX || !factored(r, (int64_t)u, &off))
			r->bad = true;
		else
			set_reg(r, op & 0x3f, HOW_AT, off);
		return;
	case 0xc0: { /* DW_CFA_restore */
		const struct reg_rule *i = init_column(r, op & 0x3f);

		if (r->in_cie)
			r->bad = true;
		else if (i)
			*column(r, op & 0x3f) = *i;
		return;
	}
	}
	switch (op) {
	case 0x00: /* nop */
	case 0x2d: /* GNU_window_save */
		break;
	case 0x01: /* set_loc */
		if (!read_ptr(r->t, c, r->t->eh ? r->cie->fde_enc : 0, false, &u))
			r->bad = true;
		else
			move_to(r, u);
		break;
	case 0x02:
		advance(r, dw_u8(c));
		break;
	case 0x03:
		advance(r, dw_u16(c));
		break;
	case 0x04:
		advance(r, dw_u32(c));
		break;
	case 0x05: /* offset_extended */
	case 0x2f: /* GNU_negative_offset_extended */
		reg = dw_uleb(c);
		u = dw_uleb(c);
		if (u > INT64_MAX || !factored(r, (int64_t)u, &off))
			r->bad = true;
		else
			set_reg(r, reg, HOW_AT, op == 0x2f ? -off : off);
		break;
	case 0x06: { /* restore_extended */
		const struct reg_rule *i;

		reg = dw_uleb(c);
		i = init_column(r, reg);
		if (r->in_cie)
			r->bad = true;
		else if (i)
			*column(r, reg) = *i;
		break;
	}
	case 0x07: /* undefined */
		set_reg(r, dw_uleb(c), HOW_UNDEF, 0);
		break;
	case 0x08: /* same_value */
		set_reg(r, dw_uleb(c), HOW_SAME, 0);
		break;
	case 0x09: /* register */
		reg = dw_uleb(c);
		u = dw_uleb(c);
		set_reg(r, reg, u == reg ? HOW_SAME : HOW_OTHER, 0);
		break;
	case 0x0a: /* remember_state */
		if (r->depth == CFI_STATES_MAX)
			r->bad = true;
		else
			r->saved[r->depth++] = r->row;
		break;
	case 0x0b: /* restore_state */
		if (!r->depth)
			r->bad = true;
		else
			r->row = r->saved[--r->depth];
		break;
	case 0x0c: /* def_cfa */
		reg = dw_uleb(c);
		u = dw_uleb(c);
		r->row.cfa_how = u > INT64_MAX ? CFA_OTHER : CFA_REG;
		r->row.cfa_reg = reg;
		r->row.cfa_off = (int64_t)u;
		break;
	case 0x12: /* def_cfa_sf */
		reg = dw_uleb(c);
		s = dw_sleb(c);
		r->row.cfa_how = factored(r, s, &off) ? CFA_REG : CFA_OTHER;
		r->row.cfa_reg = reg;
		r->row.cfa_off = off;
		break;
	case 0x0d: /* def_cfa_register: the offset stays */
		r->row.cfa_reg = dw_uleb(c);
		if (r->row.cfa_how != CFA_REG)
			r->row.cfa_how = CFA_OTHER;
		break;
	case 0x0e: /* def_cfa_offset */
		u = dw_uleb(c);
		if (r->row.cfa_how != CFA_REG || u > INT64_MAX)
			r->row.cfa_how = CFA_OTHER;
		r->row.cfa_off = (int64_t)u;
		break;
	case 0x13: /* def_cfa_offset_sf */
		s = dw_sleb(c);
		if (r->row.cfa_how != CFA_REG || !factored(r, s, &off))
			r->row.cfa_how = CFA_OTHER;
		else
			r->row.cfa_off = off;
		break;
	case 0x0f: /* def_cfa_expression */
		cfa_expression(r, dw_sub(c, dw_uleb(c)));
		break;
	case 0x10: /* expression */
	case 0x16: /* val_expression */
		reg = dw_uleb(c);
		dw_sub(c, dw_uleb(c));
		set_reg(r, reg, HOW_OTHER, 0);
		break;
	case 0x11: /* offset_extended_sf */
		reg = dw_uleb(c);
		s = dw_sleb(c);
		if (!factored(r, s, &off))
			r->bad = true;
		else
			set_reg(r, reg, HOW_AT, off);
		break;
	case 0x14: /* val_offset */
	case 0x15: /* val_offset_sf */
		reg = dw_uleb(c);
		dw_uleb(c); /* sleb or uleb: the same bytes to skip */
		set_reg(r, reg, HOW_OTHER, 0);
		break;
	case 0x2e: /* GNU_args_size */
		dw_uleb(c);
		break;
	default:
		r->bad = true;
		break;
	}
}

/* Run instructions until they end, pass the target, or go wrong. */
static void run_insns(struct run *r, struct dw_cur c)
{
	if (dw_left(&c) > CFI_INSNS_MAX) {
		r->bad = true;
		return;
	}
	while (!r->done && !r->bad && dw_left(&c)) {
		step(r, &c);
		if (c.bad)
			r->bad = true;
	}
}

static bool fits32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

/* The row as the walk's rule. */
static enum sw_stop to_rule(const struct run *r, struct sw_rule *out)
{
	const struct row *w = &r->row;

	if (r->cie->signal || r->cie->ra_reg != REG_RIP)
		return SW_STOP_BAD_CFI; /* signal trampolines restore a whole context */
	if (w->ra.how == HOW_UNDEF) {
		out->kind = SW_RULE_END;
		return 0;
	}
	if (w->ra.how != HOW_AT || !fits32(w->ra.off))
		return SW_STOP_BAD_CFI;
	out->ra_off = (int32_t)w->ra.off;
	if (w->cfa_how == CFA_PLT) {
		out->cfa_reg = SW_CFA_RSP;
		out->cfa_off = 8;
		out->plt_ge = w->plt_ge;
	} else if (w->cfa_how == CFA_REG && (w->cfa_reg == REG_RSP || w->cfa_reg == REG_RBP) &&
		   fits32(w->cfa_off)) {
		out->cfa_reg = w->cfa_reg == REG_RSP ? SW_CFA_RSP : SW_CFA_RBP;
		out->cfa_off = (int32_t)w->cfa_off;
	} else {
		return SW_STOP_BAD_CFI;
	}
	if (w->rbp.how == HOW_AT && fits32(w->rbp.off)) {
		out->rbp = SW_SAVED_AT;
		out->rbp_off = (int32_t)w->rbp.off;
	} else {
		out->rbp = w->rbp.how == HOW_SAME ? SW_SAVED_SAME : SW_SAVED_UNDEF;
	}
	out->kind = SW_RULE_CFA;
	return 0;
}

enum sw_stop cfi_rule(const struct cfi_table *t, uint64_t vaddr, struct sw_rule *r, uint64_t *lo,
		      uint64_t *hi)
{
	/* The last FDE starting at or below vaddr. */
	const struct fde_ent *e = t ? ADDR_TABLE_FLOOR(t->fdes, lo, vaddr) : NULL;
	struct run run;
	struct fde f;
	uint64_t next;

	*r = (struct sw_rule){ 0 };
	if (!e || vaddr - e->lo >= e->len)
		return SW_STOP_NO_CFI;
	if (parse_record(t, e->off, &f, &next) != 1)
		return SW_STOP_BAD_CFI;
	run = (struct run){
		.t = t,
		.cie = &f.cie,
		.row = { .cfa_how = CFA_OTHER, .rbp = { HOW_SAME, 0 }, .ra = { HOW_OTHER, 0 } },
		.loc = f.lo,
		.target = vaddr,
		.hi = f.hi,
		.in_cie = true,
	};
	run_insns(&run, f.cie.insns);
	run.init = run.row;
	run.in_cie = false;
	run_insns(&run, f.insns);
	*lo = run.loc;
	*hi = run.hi;
	if (run.bad)
		return SW_STOP_BAD_CFI;
	return to_rule(&run, r);
}
