// SPDX-License-Identifier: MIT
/*
 * test_stackwalk.c - the CFI walk: synthetic stacks and rules for every
 * way a walk ends, then this very process unwound from a copy of its own
 * stack with its own objects' CFI (procmaps, object, cfi, stackwalk).
 */
#include <errno.h>
#include <gnu/libc-version.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "symbolize/native/procmaps.h"
#include "symbolize/native/stackwalk.h"
#include "unit.h"

/* --- synthetic: a table of rules by pc ------------------------------------ */

struct fake_rule {
	uint64_t pc;
	struct sw_rule r;
};

struct fake {
	const struct fake_rule *rules;
	int n;
};

static enum sw_stop fake_rule(const struct fake *f, uint64_t pc, struct sw_rule *r)
{
	for (int i = 0; i < f->n; i++)
		if (f->rules[i].pc == pc) {
			*r = f->rules[i].r;
			return 0;
		}
	return SW_STOP_NO_MAP;
}

/* A whole walk with f's rules: why it ended, *n frames listed. */
static enum sw_stop walk(const struct sw_regs *regs, const struct sw_stack *stack,
			 const struct fake *f, uint64_t *pcs, uint64_t *sps, uint32_t max,
			 uint32_t *n)
{
	struct sw_walk w;
	struct sw_rule r;

	sw_walk__init(&w, regs, stack, pcs, sps, max);
	while (sw_walk__next(&w))
		sw_walk__step(&w, fake_rule(f, w.pc, &r), &r);
	*n = w.n;
	/* Ended, it stays so. */
	CHECK(!sw_walk__next(&w) && w.n == *n);
	return w.stop;
}

#define RSP(off)                                                                           \
	(struct sw_rule)                                                                   \
	{                                                                                  \
		.kind = SW_RULE_CFA, .cfa_reg = SW_CFA_RSP, .cfa_off = (off), .ra_off = -8 \
	}

/* A frame-pointer frame: CFA = rbp + 16, RA at CFA-8, rbp saved at CFA-16. */
#define RBP_FRAME                                                                        \
	(struct sw_rule)                                                                 \
	{                                                                                \
		.kind = SW_RULE_CFA, .cfa_reg = SW_CFA_RBP, .cfa_off = 16, .ra_off = -8, \
		.rbp = SW_SAVED_AT, .rbp_off = -16                                       \
	}

static void put64(uint8_t *st, size_t at, uint64_t v)
{
	memcpy(st + at, &v, 8);
}

static void test_rsp_chain(void)
{
	uint8_t st[256] = { 0 };
	uint64_t base = 0x7000, pcs[8], sps[9];
	uint32_t n;
	/* leaf at 0x100 (CFA sp+16), mid at 0x200 (sp+32), root at 0x300 (END) */
	struct fake_rule rules[] = {
		{ 0x100, RSP(16) },
		{ 0x1ff, RSP(32) },
		{ 0x2ff, { .kind = SW_RULE_END } },
	};
	struct fake f = { rules, 3 };
	struct sw_regs regs = { 0x100, base, 0 };
	struct sw_stack stack = { st, base, sizeof(st) };

	put64(st, 8, 0x200);	   /* leaf's RA at CFA-8 = base+8 */
	put64(st, 16 + 24, 0x300); /* mid: sp base+16, CFA base+48, RA at base+40 */
	CHECK(walk(&regs, &stack, &f, pcs, sps, 8, &n) == SW_STOP_END);
	CHECK(n == 3 && pcs[0] == 0x100 && pcs[1] == 0x200 && pcs[2] == 0x300, "n %u", n);
	CHECK(sps[0] == base && sps[1] == base + 16 && sps[2] == base + 48);
}

static void test_rbp_frame(void)
{
	uint8_t st[128] = { 0 };
	uint64_t base = 0x9000, pcs[8], sps[9];
	uint32_t n;
	/* Two frame-pointer frames; the caller's CFA = rsp + 8 */
	struct fake_rule rules[] = {
		{ 0x500, RBP_FRAME },
		{ 0x5ff, RBP_FRAME },
		{ 0x6ff, { .kind = SW_RULE_END } },
	};
	struct fake f = { rules, 3 };
	struct sw_regs regs = { 0x500, base, base + 32 };
	struct sw_stack stack = { st, base, sizeof(st) };

	put64(st, 32, base + 64); /* saved rbp at rbp */
	put64(st, 40, 0x600);	  /* RA at rbp + 8 */
	put64(st, 64, 0);	  /* the caller's saved rbp */
	put64(st, 72, 0x700);
	CHECK(walk(&regs, &stack, &f, pcs, sps, 8, &n) == SW_STOP_END);
	CHECK(n == 3 && pcs[1] == 0x600 && pcs[2] == 0x700, "n %u", n);
}

