// SPDX-License-Identifier: MIT
/*
 * test_dwarf.c - our CFI (cfi.c) and line table (dwline.c) readers,
 * against independent readers on real objects (libdw for CFI, binutils'
 * readelf for lines), and on crafted sections built to blow up a reader
 * that trusts them.
 *
 * libdw is a reference here and only here: the agent no longer links it,
 * because its memory grows with what a file says (cfi.h, dwline.h).
 * Real objects: libc, a static stripped python, pyenv's libpython (DWARF
 * 5), and libraries compiled now with DWARF 2, 4 and 5, compressed both
 * ways (SHF_COMPRESSED and .zdebug), and with CFI in .debug_frame.
 */
#include <dwarf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <elfutils/libdw.h>

#include "symbolize/native/cfi.h"
#include "symbolize/native/dwline.h"
#include "symbolize/native/object.h"
#include "symbolize/proc/elf.h"
#include "symbolize/base/search.h"
#include "interpreters.h"
#include "unit.h"

/* --- libdw's answer, as the agent used to read it ----------------------------- */

#define REG_RBP 6
#define REG_RSP 7
#define REG_RIP 16

static bool fits32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

static bool ref_plt(const Dwarf_Op *ops, size_t n, struct sw_rule *r)
{
	static const uint8_t shape[] = { DW_OP_breg7, DW_OP_breg16, DW_OP_lit15, DW_OP_and, 0,
					 DW_OP_ge,    DW_OP_lit3,   DW_OP_shl,	 DW_OP_plus };

	if (n != sizeof(shape))
		return false;
	for (size_t i = 0; i < n; i++)
		if (shape[i] && ops[i].atom != shape[i])
			return false;
	if (ops[0].number != 8 || ops[1].number != 0 || ops[4].atom <= DW_OP_lit0 ||
	    ops[4].atom > DW_OP_lit15)
		return false;
	r->cfa_reg = SW_CFA_RSP;
	r->cfa_off = 8;
	r->plt_ge = (uint8_t)(ops[4].atom - DW_OP_lit0);
	return true;
}

static bool ref_cfa(Dwarf_Frame *fr, struct sw_rule *r)
{
	Dwarf_Op *ops;
	size_t n;

	if (dwarf_frame_cfa(fr, &ops, &n) || !n)
		return false;
	/* libdw spells DW_CFA_def_cfa as DW_OP_bregx. */
	if (n == 1 && (ops[0].atom == DW_OP_bregx ||
		       (ops[0].atom >= DW_OP_breg0 && ops[0].atom <= DW_OP_breg31))) {
		uint64_t reg = ops[0].atom == DW_OP_bregx ? ops[0].number
							  : (uint64_t)(ops[0].atom - DW_OP_breg0);
		int64_t off =
			(int64_t)(ops[0].atom == DW_OP_bregx ? ops[0].number2 : ops[0].number);

		if ((reg != REG_RSP && reg != REG_RBP) || !fits32(off))
			return false;
		r->cfa_reg = reg == REG_RSP ? SW_CFA_RSP : SW_CFA_RBP;
		r->cfa_off = (int32_t)off;
		return true;
	}
	return ref_plt(ops, n, r);
}

enum {
	AT,
	SAME,
	UNDEF,
	OTHER
};

static int ref_saved(Dwarf_Frame *fr, int regno, int32_t *off)
{
	Dwarf_Op mem[3], *ops;
	size_t n;
	int64_t o = 0;

	if (dwarf_frame_register(fr, regno, mem, &ops, &n))
		return OTHER;
	if (!n)
		return ops ? UNDEF : SAME;
	if (ops[0].atom != DW_OP_call_frame_cfa || n > 2)
		return OTHER;
	if (n == 2) {
		if (ops[1].atom != DW_OP_plus_uconst)
			return OTHER;
		o = (int64_t)ops[1].number;
	}
	if (!fits32(o))
		return OTHER;
	*off = (int32_t)o;
	return AT;
}

