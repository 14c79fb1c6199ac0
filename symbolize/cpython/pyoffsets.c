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
 * sub-structs made only of u64s, so every field we need is "base of its
 * sub-struct + 8 * index".  The sub-structs grow between minor versions, so
 * each minor gets its own map of where our fields sit.  A 0 means "not in
 * this version's debug offsets".
 */
#define DO(base, idx) ((base) + 8 * (idx))

struct dbg_map {
	unsigned minor;
	unsigned total; /* sizeof(_Py_DebugOffsets); the caller must give this much */
	uint16_t interpreters_head;
	uint16_t interp_next, interp_threads_head;
	uint16_t ts_next, ts_interp, ts_current_frame, ts_thread_id, ts_native_thread_id;
	uint16_t ts_datastack_chunk;
	uint16_t fr_size, fr_previous, fr_executable, fr_instr_ptr, fr_owner;
	uint16_t co_filename, co_name, co_qualname, co_linetable, co_firstlineno;
	uint16_t co_code_adaptive;
	uint16_t ob_type;
	uint16_t by_ob_size, by_ob_sval;
	uint16_t un_state, un_length, un_ascii_size, un_compact_size;
	/* interpreter_state: ceval.gil pointer, and _gil and two of its fields */
	uint16_t ceval_gil, gil_state, gil_locked, gil_holder;
	/* 3.14+, for --async: the frame's value stack, generators, sets, the
	 * type flags and ints (a default task name is an int) */
	uint16_t fr_stackpointer, gen_iframe, gen_frame_state;
	uint16_t set_table, set_mask, ty_flags, lo_tag, lo_digit;
};

/*
 * 3.13: from the real 3.13.0 headers (internal/pycore_runtime.h) and checked
 * against a live 3.13.0 by the unit test.  Sub-structs start at runtime 24,
 * interpreter 48, thread 152, frame 224, code 272, pyobject 352, bytes 512,
 * unicode 536; total 584.
 */
static const struct dbg_map dbg_313 = {
	.minor = 13,
	.total = 584,
	.interpreters_head = DO(24, 2),
	.interp_next = DO(48, 2),
	.interp_threads_head = DO(48, 3),
	.ts_next = DO(152, 2),
	.ts_interp = DO(152, 3),
	.ts_current_frame = DO(152, 4),
	.ts_thread_id = DO(152, 5),
	.ts_native_thread_id = DO(152, 6),
	.ts_datastack_chunk = DO(152, 7),
	.fr_size = DO(224, 0),
	.fr_previous = DO(224, 1),
	.fr_executable = DO(224, 2),
	.fr_instr_ptr = DO(224, 3),
	.fr_owner = DO(224, 5),
	.co_filename = DO(272, 1),
	.co_name = DO(272, 2),
	.co_qualname = DO(272, 3),
	.co_linetable = DO(272, 4),
	.co_firstlineno = DO(272, 5),
	.co_code_adaptive = DO(272, 9),
	.ob_type = DO(352, 1),
	.by_ob_size = DO(512, 1),
	.by_ob_sval = DO(512, 2),
	.un_state = DO(536, 1),
	.un_length = DO(536, 2),
	.un_ascii_size = DO(536, 3),
	.ceval_gil = DO(48, 8),
	.gil_state = DO(48, 9),
	.gil_locked = DO(48, 11),
	.gil_holder = DO(48, 12),
};

/*
 * 3.14: checked by the unit test against live Debian 3.14.10 and its
 * Py_DEBUG build (python3.14-dbg), whose values equal the table measured
 * from the 3.14 headers.  interpreter_state gains threads_main after
 * threads_head (and two fields at its end), the frame gains stackpointer
 * and tlbc_index, code gains co_tlbc, set_object is new.  Sub-structs:
 * thread 176, frame 248, code 312, pyobject 400, bytes 592, unicode 616;
 * total 760.
 */
