// SPDX-License-Identifier: MIT
/* pyoffsets.c - CPython layouts: table lookup, _Py_DebugOffsets reader, BPF conversion. */
#include <linux/types.h> /* __u32 and friends for bpf/pyspy.h */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "pyoffsets.h"

const struct py_layout *py_layout__from_table(unsigned major, unsigned minor)
{
	unsigned i;

	for (i = 0; i < py_layouts_table_len; i++) {
		if (py_layouts_table[i].major == major && py_layouts_table[i].minor == minor)
			return &py_layouts_table[i];
	}
	errno = ENOTSUP;
	return NULL;
}

/*
 * _Py_DebugOffsets is a header (cookie, version, free_threaded) followed by
 * sub-structs made only of u64s, so every field we need is "where its
 * sub-struct starts + 8 * its index there".  The sub-structs grow between
 * minor versions: where each starts is per minor, and so is a field's
 * index there, for the few that moved (a column per minor below).
 */
enum dbg_sub {
	SUB_RUNTIME,
	SUB_INTERP,
	SUB_THREAD,
	SUB_FRAME,
	SUB_CODE,
	SUB_OBJECT,
	SUB_TYPE,
	SUB_SET,
	SUB_LONG,
	SUB_BYTES,
	SUB_UNICODE,
	SUB_GEN,
	SUB__COUNT
};

/*
 * The minors whose debug offsets we know, oldest first: a column each in
 * the tables below.
 *   3.13: from the real 3.13.0 headers (internal/pycore_runtime.h) and
 *   checked against a live 3.13.0 by the unit test.
 *   3.14: checked by the unit test against live Debian 3.14.10 and its
 *   Py_DEBUG build (python3.14-dbg), whose values equal the table measured
 *   from the 3.14 headers.  interpreter_state gains threads_main after
 *   threads_head (and two fields at its end), the frame gains stackpointer
 *   and tlbc_index, code gains co_tlbc, set_object is new.
 *   3.15: checked by the unit test against live Debian 3.15.2 and the table
 *   measured from its headers.  thread_state inserts base_frame,
 *   last_profiled_frame and last_profiled_frame_seq after current_frame,
 *   moving thread_id to index 8; err_stackitem and heap_type_object are new;
 *   unicode_object finally describes PyCompactUnicodeObject.
 */
#define DBG_MINORS 3
static const uint8_t dbg_minor[DBG_MINORS] = { 13, 14, 15 };
/* sizeof(_Py_DebugOffsets): the caller must give this much. */
static const uint16_t dbg_total[DBG_MINORS] = { 584, 760, 888 };

/* Where each sub-struct starts (0: not in that minor). */
static const uint16_t dbg_sub_start[SUB__COUNT][DBG_MINORS] = {
	[SUB_RUNTIME] = { 24, 24, 24 },	   /* runtime_state */
	[SUB_INTERP] = { 48, 48, 48 },	   /* interpreter_state */
	[SUB_THREAD] = { 152, 176, 176 },  /* thread_state */
	[SUB_FRAME] = { 224, 248, 312 },   /* interpreter_frame */
	[SUB_CODE] = { 272, 312, 376 },	   /* code_object */
	[SUB_OBJECT] = { 352, 400, 464 },  /* pyobject */
	[SUB_TYPE] = { 0, 416, 480 },	   /* type_object */
	[SUB_SET] = { 0, 496, 592 },	   /* set_object */
	[SUB_LONG] = { 0, 568, 664 },	   /* long_object */
	[SUB_BYTES] = { 512, 592, 688 },   /* bytes_object */
	[SUB_UNICODE] = { 536, 616, 712 }, /* unicode_object */
	[SUB_GEN] = { 0, 664, 792 },	   /* gen_object */
};

/*
 * Each field of struct py_layout the debug offsets give: its sub-struct,
 * and its index there in each minor (-1: not in that one).
 * The frame's value stack, generators, sets, the type flags and ints are
 * what --async reads (a default task name is an int): 3.14 on.
 */
