/* SPDX-License-Identifier: MIT */
/*
 * stackwalk.h - unwinding a copy of a thread's user stack, x86-64.
 *
 * Owns: the unwind rule of one address as the walk needs it (where the
 * caller's stack pointer, return address and frame pointer are, relative to
 * the canonical frame address), and the walk itself over the bytes the BPF
 * side copied: bounded in frames, reading only inside the copy, and ending
 * with a named reason, never with a guessed frame.  Where rules come from
 * (CFI, read by cfi.c) is cfi.h's; the walk knows nothing of files.
 */
#ifndef PYSPY_STACKWALK_H
#define PYSPY_STACKWALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sw_rule_kind {
	SW_RULE_CFA = 0, /* CFA = reg + off (+ the PLT adjustment); RA at CFA + ra_off */
	SW_RULE_END,	 /* the outermost frame: the return address is undefined */
};

enum sw_cfa_reg {
	SW_CFA_RSP = 0,
	SW_CFA_RBP
};

enum sw_saved {
	SW_SAVED_SAME = 0, /* the caller's value is this frame's */
	SW_SAVED_AT,	   /* at CFA + off */
	SW_SAVED_UNDEF,	   /* not recoverable */
};

struct sw_rule {
	uint8_t kind;	 /* enum sw_rule_kind */
	uint8_t cfa_reg; /* enum sw_cfa_reg */
	uint8_t rbp;	 /* enum sw_saved */
	uint8_t plt_ge;	 /* PLT stubs: CFA += 8 when (ip & 15) >= plt_ge; 0: none */
	int32_t cfa_off;
	int32_t ra_off;	 /* the return address is at CFA + ra_off */
	int32_t rbp_off; /* SW_SAVED_AT: the caller's rbp is at CFA + rbp_off */
};

/* Why a walk ended. */
#define SW_STOPS(X)                              \
	X(END, "end of stack") /* complete */    \
	X(NO_MAP, "address in no mapped object") \
	X(NO_CFI, "no unwind info")              \
	X(BAD_CFI, "unsupported unwind rule")    \
	X(STACK, "outside the copied stack")     \
	X(LOOP, "stack pointer went backwards")  \
	X(DEPTH, "too deep")                     \
	X(RUNNING, "registers unknown (the thread was running)") /* dump */

#define SW_STOP_ENUM(name, text) SW_STOP_##name,
enum sw_stop {
	SW_STOPS(SW_STOP_ENUM) SW_STOP__COUNT
};
#undef SW_STOP_ENUM

const char *sw_stop_name(enum sw_stop s);

/* bp 0: unknown (a rule that needs it ends the walk). */
struct sw_regs {
	uint64_t ip, sp, bp;
};

/* The copied stack: bytes[i] was at address base + i. */
struct sw_stack {
	const uint8_t *bytes;
	uint64_t base;
	size_t len;
};

/* Deepest native stack walked. */
#define SW_MAX_FRAMES 128

/*
 * A walk, one frame at a time: the caller finds each frame's rule (where
 * rules come from is not the walk's business) and hands it back.
 *
 *	sw_walk__init(&w, &regs, &stack, pcs, sps, max);
 *	while (sw_walk__next(&w))
 *		sw_walk__step(&w, lookup(w.pc, &rule), &rule);
 *
 * pcs[0] is regs->ip, then each caller's return address; at most max.
 * sps[i] is the stack pointer in frame i, so frame i's stack is [sps[i],
 * sps[i + 1]), and sps[n] is its caller's when known (else 0); sps holds
 * max + 1.
 */
struct sw_walk {
	/* Read by the caller. */
	uint64_t pc;	   /* whose rule the frame just listed needs: the call site for callers */
	uint32_t n;	   /* frames listed */
	enum sw_stop stop; /* why it ended, once sw_walk__next said so (END: complete) */
	/* The walk's. */
	struct sw_regs r;
	const struct sw_stack *stack;
	uint64_t *pcs, *sps;
	uint32_t max;
	bool bp_known, done;
};

void sw_walk__init(struct sw_walk *w, const struct sw_regs *regs, const struct sw_stack *stack,
		   uint64_t *pcs, uint64_t *sps, uint32_t max);

/* List the next frame: true, and w->pc is where its rule is; false at the end. */
bool sw_walk__next(struct sw_walk *w);

/*
 * The lookup of w->pc's rule: found 0 and its rule, or the stop the lookup
 * met (SW_STOP_NO_MAP, SW_STOP_NO_CFI, SW_STOP_BAD_CFI; rule unread).
 */
void sw_walk__step(struct sw_walk *w, enum sw_stop found, const struct sw_rule *rule);

#endif /* PYSPY_STACKWALK_H */
