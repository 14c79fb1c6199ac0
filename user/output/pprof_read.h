/* SPDX-License-Identifier: MIT */
/*
 * pprof_read.h - load a pprof profile.proto file (gzipped or not) into
 * the profile model, e.g. to compare two recordings.
 *
 * Every function, location and stack of the file is added to `into`:
 * pid and tid come from the `pid`/`tid` numeric labels (0 when absent),
 * names from `thread_name`/`process` string labels, and the weight from
 * the samples/count value (else the first value).  A [truncated] or
 * [partial] marker function at a stack's root becomes the stack's flag,
 * so a profile written by output_pprof reads back as it was.  Input is
 * untrusted: sizes are capped and every reference is checked.
 */
#ifndef PYSPY_PPROF_READ_H
#define PYSPY_PPROF_READ_H

#include <stddef.h>

#include "symbolize/model/profile.h"

/* Largest file, and largest profile once decompressed. */
#define PPROF_READ_MAX_BYTES (256u << 20)
/* Largest profile once decoded into structs (see read_raw). */
#define PPROF_READ_MAX_DECODED (256u << 20)
/* Frames kept per stack; deeper stacks keep their innermost frames and are flagged truncated. */
#define PPROF_READ_MAX_FRAMES 65536u

/*
 * 0, or -errno: -EINVAL malformed, -EFBIG too large, -E2BIG too large once
 * decoded, -ENOMEM, or the open/read error.
 */
int pprof_read(const char *path, struct profile *into);
int pprof_read_mem(const void *buf, size_t len, struct profile *into);

#endif /* PYSPY_PPROF_READ_H */
