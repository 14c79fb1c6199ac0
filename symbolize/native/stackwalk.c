// SPDX-License-Identifier: MIT
/*
 * stackwalk.c - the CFI walk over a copied user stack.
 *
 * Every value read comes from the copy and was the target's to write: a
 * read outside the copy ends the walk, and so does a stack pointer that
 * does not move up, which is what a looping or forged stack looks like.
 */
#include <string.h>

#include "stackwalk.h"

#define SW_STOP_NAME(name, text) text,
static const char *const stop_names[] = { SW_STOPS(SW_STOP_NAME) };
#undef SW_STOP_NAME

const char *sw_stop_name(enum sw_stop s)
{
	return (unsigned)s < SW_STOP__COUNT ? stop_names[s] : "?";
}

static bool read_u64(const struct sw_stack *st, uint64_t addr, uint64_t *v)
{
	if (addr < st->base || addr - st->base > st->len || st->len - (addr - st->base) < 8)
		return false;
	memcpy(v, st->bytes + (addr - st->base), 8);
	return true;
}

enum sw_stop sw_walk(const struct sw_regs *regs, const struct sw_stack *stack, sw_rule_fn rule_of,
		     void *ctx, uint64_t *pcs, uint64_t *sps, uint32_t max, uint32_t *n)
{
	struct sw_regs r = *regs;
	bool bp_known = regs->bp != 0;

	*n = 0;
	if (max > SW_MAX_FRAMES)
		max = SW_MAX_FRAMES;
	while (*n < max) {
		struct sw_rule rule;
		enum sw_stop stop;
		uint64_t cfa, ra, base;

		sps[*n] = r.sp;
		sps[*n + 1] = 0;
		pcs[(*n)++] = r.ip;
		/* A caller's ip is a return address: the call is just before it. */
		stop = rule_of(ctx, *n == 1 ? r.ip : r.ip - 1, &rule);
		if (stop)
			return stop;
		if (rule.kind == SW_RULE_END)
			return SW_STOP_END;
		if (rule.cfa_reg == SW_CFA_RBP && !bp_known)
			return SW_STOP_BAD_CFI;
		base = rule.cfa_reg == SW_CFA_RBP ? r.bp : r.sp;
		cfa = base + (uint64_t)(int64_t)rule.cfa_off;
		if (rule.plt_ge && (r.ip & 15) >= rule.plt_ge)
			cfa += 8;
		/* Each caller's frame is above its callee's. */
		if (cfa <= r.sp)
			return SW_STOP_LOOP;
		if (!read_u64(stack, cfa + (uint64_t)(int64_t)rule.ra_off, &ra))
			return SW_STOP_STACK;
		if (rule.rbp == SW_SAVED_AT) {
			uint64_t at = cfa + (uint64_t)(int64_t)rule.rbp_off;

			/*
			 * Below sp it was popped already, i.e. restored: GCC's
			 * epilogues keep the save slot's rule after the pop.
			 */
			if (at >= r.sp && !read_u64(stack, at, &r.bp))
				return SW_STOP_STACK;
			if (at >= r.sp)
				bp_known = true;
		} else if (rule.rbp == SW_SAVED_UNDEF) {
			bp_known = false;
		}
		r.sp = cfa;
		r.ip = ra;
		sps[*n] = cfa;
		if (!ra)
			return SW_STOP_END;
	}
	return SW_STOP_DEPTH;
}
