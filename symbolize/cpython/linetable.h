/* SPDX-License-Identifier: MIT */
/*
 * linetable.h - instruction offset -> source line, one decoder per format.
 *
 * Owns: decoding of co_lnotab (3.8/3.9), co_linetable (3.10) and the 3.11+
 * location table.  The tables come from target processes, so they are
 * untrusted: every decoder is bounded by len and never reads past it.
 */
#ifndef PYSPY_LINETABLE_H
#define PYSPY_LINETABLE_H

#include <stddef.h>
#include <stdint.h>

#include "pyoffsets.h"

/*
 * Line of the instruction at byte offset `addr` in the bytecode, given the
 * code object's co_firstlineno and line table.  Negative addr (a frame that
 * has not started) yields firstlineno.  Returns -1 when the table says the
 * instruction has no line, or the table is malformed.
 */
int py_linetable_line(enum py_linetable_kind kind, const uint8_t *table, size_t len,
		      int firstlineno, int addr);

#endif /* PYSPY_LINETABLE_H */