static enum sw_stop ref_rule(Dwarf_CFI *cfi, uint64_t vaddr, struct sw_rule *r, uint64_t *lo,
			     uint64_t *hi)
{
	enum sw_stop stop = SW_STOP_BAD_CFI;
	Dwarf_Frame *fr = NULL;
	Dwarf_Addr start, end;
	bool signal = false;
	int ra;

	*r = (struct sw_rule){ 0 };
	if (!cfi || dwarf_cfi_addrframe(cfi, vaddr, &fr) || !fr)
		return SW_STOP_NO_CFI;
	ra = dwarf_frame_info(fr, &start, &end, &signal);
	*lo = start;
	*hi = end;
	if (signal || ra != REG_RIP)
		goto out;
	switch (ref_saved(fr, REG_RIP, &r->ra_off)) {
	case UNDEF:
		r->kind = SW_RULE_END;
		stop = 0;
		goto out;
	case AT:
		break;
	default:
		goto out;
	}
	if (!ref_cfa(fr, r))
		goto out;
	switch (ref_saved(fr, REG_RBP, &r->rbp_off)) {
	case AT:
		r->rbp = SW_SAVED_AT;
		break;
	case SAME:
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

/* --- helpers -------------------------------------------------------------------- */

static struct cfi_table *our_cfi(struct elf_file *ef, const char *name, bool eh)
{
	uint64_t vaddr, size;
	void *buf;
	size_t len;

	if (elf_file__find_section(ef, name, &vaddr, &size) ||
	    elf_file__section_copy(ef, name, ELF_SECTION_MAX, &buf, &len))
		return NULL;
	return cfi_table__new(buf, len, vaddr, eh);
}

static struct dwline *our_lines(struct elf_file *ef)
{
	void *line, *str = NULL;
	size_t len, slen = 0;

	if (elf_file__section_copy(ef, ".debug_line", ELF_SECTION_MAX, &line, &len))
		return NULL;
	if (elf_file__section_copy(ef, ".debug_line_str", ELF_SECTION_MAX, &str, &slen))
		str = NULL, slen = 0;
	return dwline__new(line, len, str, slen);
}

static bool text_range(struct elf_file *ef, uint64_t *lo, uint64_t *hi)
{
	uint64_t size;

	if (elf_file__find_section(ef, ".text", lo, &size))
		return false;
	*hi = *lo + size;
	return true;
}

static bool same_rule(const struct sw_rule *a, const struct sw_rule *b)
{
	if (a->kind != b->kind)
		return false;
	if (a->kind == SW_RULE_END)
		return true;
	return a->cfa_reg == b->cfa_reg && a->cfa_off == b->cfa_off && a->ra_off == b->ra_off &&
	       a->rbp == b->rbp && (a->rbp != SW_SAVED_AT || a->rbp_off == b->rbp_off) &&
	       a->plt_ge == b->plt_ge;
}

/*
 * Every step-th address of the text (and of .plt*) against libdw's
 * .eh_frame (eh) or .debug_frame answer: the same stop, rule and range.
 */
static void compare_cfi(const char *path, bool eh, unsigned step, unsigned min_rules)
{
	struct elf_file *ef = elf_file__open(path);
	struct cfi_table *t;
	Dwarf_CFI *ref;
	Dwarf *dw = NULL;
	uint64_t lo, hi, n = 0, same = 0, ok = 0;

	CHECK(ef, "%s: %s", path, strerror(errno));
	if (!ef)
		return;
	t = our_cfi(ef, eh ? ".eh_frame" : ".debug_frame", eh);
	if (eh) {
		ref = dwarf_getcfi_elf(elf_file__libelf(ef));
	} else {
		dw = dwarf_begin_elf(elf_file__libelf(ef), DWARF_C_READ, NULL);
		ref = dw ? dwarf_getcfi(dw) : NULL;
	}
	CHECK(t && ref, "%s: tables (ours %p, libdw %p)", path, (void *)t, (void *)ref);
	if (t && ref && text_range(ef, &lo, &hi)) {
		for (uint64_t a = lo; a < hi; a += step, n++) {
			struct sw_rule r1, r2;
			uint64_t lo1 = 0, hi1 = 0, lo2 = 0, hi2 = 0;
			enum sw_stop s1 = cfi_rule(t, a, &r1, &lo1, &hi1);
			enum sw_stop s2 = ref_rule(ref, a, &r2, &lo2, &hi2);
			bool eq = s1 == s2 && (s1 || same_rule(&r1, &r2));

			/*
			 * Our range is the row's, and holds the same rule at both
			 * ends; libdw's can be wider than its row (after
			 * restore_state it keeps the remembered row's start).
			 */
			if (eq && s1 != SW_STOP_NO_CFI) {
				struct sw_rule e;
				uint64_t x, y;

				eq = lo1 <= a && a < hi1 && lo2 <= lo1 && hi1 <= hi2 &&
				     ref_rule(ref, lo1, &e, &x, &y) == s1 &&
				     (s1 || same_rule(&e, &r1)) &&
				     ref_rule(ref, hi1 - 1, &e, &x, &y) == s1 &&
				     (s1 || same_rule(&e, &r1));
			}

			same += eq;
			ok += !s1;
			if (!eq && n - same < 5)
				fprintf(stderr,
					"  %s %#" PRIx64 ": ours %d [%#" PRIx64 ",%#" PRIx64
					") libdw %d [%#" PRIx64 ",%#" PRIx64 ")\n",
					basename((char *)path), a, s1, lo1, hi1, s2, lo2, hi2);
		}
	}
	CHECK(n && same == n, "%s: %" PRIu64 " of %" PRIu64 " addresses agree", path, same, n);
	CHECK(ok >= min_rules, "%s: %" PRIu64 " rules found", path, ok);
	printf("  %s %s: %" PRIu64 " addresses, %" PRIu64 " with a rule, %zu FDEs\n",
	       basename((char *)path), eh ? ".eh_frame" : ".debug_frame", n, ok,
	       cfi_table__count(t));
	cfi_table__free(t);
	if (dw)
		dwarf_end(dw);
	else if (ref)
		dwarf_cfi_end(ref);
	elf_file__close(ef);
}

/*
 * The rows binutils decodes (readelf --debug-dump=decodedline), as the
 * intervals they name: each row covers up to the next row of its
 * sequence, in program order.  Not libdw's: it sorts a unit's rows by
 * address across sequences, and its dwarf_addrdie goes by CU ranges,
 * which miss .cold parts and overlap (it names no line, or another
 * unit's, where the rows say otherwise).
 */
struct ref_span {
	uint64_t lo, hi;
	int line;
	char *file;
};

static int ref_cmp(const void *a, const void *b)
{
	const struct ref_span *x = a, *y = b;

	return (x->lo > y->lo) - (x->lo < y->lo);
}

static struct ref_span *ref_spans(const char *path, size_t *n)
{
	struct ref_span *sp = NULL, prev = { 0 };
	size_t cap = 0;
	char cmd[512], line[1024];
	bool have = false;
	FILE *f;

	*n = 0;
	snprintf(cmd, sizeof(cmd), "readelf -W --debug-dump=decodedline '%s' 2>/dev/null", path);
	f = popen(cmd, "r");
	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		char file[512], num[32];
		uint64_t addr;

		if (sscanf(line, "%511s %31s 0x%" SCNx64, file, num, &addr) != 3)
			continue;
		if (have && addr > prev.lo) {
			if (*n == cap) {
				cap = cap ? 2 * cap : 4096;
				sp = realloc(sp, cap * sizeof(*sp));
			}
			prev.hi = addr;
			sp[(*n)++] = prev;
			prev.file = NULL;
		}
		free(prev.file);
		have = strcmp(num, "-") != 0; /* "-": the sequence ends here */
		prev = (struct ref_span){ .lo = addr, .line = atoi(num), .file = strdup(file) };
	}
	free(prev.file);
	pclose(f);
	qsort(sp, *n, sizeof(*sp), ref_cmp);
	return sp;
}

static bool ref_line(const struct ref_span *sp, size_t n, uint64_t a, const char **file, int *line)
{
	size_t lo = upper_bound(sp, n, lo, a);

	if (!lo || a >= sp[lo - 1].hi || sp[lo - 1].line <= 0 || !sp[lo - 1].file)
		return false;
	*file = sp[lo - 1].file;
	*line = sp[lo - 1].line;
	return true;
}

/* Every step-th address of the text: the same file and line as binutils. */
static void compare_lines(const char *path, unsigned step, unsigned min_found)
{
	struct elf_file *ef = elf_file__open(path);
	struct dwline *d;
	struct ref_span *rows;
	size_t nrows = 0;
	uint64_t lo, hi, n = 0, same = 0, found = 0;

	CHECK(ef, "%s: %s", path, strerror(errno));
	if (!ef)
		return;
	d = our_lines(ef);
	rows = ref_spans(path, &nrows);
	CHECK(d && rows, "%s: lines (ours %p, readelf %p)", path, (void *)d, (void *)rows);
	if (d && rows && text_range(ef, &lo, &hi)) {
		for (uint64_t a = lo; a < hi; a += step, n++) {
			const char *f1 = NULL, *f2 = NULL;
			int l1 = 0, l2 = 0;
			bool k1 = dwline__find(d, a, &f1, &l1),
			     k2 = ref_line(rows, nrows, a, &f2, &l2);
			bool eq = k1 == k2 && (!k1 || (l1 == l2 && !strcmp(f1, f2)));

			same += eq;
			found += k1;
			if (!eq && n - same < 5)
				fprintf(stderr, "  %s %#" PRIx64 ": ours %s:%d readelf %s:%d\n",
					basename((char *)path), a, k1 ? f1 : "-", l1, k2 ? f2 : "-",
					l2);
		}
	}
	CHECK(n && same == n, "%s: %" PRIu64 " of %" PRIu64 " addresses agree", path, same, n);
	CHECK(found >= min_found, "%s: %" PRIu64 " lines found", path, found);
	printf("  %s: %" PRIu64 " addresses, %" PRIu64 " with a line, %zu checkpoints\n",
	       basename((char *)path), n, found, dwline__count(d));
	dwline__free(d);
	for (size_t i = 0; i < nrows; i++)
		free(rows[i].file);
	free(rows);
	elf_file__close(ef);
}

/* --- libraries compiled now, every DWARF form the readers take ---------------- */

static char tmpdir[] = "/tmp/pyspy-test-dwarf-XXXXXX";

static const char source[] = "#include <stdlib.h>\n"
			     "#include <string.h>\n"
			     "static int cmp(const void *a, const void *b)\n"
			     "{\n"
			     "\treturn *(const int *)a - *(const int *)b;\n"
			     "}\n"
			     "__attribute__((noinline)) int leaf(int *v, int n)\n"
			     "{\n"
			     "\tint s = 0;\n"
			     "\tfor (int i = 0; i < n; i++)\n"
			     "\t\ts += v[i] * i;\n"
			     "\treturn s;\n"
			     "}\n"
			     "int mid(int n)\n"
			     "{\n"
			     "\tint *v = alloca(n * sizeof(int));\n"
			     "\tfor (int i = 0; i < n; i++)\n"
			     "\t\tv[i] = n - i;\n"
			     "\tqsort(v, n, sizeof(int), cmp);\n"
			     "\treturn leaf(v, n);\n"
			     "}\n"
			     "int top(int n)\n"
			     "{\n"
			     "\tchar buf[64];\n"
			     "\tmemset(buf, n, sizeof(buf));\n"
			     "\treturn mid(n) + buf[n & 63];\n"
			     "}\n";

/* Compile the source into tmpdir/name with flags; the path, or NULL. */
static const char *compile(const char *name, const char *flags)
{
	static char path[4][256];
	static int k;
	char cmd[1024], src[256];
	FILE *f;

	snprintf(src, sizeof(src), "%s/lib.c", tmpdir);
	f = fopen(src, "w");
	if (!f)
		return NULL;
	fputs(source, f);
	fclose(f);
	k = (k + 1) % 4;
	snprintf(path[k], sizeof(path[k]), "%s/%s", tmpdir, name);
	snprintf(cmd, sizeof(cmd), "cc -shared -fPIC %s -o %s %s 2>&1", flags, path[k], src);
	if (system(cmd))
		return NULL;
	return path[k];
}

static void compiled_objects(void)
{
	static const struct {
		const char *name, *flags;
		bool eh;
	} libs[] = {
		{ "dwarf2.so", "-O2 -gdwarf-2", true },
		{ "dwarf4.so", "-O1 -gdwarf-4 -fno-omit-frame-pointer", true },
		{ "dwarf5.so", "-O2 -gdwarf-5", true },
		{ "zlib.so", "-O2 -gdwarf-5 -gz=zlib", true },
		{ "zlibgnu.so", "-O2 -gdwarf-4 -gz=zlib-gnu", true },
		{ "debugframe.so", "-O2 -g -fno-asynchronous-unwind-tables -fno-unwind-tables",
		  false },
	};

	if (!mkdtemp(tmpdir)) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
		const char *p = compile(libs[i].name, libs[i].flags);

		CHECK(p, "cc %s", libs[i].flags);
		if (!p)
			continue;
		compare_cfi(p, libs[i].eh, 1, 10);
		compare_lines(p, 1, 20);
		unlink(p);
	}
}

