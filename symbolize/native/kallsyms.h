/* SPDX-License-Identifier: MIT */
/*
 * kallsyms.h - kernel addresses to function names, from /proc/kallsyms.
 *
 * Owns: reading the kernel's text symbols once (sorted, in one block), and
 * telling when the kernel hides its addresses (kptr_restrict): then every
 * address reads 0 and there is nothing to name frames with.
 */
#ifndef PYSPY_KALLSYMS_H
#define PYSPY_KALLSYMS_H

#include <stdint.h>

struct kallsyms;

/* NULL with errno set: EACCES when the addresses are hidden. */
struct kallsyms *kallsyms__load(const char *path);
void kallsyms__free(struct kallsyms *k); /* NULL-safe */

/* The function addr is in, NULL if none. */
const char *kallsyms__name(const struct kallsyms *k, uint64_t addr);

#endif /* PYSPY_KALLSYMS_H */
