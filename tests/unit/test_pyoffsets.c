// SPDX-License-Identifier: MIT
/* test_pyoffsets.c - layout table vs. facts, debug-offsets reader vs. live 3.13-3.15 (pyenv, Debian sid), bad input. */
#include <linux/types.h> /* pyspy.h (via pyoffsets.h) needs __u32 and friends */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interpreters.h"
#include "hex.h"
#include "unit.h"
#include "symbolize/cpython/pyoffsets.h"

#define NONE	PY_OFF_NONE
#define RAW_LEN 1024
#define DUMPER	"dump_debug_offsets.py"
/* CHECK with the failing test's name as its message. */
#define CHK(cond) CHECK(cond, "in %s", __func__)

/*
 * Values measured with offsetof() against each version's headers and
 * checked live by walking real processes ([C]/[L] in the layout notes).
 * Written out here on purpose instead of trusting the generator.
 */
struct fact {
	unsigned minor;
	uint16_t interp_head, threads_head, thread_id, native_tid, tstate_frame, cframe_current;
	uint16_t back, code, instr, owner;
	uint16_t filename, name, qualname, firstlineno, linetable, code_code, adaptive;
	uint16_t ascii_data, compact_data;
};

static const struct fact
	facts[] = {
		{ 8,	32,  8,	  176,	NONE, 24,  NONE, 24,   32, 104,
		  NONE, 104, 112, NONE, 40,   120, 48,	 NONE, 48, 72 },
		{ 9,	32,  8,	  176,	NONE, 24,  NONE, 24,   32, 104,
		  NONE, 104, 112, NONE, 40,   120, 48,	 NONE, 48, 72 },
		{ 10,	32,  8,	  176,	NONE, 24,  NONE, 24,   32, 96,
		  NONE, 104, 112, NONE, 40,   120, 48,	 NONE, 48, 72 },
		{ 11, 40,  16,	152, 160, 56,  8,    48,  32, 56,
		  69, 112, 120, 128, 72,  136, NONE, 184, 48, 72 },
		{ 12, 40,  72,	136, 144, 56,  0,    8,	  0,  56,
		  70, 112, 120, 128, 68,  136, NONE, 192, 40, 56 },
		{ 13, 632, 7344, 152, 160, 72,	NONE, 8,   0,  56,
		  70, 112, 120,	 128, 68,  136, NONE, 200, 40, 56 },
	};

static void test_table_versions(void)
{
	unsigned minor;

	CHECK(py_layouts_table_len == 8, "len %u", py_layouts_table_len);
	for (minor = 8; minor <= 15; minor++) {
		const struct py_layout *l = py_layout__from_table(3, minor);

		CHECK(l && l->major == 3 && l->minor == minor, "3.%u missing", minor);
	}
	errno = 0;
	CHK(!py_layout__from_table(3, 7) && errno == ENOTSUP);
	errno = 0;
	CHK(!py_layout__from_table(3, 16) && errno == ENOTSUP);
	CHK(!py_layout__from_table(2, 8));
}