/* --- crafted sections ------------------------------------------------------------ */

struct buf {
	uint8_t *p;
	size_t n, cap;
};

static void put(struct buf *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void put8(struct buf *b, uint8_t v)
{
	put(b, &v, 1);
}

static void put32(struct buf *b, uint32_t v)
{
	put(b, &v, 4);
}

static void put64(struct buf *b, uint64_t v)
{
	put(b, &v, 8);
}

static void uleb(struct buf *b, uint64_t v)
{
	do {
		uint8_t c = v & 0x7f;

		v >>= 7;
		put8(b, c | (v ? 0x80 : 0));
	} while (v);
}

static void sleb(struct buf *b, int64_t v)
{
	for (;;) {
		uint8_t c = v & 0x7f;

		v >>= 7;
		if ((!v && !(c & 0x40)) || (v == -1 && (c & 0x40))) {
			put8(b, c);
			return;
		}
		put8(b, c | 0x80);
	}
}

static void patch32(struct buf *b, size_t at, uint32_t v)
{
	memcpy(b->p + at, &v, 4);
}

static size_t rss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (size_t)ru.ru_maxrss;
}

/*
 * An .eh_frame with one gcc-like CIE (CFA rsp+8, RA at CFA-8) and one FDE
 * for [0x1000, 0x1000 + range) with the given instructions, pcrel|sdata4
 * pointers, at section address 0.
 */