static const struct dbg_field {
	uint16_t at; /* offsetof(struct py_layout, the field) */
	uint8_t sub; /* enum dbg_sub */
	int8_t idx[DBG_MINORS];
} dbg_fields[] = {
#define FIELD(f, s, ...)                                                              \
	{                                                                             \
		.at = offsetof(struct py_layout, f), .sub = s, .idx = { __VA_ARGS__ } \
	}
	/* field, in its sub-struct at: 3.13, 3.14, 3.15 */
	FIELD(runtime_interp_head, SUB_RUNTIME, 2, 2, 2),
	FIELD(interp_next, SUB_INTERP, 2, 2, 2),
	FIELD(interp_threads_head, SUB_INTERP, 3, 3, 3),
	FIELD(gil_interp_ptr, SUB_INTERP, 8, 9, 9), /* ceval.gil */
	FIELD(tstate_next, SUB_THREAD, 2, 2, 2),
	FIELD(tstate_interp, SUB_THREAD, 3, 3, 3),
	FIELD(tstate_frame, SUB_THREAD, 4, 4, 4),
	FIELD(tstate_thread_id, SUB_THREAD, 5, 5, 8),
	FIELD(tstate_native_thread_id, SUB_THREAD, 6, 6, 9),
	FIELD(tstate_datastack_chunk, SUB_THREAD, 7, 7, 10),
	FIELD(frame_size, SUB_FRAME, 0, 0, 0),
	FIELD(frame_back, SUB_FRAME, 1, 1, 1),
	FIELD(frame_code, SUB_FRAME, 2, 2, 2),
	FIELD(frame_instr, SUB_FRAME, 3, 3, 3),
	FIELD(frame_owner, SUB_FRAME, 5, 5, 5),
	FIELD(frame_stackpointer, SUB_FRAME, -1, 6, 6),
	FIELD(code_filename, SUB_CODE, 1, 1, 1),
	FIELD(code_name, SUB_CODE, 2, 2, 2),
	FIELD(code_qualname, SUB_CODE, 3, 3, 3),
	FIELD(code_linetable, SUB_CODE, 4, 4, 4),
	FIELD(code_firstlineno, SUB_CODE, 5, 5, 5),
	FIELD(code_adaptive, SUB_CODE, 9, 9, 9),
	FIELD(object_type, SUB_OBJECT, 1, 1, 1),
	FIELD(type_flags, SUB_TYPE, -1, 3, 3),
	FIELD(set_table, SUB_SET, -1, 2, 2),
	FIELD(set_mask, SUB_SET, -1, 3, 3),
	FIELD(long_tag, SUB_LONG, -1, 1, 1),
	FIELD(long_digit, SUB_LONG, -1, 2, 2),
	FIELD(bytes_size, SUB_BYTES, 1, 1, 1),
	FIELD(bytes_sval, SUB_BYTES, 2, 2, 2),
	FIELD(unicode_state, SUB_UNICODE, 1, 1, 1),
	FIELD(unicode_length, SUB_UNICODE, 2, 2, 2),
	FIELD(unicode_ascii_data, SUB_UNICODE, 3, 3, 3),
	FIELD(unicode_compact_data, SUB_UNICODE, -1, -1, 4),
	FIELD(gen_iframe, SUB_GEN, -1, 2, 2),
	FIELD(gen_frame_state, SUB_GEN, -1, 3, 3),
#undef FIELD
};

/*
 * The GIL's struct and two of its fields, by their index in
 * interpreter_state (they are given relative to PyInterpreterState).
 */
static const int8_t dbg_gil_state[DBG_MINORS] = { 9, 10, 10 };
static const int8_t dbg_gil_locked[DBG_MINORS] = { 11, 12, 12 };
static const int8_t dbg_gil_holder[DBG_MINORS] = { 12, 13, 13 };

#define DBG_COOKIE "xdebugpy"
#define DBG_HDR	   24 /* cookie[8], version, free_threaded */
/*
 * sizeof(PyCompactUnicodeObject) - sizeof(PyASCIIObject) in 3.12+ GIL
 * builds (utf8_length + utf8 pointer); 3.13/3.14 debug offsets lack it.
 */
