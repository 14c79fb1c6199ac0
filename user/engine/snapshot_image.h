/* SPDX-License-Identifier: MIT */
/*
 * snapshot_image.h - `dump --save-image`: every byte of a target's memory
 * a snapshot reads, kept in a file.
 *
 * Owns: the image's header (what a replay needs to find the layout as
 * the live run found it: version, runtime and code type addresses,
 * discovery flags, and for --async the AsyncioDebug section, which comes
 * from a file and not from memory); tapping every memory read into it
 * (procmem_tap), from the bytes the layout is found from on; and writing
 * it.  The unit tests' corpus of real interpreters (tests/corpus/) is made
 * this way, and so is a bug report.
 */
#ifndef PYSPY_SNAPSHOT_IMAGE_H
#define PYSPY_SNAPSHOT_IMAGE_H

#include <stdbool.h>

#include "symbolize/cpython/discover.h"
#include "symbolize/proc/procimage.h"

/* Start keeping py's reads (one target at a time): the image, or NULL after one line. */
struct procimage *snapshot_image__start(const struct py_target *py, bool asyncio);

/* Stop keeping reads, write img to path and free it: 0, or -errno after one line. */
int snapshot_image__save(struct procimage *img, const char *path);

/* Stop keeping reads and free img, unwritten (NULL-safe). */
void snapshot_image__drop(struct procimage *img);

#endif /* PYSPY_SNAPSHOT_IMAGE_H */
