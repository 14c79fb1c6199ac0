/* SPDX-License-Identifier: MIT */
/*
 * async_layout.h - the fields --async takes from _Py_DebugOffsets, as
 * Debian's 3.14.10 has them: one copy for the unit tests and the fuzz
 * harness that read asyncio objects without a live interpreter.
 */
#ifndef PYSPY_TEST_ASYNC_LAYOUT_H
#define PYSPY_TEST_ASYNC_LAYOUT_H

#include <linux/types.h> /* pyspy.h (via pyoffsets.h) needs __u32 */
#include <string.h>

#include "symbolize/cpython/pyoffsets.h"

/* That layout, under the version major.minor says (3.minor). */
static inline struct py_layout test_layout_async(unsigned minor)
{
	struct py_layout l;

	memset(&l, 0, sizeof(l));
	l.major = 3;
	l.minor = minor;
	l.object_type = 8;
	l.frame_code = 0;
	l.frame_instr = 56;
	l.frame_stackpointer = 64;
	l.code_adaptive = 200;
	l.gen_iframe = 72;
	l.gen_frame_state = 67;
	l.set_table = 40;
	l.set_mask = 32;
	l.type_flags = 168;
	l.long_tag = 16;
	l.long_digit = 24;
	return l;
}

#endif /* PYSPY_TEST_ASYNC_LAYOUT_H */
