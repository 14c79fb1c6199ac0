// SPDX-License-Identifier: MIT
/*
 * object.c - symbols, lines and unwind rules of one ELF object.
 *
 * The file and its debug file are the target's: libelf reads them with
 * pread (a file truncated under us is an error, not a SIGBUS), and every
 * section loaded is charged to elf.c's caps, at its inflated size if
 * compressed.  CFI and line tables are read by our own readers (cfi.c,
 * dwline.c), whose memory is the sections and a bounded index, whatever
 * the tables say.  Symbols are copied into one sorted array, so lookups
 * cost a binary search and the files that gave them may be closed.
 */
#include <errno.h>
#include <gelf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addrtab.h"
#include "cfi.h"
#include "dwline.h"
#include "minidebug.h"
#include "object.h"
#include "symbolize/proc/procfs.h"
#include "symbolize/base/freeall.h"
#include "symbolize/base/grow.h"
#include "symbolize/base/log.h"
#include "symbolize/base/search.h"

/* A CFI or line section read, at most (inflated); elf.c's caps bound all of them. */
#define OBJ_SECTION_MAX ELF_SECTION_MAX
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

struct native_object {
	struct elf_file *ef;
	struct elf_file *dbg;	   /* separate debug file, or NULL */
	struct cfi_table *eh;	   /* .eh_frame */
	struct cfi_table *dbg_cfi; /* .debug_frame, of dbg or ef */
	struct dwline *lines;	   /* .debug_line, of dbg or ef */
	bool dw_tried;

	ADDR_TABLE(struct sym) syms; /* by addr, one per address */
	char *names;
	size_t names_len, names_cap;
	unsigned sym_sources; /* OBJ_SRC_* */

	struct rule_range *rules;
	uint32_t n_rules, cap_rules;

	uint32_t tag;
	char refused[192]; /* the first thing refused, said once */
	char build_id[2 * BUILD_ID_MAX + 1];
	char name[];
};

enum {
	OBJ_SRC_SYMTAB = 1,
	OBJ_SRC_DYNSYM = 2,
	OBJ_SRC_MINI = 4,
	OBJ_SRC_DEBUG = 8
};

static void add_sym(struct native_object *o, const struct elf_function *fn)
{
	size_t len = strlen(fn->name) + 1;

	struct sym *s;

	if (ARRAY_ROOM(o->names, o->names_len + len, o->names_cap, 16384))
		return;
	s = ADDR_TABLE_PUSH(o->syms, 1024);
	if (!s)
		return;
	memcpy(o->names + o->names_len, fn->name, len);
	*s = (struct sym){ fn->value, fn->size, (uint32_t)o->names_len };
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
	struct sym *at = o->syms.at;
	size_t out = 0;

	ADDR_TABLE_SORT(o->syms, by_addr);
	for (size_t i = 0; i < o->syms.n; i++)
		if (!out || at[out - 1].addr != at[i].addr)
			at[out++] = at[i];
	o->syms.n = out;
	if (o->names_len > UINT32_MAX)
		o->syms.n = 0;
}

/* The functions of ef's tables of table_type; src is said as their source if there are any. */
static void load_symbols(struct native_object *o, struct elf_file *ef, uint32_t table_type,
			 unsigned src)
{
	struct elf_function_cursor c = { .table_type = table_type };
	struct elf_function fn;

	if (!ef)
		return;
	while (elf_file__next_function(ef, &c, &fn)) {
		add_sym(o, &fn);
		o->sym_sources |= src;
	}
}

