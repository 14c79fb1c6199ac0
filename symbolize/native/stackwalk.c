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

void sw_walk__init(struct sw_walk *w, const struct sw_regs *regs, const struct sw_stack *stack,
		   uint64_t *pcs, uint64_t *sps, uint32_t max)
{
	*w = (struct sw_walk){
		.stop = SW_STOP_END,
		.r = *regs,
		.stack = stack,
		.pcs = pcs,
		.sps = sps,
		.max = max > SW_MAX_FRAMES ? SW_MAX_FRAMES : max,
		.bp_known = regs->bp != 0,
	};
}

bool sw_walk__next(struct sw_walk *w)
{
	if (w->done)
		return false;
	if (w->n >= w->max) {
		w->stop = SW_STOP_DEPTH;
		w->done = true;
		return false;
	}
	w->sps[w->n] = w->r.sp;
	w->sps[w->n + 1] = 0;
	w->pcs[w->n++] = w->r.ip;
	/* A caller's ip is a return address: the call is just before it. */
	w->pc = w->n == 1 ? w->r.ip : w->r.ip - 1;
	return true;
}

/* The walk goes on. */
#define SW_MORE SW_STOP__COUNT

/* The caller's registers by rule, from the frame just listed; SW_MORE, or why it ends. */
static enum sw_stop unwind(struct sw_walk *w, const struct sw_rule *rule)
{
	struct sw_regs *r = &w->r;
	uint64_t cfa, ra, base;

	if (rule->kind == SW_RULE_END)
		return SW_STOP_END;
	if (rule->cfa_reg == SW_CFA_RBP && !w->bp_known)
		return SW_STOP_BAD_CFI;
	base = rule->cfa_reg == SW_CFA_RBP ? r->bp : r->sp;
	cfa = base + (uint64_t)(int64_t)rule->cfa_off;
	if (rule->plt_ge && (r->ip & 15) >= rule->plt_ge)
		cfa += 8;
	/* Each caller's frame is above its callee's. */
	if (cfa <= r->sp)
		return SW_STOP_LOOP;
	if (!read_u64(w->stack, cfa + (uint64_t)(int64_t)rule->ra_off, &ra))
		return SW_STOP_STACK;
	if (rule->rbp == SW_SAVED_AT) {
		uint64_t at = cfa + (uint64_t)(int64_t)rule->rbp_off;

		/*
		 * Below sp it was popped already, i.e. restored: GCC's
		 * epilogues keep the save slot's rule after the pop.
		 */
		if (at >= r->sp && !read_u64(w->stack, at, &r->bp))
			return SW_STOP_STACK;
		if (at >= r->sp)
			w->bp_known = true;
	} else if (rule->rbp == SW_SAVED_UNDEF) {
		w->bp_known = false;
	}
	r->sp = cfa;
	r->ip = ra;
	w->sps[w->n] = cfa;
	return ra ? SW_MORE : SW_STOP_END;
}

void sw_walk__step(struct sw_walk *w, enum sw_stop found, const struct sw_rule *rule)
{
	enum sw_stop s;

	if (w->done)
		return;
	s = found ? found : unwind(w, rule);
	if (s != SW_MORE) {
		w->stop = s;
		w->done = true;
	}
}