static void check_fact(const struct fact *f)
{
	const struct py_layout *l = py_layout__from_table(3, f->minor);

	CHECK(l, "3.%u", f->minor);
	if (!l)
		return;
	CHECK(l->runtime_interp_head == f->interp_head, "3.%u", f->minor);
	CHECK(l->interp_threads_head == f->threads_head, "3.%u", f->minor);
	CHECK(l->tstate_thread_id == f->thread_id, "3.%u", f->minor);
	CHECK(l->tstate_native_thread_id == f->native_tid, "3.%u", f->minor);
	CHECK(l->tstate_frame == f->tstate_frame, "3.%u", f->minor);
	CHECK(l->cframe_current == f->cframe_current, "3.%u", f->minor);
	CHECK(l->frame_back == f->back, "3.%u", f->minor);
	CHECK(l->frame_code == f->code, "3.%u", f->minor);
	CHECK(l->frame_instr == f->instr, "3.%u", f->minor);
	CHECK(l->frame_owner == f->owner, "3.%u", f->minor);
	CHECK(l->code_filename == f->filename, "3.%u", f->minor);
	CHECK(l->code_name == f->name, "3.%u", f->minor);
	CHECK(l->code_qualname == f->qualname, "3.%u", f->minor);
	CHECK(l->code_firstlineno == f->firstlineno, "3.%u", f->minor);
	CHECK(l->code_linetable == f->linetable, "3.%u", f->minor);
	CHECK(l->code_code == f->code_code, "3.%u", f->minor);
	CHECK(l->code_adaptive == f->adaptive, "3.%u", f->minor);
	CHECK(l->unicode_ascii_data == f->ascii_data, "3.%u", f->minor);
	CHECK(l->unicode_compact_data == f->compact_data, "3.%u", f->minor);
	/* Same in every version, including the interpreter list link. */
	CHECK(l->tstate_next == 8 && l->tstate_interp == 16, "3.%u", f->minor);
	CHECK(l->interp_next == (f->minor == 13 ? 7264 : 0), "3.%u", f->minor);
	CHECK(l->object_type == 8 && l->varobject_size == 16, "3.%u", f->minor);
	CHECK(l->bytes_size == 16 && l->bytes_sval == 32, "3.%u", f->minor);
	CHECK(l->unicode_length == 16 && l->unicode_state == 32, "3.%u", f->minor);
}

static void test_table_facts(void)
{
	size_t i;

	for (i = 0; i < sizeof(facts) / sizeof(facts[0]); i++)
		check_fact(&facts[i]);
}

static unsigned code_end(const struct py_layout *l)
{
	const uint16_t v[] = { l->code_filename,    l->code_name,      l->code_qualname,
			       l->code_firstlineno, l->code_linetable, l->code_code,
			       l->code_adaptive };
	unsigned end = 0;
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (v[i] != NONE && v[i] + 8u > end)
			end = v[i] + 8u;
	}
	return end;
}

/* Models, kinds and the BPF read-buffer limits hold for every entry. */
static void test_table_shape(void)
{
	unsigned i;

	for (i = 0; i < py_layouts_table_len; i++) {
		const struct py_layout *l = &py_layouts_table[i];
		unsigned m = l->minor;
		uint32_t fm = m <= 10	? PYSPY_FM_FRAMEOBJECT
			      : m <= 12 ? PYSPY_FM_CFRAME
					: PYSPY_FM_CURRENT;
		uint32_t lt = m <= 9 ? PY_LT_LNOTAB : m == 10 ? PY_LT_LINETABLE : PY_LT_LOCATIONS;

		CHECK(l->frame_model == fm, "3.%u", m);
		CHECK(l->linetable_kind == lt, "3.%u", m);
		CHECK(l->frame_size <= PYSPY_FRAME_BUF, "3.%u size %u", m, l->frame_size);
		CHECK(l->frame_back + 8u <= l->frame_size, "3.%u", m);
		CHECK(l->frame_code + 8u <= l->frame_size, "3.%u", m);
		CHECK(l->frame_instr + (m <= 10 ? 4u : 8u) <= l->frame_size, "3.%u", m);
		CHECK(m <= 10 || l->frame_owner < l->frame_size, "3.%u", m);
		CHECK(l->tstate_frame + 8u <= PYSPY_TSTATE_BUF, "3.%u", m);
		CHECK(l->tstate_thread_id + 8u <= PYSPY_TSTATE_BUF, "3.%u", m);
		CHECK(l->code_size == code_end(l), "3.%u code_size %u", m, l->code_size);
	}
	/* 3.8-3.10 read only up to the end of f_lineno (f_lasti + 8). */
	CHK(py_layout__from_table(3, 8)->frame_size == 112);
	CHK(py_layout__from_table(3, 10)->frame_size == 104);
}

/* datastack_chunk, measured with offsetof() (none before 3.11). */
static void test_datastack_chunk(void)
{
	static const uint16_t want[] = { NONE, NONE, NONE, 296, 232, 232 };

	for (unsigned m = 8; m <= 13; m++) {
		const struct py_layout *l = py_layout__from_table(3, m);

		CHECK(l && l->tstate_datastack_chunk == want[m - 8], "3.%u", m);
	}
}

