/* SPDX-License-Identifier: MIT */
/*
 * async_layout.h - the fields --async takes from _Py_DebugOffsets, as
 * Debian's 3.14.10 has them: one copy for the unit tests and the fuzz
 * harness that read asyncio objects without a live interpreter.
 */
#ifndef PYSPY_TEST_ASYNC_LAYOUT_H
#define PYSPY_TEST_ASYNC_LAYOUT_H

#include <linux/types.h> /* pyspy.h (via pyoffsets.h) needs __u32 */

#include "symbolize/cpython/pyoffsets.h"

/* That layout, under the version major.minor says (3.minor). */
static inline struct py_layout test_layout_async(unsigned minor)
{
	return (struct py_layout){
		.major = 3,
		.minor = minor,
		.object_type = 8,
		.type_flags = 168,
		/* the frame and its code */
		.frame_code = 0,
		.frame_instr = 56,
		.frame_stackpointer = 64,
		.code_adaptive = 200,
		/* a coroutine's frame and state; a set's mask and table; an int's tag and digits */
		.gen_iframe = 72,
		.gen_frame_state = 67,
		.set_table = 40,
		.set_mask = 32,
		.long_tag = 16,
		.long_digit = 24,
	};
}

#endif /* PYSPY_TEST_ASYNC_LAYOUT_H */