static void eh_frame(struct buf *b, const struct buf *insns, uint32_t range)
{
	size_t cie = b->n, fde;

	put32(b, 0);
	put32(b, 0);	 /* CIE id */
	put8(b, 1);	 /* version */
	put(b, "zR", 3); /* augmentation */
	uleb(b, 1);	 /* code align */
	sleb(b, -8);	 /* data align */
	put8(b, 16);	 /* RA column */
	uleb(b, 1);	 /* augmentation data */
	put8(b, 0x1b);	 /* pcrel | sdata4 */
	put8(b, 0x0c);	 /* def_cfa rsp+8 */
	put8(b, 7);
	put8(b, 8);
	put8(b, 0x90); /* offset r16, 1 * -8 */
	put8(b, 1);
	patch32(b, cie, (uint32_t)(b->n - cie - 4));
	fde = b->n;
	put32(b, 0);
	put32(b, (uint32_t)(b->n - cie));    /* back to the CIE */
	put32(b, (uint32_t)(0x1000 - b->n)); /* pcrel to 0x1000 */
	put32(b, range);
	uleb(b, 0);
	put(b, insns->p, insns->n);
	patch32(b, fde, (uint32_t)(b->n - fde - 4));
	put32(b, 0);
}

static enum sw_stop crafted_rule(const struct buf *insns, uint64_t at, struct sw_rule *r)
{
	struct buf b = { 0 };
	struct cfi_table *t;
	uint64_t lo, hi;
	enum sw_stop s;

