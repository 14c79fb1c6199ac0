// SPDX-License-Identifier: MIT
/*
 * object.c - symbols, lines and unwind rules of one ELF object.
 *
 * The file and its debug file are the target's: libelf reads them with
 * pread (a file truncated under us is an error, not a SIGBUS), every table
 * is bounded by elf.c's caps, and DWARF is read only up to
 * OBJ_DWARF_MAX.  Symbols are copied into one sorted array, so lookups
 * cost a binary search and the files that gave them may be closed.
 */
#include <dwarf.h>
#include <errno.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <elfutils/libdw.h>

#include "cfi.h"
#include "minidebug.h"
#include "object.h"
#include "symbolize/proc/procfs.h"

/* DWARF (.debug_*) read for line numbers, at most, per object. */
#define OBJ_DWARF_MAX (256u << 20)
/* Cached unwind ranges per object; past it the cache starts over. */
#define OBJ_RULES_MAX 65536
#define BUILD_ID_MAX  64

struct sym {
	uint64_t addr, size;
	uint32_t name; /* offset in names */
};

struct rule_range {
	uint64_t lo, hi;
	struct sw_rule rule;
	uint8_t stop; /* enum sw_stop: 0, or why there is no rule */
};

struct cu_range {
	uint64_t lo, hi;
	Dwarf_Off cu; /* offset of the CU's DIE */
};

struct native_object {
	struct elf_file *ef;
	struct elf_file *dbg; /* separate debug file, or NULL */
	Dwarf_CFI *eh;	      /* .eh_frame */
	Dwarf *dw;	      /* DWARF of dbg or ef: lines, .debug_frame */
	Dwarf_CFI *dbg_cfi;   /* .debug_frame */
	bool dw_tried;

	struct sym *syms;
	uint32_t n_syms, cap_syms;
	char *names;
	size_t names_len, names_cap;
	unsigned sym_sources; /* OBJ_SRC_* */

	struct rule_range *rules;
	uint32_t n_rules, cap_rules;

	struct cu_range *cus;
	uint32_t n_cus;

	size_t dwarf_bytes;
	uint32_t tag;
	char build_id[2 * BUILD_ID_MAX + 1];
	char name[];
};

enum {
	OBJ_SRC_SYMTAB = 1,
	OBJ_SRC_DYNSYM = 2,
	OBJ_SRC_MINI = 4,
	OBJ_SRC_DEBUG = 8
};

static void add_sym(const char *name, uint64_t value, uint64_t size, void *ctx)
{
	struct native_object *o = ctx;
	size_t len = strlen(name) + 1;

	if (o->n_syms == o->cap_syms) {
		uint32_t cap = o->cap_syms ? 2 * o->cap_syms : 1024;
		struct sym *s = realloc(o->syms, cap * sizeof(*s));

		if (!s)
			return;
		o->syms = s;
		o->cap_syms = cap;
	}
	if (o->names_len + len > o->names_cap) {
		size_t cap = o->names_cap ? 2 * o->names_cap : 16384;
		char *n;

		while (cap < o->names_len + len)
			cap *= 2;
		n = realloc(o->names, cap);
		if (!n)
			return;
		o->names = n;
		o->names_cap = cap;
	}
	memcpy(o->names + o->names_len, name, len);
	o->syms[o->n_syms++] = (struct sym){ value, size, (uint32_t)o->names_len };
	o->names_len += len;
}

static int by_addr(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	/* The same address twice: the sized one first, it is kept. */
	return (x->size < y->size) - (x->size > y->size);
}

/* Sort, and keep one symbol per address. */
static void sort_syms(struct native_object *o)
{
	uint32_t out = 0;

	if (!o->n_syms)
		return;
	qsort(o->syms, o->n_syms, sizeof(*o->syms), by_addr);
	for (uint32_t i = 0; i < o->n_syms; i++)
		if (!out || o->syms[out - 1].addr != o->syms[i].addr)
			o->syms[out++] = o->syms[i];
	o->n_syms = out;
	if (o->names_len > UINT32_MAX)
		o->n_syms = 0;
}

static void load_symbols(struct native_object *o, struct elf_file *ef, unsigned src)
{
	if (!ef)
		return;
	if (elf_file__for_each_function(ef, SHT_SYMTAB, add_sym, o) > 0)
		o->sym_sources |= src;
}