static void test_stops(void)
{
	uint8_t st[64] = { 0 };
	uint64_t base = 0x1000, pcs[SW_MAX_FRAMES], sps[SW_MAX_FRAMES + 1];
	uint32_t n;
	struct fake_rule loop[] = { { 0x10, RSP(0) } };
	struct fake_rule out[] = { { 0x10, RSP(4096) } };
	struct fake_rule self[] = { { 0x10, RSP(8) }, { 0xf, RSP(8) } };
	struct fake_rule popped[] = {
		{ 0x10,
		  { .kind = SW_RULE_CFA,
		    .cfa_off = 8,
		    .ra_off = -8,
		    .rbp = SW_SAVED_AT,
		    .rbp_off = -16 } },
		{ 0x1f, { .kind = SW_RULE_END } },
	};
	struct fake f = { loop, 1 };
	struct sw_regs regs = { 0x10, base, 0x1234 };
	struct sw_stack stack = { st, base, sizeof(st) };
	uint8_t big[SW_MAX_FRAMES * 8 + 64];
	struct sw_stack bigs = { big, base, sizeof(big) };

	CHECK(walk(&regs, &stack, &f, pcs, sps, 8, &n) == SW_STOP_LOOP && n == 1);
	f = (struct fake){ out, 1 };
	CHECK(walk(&regs, &stack, &f, pcs, sps, 8, &n) == SW_STOP_STACK && n == 1);
	/* An unknown pc: the walk stops there, having listed it. */
	regs.ip = 0x99;
	CHECK(walk(&regs, &stack, &f, pcs, sps, 8, &n) == SW_STOP_NO_MAP && n == 1);
	/* A function that "returns" to itself forever: bounded by max, and by SW_MAX_FRAMES. */
	for (size_t i = 0; i < sizeof(big); i += 8)
		put64(big, i, 0x10);
	regs.ip = 0x10;
	f = (struct fake){ self, 2 };
	CHECK(walk(&regs, &bigs, &f, pcs, sps, 5, &n) == SW_STOP_DEPTH && n == 5);
	CHECK(walk(&regs, &bigs, &f, pcs, sps, 100000, &n) == SW_STOP_DEPTH && n == SW_MAX_FRAMES);
	/* rbp's save slot below sp: popped already, so rbp is the caller's. */
	put64(st, 0, 0x20);
	f = (struct fake){ popped, 2 };
	CHECK(walk(&regs, &stack, &f, pcs, sps, 8, &n) == SW_STOP_END && n == 2);
	CHECK(strcmp(sw_stop_name(SW_STOP_LOOP), "stack pointer went backwards") == 0);
}

/* --- real: this process, from a copy of its own stack ---------------------- */

struct real {
	struct native_maps *maps;
	struct native_object *objs[SW_MAX_FRAMES];
	uint64_t vaddrs[SW_MAX_FRAMES];
	int n;
};

static enum sw_stop real_rule(struct real *x, uint64_t pc, struct sw_rule *r)
{
	struct native_object *o;
	uint64_t vaddr;
	unsigned flags;

	if (native_maps__find(x->maps, pc, &o, &vaddr, &flags))
		return SW_STOP_NO_MAP;
	if (x->n < SW_MAX_FRAMES) {
		x->objs[x->n] = o;
		x->vaddrs[x->n++] = vaddr;
	}
	return native_object__rule(o, vaddr, r);
}

static uint8_t copy[64 * 1024];

__attribute__((noinline)) static int walk_here(struct real *x, uint64_t *pcs, uint32_t *n)
{
	struct sw_regs regs;
	uint64_t sps[SW_MAX_FRAMES + 1];
	struct sw_stack st;
	struct sw_walk w;
	struct sw_rule r;
	uint64_t sp;

	__asm__ volatile("lea (%%rip), %0" : "=r"(regs.ip));
	__asm__ volatile("mov %%rsp, %0" : "=r"(sp));
	__asm__ volatile("mov %%rbp, %0" : "=r"(regs.bp));
	regs.sp = sp;
	/*
	 * Like the BPF side: the stack from sp up, read from outside (ASan
	 * would see its own redzones in a memcpy).
	 */
	{
		struct iovec l = { copy, sizeof(copy) / 2 }, r = { (void *)sp, sizeof(copy) / 2 };
		ssize_t got = process_vm_readv(getpid(), &l, 1, &r, 1, 0);

		st = (struct sw_stack){ copy, sp, got > 0 ? (size_t)got : 0 };
	}
	sw_walk__init(&w, &regs, &st, pcs, sps, SW_MAX_FRAMES);
	while (sw_walk__next(&w))
		sw_walk__step(&w, real_rule(x, w.pc, &r), &r);
	*n = w.n;
	return w.stop;
}

