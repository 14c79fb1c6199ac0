/* SPDX-License-Identifier: MIT */
/*
 * pyoffsets.h - per-version CPython layouts.
 *
 * Owns: struct py_layout (every offset userspace and BPF need for one CPython
 * minor version), the generated table for 3.8-3.13 (pyoffsets_table.c, made
 * by scripts/gen-pyoffsets.py from the installed headers) and the reader of a
 * target's _Py_DebugOffsets (3.13+), plus the conversion to the BPF-side
 * struct pyspy_proc.  Versions are data: adding one is a table entry or
 * nothing at all (3.13+ describe themselves).
 */
#ifndef PYSPY_PYOFFSETS_H
#define PYSPY_PYOFFSETS_H

#include <stdint.h>
#include <sys/types.h>

#include <linux/types.h>

#include "bpf/pyspy.h"

/* Sentinel for "this field does not exist in this version". */
#define PY_OFF_NONE 0xffffu

/*
 * What userspace reads of a target's objects at once, and so what every
 * offset into them must fit (py_layout__check): a code object's header
 * (the real ones are a few hundred bytes; the cap keeps reads on the stack
 * and small per frame), a thread state, the head of a str.  Fields of objects that are read one
 * by one (bytes, the GIL, ...) must lie within PY_OBJECT_FIELD_MAX.
 */
#define PY_CODE_HDR_MAX	    512
#define PY_TSTATE_READ_MAX  2048
#define PY_STR_HDR_MAX	    64
#define PY_OBJECT_FIELD_MAX 512
#define PY_GIL_SIZE_MAX	    4096

/* How the line of an instruction is encoded (see symbolize/cpython/linetable.h). */
enum py_linetable_kind {
	PY_LT_LNOTAB = 1,    /* 3.8, 3.9: co_lnotab (addr, line) pairs */
	PY_LT_LINETABLE = 2, /* 3.10: co_linetable (sdelta, ldelta) pairs */
	PY_LT_LOCATIONS = 3, /* 3.11+: location table (Objects/locations.md) */
};

struct py_layout {
	uint8_t major, minor;
	uint32_t frame_model;	 /* enum pyspy_frame_model */
	uint32_t linetable_kind; /* enum py_linetable_kind */

	/* _PyRuntimeState */
	uint16_t runtime_interp_head;
	/* PyInterpreterState */
	uint16_t interp_next;
	uint16_t interp_threads_head;
	/* PyThreadState */
	uint16_t tstate_next;
	uint16_t tstate_interp;
	uint16_t tstate_thread_id;	  /* pthread_t */
	uint16_t tstate_native_thread_id; /* kernel TID; PY_OFF_NONE < 3.11 */
	uint16_t tstate_frame;		  /* frame / cframe / current_frame */
	uint16_t tstate_datastack_chunk;  /* _PyStackChunk *; PY_OFF_NONE < 3.11 */
	uint16_t cframe_current;	  /* _PyCFrame.current_frame; NONE off 3.11-3.12 */
	/* frame: PyFrameObject (<3.11) or _PyInterpreterFrame (3.11+) */
	uint16_t frame_back;
	uint16_t frame_code;
	uint16_t frame_instr; /* f_lasti (int) <3.11; prev_instr/instr_ptr 3.11+ */
	uint16_t frame_owner; /* PY_OFF_NONE < 3.11 */
	uint16_t frame_size;  /* sizeof the frame struct, capped read size */
	/* PyObject / PyVarObject */
	uint16_t object_type;	 /* ob_type */
	uint16_t varobject_size; /* ob_size */
	/* PyCodeObject */
	uint16_t code_filename;
	uint16_t code_name;
	uint16_t code_qualname;	   /* PY_OFF_NONE < 3.11 */
	uint16_t code_firstlineno; /* int */
	uint16_t code_linetable;   /* co_lnotab (3.8/3.9) or co_linetable */
	uint16_t code_code;	   /* co_code bytes object; PY_OFF_NONE 3.11+ */
	uint16_t code_adaptive;	   /* co_code_adaptive; PY_OFF_NONE < 3.11 */
	uint16_t code_size;	   /* sizeof(PyCodeObject) header */
	/* PyBytesObject */
	uint16_t bytes_size; /* ob_size */
	uint16_t bytes_sval; /* ob_sval */
	/* PyUnicodeObject (compact forms, as code-object strings are) */
	uint16_t unicode_length;
	uint16_t unicode_state;
	uint16_t unicode_ascii_data;   /* sizeof(PyASCIIObject) */
	uint16_t unicode_compact_data; /* sizeof(PyCompactUnicodeObject) */
	/* The GIL (struct _gil_runtime_state) */
	uint16_t gil_runtime;	  /* its offset in _PyRuntime (3.8-3.11), else NONE */
	uint16_t gil_interp_ptr;  /* PyInterpreterState.ceval.gil pointer (3.12+) */
	uint16_t gil_last_holder; /* PyThreadState * of the holder, in the struct */
	uint16_t gil_locked;	  /* int */
	uint16_t gil_size;
	/* 3.14+ (from the debug offsets; PY_OFF_NONE before, or 0 in the
	 * generated table): what --async reads of coroutines and tasks */
	uint16_t frame_stackpointer; /* _PyStackRef *: the top of the value stack */
	uint16_t gen_iframe;	     /* PyGenObject: its embedded _PyInterpreterFrame */
	uint16_t gen_frame_state;    /* int8_t */
	uint16_t set_table, set_mask;
	uint16_t type_flags; /* PyTypeObject.tp_flags (unsigned long) */
	uint16_t long_tag, long_digit;
};

/* Generated entries, one per minor version, 3.8..3.13 (pyoffsets_table.c). */
extern const struct py_layout py_layouts_table[];
extern const unsigned py_layouts_table_len;

/*
 * Layout for major.minor from the generated table; NULL (errno ENOTSUP) if
 * the version is not in it.
 */
const struct py_layout *py_layout__from_table(unsigned major, unsigned minor);

/*
 * Fill *out from the _Py_DebugOffsets at the start of the target's
 * _PyRuntime (3.13+).  raw/len is the memory read from &_PyRuntime (at least
 * the debug-offsets struct; 1024 bytes is enough for 3.13-3.15).  Fields the
 * debug offsets do not describe (unicode state bits, frame owner values,
 * bytes object layout) come from what is known for that version.
 * Returns 0, -EINVAL if the cookie is wrong or an offset does not fit (why,
 * if not NULL, then says which, when it is an offset), -ENOTSUP for a
 * version whose debug-offsets layout is unknown (e.g. a future 3.x the
 * reader predates).
 */
int py_layout__from_debug_offsets(const void *raw, size_t len, struct py_layout *out,
				  uint32_t *version_hex, char *why, size_t why_len);

/*
 * Is every offset inside the buffer it indexes, here and on the BPF side?
 * 0, or -EINVAL with why (if not NULL) naming the first field that is not,
 * e.g. "PyObject.ob_type = 65520 is past the 184-byte code object header".
 * py_layout__from_debug_offsets runs it on what a target claims; the
 * generated table passes it by construction (tests/unit/test_pyoffsets.c).
 */
int py_layout__check(const struct py_layout *l, char *why, size_t why_len);

/*
 * Say why a target's offsets are refused: the message into why (if not
 * NULL), and -EINVAL to return.  For every reader of a target's own layout.
 */
int py_layout__refuse(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Translate the layout into what the BPF walker needs. */
void py_layout__to_bpf(const struct py_layout *l, uint64_t runtime_addr, uint32_t version_hex,
		       struct pyspy_proc *out);

#endif /* PYSPY_PYOFFSETS_H */