static void test_to_bpf(void)
{
	struct pyspy_proc p;

	py_layout__to_bpf(py_layout__from_table(3, 8), 0x1000, 0x030812f0, &p);
	CHK(p.runtime_addr == 0x1000 && p.version_hex == 0x030812f0);
	CHK(p.frame_model == PYSPY_FM_FRAMEOBJECT && !p.instr_is_ptr && p.lasti_mult == 1);
	CHK(p.owner_skip_min == 0 && p.code_adaptive == 0 && p.cframe_current == 0);
	CHK(p.tstate_frame == 24 && p.frame_instr == 104 && p.tstate_thread_id == 176);
	CHK(p.tstate_chunk == 0);

	py_layout__to_bpf(py_layout__from_table(3, 10), 0, 0, &p);
	CHK(!p.instr_is_ptr && p.lasti_mult == 2);

	py_layout__to_bpf(py_layout__from_table(3, 11), 0, 0, &p);
	CHK(p.frame_model == PYSPY_FM_CFRAME && p.instr_is_ptr == 1);
	CHK(p.cframe_current == 8 && p.code_adaptive == 184 && p.owner_skip_min == 0);
	CHK(p.interp_threads_head == 16 && p.runtime_interp_head == 40);
	CHK(p.tstate_chunk == 296);

	py_layout__to_bpf(py_layout__from_table(3, 12), 0, 0, &p);
	CHK(p.owner_skip_min == 3 && p.frame_owner == 70 && p.cframe_current == 0);
	CHK(p.tstate_frame == 56 && p.frame_back == 8 && p.code_adaptive == 192);

	py_layout__to_bpf(py_layout__from_table(3, 13), 0, 0x030d00f0, &p);
	CHK(p.frame_model == PYSPY_FM_CURRENT && p.instr_is_ptr == 1);
	CHK(p.owner_skip_min == 3 && p.frame_owner == 70 && p.tstate_frame == 72);
	CHK(p.interp_next == 7264 && p.interp_threads_head == 7344 && p.code_adaptive == 200);
	CHK(p.tstate_chunk == 232);
}

static void put64(uint8_t *raw, unsigned pos, uint64_t v)
{
	memcpy(raw + pos, &v, sizeof(v));
}

/*
 * A synthetic _Py_DebugOffsets in a given minor's shape.  The positions
 * are written out independently of symbolize/cpython/pyoffsets.c: sub-struct base plus
 * 8 * field index, from the 3.13 header and the 3.14/3.15 layout notes.
 */
struct synth {
	unsigned minor, total;
	unsigned ts, fr, co, ob, by, un; /* sub-struct bases */
	unsigned ts_tid_idx;		 /* thread_id index in thread_state */
	uint64_t interp_head, interp_next, threads_head;
	uint64_t ts_frame, tid, native_tid;
	uint64_t fr_size, owner, adaptive, ascii;
};

static const struct synth synth_313 = { 13,   584,  152, 224, 272, 352, 512, 536, 5, 632,
					7264, 7344, 72,	 152, 160, 80,	70,  200, 40 };
static const struct synth synth_314 = { 14,   760,  176, 248, 312, 400, 592, 616, 5, 808,
					7272, 7344, 72,	 152, 160, 88,	74,  208, 40 };
static const struct synth synth_315 = { 15,   888,  176, 312, 376, 464, 688, 712, 8, 936,
					7272, 7344, 72,	 176, 184, 88,	74,  208, 40 };