__attribute__((noinline)) static int outer_frame(struct real *x, uint64_t *pcs, uint32_t *n)
{
	int r = walk_here(x, pcs, n);

	__asm__ volatile("" ::: "memory"); /* no tail call */
	return r;
}

static void test_self(void)
{
	struct native_objects *t = native_objects__new(0);
	struct real x = { 0 };
	uint64_t pcs[SW_MAX_FRAMES];
	uint32_t n = 0;
	bool saw_walk = false, saw_outer = false, saw_main = false;
	int stop;

	x.maps = native_maps__new(t, getpid());
	CHECK(x.maps);
	if (!x.maps)
		return;
	stop = outer_frame(&x, pcs, &n);
	if (x.n == 0 && geteuid()) {
		printf("  skip: map_files needs root\n");
		goto out;
	}
	for (int i = 0; i < x.n; i++) {
		const char *s = native_object__symbol(x.objs[i], x.vaddrs[i]);

		saw_walk |= s && !strcmp(s, "walk_here");
		saw_outer |= s && !strcmp(s, "outer_frame");
		saw_main |= s && !strcmp(s, "main");
	}
	CHECK(saw_walk && saw_outer && saw_main, "stop %d (%s) after %u frames", stop,
	      sw_stop_name(stop), n);
	CHECK(stop == SW_STOP_END || stop == SW_STOP_STACK, "%s", sw_stop_name(stop));
out:
	native_maps__free(x.maps);
	native_objects__free(t);
}

/*
 * The table lets go of an object no mapping uses when it needs the room,
 * and the caller takes it: until then it is valid and still charged, so
 * the next object waits for the room (-EAGAIN, tried again, not for good).
 */
static void test_retire(void)
{
	struct native_objects *t = native_objects__new(1); /* any object is over it */
	uint64_t in_libc = (uintptr_t)&gnu_get_libc_version, here = (uintptr_t)&test_retire;
	struct native_maps *m = native_maps__new(t, getpid());
	struct native_object *libc = NULL, *self = NULL, *o;
	uint64_t vaddr, libc_vaddr;
	unsigned flags;
	int err;

	CHECK(m && t);
	if (!m || !t)
		goto out;
	err = native_maps__find(m, in_libc, &libc, &vaddr, &flags);
	if (err == -EACCES && geteuid()) {
		printf("  skip: map_files needs root\n");
		goto out;
	}
	CHECK(!err && libc, "libc: %s", strerror(-err));
	if (err)
		goto out;
	libc_vaddr = vaddr;
	CHECK(!native_objects__take_retired(t), "nothing let go of yet");
	/* Its only mapping gone, libc is unused: the next open lets it go. */
	native_maps__free(m);
	m = native_maps__new(t, getpid());
	CHECK(m);
	if (!m)
		goto out;
	err = native_maps__find(m, here, &self, &vaddr, &flags);
	CHECK(err == -EAGAIN, "%d", err);
	o = libc;
	/* __gnu_get_libc_version where libc's debug file is installed. */
	CHECK(strstr(native_object__symbol(o, libc_vaddr) ?: "", "gnu_get_libc_version"),
	      "let go of, still valid: %s", native_object__symbol(o, libc_vaddr));
	o = native_objects__take_retired(t);
	CHECK(o == libc);
	CHECK(!native_objects__take_retired(t));
	native_object__free(o);
	err = native_maps__find(m, here, &self, &vaddr, &flags);
	CHECK(!err && self && !strcmp(native_object__symbol(self, vaddr) ?: "", "test_retire"),
	      "%d", err);
out:
	native_maps__free(m);
	native_objects__free(t);
}

int main(void)
{
	test_rsp_chain();
	test_rbp_frame();
	test_stops();
	test_self();
	test_retire();
	return unit_done("stackwalk");
}
