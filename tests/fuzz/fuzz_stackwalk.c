// SPDX-License-Identifier: MIT
/*
 * fuzz_stackwalk.c - the CFI walk on any stack and any rules: registers,
 * then up to 16 (pc, rule) pairs, then the stack copy.  It must end, list
 * at most what it was allowed, and read nothing outside the copy (ASan).
 */
#include <stdlib.h>
#include <string.h>

#include "symbolize/native/stackwalk.h"

struct table {
	uint64_t pc[16];
	struct sw_rule r[16];
	unsigned n;
};

static enum sw_stop rule_of(const struct table *t, uint64_t pc, struct sw_rule *r)
{
	for (unsigned i = 0; i < t->n; i++)
		if (t->pc[i] == pc || t->pc[i] == pc + 1) {
			*r = t->r[i];
			return 0;
		}
	return (pc & 3) ? SW_STOP_NO_CFI : SW_STOP_NO_MAP;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t pcs[SW_MAX_FRAMES], sps[SW_MAX_FRAMES + 1];
	struct sw_regs regs;
	struct table t = { 0 };
	struct sw_stack st;
	struct sw_walk w;
	struct sw_rule r;
	uint8_t *copy;

	if (size < sizeof(regs) + 1)
		return 0;
	memcpy(&regs, data, sizeof(regs));
	data += sizeof(regs);
	size -= sizeof(regs);
	t.n = *data++ % 17;
	size--;
	for (unsigned i = 0; i < t.n; i++) {
		if (size < 8 + sizeof(struct sw_rule)) {
			t.n = i;
			break;
		}
		memcpy(&t.pc[i], data, 8);
		memcpy(&t.r[i], data + 8, sizeof(struct sw_rule));
		data += 8 + sizeof(struct sw_rule);
		size -= 8 + sizeof(struct sw_rule);
	}
	/* An exact-size heap copy, so a read past its end is ASan's to see. */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	st = (struct sw_stack){ copy, regs.sp, size };
	sw_walk__init(&w, &regs, &st, pcs, sps, 1 + (regs.bp & 127));
	while (sw_walk__next(&w))
		sw_walk__step(&w, rule_of(&t, w.pc, &r), &r);
	if (w.n > SW_MAX_FRAMES)
		abort();
	free(copy);
	return 0;
}
