/* SPDX-License-Identifier: MIT */
/*
 * bytes.h - whole files and gzip streams into memory, bounded.
 *
 * Owns: reading a profile file to EOF (a regular file only, never a FIFO or
 * a device: symbolize/base/fileopen.h) and
 * inflating a gzip or zlib stream, both capped at a caller's limit.  The
 * readers of pprof and folded files share these, and serve reads its key
 * and token files with the first.
 */
#ifndef PYSPY_BYTES_H
#define PYSPY_BYTES_H

#include <stddef.h>
#include <stdint.h>

/* All of path into *out (malloc'd). 0, -errno, -EFBIG past max bytes. */
int bytes_read_file(const char *path, size_t max, uint8_t **out, size_t *len);

/*
 * Inflate a whole gzip or zlib stream into *out (malloc'd).  0, -EINVAL if
 * it is cut or corrupt, -EFBIG past max bytes (in or out), -ENOMEM.
 */
int bytes_inflate(const uint8_t *in, size_t len, size_t max, uint8_t **out, size_t *out_len);

#endif /* PYSPY_BYTES_H */