static void synth_build(const struct synth *s, uint8_t *raw)
{
	memset(raw, 0, RAW_LEN);
	memcpy(raw, "xdebugpy", 8);
	put64(raw, 8, 0x030000f0ull | (uint64_t)s->minor << 16);
	put64(raw, 40, s->interp_head);
	put64(raw, 64, s->interp_next);
	put64(raw, 72, s->threads_head);
	put64(raw, s->ts + 16, 8);  /* next */
	put64(raw, s->ts + 24, 16); /* interp */
	put64(raw, s->ts + 32, s->ts_frame);
	put64(raw, s->ts + 8 * s->ts_tid_idx, s->tid);
	put64(raw, s->ts + 8 * (s->ts_tid_idx + 1), s->native_tid);
	put64(raw, s->fr, s->fr_size);
	put64(raw, s->fr + 8, 8);   /* previous */
	put64(raw, s->fr + 16, 0);  /* executable */
	put64(raw, s->fr + 24, 56); /* instr_ptr */
	put64(raw, s->fr + 40, s->owner);
	put64(raw, s->co + 8, 112);
	put64(raw, s->co + 16, 120);
	put64(raw, s->co + 24, 128);
	put64(raw, s->co + 32, 136);
	put64(raw, s->co + 40, 68);
	put64(raw, s->co + 72, s->adaptive);
	put64(raw, s->ob + 8, 8);
	put64(raw, s->by + 8, 16);
	put64(raw, s->by + 16, 32);
	put64(raw, s->un + 8, 32);
	put64(raw, s->un + 16, 16);
	put64(raw, s->un + 24, s->ascii);
	if (s->minor >= 15)
		put64(raw, s->un + 32, s->ascii + 16);
}

static void test_synthetic(const struct synth *s)
{
	uint8_t raw[RAW_LEN];
	struct py_layout l;
	uint32_t hex = 0;
	int err;

	synth_build(s, raw);
	err = py_layout__from_debug_offsets(raw, sizeof(raw), &l, &hex, NULL, 0);
	CHECK(err == 0, "3.%u: %d", s->minor, err);
	if (err)
		return;
	CHECK(hex == (0x030000f0u | s->minor << 16), "3.%u hex %x", s->minor, hex);
	CHK(l.major == 3 && l.minor == s->minor && l.frame_model == PYSPY_FM_CURRENT);
	CHK(l.linetable_kind == PY_LT_LOCATIONS && l.cframe_current == NONE);
	CHECK(l.runtime_interp_head == s->interp_head, "3.%u", s->minor);
	CHK(l.interp_next == s->interp_next && l.interp_threads_head == s->threads_head);
	CHK(l.tstate_next == 8 && l.tstate_interp == 16 && l.tstate_frame == s->ts_frame);
	CHECK(l.tstate_thread_id == s->tid, "3.%u tid %u", s->minor, l.tstate_thread_id);
	CHECK(l.tstate_native_thread_id == s->native_tid, "3.%u", s->minor);
	CHK(l.frame_size == s->fr_size && l.frame_back == 8 && l.frame_code == 0);
	CHECK(l.frame_instr == 56 && l.frame_owner == s->owner, "3.%u", s->minor);
	CHK(l.code_filename == 112 && l.code_name == 120 && l.code_qualname == 128);
	CHK(l.code_linetable == 136 && l.code_firstlineno == 68);
	CHK(l.code_adaptive == s->adaptive && l.code_size == s->adaptive + 8);
	CHK(l.code_code == NONE && l.object_type == 8 && l.varobject_size == 16);
	CHK(l.bytes_size == 16 && l.bytes_sval == 32);
	CHK(l.unicode_state == 32 && l.unicode_length == 16);
	CHECK(l.unicode_ascii_data == 40 && l.unicode_compact_data == 56, "3.%u", s->minor);
}

static int expect_err(const uint8_t *src, size_t len, unsigned pos, uint64_t v)
{
	uint8_t raw[RAW_LEN];
	struct py_layout l;

	memcpy(raw, src, RAW_LEN);
	put64(raw, pos, v);
	return py_layout__from_debug_offsets(raw, len, &l, NULL, NULL, 0);
}