	eh_frame(&b, insns, 0x100);
	t = cfi_table__new(b.p, b.n, 0, true);
	CHECK(t, "crafted table");
	s = t ? cfi_rule(t, at, r, &lo, &hi) : SW_STOP__COUNT;
	cfi_table__free(t);
	return s;
}

static void crafted_cfi(void)
{
	struct buf in = { 0 };
	struct sw_rule r;
	size_t before;

	/* A plain prologue: push rbp; mov rsp,rbp. */
	put8(&in, 0x41); /* advance 1 */
	put8(&in, 0x0e); /* def_cfa_offset 16 */
	put8(&in, 16);
	put8(&in, 0x86); /* offset rbp, 2 * -8 */
	put8(&in, 2);
	put8(&in, 0x43); /* advance 3 */
	put8(&in, 0x0d); /* def_cfa_register rbp */
	put8(&in, 6);
	CHECK(crafted_rule(&in, 0x1000, &r) == 0 && r.cfa_reg == SW_CFA_RSP && r.cfa_off == 8 &&
	      r.ra_off == -8 && r.rbp == SW_SAVED_SAME);
	CHECK(crafted_rule(&in, 0x1002, &r) == 0 && r.cfa_off == 16 && r.rbp == SW_SAVED_AT &&
	      r.rbp_off == -16);
	CHECK(crafted_rule(&in, 0x1010, &r) == 0 && r.cfa_reg == SW_CFA_RBP && r.cfa_off == 16);
	CHECK(crafted_rule(&in, 0x1100, &r) == SW_STOP_NO_CFI);
	CHECK(crafted_rule(&in, 0xfff, &r) == SW_STOP_NO_CFI);

	/* The PLT's expression, and one that is not it. */
	in.n = 0;
	put8(&in, 0x0f);
	uleb(&in, 11);
	put(&in, (uint8_t[]){ 0x77, 8, 0x80, 0, 0x3f, 0x1a, 0x3b, 0x2a, 0x33, 0x24, 0x22 }, 11);
	CHECK(crafted_rule(&in, 0x1004, &r) == 0 && r.plt_ge == 11 && r.cfa_off == 8);
	in.p[8] = 0x30; /* lit0 */
	CHECK(crafted_rule(&in, 0x1004, &r) == SW_STOP_BAD_CFI);

	/* The outermost frame: RA undefined. */
	in.n = 0;
	put8(&in, 0x07);
	put8(&in, 16);
	CHECK(crafted_rule(&in, 0x1000, &r) == 0 && r.kind == SW_RULE_END);

	/* Remembered states: nested past the bound, restored from nothing. */
	in.n = 0;
	for (int i = 0; i < CFI_STATES_MAX + 1; i++)
		put8(&in, 0x0a);
	CHECK(crafted_rule(&in, 0x1000, &r) == SW_STOP_BAD_CFI);
	in.n = 0;
	put8(&in, 0x0b);
	CHECK(crafted_rule(&in, 0x1000, &r) == SW_STOP_BAD_CFI);
	/* ... and balanced, as deep as allowed: fine. */
	in.n = 0;
	for (int i = 0; i < CFI_STATES_MAX; i++)
		put8(&in, 0x0a);
	for (int i = 0; i < CFI_STATES_MAX; i++)
		put8(&in, 0x0b);
	CHECK(crafted_rule(&in, 0x1000, &r) == 0);

	/*
	 * The remember_state bomb: 20 MB of remember/restore pairs in one
	 * FDE (libdw grew a state per pair, past 3 GiB): refused whole, and
	 * nothing grows.
	 */
	in.n = 0;
	for (int i = 0; i < 10 << 20; i++) {
		put8(&in, 0x0a);
		put8(&in, 0x0b);
	}
	before = rss_kb();
	{
		struct buf b = { 0 };
		struct cfi_table *t;
		uint64_t lo, hi;

		eh_frame(&b, &in, 0x100);
		t = cfi_table__new(b.p, b.n, 0, true);
		CHECK(t && cfi_table__refused(t) == 1 && cfi_table__count(t) == 0);
		CHECK(cfi_rule(t, 0x10ff, &r, &lo, &hi) == SW_STOP_NO_CFI);
		cfi_table__free(t);
	}
	CHECK(rss_kb() < before + 64 * 1024, "rss %zu -> %zu KiB", before, rss_kb());

	/* Lengths that point past the section, a CIE pointer out of it: no FDE, no crash. */
	for (size_t cut = 1; cut < 40; cut++) {
		struct buf b = { 0 };
		struct cfi_table *t;

		in.n = 0;
		put8(&in, 0x41);
		eh_frame(&b, &in, 0x100);
		b.n -= cut;
		t = cfi_table__new(b.p, b.n, 0, true);
		if (t)
			cfi_rule(t, 0x1000, &r, &(uint64_t){ 0 }, &(uint64_t){ 0 });
		cfi_table__free(t);
	}
	free(in.p);
}

