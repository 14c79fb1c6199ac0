/* SPDX-License-Identifier: MIT */
/*
 * procimage.h - a saved image of what was read of a process's memory.
 *
 * Owns: the ranges of memory (address, bytes) one run read, with a header
 * of named numbers (the target's version, its runtime's address, ...), kept
 * in a file (gzip) and served back.  `dump --save-image` writes one; the
 * unit tests replay the walk and the symbolizer over those of real
 * interpreters (tests/corpus/), without root and without the process
 * (procmem.h's tap).  A file is the user's: its sizes are bounded when it
 * is loaded, and a read is served only from bytes the image holds.
 */
#ifndef PYSPY_PROCIMAGE_H
#define PYSPY_PROCIMAGE_H

#include <stddef.h>
#include <stdint.h>

/* What a loaded image may hold: its bytes in all, and its ranges. */
#define PROCIMAGE_BYTES_MAX  (64u << 20)
#define PROCIMAGE_RANGES_MAX (1u << 20)

struct procimage;

struct procimage *procimage__new(void);
void procimage__free(struct procimage *img); /* NULL-safe */

/* Keep len bytes read at addr (a later read of the same bytes wins). 0 or -ENOMEM. */
int procimage__add(struct procimage *img, uint64_t addr, const void *buf, size_t len);

/* The len bytes at addr, if the image holds every one of them: 0 or -EFAULT. */
int procimage__read(struct procimage *img, uint64_t addr, void *buf, size_t len);

/* A header number: set (0 or -ENOMEM), get (0 or -ENOENT).  Keys: [a-z_]+. */
int procimage__set(struct procimage *img, const char *key, uint64_t v);
int procimage__get(const struct procimage *img, const char *key, uint64_t *v);

/*
 * Write img to path (a new file, mode 0600: it holds the target's
 * memory), or read one back: 0 or -errno (-EINVAL: not an image, or past
 * the bounds).
 */
int procimage__save(struct procimage *img, const char *path);
int procimage__load(const char *path, struct procimage **out);

#endif /* PYSPY_PROCIMAGE_H */