/* Everything in a target's debug offsets is untrusted input. */
static void test_bad_input(const uint8_t *raw, const char *what)
{
	struct py_layout l;

	CHECK(py_layout__from_debug_offsets(raw, RAW_LEN, &l, NULL, NULL, 0) == 0, "%s", what);
	CHECK(expect_err(raw, RAW_LEN, 0, 0x7a70677562656478ull) == -EINVAL, "%s cookie", what);
	CHECK(expect_err(raw, RAW_LEN, 232, 60000) == -EINVAL, "%s frame_back", what);
	CHECK(expect_err(raw, RAW_LEN, 232, 0x10008) == -EINVAL, "%s u16 wrap", what);
	CHECK(expect_err(raw, RAW_LEN, 264, 200) == -EINVAL, "%s owner", what);
	CHECK(expect_err(raw, RAW_LEN, 184, PYSPY_TSTATE_BUF - 6) == -EINVAL, "%s tstate_frame",
	      what);
	CHECK(expect_err(raw, RAW_LEN, 208, PYSPY_TSTATE_BUF) == -EINVAL, "%s datastack_chunk",
	      what);
	CHECK(expect_err(raw, RAW_LEN, 192, 0xffff) == -EINVAL, "%s thread_id", what);
	CHECK(expect_err(raw, RAW_LEN, 40, 1ull << 40) == -EINVAL, "%s interp_head", what);
	CHECK(expect_err(raw, RAW_LEN, 344, 0xfffa) == -EINVAL, "%s code_size", what);
	CHECK(expect_err(raw, RAW_LEN, 16, 1) == -ENOTSUP, "%s free-threaded", what);
	{
		/* A target that rewrites its own ob_type offset (ctypes, one line). */
		uint8_t bad[RAW_LEN];
		char why[128] = "";

		memcpy(bad, raw, RAW_LEN);
		put64(bad, 360, 0xfff0); /* pyobject.ob_type in 3.13 */
		CHECK(py_layout__from_debug_offsets(bad, RAW_LEN, &l, NULL, why, sizeof(why)) ==
				      -EINVAL &&
			      strstr(why, "PyObject.ob_type = 65520 is past the"),
		      "%s ob_type: %s", what, why);
	}
	CHECK(expect_err(raw, RAW_LEN, 8, 0x031000f0) == -ENOTSUP, "%s 3.16", what);
	CHECK(expect_err(raw, RAW_LEN, 8, 0x040000f0) == -ENOTSUP, "%s 4.0", what);
	CHECK(expect_err(raw, RAW_LEN, 8, 0x030c01f0) == -EINVAL, "%s 3.12", what);
	CHECK(expect_err(raw, 583, 8, 0x030d00f0) == -EINVAL, "%s short", what);
	CHECK(py_layout__from_debug_offsets(raw, 8, &l, NULL, NULL, 0) == -EINVAL, "%s tiny", what);
	CHK(py_layout__from_debug_offsets(NULL, RAW_LEN, &l, NULL, NULL, 0) == -EINVAL);
}

/* Every offset a buffer is indexed with, by the name a refusal gives it. */
static const struct {
	size_t at;
	const char *name;
	bool optional;
} fields[] = {
#define F(f, n, o)                                  \
	{                                           \
		offsetof(struct py_layout, f), n, o \
	}
	F(tstate_next, "PyThreadState.next", false),
	F(tstate_interp, "PyThreadState.interp", true),
	F(tstate_thread_id, "PyThreadState.thread_id", false),
	F(tstate_native_thread_id, "PyThreadState.native_thread_id", true),
	F(tstate_frame, "PyThreadState.current_frame", false),
	F(tstate_datastack_chunk, "PyThreadState.datastack_chunk", true),
	F(cframe_current, "_PyCFrame.current_frame", true),
	F(frame_back, "frame.previous", false),
	F(frame_code, "frame.f_executable", false),
	F(frame_instr, "frame.instr_ptr", false),
	F(frame_owner, "frame.owner", true),
	F(object_type, "PyObject.ob_type", false),
	F(varobject_size, "PyVarObject.ob_size", true),
	F(code_filename, "PyCodeObject.co_filename", false),
	F(code_name, "PyCodeObject.co_name", false),
	F(code_qualname, "PyCodeObject.co_qualname", true),
	F(code_firstlineno, "PyCodeObject.co_firstlineno", false),
	F(code_linetable, "PyCodeObject.co_linetable", false),
	F(code_code, "PyCodeObject.co_code", true),
	F(code_adaptive, "PyCodeObject.co_code_adaptive", true),
	F(bytes_size, "PyBytesObject.ob_size", true),
	F(bytes_sval, "PyBytesObject.ob_sval", true),
	F(unicode_length, "PyASCIIObject.length", false),
	F(unicode_state, "PyASCIIObject.state", false),
	F(unicode_ascii_data, "sizeof(PyASCIIObject)", false),
	F(unicode_compact_data, "sizeof(PyCompactUnicodeObject)", false),
	F(gil_locked, "_gil_runtime_state.locked", true),
	F(gil_last_holder, "_gil_runtime_state.last_holder", true),
#undef F
};