/*
 * A DWARF 4 line program: header (one file "a.c"), then body; the unit
 * length patched.
 */
static void line_unit(struct buf *b, const struct buf *body)
{
	size_t start = b->n, hlen_at;

	put32(b, 0);
	put8(b, 4);
	put8(b, 0); /* version 4 */
	hlen_at = b->n;
	put32(b, 0);
	put8(b, 1);	      /* min_inst */
	put8(b, 1);	      /* max_ops */
	put8(b, 1);	      /* default_is_stmt */
	put8(b, (uint8_t)-5); /* line_base */
	put8(b, 14);	      /* line_range */
	put8(b, 13);	      /* opcode_base */
	put(b, (uint8_t[]){ 0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1 }, 12);
	put8(b, 0); /* no directories */
	put(b, "dir/a.c", 8);
	put(b, (uint8_t[]){ 0, 0, 0 }, 3);
	put8(b, 0); /* end of files */
	patch32(b, hlen_at, (uint32_t)(b->n - hlen_at - 4));
	put(b, body->p, body->n);
	patch32(b, start, (uint32_t)(b->n - start - 4));
}

static void set_address(struct buf *b, uint64_t a)
{
	put8(b, 0);
	uleb(b, 9);
	put8(b, 2);
	put64(b, a);
}

