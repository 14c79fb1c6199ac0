/* SPDX-License-Identifier: MIT */
/*
 * code.h - CPython code objects of a target process, as names and lines.
 *
 * Owns: reading a PyCodeObject (qualname, filename, firstlineno, line table)
 * from a target with procmem, decoding its strings to UTF-8, and the
 * fingerprint that tells a live code object from a freed one whose memory
 * was reused.  All reads are bounded; a malformed object is an error, never
 * a crash.
 */
#ifndef PYSPY_CODE_H
#define PYSPY_CODE_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "pyoffsets.h"

/* Longest name or filename kept (bytes of UTF-8, longer ones are cut). */
#define PY_STR_MAX 1024
/* Largest line table accepted from a target. */
#define PY_LINETABLE_MAX (1u << 20)

/*
 * What identifies a code object's contents cheaply: the pointers it holds
 * to its strings and table, and its first line.  A freed code object whose
 * memory is reused by another almost surely differs here.
 */
struct py_code_fp {
	uint64_t filename, name, qualname, linetable;
	int32_t firstlineno;
};

struct py_code {
	struct py_code_fp fp;
	char *qualname; /* co_qualname 3.11+, co_name before; UTF-8 */
	char *filename; /* co_filename, UTF-8 */
	int firstlineno;
	uint8_t *linetable;
	size_t linetable_len;
	enum py_linetable_kind lt_kind;
};

/*
 * Fingerprint of the code object at addr; a single read of its header.
 * 0 or -errno (-EINVAL when it does not look like a code object).
 */
int py_code__fingerprint(pid_t pid, const struct py_layout *l, uint64_t addr,
			 struct py_code_fp *fp);

/* Same, from a code object header already read into hdr (l->code_size). */
int py_code__fingerprint_from(const struct py_layout *l, const void *hdr, size_t len,
			      struct py_code_fp *fp);

/* Do two fingerprints name the same code object? */
bool py_code_fp__equal(const struct py_code_fp *a, const struct py_code_fp *b);

/* Read the whole code object. 0 or -errno; on error *out is zeroed. */
int py_code__read(pid_t pid, const struct py_layout *l, uint64_t addr, struct py_code *out);
void py_code__clear(struct py_code *c); /* frees members, NULL-safe */

/*
 * Read the line table of c (already read from addr, and found there again
 * just now) once more, after the caller let it go.  0 or -errno; -ESTALE
 * when the code object at addr is no longer c.
 */
int py_code__reread_linetable(pid_t pid, const struct py_layout *l, uint64_t addr,
			      struct py_code *c);

/* Line for a byte offset in this code object's bytecode; -1 if none. */
int py_code__line(const struct py_code *c, int lasti_bytes);

/*
 * Read a str object as UTF-8 into buf (NUL-terminated, cut at len-1 bytes
 * on a character boundary).  0 or -errno.
 */
int py_str__read(pid_t pid, const struct py_layout *l, uint64_t addr, char *buf, size_t len);

#endif /* PYSPY_CODE_H */