static const struct dbg_map dbg_314 = {
	.minor = 14,
	.total = 760,
	.interpreters_head = DO(24, 2),
	.interp_next = DO(48, 2),
	.interp_threads_head = DO(48, 3),
	.ts_next = DO(176, 2),
	.ts_interp = DO(176, 3),
	.ts_current_frame = DO(176, 4),
	.ts_thread_id = DO(176, 5),
	.ts_native_thread_id = DO(176, 6),
	.ts_datastack_chunk = DO(176, 7),
	.fr_size = DO(248, 0),
	.fr_previous = DO(248, 1),
	.fr_executable = DO(248, 2),
	.fr_instr_ptr = DO(248, 3),
	.fr_owner = DO(248, 5),
	.co_filename = DO(312, 1),
	.co_name = DO(312, 2),
	.co_qualname = DO(312, 3),
	.co_linetable = DO(312, 4),
	.co_firstlineno = DO(312, 5),
	.co_code_adaptive = DO(312, 9),
	.ob_type = DO(400, 1),
	.by_ob_size = DO(592, 1),
	.by_ob_sval = DO(592, 2),
	.un_state = DO(616, 1),
	.un_length = DO(616, 2),
	.un_ascii_size = DO(616, 3),
	.ceval_gil = DO(48, 9),
	.gil_state = DO(48, 10),
	.gil_locked = DO(48, 12),
	.gil_holder = DO(48, 13),
	/* type 416, set 496, long 568, gen 664 */
	.fr_stackpointer = DO(248, 6),
	.ty_flags = DO(416, 3),
	.set_table = DO(496, 2),
	.set_mask = DO(496, 3),
	.lo_tag = DO(568, 1),
	.lo_digit = DO(568, 2),
	.gen_iframe = DO(664, 2),
	.gen_frame_state = DO(664, 3),
};

/*
 * 3.15: checked by the unit test against live Debian 3.15.2 and the table
 * measured from its headers.  thread_state inserts base_frame,
 * last_profiled_frame and last_profiled_frame_seq after current_frame,
 * moving thread_id to index 8; err_stackitem and heap_type_object are new;
 * unicode_object finally describes PyCompactUnicodeObject.  Sub-structs:
 * thread 176, frame 312, code 376, pyobject 464, bytes 688, unicode 712;
 * total 888.
 */
static const struct dbg_map dbg_315 = {
	.minor = 15,
	.total = 888,
	.interpreters_head = DO(24, 2),
	.interp_next = DO(48, 2),
	.interp_threads_head = DO(48, 3),
	.ts_next = DO(176, 2),
	.ts_interp = DO(176, 3),
	.ts_current_frame = DO(176, 4),
	.ts_thread_id = DO(176, 8),
	.ts_native_thread_id = DO(176, 9),
	.ts_datastack_chunk = DO(176, 10),
	.fr_size = DO(312, 0),
	.fr_previous = DO(312, 1),
	.fr_executable = DO(312, 2),
	.fr_instr_ptr = DO(312, 3),
	.fr_owner = DO(312, 5),
	.co_filename = DO(376, 1),
	.co_name = DO(376, 2),
	.co_qualname = DO(376, 3),
	.co_linetable = DO(376, 4),
	.co_firstlineno = DO(376, 5),
	.co_code_adaptive = DO(376, 9),
	.ob_type = DO(464, 1),
	.by_ob_size = DO(688, 1),
	.by_ob_sval = DO(688, 2),
	.un_state = DO(712, 1),
	.un_length = DO(712, 2),
	.un_ascii_size = DO(712, 3),
	.un_compact_size = DO(712, 4),
	.ceval_gil = DO(48, 9),
	.gil_state = DO(48, 10),
	.gil_locked = DO(48, 12),
	.gil_holder = DO(48, 13),
	/* type 480, set 592, long 664, gen 792 */
	.fr_stackpointer = DO(312, 6),
	.ty_flags = DO(480, 3),
	.set_table = DO(592, 2),
	.set_mask = DO(592, 3),
	.lo_tag = DO(664, 1),
	.lo_digit = DO(664, 2),
	.gen_iframe = DO(792, 2),
	.gen_frame_state = DO(792, 3),
};

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

