// SPDX-License-Identifier: MIT
/* cfi.c - libdw's frame state at an address, as a struct sw_rule. */
#include <dwarf.h>
#include <stdbool.h>
#include <stdlib.h>

#include "cfi.h"

/* DWARF register numbers on x86-64. */
#define REG_RBP 6
#define REG_RSP 7
#define REG_RIP 16

static bool fits32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

/* CFA = reg + off, as libdw spells DW_CFA_def_cfa and friends. */
static bool cfa_reg_off(const Dwarf_Op *op, uint64_t *reg, int64_t *off)
{
	if (op->atom == DW_OP_bregx) {
		*reg = op->number;
		*off = (int64_t)op->number2;
		return true;
	}
	if (op->atom >= DW_OP_breg0 && op->atom <= DW_OP_breg31) {
		*reg = op->atom - DW_OP_breg0;
		*off = (int64_t)op->number;
		return true;
	}
	return false;
}

/*
 * The lazy-binding PLT's CFA, as binutils writes it for every 16-byte
 * stub: rsp + 8, plus 8 more past the stub's push (ip & 15 >= 11, or 10
 * for the second PLT).
 */
static bool plt_expr(const Dwarf_Op *ops, size_t n, struct sw_rule *r)
{
	static const uint8_t shape[] = { DW_OP_breg7, DW_OP_breg16, DW_OP_lit15, DW_OP_and, 0,
					 DW_OP_ge,    DW_OP_lit3,   DW_OP_shl,	 DW_OP_plus };

	if (n != sizeof(shape))
		return false;
	for (size_t i = 0; i < n; i++)
		if (shape[i] && ops[i].atom != shape[i])
			return false;
	if (ops[0].number != 8 || ops[1].number != 0 || ops[4].atom < DW_OP_lit0 ||
	    ops[4].atom > DW_OP_lit15 || ops[4].atom == DW_OP_lit0)
		return false;
	r->cfa_reg = SW_CFA_RSP;
	r->cfa_off = 8;
	r->plt_ge = (uint8_t)(ops[4].atom - DW_OP_lit0);
	return true;
}

static bool set_cfa(Dwarf_Frame *fr, struct sw_rule *r)
{
	Dwarf_Op *ops;
	size_t n;
	uint64_t reg;
	int64_t off;

	if (dwarf_frame_cfa(fr, &ops, &n) || !n)
		return false;
	if (n == 1 && cfa_reg_off(&ops[0], &reg, &off)) {
		if ((reg != REG_RSP && reg != REG_RBP) || !fits32(off))
			return false;
		r->cfa_reg = reg == REG_RSP ? SW_CFA_RSP : SW_CFA_RBP;
		r->cfa_off = (int32_t)off;
		return true;
	}
	return plt_expr(ops, n, r);
}

enum saved {
	SAVED_AT,
	SAVED_SAME,
	SAVED_UNDEF,
	SAVED_OTHER
};

/* Where the caller's regno is: at CFA + *off, unchanged, lost, or elsewhere. */
static enum saved saved_reg(Dwarf_Frame *fr, int regno, int32_t *off)
{
	Dwarf_Op mem[3], *ops;
	size_t n;
	int64_t o = 0;

	if (dwarf_frame_register(fr, regno, mem, &ops, &n))
		return SAVED_OTHER;
	if (!n)
		return ops ? SAVED_UNDEF : SAVED_SAME;
	if (ops[0].atom != DW_OP_call_frame_cfa || n > 2)
		return SAVED_OTHER;
	if (n == 2) {
		if (ops[1].atom != DW_OP_plus_uconst)
			return SAVED_OTHER; /* a value (val_offset), or an expression */
		o = (int64_t)ops[1].number;
	}
	if (!fits32(o))
		return SAVED_OTHER;
	*off = (int32_t)o;
	return SAVED_AT;
}

enum sw_stop cfi_rule(Dwarf_CFI *cfi, uint64_t vaddr, struct sw_rule *r, uint64_t *lo, uint64_t *hi)
{
	enum sw_stop stop = SW_STOP_BAD_CFI;
	Dwarf_Frame *fr = NULL;
	Dwarf_Addr start, end;
	bool signal = false;
	int ra_reg;

	*r = (struct sw_rule){ 0 };
	if (!cfi || dwarf_cfi_addrframe(cfi, vaddr, &fr) || !fr)
		return SW_STOP_NO_CFI;
	ra_reg = dwarf_frame_info(fr, &start, &end, &signal);
	*lo = start;
	*hi = end;
	/* Signal trampolines restore a whole context: not followed. */
	if (signal || ra_reg != REG_RIP)
		goto out;
	switch (saved_reg(fr, REG_RIP, &r->ra_off)) {
	case SAVED_UNDEF:
		r->kind = SW_RULE_END;
		stop = 0;
		goto out;
	case SAVED_AT:
		break;
	default:
		goto out;
	}
	if (!set_cfa(fr, r))
		goto out;
	switch (saved_reg(fr, REG_RBP, &r->rbp_off)) {
	case SAVED_AT:
		r->rbp = SW_SAVED_AT;
		break;
	case SAVED_SAME:
		r->rbp = SW_SAVED_SAME;
		break;
	default:
		r->rbp = SW_SAVED_UNDEF;
		break;
	}
	r->kind = SW_RULE_CFA;
	stop = 0;
out:
	free(fr);
	return stop;
}
