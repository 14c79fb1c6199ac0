/* SPDX-License-Identifier: MIT */
/*
 * cfi.h - DWARF call frame information (.eh_frame, .debug_frame) as the
 * walk's unwind rules.
 *
 * Owns: asking libdw for the frame state at an address, and translating
 * the forms x86-64 code uses (CFA = rsp/rbp + offset, the PLT's
 * expression, registers saved at CFA + offset) into a struct sw_rule;
 * anything else is SW_STOP_BAD_CFI, so the walk ends rather than guess.
 */
#ifndef PYSPY_CFI_H
#define PYSPY_CFI_H

#include <stdint.h>

#include <elfutils/libdw.h>

#include "stackwalk.h"

/*
 * The rule at vaddr (a link-time address of the object cfi came from);
 * [*lo, *hi) is where the same rule holds.  0, SW_STOP_NO_CFI (no FDE
 * covers vaddr), SW_STOP_BAD_CFI.
 */
enum sw_stop cfi_rule(Dwarf_CFI *cfi, uint64_t vaddr, struct sw_rule *r, uint64_t *lo,
		      uint64_t *hi);

#endif /* PYSPY_CFI_H */
