/* SPDX-License-Identifier: MIT */
/*
 * minidebug.h - MiniDebugInfo: the xz-compressed ELF in .gnu_debugdata
 * that holds the symbols a stripped object left out (Fedora, CentOS, ...).
 *
 * Owns: decompressing it within a size cap (the section is the target's to
 * write: an xz bomb gets -EFBIG, not our memory) into a sealed memfd that
 * elf_file__from_fd can open like any file.
 */
#ifndef PYSPY_MINIDEBUG_H
#define PYSPY_MINIDEBUG_H

#include "symbolize/proc/elf.h"

/* Largest .gnu_debugdata read, and largest ELF it may decompress to. */
#define MINIDEBUG_IN_MAX  (32u << 20)
#define MINIDEBUG_OUT_MAX (128u << 20)

/* The embedded ELF of ef, or NULL with errno set (ENOENT: it has none). */
struct elf_file *minidebug_open(struct elf_file *ef);

#endif /* PYSPY_MINIDEBUG_H */
