/* SPDX-License-Identifier: MIT */
/*
 * cfi.h - DWARF call frame information (.eh_frame, .debug_frame) as the
 * walk's unwind rules, read by our own bounded reader.
 *
 * Owns: the index of a section's FDEs by address, and running the CIE's
 * and one FDE's instructions up to an address, keeping only what x86-64
 * unwinding needs: the CFA (rsp/rbp + offset, or the PLT's expression) and
 * where the caller's rbp and return address are.  Anything else is
 * SW_STOP_BAD_CFI, so the walk ends rather than guess.
 *
 * Why not libdw: its frame state grows with what the file says (a
 * remember_state bomb of 20 MB took the agent past 3 GiB), and nothing
 * outside it can bound that.  Here memory is the index (16 bytes per FDE,
 * FDEs bounded by the section's size) plus a fixed state; the work per
 * lookup is one FDE's instructions, at most CFI_INSNS_MAX bytes, with at
 * most CFI_STATES_MAX remembered states.
 */
#ifndef PYSPY_CFI_H
#define PYSPY_CFI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stackwalk.h"

/* Instruction bytes run per lookup (a real FDE holds tens to hundreds). */
#define CFI_INSNS_MAX (16u << 10)
/* DW_CFA_remember_state depth (compilers nest one or two). */
#define CFI_STATES_MAX 16

struct cfi_table;

/*
 * Index a .eh_frame (eh) or .debug_frame section: bytes (taken over,
 * freed with the table) of len bytes, at link-time address vaddr (for
 * pc-relative pointers).  NULL with errno set (ENOMEM; ENOENT: no FDE).
 */
struct cfi_table *cfi_table__new(uint8_t *bytes, size_t len, uint64_t vaddr, bool eh);
void cfi_table__free(struct cfi_table *t); /* NULL-safe */

/* Bytes the table holds besides the section (charged where it was loaded). */
size_t cfi_table__index_bytes(const struct cfi_table *t);
/* FDEs indexed; FDEs left out, their instructions past CFI_INSNS_MAX. */
size_t cfi_table__count(const struct cfi_table *t);
size_t cfi_table__refused(const struct cfi_table *t);

/*
 * The rule at vaddr (a link-time address of the object the section came
 * from); [*lo, *hi) is where the same rule holds.  0, SW_STOP_NO_CFI (no
 * FDE covers vaddr; t may be NULL), SW_STOP_BAD_CFI.
 */
enum sw_stop cfi_rule(const struct cfi_table *t, uint64_t vaddr, struct sw_rule *r, uint64_t *lo,
		      uint64_t *hi);

#endif /* PYSPY_CFI_H */
