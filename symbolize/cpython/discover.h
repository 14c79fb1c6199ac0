/* SPDX-License-Identifier: MIT */
/*
 * discover.h - is a PID a CPython process, and where does its interpreter live?
 *
 * Owns: reading /proc/PID/{stat,status,maps,exe}, picking the ELF file that
 * holds _PyRuntime (the main executable or a mapped libpython3.*.so*),
 * opened through /proc/PID/root so containers work, its runtime address,
 * the interpreter version and the layout to sample it with.
 */
#ifndef PYSPY_DISCOVER_H
#define PYSPY_DISCOVER_H

#include <limits.h>
#include <linux/types.h> /* __u32 for bpf/pyspy.h, which pyoffsets.h includes */
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "pyoffsets.h"

/* py_target.flags: how the answer was reached, for -v messages. */
#define PY_TARGET_DEBUG_OFFSETS	  0x1  /* layout from the target's _Py_DebugOffsets */
#define PY_TARGET_TABLE_MISMATCH  0x2  /* ... which disagrees with our table (it wins) */
#define PY_TARGET_RUNTIME_SECTION 0x4  /* no _PyRuntime symbol: .PyRuntime section used */
#define PY_TARGET_VERSION_GUESSED 0x8  /* version from the file name only (3.X.0) */
#define PY_TARGET_FREE_THREADED	  0x10 /* refused (-ENOTSUP): a free-threaded build */
#define PY_TARGET_LAYOUT_REFUSED \
	0x20 /* refused (-ENOTSUP): its debug offsets do not
					 * fit what we read (py_target.refused says why) */

struct py_target {
	pid_t pid;   /* host pid (a tgid) */
	pid_t nspid; /* pid inside its own pid namespace */
	char comm[16];
	uint64_t start_time;	 /* field 22 of /proc/PID/stat: tells PID reuse */
	uint64_t looked_ns;	 /* CLOCK_MONOTONIC when discovery began: an exec
				    * before it is in what it found */
	char elf_path[PATH_MAX]; /* ELF holding _PyRuntime, as mapped (target's mount
				    * ns), without a " (deleted)" suffix */
	uint64_t elf_bias;	 /* its load bias: runtime address = vaddr + bias */
	uint64_t runtime_addr;	 /* runtime &_PyRuntime */
	uint64_t code_type_addr; /* runtime &PyCode_Type, 0 if unknown */
	uint64_t str_type_addr;	 /* &PyUnicode_Type and &PyLong_Type, 0 if unknown: */
	uint64_t long_type_addr; /* what a task name (--async) is */
	uint32_t version_hex;	 /* PY_VERSION_HEX */
	uint32_t flags;		 /* PY_TARGET_* */
	uint64_t gil_addr;	 /* runtime &struct _gil_runtime_state, 0 if unknown */
	struct py_layout layout;
	char refused[PATH_MAX + 64]; /* with PY_TARGET_LAYOUT_REFUSED: the field, e.g.
				      * "PyObject.ob_type = 65520 is past the ...";
				      * with -E2BIG: "path: why" */
};

/*
 * Fill *out for pid.  Returns
 *   0        a supported, initialised CPython;
 *   -ESRCH   no such process (or it exited meanwhile, is a zombie, or pid
 *            names a thread rather than a process);
 *   -ENOEXEC not a Python process (no mapped file holds _PyRuntime);
 *   -ENOTSUP a Python whose version is unsupported (< 3.8, unknown layout,
 *            a debug or free-threaded build without debug offsets);
 *            out->version_hex is set when known, for the message;
 *   -E2BIG   no _PyRuntime found, and a file was refused for what its
 *            headers claim (elf.c's caps): out->refused says which and why;
 *   -EAGAIN  Python found but its interpreter is not initialised yet
 *            (interpreters.head NULL); *out is complete, so the caller can
 *            poll py_target__initialised() instead of discovering again;
 *   -EACCES / -EPERM  not allowed to read it;
 *   another -errno on unexpected failures (-ENOMEM, -EFAULT, -EIO).
 * The version is taken, in order, from _Py_DebugOffsets (3.13+), the
 * Py_Version symbol (3.11+), PY_VERSION in Py_GetVersion's code (3.8-3.10)
 * and as a last resort the libpython file name.
 */
int py_target__discover(pid_t pid, struct py_target *out);

/*
 * The layout of a target whose pid, runtime_addr and version_hex are known
 * (a saved memory image, procimage.h): from its _Py_DebugOffsets when it
 * has them, else from the table.  0 or -errno (-ENOTSUP as discover).
 */
int py_target__layout(struct py_target *t);

/* 1 if the interpreter is initialised now (interpreters.head != NULL), 0 if
 * not yet, or -errno if its memory cannot be read. */
int py_target__initialised(const struct py_target *t);

/*
 * Find the main interpreter's GIL (t->gil_addr): inside _PyRuntime up to
 * 3.11, behind PyInterpreterState.ceval.gil from 3.12, so only once the
 * interpreter is initialised.  0 or -errno (gil_addr stays 0).
 */
int py_target__find_gil(struct py_target *t);

/* 1 if t->pid is still the process discovered (same start time), 0 if it
 * exited or the PID was reused, -errno if /proc cannot tell. */
int py_target__alive(const struct py_target *t);

/* One-line reason for a py_target__discover() result (err < 0 or > 0). */
const char *py_target__strerror(int err);

/*
 * A PY_VERSION_HEX as people write it: "3.12.1", and with release_tag the
 * pre-release too ("3.15.0a2", "3.14.0rc3").  buf of at least 24 bytes.
 */
void py_version_str(uint32_t hex, bool release_tag, char *buf, size_t len);

/*
 * Copy the target's AsyncioDebug section (3.14+, the offsets of asyncio's
 * tasks and per-thread state; see asyncio.h) into buf, at most cap bytes:
 * 0 and *len, -ENOENT while no mapped file has it (asyncio not imported
 * yet), or -errno.
 */
int py_target__asyncio_debug(const struct py_target *t, void *buf, size_t cap, size_t *len);

#endif /* PYSPY_DISCOVER_H */