static void hex(const uint8_t *b, int n, char *out)
{
	for (int i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	out[2 * n] = '\0';
}

/* /usr/lib/debug/.build-id/ab/cdef....debug inside pid's root, if it is this object's. */
static struct elf_file *open_debug_file(struct native_object *o, pid_t pid)
{
	char path[sizeof("/usr/lib/debug/.build-id//.debug") + 2 * BUILD_ID_MAX + 1];
	uint8_t id[BUILD_ID_MAX];
	char want[2 * BUILD_ID_MAX + 1];
	struct elf_file *d;
	int fd, n;

	if (strlen(o->build_id) < 4)
		return NULL;
	snprintf(path, sizeof(path), "/usr/lib/debug/.build-id/%.2s/%s.debug", o->build_id,
		 o->build_id + 2);
	fd = procfs_open_in_root(pid, path);
	if (fd < 0)
		return NULL;
	d = elf_file__from_fd(fd);
	if (!d)
		return NULL;
	/* A file at that name that is some other build's says nothing of ours. */
	n = elf_file__build_id(d, id, sizeof(id));
	if (n <= 0 || n > BUILD_ID_MAX || (hex(id, n, want), strcmp(want, o->build_id))) {
		elf_file__close(d);
		return NULL;
	}
	return d;
}

struct native_object *native_object__open(int fd, pid_t pid, const char *name)
{
	struct native_object *o = calloc(1, sizeof(*o) + strlen(name) + 1);
	struct elf_file *mini;
	uint8_t id[BUILD_ID_MAX];
	int n;

	if (!o) {
		close(fd);
		return NULL;
	}
	strcpy(o->name, name);
	o->ef = elf_file__from_fd(fd);
	if (!o->ef) {
		free(o);
		return NULL;
	}
	n = elf_file__build_id(o->ef, id, sizeof(id));
	if (n > 0 && n <= BUILD_ID_MAX)
		hex(id, n, o->build_id);
	o->dbg = pid > 0 ? open_debug_file(o, pid) : NULL;

	load_symbols(o, o->ef, OBJ_SRC_SYMTAB);
	load_symbols(o, o->dbg, OBJ_SRC_DEBUG);
	if (!(o->sym_sources & (OBJ_SRC_SYMTAB | OBJ_SRC_DEBUG))) {
		mini = minidebug_open(o->ef);
		load_symbols(o, mini, OBJ_SRC_MINI);
		elf_file__close(mini);
	}
	/* .dynsym last: the same addresses from .symtab win (sort keeps the first sized). */
	if (elf_file__for_each_function(o->ef, SHT_DYNSYM, add_sym, o) > 0)
		o->sym_sources |= OBJ_SRC_DYNSYM;
	sort_syms(o);
	o->eh = dwarf_getcfi_elf(elf_file__libelf(o->ef));
	return o;
}

void native_object__free(struct native_object *o)
{
	if (!o)
		return;
	if (o->eh)
		dwarf_cfi_end(o->eh);
	if (o->dw)
		dwarf_end(o->dw);
	elf_file__close(o->dbg);
	elf_file__close(o->ef);
	free(o->syms);
	free(o->names);
	free(o->rules);
	free(o->cus);
	free(o);
}

struct elf_file *native_object__elf(struct native_object *o)
{
	return o->ef;
}

const char *native_object__name(const struct native_object *o)
{
	return o->name;
}

const char *native_object__build_id(const struct native_object *o)
{
	return o->build_id;
}

int native_object__text(struct native_object *o, uint64_t *start, uint64_t *limit, uint64_t *offset)
{
	Elf *e = elf_file__libelf(o->ef);
	size_t n;
	GElf_Phdr ph;

	if (elf_getphdrnum(e, &n))
		return -ENOENT;
	for (size_t i = 0; i < n; i++) {
		if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
			continue;
		*start = ph.p_vaddr & ~0xfffull;
		*limit = ph.p_vaddr + ph.p_memsz;
		*offset = ph.p_offset & ~0xfffull;
		return 0;
	}
	return -ENOENT;
}

uint32_t native_object__tag(const struct native_object *o)
{
	return o->tag;
}

void native_object__set_tag(struct native_object *o, uint32_t tag)
{
	o->tag = tag;
}

size_t native_object__bytes(const struct native_object *o)
{
	return sizeof(*o) + o->cap_syms * sizeof(*o->syms) + o->names_cap +
	       o->cap_rules * sizeof(*o->rules) + o->n_cus * sizeof(*o->cus) + o->dwarf_bytes;
}

const char *native_object__symbol(const struct native_object *o, uint64_t vaddr)
{
	uint32_t lo = 0, hi = o->n_syms;

	/* The last symbol at or below vaddr. */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (o->syms[mid].addr <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	/* A symbol without a size names no address but its own. */
	if (vaddr - o->syms[lo - 1].addr >= (o->syms[lo - 1].size ? o->syms[lo - 1].size : 1))
		return NULL;
	return o->names + o->syms[lo - 1].name;
}

/* --- unwind rules --------------------------------------------------------- */

/* The index of the first range whose hi is above vaddr. */
static uint32_t rule_pos(const struct native_object *o, uint64_t vaddr)
{
	uint32_t lo = 0, hi = o->n_rules;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (o->rules[mid].hi <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void rule_insert(struct native_object *o, uint32_t at, const struct rule_range *rr)
{
	if (o->n_rules >= OBJ_RULES_MAX) {
		o->n_rules = 0;
		at = 0;
	}
	if (o->n_rules == o->cap_rules) {
		uint32_t cap = o->cap_rules ? 2 * o->cap_rules : 256;
		struct rule_range *r = realloc(o->rules, cap * sizeof(*r));

		if (!r)
			return;
		o->rules = r;
		o->cap_rules = cap;
	}
	memmove(&o->rules[at + 1], &o->rules[at], (o->n_rules - at) * sizeof(*o->rules));
	o->rules[at] = *rr;
	o->n_rules++;
}

static void dwarf_open(struct native_object *o);

enum sw_stop native_object__rule(struct native_object *o, uint64_t vaddr, struct sw_rule *r)
{
	uint32_t at = rule_pos(o, vaddr);
	struct rule_range rr = { 0 };
	enum sw_stop stop;

	if (at < o->n_rules && o->rules[at].lo <= vaddr) {
		*r = o->rules[at].rule;
		return o->rules[at].stop;
	}
	stop = cfi_rule(o->eh, vaddr, &rr.rule, &rr.lo, &rr.hi);
	if (stop == SW_STOP_NO_CFI) {
		dwarf_open(o);
		if (o->dbg_cfi)
			stop = cfi_rule(o->dbg_cfi, vaddr, &rr.rule, &rr.lo, &rr.hi);
	}
	/* No range to cache (or a nonsense one): this address alone. */
	if (stop == SW_STOP_NO_CFI || rr.lo > vaddr || rr.hi <= vaddr) {
		rr.lo = vaddr;
		rr.hi = vaddr + 1;
	}
	/* Never over a cached neighbour. */
	if (at > 0 && rr.lo < o->rules[at - 1].hi)
		rr.lo = o->rules[at - 1].hi;
	if (at < o->n_rules && rr.hi > o->rules[at].lo)
		rr.hi = o->rules[at].lo;
	rr.stop = (uint8_t)stop;
	if (rr.lo <= vaddr && vaddr < rr.hi)
		rule_insert(o, at, &rr);
	*r = rr.rule;
	return stop;
}

/* --- DWARF: .debug_frame and lines ---------------------------------------- */

/* Bytes of .debug_* sections in ef: what libdw would read. */
static size_t debug_bytes(struct elf_file *ef)
{
	Elf *e = elf_file__libelf(ef);
	Elf_Scn *scn = NULL;
	size_t shstrndx, total = 0;
	GElf_Shdr sh;

	if (elf_getshdrstrndx(e, &shstrndx))
		return SIZE_MAX;
	while ((scn = elf_nextscn(e, scn))) {
		const char *s;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS)
			continue;
		s = elf_strptr(e, shstrndx, sh.sh_name);
		if (!s || strncmp(s, ".debug_", 7))
			continue;
		/* Compressed: what libelf would inflate it to, which the header claims. */
		if (sh.sh_flags & SHF_COMPRESSED) {
			GElf_Chdr ch;

			if (!gelf_getchdr(scn, &ch))
				return SIZE_MAX;
			total += ch.ch_size;
		} else {
			total += sh.sh_size;
		}
	}
	return total;
}

static int by_lo(const void *a, const void *b)
{
	const struct cu_range *x = a, *y = b;

	return (x->lo > y->lo) - (x->lo < y->lo);
}

/* Every CU's address ranges, sorted: .debug_aranges is often missing. */
static void index_cus(struct native_object *o)
{
	Dwarf_Off off = 0, next;
	size_t hsize, cap = 0;

	while (!dwarf_nextcu(o->dw, off, &next, &hsize, NULL, NULL, NULL)) {
		Dwarf_Die cu;
		Dwarf_Addr base, start, end;
		ptrdiff_t r = 0;

		if (dwarf_offdie(o->dw, off + hsize, &cu)) {
			while ((r = dwarf_ranges(&cu, r, &base, &start, &end)) > 0) {
				if (o->n_cus == cap) {
					struct cu_range *c;

					cap = cap ? 2 * cap : 256;
					c = realloc(o->cus, cap * sizeof(*c));
					if (!c)
						goto out;
					o->cus = c;
				}
				o->cus[o->n_cus++] = (struct cu_range){ start, end, off + hsize };
			}
		}
		off = next;
	}
out:
	if (o->n_cus)
		qsort(o->cus, o->n_cus, sizeof(*o->cus), by_lo);
}

static void dwarf_open(struct native_object *o)
{
	struct elf_file *src = o->dbg ? o->dbg : o->ef;
	size_t bytes;

	if (o->dw_tried)
		return;
	o->dw_tried = true;
	bytes = debug_bytes(src);
	if (!bytes || bytes > OBJ_DWARF_MAX)
		return;
	o->dw = dwarf_begin_elf(elf_file__libelf(src), DWARF_C_READ, NULL);
	if (!o->dw)
		return;
	/*
	 * libdw looks for a .gnu_debugaltlink (dwz) file itself, the first time
	 * a string or DIE refers into it: open(2) of /usr/lib/debug/.build-id/
	 * on the agent's own filesystem, then of any path the file names,
	 * without O_NOCTTY or O_NONBLOCK (a tty, a device, a FIFO that never
	 * answers).  (void *)-1 is what dwarf_getalt leaves after a search that
	 * found nothing: set first, no search happens, and what only the alt
	 * file holds is missing, never read from elsewhere.  (Split DWARF's
	 * .dwo files are opened only by dwarf_cu_info and dwarf_get_units,
	 * which we do not call.)
	 */
	dwarf_setalt(o->dw, (Dwarf *)-1);
	o->dwarf_bytes = bytes;
	o->dbg_cfi = dwarf_getcfi(o->dw);
	index_cus(o);
}

bool native_object__line(struct native_object *o, uint64_t vaddr, const char **file, int *line)
{
	uint32_t lo = 0, hi;
	Dwarf_Line *l;
	Dwarf_Die cu;
	const char *src, *slash;

	dwarf_open(o);
	if (!o->dw || !o->n_cus)
		return false;
	hi = o->n_cus;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (o->cus[mid].lo <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Ranges may nest or overlap: look back a few. */
	for (uint32_t i = lo; i-- > 0 && lo - i <= 8;) {
		if (vaddr >= o->cus[i].hi || !dwarf_offdie(o->dw, o->cus[i].cu, &cu))
			continue;
		l = dwarf_getsrc_die(&cu, vaddr);
		if (!l || dwarf_lineno(l, line) || *line <= 0)
			continue;
		src = dwarf_linesrc(l, NULL, NULL);
		if (!src)
			continue;
		slash = strrchr(src, '/');
		*file = slash ? slash + 1 : src;
		return true;
	}
	return false;
}

void native_object__describe(const struct native_object *o, char *buf, size_t len)
{
	snprintf(buf, len, "%u symbols from%s%s%s%s; %s; build-id %s", o->n_syms,
		 o->sym_sources & OBJ_SRC_SYMTAB ? " .symtab" : "",
		 o->sym_sources & OBJ_SRC_DEBUG ? " the debug file" : "",
		 o->sym_sources & OBJ_SRC_MINI ? " MiniDebugInfo" : "",
		 o->sym_sources & OBJ_SRC_DYNSYM ? " .dynsym" : "",
		 o->eh ? ".eh_frame" : "no .eh_frame", o->build_id[0] ? o->build_id : "none");
}