static void end_sequence(struct buf *b)
{
	put(b, (uint8_t[]){ 0, 1, 1 }, 3);
}

/* A unit whose one sequence, at 0x1000, is op and its end (body the scratch for it). */
static struct buf one_op_unit(struct buf *body, uint8_t op)
{
	struct buf b = { 0 };

	body->n = 0;
	set_address(body, 0x1000);
	put8(body, op);
	end_sequence(body);
	line_unit(&b, body);
	return b;
}

static struct dwline *crafted_lines(const struct buf *body)
{
	struct buf b = { 0 };

	line_unit(&b, body);
	return dwline__new(b.p, b.n, NULL, 0);
}

static void crafted_dwline(void)
{
	struct buf body = { 0 };
	struct dwline *d;
	const char *f;
	int line;
	size_t before;

	/* Rows at 0x1000 (line 1), 0x1004 (line 3), ends at 0x1010. */
	set_address(&body, 0x1000);
	/* copy, advance_pc 4, advance_line 2, copy, advance_pc 12 */
	put(&body, (uint8_t[]){ 1, 2, 4, 3, 2, 1, 2, 12 }, 8);
	end_sequence(&body);
	d = crafted_lines(&body);
	CHECK(d && dwline__find(d, 0x1000, &f, &line) && line == 1 && !strcmp(f, "a.c"));
	CHECK(d && dwline__find(d, 0x1003, &f, &line) && line == 1);
	CHECK(d && dwline__find(d, 0x1004, &f, &line) && line == 3);
	CHECK(d && dwline__find(d, 0x100f, &f, &line) && line == 3);
	CHECK(d && !dwline__find(d, 0x1010, &f, &line));
	CHECK(d && !dwline__find(d, 0xfff, &f, &line));
	dwline__free(d);

	/*
	 * The row bomb: 16 MB of DW_LNS_copy, a row per byte (libdw kept
	 * every row: 34 KB grew to 2 GB).  Here: checkpoints only.
	 */
	body.n = 0;
	set_address(&body, 0x1000);
	for (int i = 0; i < 16 << 20; i++)
		put8(&body, 1);
	put8(&body, 2); /* advance_pc 16, copy, advance_pc 1 */
	put8(&body, 16);
	put8(&body, 1);
	put8(&body, 2);
	put8(&body, 1);
	end_sequence(&body);
	before = rss_kb();
	d = crafted_lines(&body);
	CHECK(d && dwline__count(d) <= (16u << 20) / DWLINE_STRIDE + 4, "%zu checkpoints",
	      dwline__count(d));
	CHECK(dwline__index_bytes(d) < (1u << 20), "%zu bytes of index", dwline__index_bytes(d));
	CHECK(rss_kb() < before + 48 * 1024, "rss %zu -> %zu KiB", before, rss_kb());
	CHECK(d && dwline__find(d, 0x1000, &f, &line) && line == 1);
	CHECK(d && dwline__find(d, 0x1010, &f, &line) && line == 1);
	dwline__free(d);

	/* Many one-row sequences: the index stops at its cap, and says so. */
	body.n = 0;
	for (uint64_t i = 0; i < DWLINE_CPS_MAX; i++) {
		set_address(&body, 0x1000 + 16 * i);
		put8(&body, 1);
		put8(&body, 2);
		put8(&body, 8);
		end_sequence(&body);
	}
	d = crafted_lines(&body);
	CHECK(d && dwline__truncated(d) && dwline__count(d) == DWLINE_CPS_MAX);
	CHECK(d && dwline__find(d, 0x1000, &f, &line) && line == 1);
	dwline__free(d);

	/* Addresses that go back: the sequence is cut there, and never answers wrong. */
	body.n = 0;
	set_address(&body, 0x2000);
	put8(&body, 1);
	set_address(&body, 0x1000);
	/* advance_line 5, copy, advance_pc 0x20 */
	put(&body, (uint8_t[]){ 3, 5, 1, 2, 0x20 }, 5);
	end_sequence(&body);
	d = crafted_lines(&body);
	CHECK(d && dwline__find(d, 0x2000, &f, &line) && line == 1);
	CHECK(d && !dwline__find(d, 0x1000, &f, &line));
	dwline__free(d);

	/* A zero line_range (a division by zero): the unit is skipped. */
	{
		struct buf b = one_op_unit(&body, 20);

		b.p[4 + 2 + 4 + 4] = 0; /* line_range */
		d = dwline__new(b.p, b.n, NULL, 0);
		CHECK(!d && errno == ENOENT);
	}
	/* Truncated anywhere: no crash. */
	for (size_t cut = 1; cut < 60; cut++) {
		struct buf b = one_op_unit(&body, 1);

		b.n -= cut < b.n ? cut : b.n - 1;
		d = dwline__new(b.p, b.n, NULL, 0);
		if (d)
			dwline__find(d, 0x1000, &f, &line);
		dwline__free(d);
	}
	free(body.p);
}

int main(void)
{
	static struct interp all[INTERPS_MAX];
	int n = interps_load("", all, INTERPS_MAX);
	const struct interp *py38 = interps_find(all, n, "3.8"),
			    *py312 = interps_find(all, n, "3.12");
	const struct interp *deb = interps_find(all, n, "3.11-debian");
	char lib[PATH_MAX + 64];

	elf_version(EV_CURRENT);
	crafted_cfi();
	crafted_dwline();

	CHECK(py38 && py312 && deb, "tests/interpreters.py: %d", n);
	compare_cfi("/lib/x86_64-linux-gnu/libc.so.6", true, 3, 1000);
	if (deb)
		compare_cfi(deb->host_path, true, 7, 1000);
	if (py312) {
		snprintf(lib, sizeof(lib), "%s/lib/libpython3.12.so.1.0", py312->prefix);
		compare_cfi(lib, true, 5, 1000);
		compare_lines(lib, 5, 1000);
	}
	if (py38) {
		snprintf(lib, sizeof(lib), "%s/lib/libpython3.8.so.1.0", py38->prefix);
		compare_lines(lib, 11, 1000);
	}
	compiled_objects();
	rmdir(tmpdir);
	return unit_done("dwarf");
}
