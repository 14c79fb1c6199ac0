/* SPDX-License-Identifier: MIT */
/*
 * elf.h - ELF symbol and section lookup with libelf.
 *
 * Owns: opening an ELF file (already resolved by the caller, inside the
 * target's root), within size caps; finding symbols in .dynsym then .symtab, sections by name,
 * reading initialised bytes at a virtual address from the file, and mapping
 * a runtime mapping (start, file offset) to the load bias.
 */
#ifndef PYSPY_ELF_H
#define PYSPY_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gelf.h>
#include <libelf.h>

struct elf_file;

/*
 * Caps on what a target's file may make us load, whatever its headers say
 * (real libpythons and static pythons are tens of MB; their symbol tables
 * and line tables a few MB each):
 * - the file, checked before libelf reads it;
 * - section and program headers, counted before libelf allocates for them;
 * - any one section loaded whole, at its inflated size if compressed;
 * - all loads from one file, summed: each section's stored bytes are
 *   charged once, and a section whose bytes overlap another's already
 *   loaded is refused, so headers that alias one region cost nothing more.
 */
#define ELF_FILE_MAX	 (1ull << 30)
#define ELF_SECTION_MAX	 (32ull << 20)
#define ELF_LOAD_MAX	 (64ull << 20)
#define ELF_SECTIONS_MAX 4096
#define ELF_SEGMENTS_MAX 256

/*
 * A budget several open files share (e.g. all of one target's): each
 * load is charged to it too, and a file's charges are given back when it
 * is closed.  The caller zeroes used and sets max.
 */
struct elf_budget {
	uint64_t used, max;
};

/*
 * NULL with errno set on failure (ENOENT, ENOEXEC for a non-ELF file,
 * EFBIG past ELF_FILE_MAX, E2BIG past ELF_SECTIONS_MAX or
 * ELF_SEGMENTS_MAX).  _open opens only a regular file (anything else is
 * FILEOPEN_NOT_REGULAR, never opened: symbolize/base/fileopen.h); _from_fd
 * takes fd over, closing it on failure.
 */
struct elf_file *elf_file__open(const char *path);
struct elf_file *elf_file__from_fd(int fd);
void elf_file__close(struct elf_file *ef); /* NULL-safe */

/* Charge ef's loads, past and future, to b as well (NULL: to no budget). */
void elf_file__set_budget(struct elf_file *ef, struct elf_budget *b);

/*
 * Why a load from ef was refused (the first refusal: "section headers
 * overlap", "over the file's load cap", ...), or NULL if none was: a
 * lookup that fails for this reason looks like a missing table, and the
 * caller says why in one line.
 */
const char *elf_file__refused(const struct elf_file *ef);

/* Bytes loaded from ef so far, as charged. */
uint64_t elf_file__loaded(const struct elf_file *ef);

/* ET_EXEC (non-PIE) or ET_DYN (PIE, shared object). */
int elf_file__type(const struct elf_file *ef);

/* The libelf handle (read with pread, never mapped). */
Elf *elf_file__libelf(struct elf_file *ef);

/*
 * ef's loadable segments (PT_LOAD) one by one into *ph: from *i = 0,
 * each call moves *i on; false after the last.
 */
bool elf_file__next_load(struct elf_file *ef, size_t *i, GElf_Phdr *ph);

/*
 * The defined function symbols with a name and an address in ef's symbol
 * tables of one type (SHT_SYMTAB or SHT_DYNSYM), one by one: the caller
 * zeroes the cursor and sets table_type, and each call gives the next
 * into *fn; false after the last.  Names are libelf's, valid while ef is
 * open.
 */
struct elf_function_cursor {
	uint32_t table_type;
	/* where the walk is: the table, its symbols, the next one's index */
	Elf_Scn *scn;
	Elf_Data *data;
	size_t strtab, i, n;
	bool done;
};

struct elf_function {
	const char *name;
	uint64_t value, size; /* st_value (a link-time vaddr), st_size */
};

bool elf_file__next_function(struct elf_file *ef, struct elf_function_cursor *c,
			     struct elf_function *fn);

/* The GNU build-id note: its length (at most cap bytes copied), or -ENOENT. */
int elf_file__build_id(struct elf_file *ef, uint8_t *buf, size_t cap);

/*
 * A section's bytes, malloc'd into *buf, inflated if compressed
 * (SHF_COMPRESSED with zlib, or a .zdebug_* twin of a .debug_* name),
 * never more than it claims: 0, -ENOENT (absent, or not in the file),
 * -EFBIG (larger than max), -E2BIG (refused: elf_file__refused says why),
 * -EBADMSG (does not inflate to its size), -ENOTSUP (zstd), -ENOMEM.
 */
int elf_file__section_copy(struct elf_file *ef, const char *name, size_t max, void **buf,
			   size_t *len);

/* Does the file hold a section of that name with bytes in it? */
bool elf_file__has_section(struct elf_file *ef, const char *name);

/*
 * Find a defined symbol by exact name, .dynsym first, then .symtab.
 * 0 and *addr (st_value, a link-time vaddr), *size; -ENOENT if absent.
 */
int elf_file__find_symbol(struct elf_file *ef, const char *name, uint64_t *addr, uint64_t *size);

/* Section by name: link-time vaddr and size; -ENOENT if absent. */
int elf_file__find_section(struct elf_file *ef, const char *name, uint64_t *addr, uint64_t *size);

/*
 * Copy len bytes stored in the file at link-time vaddr (from a PT_LOAD's
 * file-backed part).  -ENOENT if not file-backed (e.g. .bss).
 */
int elf_file__read_vaddr(struct elf_file *ef, uint64_t vaddr, void *buf, size_t len);

/*
 * Load bias of a mapping of this file that starts at map_start with file
 * offset map_off (as in /proc/PID/maps): runtime address = vaddr + bias.
 * 0 for ET_EXEC.  -ENOENT if no PT_LOAD covers map_off.
 */
int elf_file__load_bias(struct elf_file *ef, uint64_t map_start, uint64_t map_off, uint64_t *bias);

/*
 * The interpreter version string of a CPython 3.8-3.10 library or
 * executable: PY_VERSION as passed by Py_GetVersion() to PyOS_snprintf
 * (decoded from its machine code), e.g. "3.8.18".  0 or -ENOENT.
 */
int elf_file__py_version_string(struct elf_file *ef, char *buf, size_t len);

#endif /* PYSPY_ELF_H */