static void set_off(struct py_layout *l, size_t at, uint16_t v)
{
	memcpy((char *)l + at, &v, sizeof(v));
}

/* Each field past its buffer is refused by name; every real layout passes. */
static void test_field_rules(const struct py_layout *good, const char *what)
{
	char why[128];

	why[0] = 0;
	CHECK(py_layout__check(good, why, sizeof(why)) == 0, "%s: %s", what, why);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		struct py_layout l = *good;

		why[0] = 0;
		set_off(&l, fields[i].at, 0xfff0);
		CHECK(py_layout__check(&l, why, sizeof(why)) == -EINVAL &&
			      !strncmp(why, fields[i].name, strlen(fields[i].name)),
		      "%s: %s = 0xfff0 gave \"%s\"", what, fields[i].name, why);
		set_off(&l, fields[i].at, PY_OFF_NONE);
		why[0] = 0;
		CHECK((py_layout__check(&l, why, sizeof(why)) == 0) == fields[i].optional,
		      "%s: %s absent: \"%s\"", what, fields[i].name, why);
	}
	{
		struct py_layout l = *good;

		l.code_size = PY_CODE_HDR_MAX + 8;
		CHECK(py_layout__check(&l, why, sizeof(why)) == -EINVAL &&
			      strstr(why, "sizeof(PyCodeObject)"),
		      "%s: code_size: %s", what, why);
	}
}

static void test_all_field_rules(const uint8_t *raw313)
{
	struct py_layout l;
	char what[32];

	for (unsigned i = 0; i < py_layouts_table_len; i++) {
		snprintf(what, sizeof(what), "table 3.%u", py_layouts_table[i].minor);
		test_field_rules(&py_layouts_table[i], what);
	}
	CHK(py_layout__from_debug_offsets(raw313, RAW_LEN, &l, NULL, NULL, 0) == 0);
	test_field_rules(&l, "synthetic 3.13");
}

/*
 * The interpreters that describe themselves with _Py_DebugOffsets: those of
 * tests/interpreters.txt from 3.13 on, on the host or inside Debian sid's
 * root (static, stripped, non-PIE; the 3.14 debug build must match the 3.14
 * table, as gen-pyoffsets.py checked its headers).
 */

/* The shell command that runs the dumper under py; NULL, or what is missing. */
static const char *live_cmd(const struct interp *py, const char *dir, char *cmd, size_t n)
{
	static char missing[PATH_MAX];

	if (!py->root[0])
		snprintf(cmd, n, "'%s' '%s/%s' %d", py->host_path, dir, DUMPER, RAW_LEN);
	else /* The dumper comes on stdin: the root need not see the work tree. */
		snprintf(cmd, n, "chroot '%s' '%s' - %d < '%s/%s'", py->root, py->path, RAW_LEN,
			 dir, DUMPER);
	if (!access(py->host_path, X_OK))
		return NULL;
	snprintf(missing, sizeof(missing), "%s", py->host_path);
	return missing;
}

/* Run the dumper under py; 0, or -ENOENT if it is not installed. */
static int dump_live(const struct interp *py, const char *dir, uint8_t *raw, uint32_t *hexversion,
		     const char **missing)
{
	static char line[2 * RAW_LEN + 16];
	unsigned long hv = 0;
	char cmd[8192];
	FILE *f;
	int ok;

	*missing = live_cmd(py, dir, cmd, sizeof(cmd));
	if (*missing)
		return -ENOENT;
	f = popen(cmd, "r");
	CHECK(f, "popen %s", cmd);
	if (!f)
		return -EIO;
	ok = fgets(line, sizeof(line), f) && sscanf(line, "%lx", &hv) == 1;
	ok = ok && fgets(line, sizeof(line), f) && strlen(line) >= 2 * RAW_LEN &&
	     !hex_decode(line, raw, RAW_LEN);
	CHECK(pclose(f) == 0, "%s failed", cmd);
	CHECK(ok, "unparsable output from %s", cmd);
	*hexversion = (uint32_t)hv;
	return ok ? 0 : -EIO;
}

