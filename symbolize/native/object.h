/* SPDX-License-Identifier: MIT */
/*
 * object.h - one mapped ELF object as native frames need it.
 *
 * Owns: the file (opened by the caller inside the target's view), what
 * names its addresses (.symtab, .dynsym, MiniDebugInfo, the separate debug
 * file found by build-id under the target's /usr/lib/debug), its DWARF
 * line table, and its CFI (.eh_frame, then .debug_frame) as unwind rules
 * cached by address range.  Addresses here are the object's link-time
 * vaddrs; the process map (procmaps.h) translates.
 */
#ifndef PYSPY_NATIVE_OBJECT_H
#define PYSPY_NATIVE_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "stackwalk.h"
#include "symbolize/proc/elf.h"

struct native_object;

/*
 * fd (taken over, closed on failure): the mapped file.  Its debug file is
 * looked for inside pid's root.  name: what frames show, e.g. "libc.so.6".
 * NULL with errno set.
 */
struct native_object *native_object__open(int fd, pid_t pid, const char *name);
void native_object__free(struct native_object *o); /* NULL-safe */

struct elf_file *native_object__elf(struct native_object *o);
const char *native_object__name(const struct native_object *o);
/* The build-id in hex, "" if none. */
const char *native_object__build_id(const struct native_object *o);

/*
 * Its executable segment at link-time addresses, page-aligned: [*start,
 * *limit) from file offset *offset.  0 or -ENOENT.
 */
int native_object__text(struct native_object *o, uint64_t *start, uint64_t *limit,
			uint64_t *offset);

/* A number the caller keeps with the object (e.g. its profile mapping); 0 at first. */
uint32_t native_object__tag(const struct native_object *o);
void native_object__set_tag(struct native_object *o, uint32_t tag);

/* The unwind rule at vaddr: 0 or SW_STOP_NO_CFI / SW_STOP_BAD_CFI. */
enum sw_stop native_object__rule(struct native_object *o, uint64_t vaddr, struct sw_rule *r);

/* The function vaddr is in, NULL if no symbol covers it. */
const char *native_object__symbol(const struct native_object *o, uint64_t vaddr);

/* The source file (base name) and line of vaddr, if DWARF says. */
bool native_object__line(struct native_object *o, uint64_t vaddr, const char **file, int *line);

/* Bytes this object holds (symbols, rule cache, DWARF read so far), roughly. */
size_t native_object__bytes(const struct native_object *o);

/*
 * The first thing its files claimed that was refused (a section past
 * elf.c's caps, FDEs past cfi.h's, ...), said once with log_warn when it
 * happened; NULL if none.
 */
const char *native_object__refused(const struct native_object *o);

/* What was found, for -v: symbols, and which sources gave them. */
void native_object__describe(const struct native_object *o, char *buf, size_t len);

#endif /* PYSPY_NATIVE_OBJECT_H */