#define PY_COMPACT_EXTRA 16
/* sizeof(struct _gil_runtime_state) in GIL builds 3.8-3.13 (two condvars,
 * two mutexes and four words); not in the debug offsets. */
#define PY_GIL_SIZE 208

static uint64_t rd64(const void *raw, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)raw + off, sizeof(v));
	return v;
}

/* One untrusted offset; it must fit the u16 fields and not be the sentinel. */
static int rd_off(const void *raw, uint16_t pos, uint16_t *out)
{
	uint64_t v = rd64(raw, pos);

	if (v >= PY_OFF_NONE)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

/* The column of 3.minor, or -1: a layout we have not seen. */
static int dbg_column(unsigned minor)
{
	for (int c = 0; c < DBG_MINORS; c++)
		if (dbg_minor[c] == minor)
			return c;
	return -1;
}

/* Where the field at index idx of sub-struct sub is, in column c's shape. */
static uint16_t dbg_pos(int c, enum dbg_sub sub, int idx)
{
	return dbg_sub_start[sub][c] + 8 * idx;
}

/* What a field indexes, and so what bounds it. */
enum py_buf {
	BUF_TSTATE,	/* userspace's PyThreadState read */
	BUF_TSTATE_BPF, /* ...and the BPF side's, which is smaller */
	BUF_FRAME,	/* one frame, as read on both sides */
	BUF_CODE,	/* a code object's header */
	BUF_STR,	/* the head of a str */
	BUF_GIL,	/* struct _gil_runtime_state */
	BUF_OBJECT,	/* a field read on its own */
};

static const char *const buf_names[] = {
	[BUF_TSTATE] = "thread state read",
	[BUF_TSTATE_BPF] = "thread state the BPF side reads",
	[BUF_FRAME] = "frame read",
	[BUF_CODE] = "code object header",
	[BUF_STR] = "str header read",
	[BUF_GIL] = "GIL state",
	[BUF_OBJECT] = "bound for an object field",
};

struct field_rule {
	const char *name;
	uint16_t at;   /* offsetof(struct py_layout, the field) */
	uint8_t width; /* bytes read there; 0: where an array starts */
	uint8_t buf;   /* enum py_buf */
	bool optional; /* PY_OFF_NONE allowed */
};

#define RULE(f, n, w, b, o)                               \
	{                                                 \
		n, offsetof(struct py_layout, f), w, b, o \
	}

/*
 * Every offset userspace or the BPF side indexes a buffer with.  Offsets
 * that only add to a target address (runtime, interpreter, GIL pointer)
 * need no rule: a bad one reads the wrong target memory, which every
 * reader already treats as hostile.
 */
static const struct field_rule rules[] = {
	RULE(tstate_next, "PyThreadState.next", 8, BUF_TSTATE_BPF, false),
	RULE(tstate_interp, "PyThreadState.interp", 8, BUF_TSTATE, true),
	RULE(tstate_thread_id, "PyThreadState.thread_id", 8, BUF_TSTATE_BPF, false),
	RULE(tstate_native_thread_id, "PyThreadState.native_thread_id", 8, BUF_TSTATE, true),
	RULE(tstate_frame, "PyThreadState.current_frame", 8, BUF_TSTATE_BPF, false),
	RULE(tstate_datastack_chunk, "PyThreadState.datastack_chunk", 8, BUF_TSTATE_BPF, true),
	RULE(cframe_current, "_PyCFrame.current_frame", 8, BUF_OBJECT, true),
	RULE(frame_back, "frame.previous", 8, BUF_FRAME, false),
	RULE(frame_code, "frame.f_executable", 8, BUF_FRAME, false),
	RULE(frame_instr, "frame.instr_ptr", 8, BUF_FRAME, false),
	RULE(frame_owner, "frame.owner", 1, BUF_FRAME, true),
	RULE(object_type, "PyObject.ob_type", 8, BUF_CODE, false),
	RULE(varobject_size, "PyVarObject.ob_size", 8, BUF_OBJECT, true),
	RULE(code_filename, "PyCodeObject.co_filename", 8, BUF_CODE, false),
	RULE(code_name, "PyCodeObject.co_name", 8, BUF_CODE, false),
	RULE(code_qualname, "PyCodeObject.co_qualname", 8, BUF_CODE, true),
	RULE(code_firstlineno, "PyCodeObject.co_firstlineno", 4, BUF_CODE, false),
	RULE(code_linetable, "PyCodeObject.co_linetable", 8, BUF_CODE, false),
	RULE(code_code, "PyCodeObject.co_code", 8, BUF_CODE, true),
	RULE(code_adaptive, "PyCodeObject.co_code_adaptive", 0, BUF_CODE, true),
	RULE(bytes_size, "PyBytesObject.ob_size", 8, BUF_OBJECT, true),
	RULE(bytes_sval, "PyBytesObject.ob_sval", 0, BUF_OBJECT, true),
	RULE(unicode_length, "PyASCIIObject.length", 8, BUF_STR, false),
	RULE(unicode_state, "PyASCIIObject.state", 4, BUF_STR, false),
	RULE(unicode_ascii_data, "sizeof(PyASCIIObject)", 0, BUF_OBJECT, false),
	RULE(unicode_compact_data, "sizeof(PyCompactUnicodeObject)", 0, BUF_OBJECT, false),
	RULE(gil_locked, "_gil_runtime_state.locked", 4, BUF_GIL, true),
	RULE(gil_last_holder, "_gil_runtime_state.last_holder", 8, BUF_GIL, true),
};

static unsigned buf_size(const struct py_layout *l, enum py_buf b)
{
	switch (b) {
	case BUF_TSTATE:
		return PY_TSTATE_READ_MAX;
	case BUF_TSTATE_BPF:
		return PYSPY_TSTATE_BUF;
	case BUF_FRAME:
		return l->frame_size < PYSPY_FRAME_BUF ? l->frame_size : PYSPY_FRAME_BUF;
	case BUF_CODE:
		return l->code_size;
	case BUF_STR:
		return PY_STR_HDR_MAX;
	case BUF_GIL:
		return l->gil_size;
	default:
		return PY_OBJECT_FIELD_MAX;
	}
}

int py_layout__refuse(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

int py_layout__check(const struct py_layout *l, char *why, size_t why_len)
{
	if (!l->code_size || l->code_size > PY_CODE_HDR_MAX)
		return py_layout__refuse(why, why_len, "sizeof(PyCodeObject) = %u is not in 1..%u",
					 l->code_size, PY_CODE_HDR_MAX);
	if (l->gil_size > PY_GIL_SIZE_MAX)
		return py_layout__refuse(why, why_len,
					 "sizeof(struct _gil_runtime_state) = %u is over %u",
					 l->gil_size, PY_GIL_SIZE_MAX);
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		const struct field_rule *r = &rules[i];
		uint16_t off;
		unsigned lim = buf_size(l, r->buf);

		memcpy(&off, (const char *)l + r->at, sizeof(off));
		if (off == PY_OFF_NONE && r->optional)
			continue;
		/* A GIL layout is optional as a whole: no size, no fields read. */
		if (r->buf == BUF_GIL && !l->gil_size)
			continue;
		if (off == PY_OFF_NONE || (unsigned)off + r->width > lim)
			return py_layout__refuse(why, why_len, "%s = %u is past the %u-byte %s",
						 r->name, off, lim, buf_names[r->buf]);
	}
	return 0;
}

static unsigned umax(unsigned a, unsigned b)
{
	return a > b ? a : b;
}

/*
 * The GIL: the debug offsets give the interpreter's ceval.gil pointer and
 * the offsets of its own _gil and of two of its fields, all relative to
 * PyInterpreterState; we keep the fields relative to the GIL struct.
 */
static int read_gil(const void *raw, int c, struct py_layout *l)
{
	uint16_t state, locked, holder;

	if (rd_off(raw, dbg_pos(c, SUB_INTERP, dbg_gil_state[c]), &state) ||
	    rd_off(raw, dbg_pos(c, SUB_INTERP, dbg_gil_locked[c]), &locked) ||
	    rd_off(raw, dbg_pos(c, SUB_INTERP, dbg_gil_holder[c]), &holder))
		return -EINVAL;
	if (locked < state || holder < state || locked - state >= PY_GIL_SIZE ||
	    holder - state + 8 > PY_GIL_SIZE)
		return -EINVAL;
	l->gil_runtime = PY_OFF_NONE;
	l->gil_locked = locked - state;
	l->gil_last_holder = holder - state;
	l->gil_size = PY_GIL_SIZE;
	return 0;
}

/* Read the fields of column c into *l (nothing derived yet). */
static int read_mapped(const void *raw, int c, struct py_layout *l)
{
	for (size_t i = 0; i < sizeof(dbg_fields) / sizeof(dbg_fields[0]); i++) {
		const struct dbg_field *f = &dbg_fields[i];
		uint16_t *dst = (uint16_t *)((char *)l + f->at);

		*dst = PY_OFF_NONE;
		if (f->idx[c] >= 0 && rd_off(raw, dbg_pos(c, f->sub, f->idx[c]), dst))
			return -EINVAL;
	}
	if (read_gil(raw, c, l))
		return -EINVAL;
	/* Not in the debug offsets before 3.15: PyASCIIObject's, and a bit more. */
	if (l->unicode_compact_data != PY_OFF_NONE)
		return 0;
	if (l->unicode_ascii_data > PY_OFF_NONE - 1 - PY_COMPACT_EXTRA)
		return -EINVAL;
	l->unicode_compact_data = l->unicode_ascii_data + PY_COMPACT_EXTRA;
	return 0;
}

/* What 3.13+ share and the debug offsets do not say, then derived fields. */
static void finish_layout(unsigned minor, struct py_layout *l)
{
	unsigned end;

	l->major = 3;
	l->minor = minor;
	l->frame_model = PYSPY_FM_CURRENT;
	l->linetable_kind = PY_LT_LOCATIONS;
	l->cframe_current = PY_OFF_NONE;
	l->code_code = PY_OFF_NONE;
	/* ob_size of a bytes object is PyVarObject.ob_size itself. */
	l->varobject_size = l->bytes_size;

	/* Only the head of the frame is ever read; see PYSPY_FRAME_BUF. */
	if (l->frame_size > PYSPY_FRAME_BUF)
		l->frame_size = PYSPY_FRAME_BUF;

	/*
	 * The header read reaches the last field we use; capped, so that
	 * py_layout__check names a field that lies past it rather than the size.
	 */
	end = umax(umax(l->code_filename, l->code_name), l->code_qualname);
	end = umax(umax(end, l->code_firstlineno), l->code_linetable);
	end = umax(end, l->code_adaptive) + 8;
	l->code_size = end < PY_CODE_HDR_MAX ? end : PY_CODE_HDR_MAX;
}

int py_layout__from_debug_offsets(const void *raw, size_t len, struct py_layout *out,
				  uint32_t *version_hex, char *why, size_t why_len)
{
	struct py_layout l;
	uint64_t version;
	unsigned major, minor;
	int c, err;

	if (!raw || !out || len < DBG_HDR || memcmp(raw, DBG_COOKIE, 8))
		return -EINVAL;
	version = rd64(raw, 8);
	if (version >> 32)
		return -EINVAL;
	major = (version >> 24) & 0xff;
	minor = (version >> 16) & 0xff;
	/* Debug offsets appeared in 3.13; an older version with the cookie lies. */
	if (major < 3 || (major == 3 && minor < 13))
		return -EINVAL;
	/* Each minor reshapes the struct; a layout we have not seen is unreadable. */
	c = major == 3 ? dbg_column(minor) : -1;
	if (c < 0)
		return -ENOTSUP;
	/*
	 * Free-threaded builds have a 32-byte object header (ob_type at 24), so
	 * every object offset moves and 3.14t also changes the str state bits
	 * and adds per-thread bytecode; neither the BPF walker nor the
	 * symbolizer handles that.
	 */
	if (rd64(raw, 16))
		return -ENOTSUP;
	if (len < dbg_total[c])
		return -EINVAL;

	memset(&l, 0, sizeof(l));
	err = read_mapped(raw, c, &l);
	if (err)
		return err;
	finish_layout(minor, &l);
	err = py_layout__check(&l, why, why_len);
	if (err)
		return err;
	*out = l;
	if (version_hex)
		*version_hex = (uint32_t)version;
	return 0;
}

/* One read covering co_name and co_firstlineno, for PYSPY_MODE_VERIFY. */
static void set_code_fp(const struct py_layout *l, struct pyspy_proc *out)
{
	unsigned lo = l->code_name < l->code_firstlineno ? l->code_name : l->code_firstlineno;
	unsigned hi_name = l->code_name + 8u, hi_line = l->code_firstlineno + 4u;
	unsigned hi = hi_name > hi_line ? hi_name : hi_line;

	if (hi - lo >= PYSPY_CODE_FP_BUF)
		return; /* len 0: the BPF side's read fails and counts an error */
	out->code_fp_lo = lo;
	out->code_fp_len = hi - lo;
	out->code_fp_name = l->code_name - lo;
	out->code_fp_line = l->code_firstlineno - lo;
}

void py_layout__to_bpf(const struct py_layout *l, uint64_t runtime_addr, uint32_t version_hex,
		       struct pyspy_proc *out)
{
	bool ptr_model = l->frame_model != PYSPY_FM_FRAMEOBJECT;

	memset(out, 0, sizeof(*out));
	out->runtime_addr = runtime_addr;
	out->version_hex = version_hex;
	out->frame_model = l->frame_model;
	out->runtime_interp_head = l->runtime_interp_head;
	out->interp_next = l->interp_next;
	out->interp_threads_head = l->interp_threads_head;
	out->tstate_next = l->tstate_next;
	out->tstate_thread_id = l->tstate_thread_id;
	out->tstate_frame = l->tstate_frame;
	if (l->tstate_interp != PY_OFF_NONE)
		out->tstate_interp = l->tstate_interp;
	if (l->tstate_native_thread_id != PY_OFF_NONE)
		out->tstate_native_tid = l->tstate_native_thread_id;
	/* 3.11+: frames in the data stack are read a window at a time. */
	if (ptr_model && l->tstate_datastack_chunk != PY_OFF_NONE)
		out->tstate_chunk = l->tstate_datastack_chunk;
	if (l->frame_model == PYSPY_FM_CFRAME)
		out->cframe_current = l->cframe_current;
	out->frame_back = l->frame_back;
	out->frame_code = l->frame_code;
	out->frame_instr = l->frame_instr;

	if (ptr_model) {
		/* prev_instr/instr_ptr point into co_code_adaptive: byte offsets. */
		out->instr_is_ptr = 1;
		out->lasti_mult = 1;
		out->code_adaptive = l->code_adaptive;
	} else {
		/* f_lasti counts bytes in 3.8/3.9 and code units in 3.10. */
		out->lasti_mult = l->minor >= 10 ? 2 : 1;
	}

	/*
	 * 3.12+ push frames that are not Python code on the chain: a
	 * FRAME_OWNED_BY_CSTACK shim per _PyEval_EvalFrameDefault call (3.12,
	 * 3.13), FRAME_OWNED_BY_INTERPRETER entry frames (3.14+), the base
	 * frame sentinel (3.15); all have owner >= 3.  3.11 has none of them.
	 */
	if (ptr_model && (l->major > 3 || l->minor >= 12)) {
		out->owner_skip_min = 3;
		out->frame_owner = l->frame_owner;
	}
	/*
	 * 3.11 marks the first frame of each _PyEval_EvalFrameDefault call
	 * instead: `bool is_entry` just before `char owner`.
	 */
	if (ptr_model && l->major == 3 && l->minor == 11 && l->frame_owner != PY_OFF_NONE &&
	    l->frame_owner > 0)
		out->frame_entry = l->frame_owner - 1;
	set_code_fp(l, out);
}
