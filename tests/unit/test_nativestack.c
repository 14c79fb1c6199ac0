// SPDX-License-Identifier: MIT
/*
 * test_nativestack.c - how the merge tells interpreter frames apart by
 * name (the evaluation loop and its split parts, 3.14+'s tail-call opcode
 * functions, call machinery), and how a record's Python frames are split
 * into evaluation calls: entry bits and entry-frame addresses.
 */
#include <string.h>

#include "symbolize/nativestack.h"
#include "unit.h"

static void test_kinds(void)
{
	static const struct {
		const char *name;
		enum native_frame_kind kind;
	} cases[] = {
		{ "_PyEval_EvalFrameDefault", NATIVE_FRAME_EVAL },
		{ "_PyEval_EvalFrameDefault.cold", NATIVE_FRAME_EVAL },
		{ "_PyEval_EvalFrameDefault.part.0", NATIVE_FRAME_EVAL },
		/* 3.14+ built with tail calls: each opcode is a function. */
		{ "_TAIL_CALL_BINARY_OP_ADD_INT", NATIVE_FRAME_EVAL },
		{ "_TAIL_CALL_LOAD_FAST", NATIVE_FRAME_EVAL },
		/* A longer name that only starts alike is not the loop. */
		{ "_PyEval_EvalFrameDefaultX", NATIVE_FRAME_CALL },
		{ "_PyEval_Vector", NATIVE_FRAME_CALL },
		{ "PyObject_Call", NATIVE_FRAME_CALL },
		{ "PyObject_CallObject", NATIVE_FRAME_CALL },
		{ "_PyObject_MakeTpCall", NATIVE_FRAME_CALL },
		{ "cfunction_vectorcall_O", NATIVE_FRAME_CALL },
		{ "slot_tp_call", NATIVE_FRAME_CALL },
		{ "call_function", NATIVE_FRAME_CALL },
		{ "list_sort", NATIVE_FRAME_OTHER },
		{ "time_sleep", NATIVE_FRAME_OTHER },
		{ "PyNumber_Add", NATIVE_FRAME_OTHER },
		{ "hx_leaf", NATIVE_FRAME_OTHER },
		{ NULL, NATIVE_FRAME_UNNAMED },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
		CHECK(native_frame_kind(cases[i].name) == cases[i].kind, "%s",
		      cases[i].name ? cases[i].name : "(none)");
}

static void test_split(void)
{
	/* 3.12+: f0 f1 | shim A | f2 | shim B, innermost first; 3.11: entry bits. */
	struct pyspy_frame in[] = {
		{ 0x1000, 2, 0 },
		{ 0x2000 | PYSPY_FRAME_ENTRY, 4, 0 },
		{ 0x7ffd0100 | PYSPY_FRAME_SHIM, -1, 0 },
		{ 0x3000 | PYSPY_FRAME_ENTRY, 6, 0 },
		{ 0x7ffd0800 | PYSPY_FRAME_SHIM, -1, 0 },
	};
	struct pyspy_frame clean[5];
	uint8_t entry[5];
	uint64_t shim[5];
	uint32_t n = native_stack__split(in, 5, clean, entry, shim);

	CHECK(n == 3, "%u", n);
	CHECK(clean[0].code == 0x1000 && clean[1].code == 0x2000 && clean[2].code == 0x3000);
	CHECK(clean[1].lasti == 4 && clean[2].lasti == 6);
	CHECK(!entry[0] && entry[1] && entry[2]);
	CHECK(!shim[0] && shim[1] == 0x7ffd0100 && shim[2] == 0x7ffd0800);
	/* A shim first (nothing above it) is dropped, not misplaced. */
	n = native_stack__split(&in[2], 3, clean, entry, shim);
	CHECK(n == 1 && clean[0].code == 0x3000 && shim[0] == 0x7ffd0800);
}

int main(void)
{
	test_kinds();
	test_split();
	return unit_done("nativestack");
}
