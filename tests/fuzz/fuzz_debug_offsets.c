// SPDX-License-Identifier: MIT
/*
 * fuzz_debug_offsets.c - a target's _Py_DebugOffsets, as any bytes: a
 * layout that is accepted must pass py_layout__check, and convert for the
 * BPF side.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "symbolize/cpython/pyoffsets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct py_layout l;
	struct pyspy_proc bpf;
	uint32_t hex;
	char why[128];

	if (py_layout__from_debug_offsets(data, size, &l, &hex, why, sizeof(why)))
		return 0;
	if (py_layout__check(&l, NULL, 0))
		abort(); /* accepted, yet out of bounds */
	py_layout__to_bpf(&l, 0x1000, hex, &bpf);
	return 0;
}
