/* SPDX-License-Identifier: MIT */
/*
 * dwline.h - DWARF line tables (.debug_line, versions 2 to 5), read by our
 * own bounded reader.
 *
 * Owns: an index of checkpoints into the line programs (a sequence's first
 * row, then a row every DWLINE_STRIDE bytes of program, and where each
 * sequence ends), built in one pass when the object's lines are first
 * asked for; and the file and line of an address, found by running the
 * program from the checkpoint at or below it.
 *
 * Why not libdw: it builds every row of a unit in memory, and a line
 * program makes a row per byte (a 200 KB library took the agent past
 * 3 GiB).  Here memory is the section, at most DWLINE_CPS_MAX checkpoints
 * of 24 bytes, and nothing per row; a lookup runs at most
 * DWLINE_REPLAY_MAX bytes of program.
 */
#ifndef PYSPY_DWLINE_H
#define PYSPY_DWLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DWLINE_STRIDE	  1024
#define DWLINE_CPS_MAX	  (1u << 18)
#define DWLINE_REPLAY_MAX (64u << 10)

struct dwline;

/*
 * line: .debug_line, taken over (freed with the index); line_str:
 * .debug_line_str (DWARF 5 paths), taken over, may be NULL.  NULL with
 * errno set (ENOMEM; ENOENT: no sequence).
 */
struct dwline *dwline__new(uint8_t *line, size_t len, uint8_t *line_str, size_t line_str_len);
void dwline__free(struct dwline *d); /* NULL-safe */

/* Bytes held besides the sections (charged where they were loaded). */
size_t dwline__index_bytes(const struct dwline *d);
/* Checkpoints indexed; whether the index stopped at DWLINE_CPS_MAX. */
size_t dwline__count(const struct dwline *d);
bool dwline__truncated(const struct dwline *d);

/*
 * The source file (its base name, valid while d lives) and line of
 * vaddr, a link-time address.
 */
bool dwline__find(const struct dwline *d, uint64_t vaddr, const char **file, int *line);

#endif /* PYSPY_DWLINE_H */