static const struct dbg_map *dbg_map_for(unsigned minor)
{
	switch (minor) {
	case 13:
		return &dbg_313;
	case 14:
		return &dbg_314;
	case 15:
		return &dbg_315;
	}
	return NULL;
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
static int read_gil(const void *raw, const struct dbg_map *m, struct py_layout *l)
{
	uint16_t state, locked, holder;

	if (rd_off(raw, m->ceval_gil, &l->gil_interp_ptr) || rd_off(raw, m->gil_state, &state) ||
	    rd_off(raw, m->gil_locked, &locked) || rd_off(raw, m->gil_holder, &holder))
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

/* What --async needs besides the AsyncioDebug section; PY_OFF_NONE before 3.14. */
static int read_async_fields(const void *raw, const struct dbg_map *m, struct py_layout *l)
{
	const struct {
		uint16_t pos;
		uint16_t *dst;
	} f[] = {
		{ m->fr_stackpointer, &l->frame_stackpointer },
		{ m->gen_iframe, &l->gen_iframe },
		{ m->gen_frame_state, &l->gen_frame_state },
		{ m->set_table, &l->set_table },
		{ m->set_mask, &l->set_mask },
		{ m->ty_flags, &l->type_flags },
		{ m->lo_tag, &l->long_tag },
		{ m->lo_digit, &l->long_digit },
	};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		*f[i].dst = PY_OFF_NONE;
		if (f[i].pos && rd_off(raw, f[i].pos, f[i].dst))
			return -EINVAL;
	}
	return 0;
}

/* Read the fields of one version's map into *l (nothing derived yet). */
static int read_mapped(const void *raw, const struct dbg_map *m, struct py_layout *l)
{
	const struct {
		uint16_t pos;
		uint16_t *dst;
	} f[] = {
		{ m->interpreters_head, &l->runtime_interp_head },
		{ m->interp_next, &l->interp_next },
		{ m->interp_threads_head, &l->interp_threads_head },
		{ m->ts_next, &l->tstate_next },
		{ m->ts_interp, &l->tstate_interp },
		{ m->ts_current_frame, &l->tstate_frame },
		{ m->ts_thread_id, &l->tstate_thread_id },
		{ m->ts_native_thread_id, &l->tstate_native_thread_id },
		{ m->ts_datastack_chunk, &l->tstate_datastack_chunk },
		{ m->fr_size, &l->frame_size },
		{ m->fr_previous, &l->frame_back },
		{ m->fr_executable, &l->frame_code },
		{ m->fr_instr_ptr, &l->frame_instr },
		{ m->fr_owner, &l->frame_owner },
		{ m->co_filename, &l->code_filename },
		{ m->co_name, &l->code_name },
		{ m->co_qualname, &l->code_qualname },
		{ m->co_linetable, &l->code_linetable },
		{ m->co_firstlineno, &l->code_firstlineno },
		{ m->co_code_adaptive, &l->code_adaptive },
		{ m->ob_type, &l->object_type },
		{ m->by_ob_size, &l->bytes_size },
		{ m->by_ob_sval, &l->bytes_sval },
		{ m->un_state, &l->unicode_state },
		{ m->un_length, &l->unicode_length },
		{ m->un_ascii_size, &l->unicode_ascii_data },
	};
	size_t i;
	int err;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		err = rd_off(raw, f[i].pos, f[i].dst);
		if (err)
			return err;
	}
	err = read_gil(raw, m, l);
	if (err)
		return err;
	err = read_async_fields(raw, m, l);
	if (err)
		return err;
	if (m->un_compact_size)
		return rd_off(raw, m->un_compact_size, &l->unicode_compact_data);
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
	const struct dbg_map *m;
	struct py_layout l;
	uint64_t version;
	unsigned major, minor;
	int err;

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
	m = major == 3 ? dbg_map_for(minor) : NULL;
	if (!m)
		return -ENOTSUP;
	/*
	 * Free-threaded builds have a 32-byte object header (ob_type at 24), so
	 * every object offset moves and 3.14t also changes the str state bits
	 * and adds per-thread bytecode; neither the BPF walker nor the
	 * symbolizer handles that.
	 */
	if (rd64(raw, 16))
		return -ENOTSUP;
	if (len < m->total)
		return -EINVAL;

	memset(&l, 0, sizeof(l));
	err = read_mapped(raw, m, &l);
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