static void hex(const uint8_t *b, int n, char *out)
{
	for (int i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	out[2 * n] = '\0';
}

/*
 * Something the file claims was refused: the object works without it
 * (fewer names, lines or rules).  The first refusal is said in one line.
 */
static void __attribute__((format(printf, 2, 3)))
refuse(struct native_object *o, const char *fmt, ...)
{
	va_list ap;

	if (o->refused[0])
		return;
	va_start(ap, fmt);
	vsnprintf(o->refused, sizeof(o->refused), fmt, ap);
	va_end(ap);
	log_warn("%s: %s", o->name, o->refused);
}

/* A section copied (inflated) under the caps; a refusal is said. */
static int copy_section(struct native_object *o, struct elf_file *ef, const char *name, void **buf,
			size_t *len)
{
	int err = elf_file__section_copy(ef, name, OBJ_SECTION_MAX, buf, len);

	switch (err) {
	case 0:
	case -ENOENT:
	case -ENOMEM:
		break;
	case -EFBIG:
		refuse(o, "%s: larger than %llu MiB, not read", name, OBJ_SECTION_MAX >> 20);
		break;
	case -E2BIG:
		refuse(o, "%s: %s, not read", name, elf_file__refused(ef));
		break;
	default:
		refuse(o, "%s: %s, not read", name, strerror(-err));
		break;
	}
	return err;
}

/* A CFI section indexed, or NULL. */
static struct cfi_table *load_cfi(struct native_object *o, struct elf_file *ef, const char *name,
				  bool eh)
{
	struct cfi_table *t;
	uint64_t vaddr, size;
	void *buf;
	size_t len;

	if (elf_file__find_section(ef, name, &vaddr, &size) ||
	    copy_section(o, ef, name, &buf, &len))
		return NULL;
	t = cfi_table__new(buf, len, vaddr, eh);
	if (t && cfi_table__refused(t))
		refuse(o, "%s: %zu FDEs with more than %u bytes of instructions, not indexed", name,
		       cfi_table__refused(t), CFI_INSNS_MAX);
	return t;
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

	load_symbols(o, o->ef, SHT_SYMTAB, OBJ_SRC_SYMTAB);
	load_symbols(o, o->dbg, SHT_SYMTAB, OBJ_SRC_DEBUG);
	if (!(o->sym_sources & (OBJ_SRC_SYMTAB | OBJ_SRC_DEBUG))) {
		mini = minidebug_open(o->ef);
		load_symbols(o, mini, SHT_SYMTAB, OBJ_SRC_MINI);
		elf_file__close(mini);
	}
	/* .dynsym last: the same addresses from .symtab win (sort keeps the first sized). */
	load_symbols(o, o->ef, SHT_DYNSYM, OBJ_SRC_DYNSYM);
	sort_syms(o);
	o->eh = load_cfi(o, o->ef, ".eh_frame", true);
	/* What the symbol tables could not load. */
	if (elf_file__refused(o->ef))
		refuse(o, "%s", elf_file__refused(o->ef));
	else if (o->dbg && elf_file__refused(o->dbg))
		refuse(o, "debug file: %s", elf_file__refused(o->dbg));
	return o;
}

void native_object__free(struct native_object *o)
{
	if (!o)
		return;
	cfi_table__free(o->eh);
	cfi_table__free(o->dbg_cfi);
	dwline__free(o->lines);
	elf_file__close(o->dbg);
	elf_file__close(o->ef);
	FREE_ALL(o->syms.at, o->names, o->rules, o);
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
	GElf_Phdr ph;

	for (size_t i = 0; elf_file__next_load(o->ef, &i, &ph);) {
		if (!(ph.p_flags & PF_X))
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
	/* The sections loaded (the tables' included) are the files' ledgers. */
	return sizeof(*o) + ADDR_TABLE_BYTES(o->syms) + o->names_cap +
	       o->cap_rules * sizeof(*o->rules) + elf_file__loaded(o->ef) +
	       (o->dbg ? elf_file__loaded(o->dbg) : 0) + cfi_table__index_bytes(o->eh) +
	       cfi_table__index_bytes(o->dbg_cfi) + dwline__index_bytes(o->lines);
}

const char *native_object__refused(const struct native_object *o)
{
	return o->refused[0] ? o->refused : NULL;
}

const char *native_object__symbol(const struct native_object *o, uint64_t vaddr)
{
	/* The last symbol at or below vaddr. */
	const struct sym *s = ADDR_TABLE_FLOOR(o->syms, addr, vaddr);

	/* A symbol without a size names no address but its own. */
	if (!s || vaddr - s->addr >= (s->size ? s->size : 1))
		return NULL;
	return o->names + s->name;
}

/* --- unwind rules --------------------------------------------------------- */

/* The index of the first range whose hi is above vaddr. */
static uint32_t rule_pos(const struct native_object *o, uint64_t vaddr)
{
	return (uint32_t)upper_bound(o->rules, o->n_rules, hi, vaddr);
}

static void rule_insert(struct native_object *o, uint32_t at, const struct rule_range *rr)
{
	if (o->n_rules >= OBJ_RULES_MAX) {
		o->n_rules = 0;
		at = 0;
	}
	if (ARRAY_ROOM(o->rules, o->n_rules + 1, o->cap_rules, 256))
		return;
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

/* On the first need: the debug file's (or the object's own) .debug_frame and lines. */
static void dwarf_open(struct native_object *o)
{
	struct elf_file *src = o->dbg ? o->dbg : o->ef;
	void *line = NULL, *line_str = NULL;
	size_t len = 0, str_len = 0;

	if (o->dw_tried)
		return;
	o->dw_tried = true;
	o->dbg_cfi = load_cfi(o, src, ".debug_frame", false);
	if (copy_section(o, src, ".debug_line", &line, &len))
		return;
	/* DWARF 5 keeps the paths there; without it, files named so are unknown. */
	if (copy_section(o, src, ".debug_line_str", &line_str, &str_len))
		line_str = NULL, str_len = 0;
	o->lines = dwline__new(line, len, line_str, str_len);
	if (dwline__truncated(o->lines))
		refuse(o, ".debug_line: more than %u checkpoints, the rest not indexed",
		       DWLINE_CPS_MAX);
}

bool native_object__line(struct native_object *o, uint64_t vaddr, const char **file, int *line)
{
	dwarf_open(o);
	return dwline__find(o->lines, vaddr, file, line);
}

void native_object__describe(const struct native_object *o, char *buf, size_t len)
{
	const char *why = native_object__refused(o);

	snprintf(buf, len, "%zu symbols from%s%s%s%s; %s; build-id %s%s%s", o->syms.n,
		 o->sym_sources & OBJ_SRC_SYMTAB ? " .symtab" : "",
		 o->sym_sources & OBJ_SRC_DEBUG ? " the debug file" : "",
		 o->sym_sources & OBJ_SRC_MINI ? " MiniDebugInfo" : "",
		 o->sym_sources & OBJ_SRC_DYNSYM ? " .dynsym" : "",
		 o->eh ? ".eh_frame" : "no .eh_frame", o->build_id[0] ? o->build_id : "none",
		 why ? "; refused: " : "", why ? why : "");
}