#define SAME(field)                                                                                \
	CHECK(d.field == t->field, "%s: " #field ": debug %u table %u", py->id, (unsigned)d.field, \
	      (unsigned)t->field)

/*
 * The heart of it: what each live interpreter says about itself equals
 * what the compiler measured in its headers, for every field the sampler
 * and dump use (and the constants the debug offsets leave out: the GIL's
 * size, PyCompactUnicodeObject's).
 */
static void test_live(const struct interp *py, const char *dir)
{
	const struct py_layout *t = py_layout__from_table(3, py->minor);
	const char *allow = getenv("PYSPY_ALLOW_MISSING_PYTHON");
	const char *missing = NULL;
	uint8_t raw[RAW_LEN];
	struct py_layout d;
	uint32_t hexv = 0, hv = 0;
	char what[64];
	int err;

	CHECK(t, "%s: no table row for 3.%u", py->id, py->minor);
	if (!t)
		return;
	err = dump_live(py, dir, raw, &hv, &missing);
	if (err == -ENOENT) {
		CHECK(allow && !strcmp(allow, "1"),
		      "%s not found (%s); make sid builds the "
		      "root, or set PYSPY_ALLOW_MISSING_PYTHON=1",
		      py->id, missing);
		return;
	}
	if (err)
		return;
	err = py_layout__from_debug_offsets(raw, sizeof(raw), &d, &hexv, NULL, 0);
	CHECK(err == 0, "live %s: %d", py->id, err);
	if (err)
		return;
	CHECK(hexv == hv, "%s: debug version %08x, sys.hexversion %08x", py->id, hexv, hv);
	CHECK((hexv >> 16) == (0x0300u | py->minor), "%s: %08x", py->id, hexv);
	SAME(major);
	SAME(minor);
	SAME(frame_model);
	SAME(linetable_kind);
	SAME(runtime_interp_head);
	SAME(interp_next);
	SAME(interp_threads_head);
	SAME(tstate_next);
	SAME(tstate_interp);
	SAME(tstate_thread_id);
	SAME(tstate_native_thread_id);
	SAME(tstate_frame);
	SAME(tstate_datastack_chunk);
	SAME(cframe_current);
	SAME(frame_back);
	SAME(frame_code);
	SAME(frame_instr);
	SAME(frame_owner);
	SAME(frame_size);
	SAME(object_type);
	SAME(varobject_size);
	SAME(code_filename);
	SAME(code_name);
	SAME(code_qualname);
	SAME(code_firstlineno);
	SAME(code_linetable);
	SAME(code_code);
	SAME(code_adaptive);
	SAME(code_size);
	SAME(bytes_size);
	SAME(bytes_sval);
	SAME(unicode_length);
	SAME(unicode_state);
	SAME(unicode_ascii_data);
	SAME(unicode_compact_data);
	SAME(gil_runtime);
	SAME(gil_interp_ptr);
	SAME(gil_last_holder);
	SAME(gil_locked);
	SAME(gil_size);
	snprintf(what, sizeof(what), "live %s", py->id);
	if (py->minor == 13)
		test_bad_input(raw, what);
}

/* argv[1]: directory holding dump_debug_offsets.py (default tests/unit). */
int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "tests/unit";
	uint8_t raw[RAW_LEN];

	test_table_versions();
	test_datastack_chunk();
	test_table_facts();
	test_table_shape();
	test_to_bpf();
	test_synthetic(&synth_313);
	test_synthetic(&synth_314);
	test_synthetic(&synth_315);
	synth_build(&synth_313, raw);
	test_bad_input(raw, "synthetic 3.13");
	test_all_field_rules(raw);
	{
		static struct interp all[INTERPS_MAX];
		int n = interps_load("", all, INTERPS_MAX), live = 0;

		CHECK(n > 0, "tests/interpreters.py: %d", n);
		for (int i = 0; i < n; i++)
			if (all[i].major == 3 && all[i].minor >= 13 && ++live)
				test_live(&all[i], dir);
		CHECK(live >= 4, "%d interpreters of 3.13 and newer", live);
	}
	return unit_done("pyoffsets");
}
