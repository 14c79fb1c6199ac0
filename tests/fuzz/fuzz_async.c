// SPDX-License-Identifier: MIT
/*
 * fuzz_async.c - a target's AsyncioDebug section and a --async record's
 * frames, as any bytes: a layout that is accepted gives the BPF side
 * reads inside its buffers, and any frames split into a logical stack
 * whose tasks stay in order and inside what was given.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "symbolize/asyncstack.h"
#include "symbolize/cpython/asyncio.h"
#include "tests/unit/async_layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct py_async_layout a;
	struct py_layout l;
	struct pyspy_proc p;
	struct pyspy_frame in[64], py[64];
	struct async_split sp;
	uint32_t n;

	if (size < PY_ASYNC_DEBUG_SIZE + 1)
		return 0;
	l = test_layout_async(14 + (data[0] & 1));
	if (!py_async__layout(data + 1, PY_ASYNC_DEBUG_SIZE, &l, l.minor, &a, NULL, 0)) {
		memset(&p, 0, sizeof(p));
		py_async__to_bpf(&a, &p);
		if (p.task_len > PYSPY_TASK_BUF || p.gen_len > PYSPY_GEN_BUF)
			abort();
		if (p.task_len && (p.task_awaited_by + 8u > p.task_len ||
				   p.task_coro + 8u > p.task_len || p.task_name + 8u > p.task_len ||
				   p.task_is_set >= p.task_len || p.task_is_task >= p.task_len))
			abort();
		if (p.gen_iframe + p.frame_sp + 8u > p.gen_len || p.gen_state >= p.gen_len)
			abort();
	}
	data += PY_ASYNC_DEBUG_SIZE + 1;
	size -= PY_ASYNC_DEBUG_SIZE + 1;
	n = size / sizeof(in[0]) < 64 ? size / sizeof(in[0]) : 64;
	memcpy(in, data, n * sizeof(in[0]));
	async_stack__split(NULL, in, n, py, &sp);
	if (sp.n_py > n || sp.n_tasks > n || sp.n_tasks > PYSPY_ASYNC_MAX_TASKS)
		abort();
	for (uint32_t t = 0; t < sp.n_tasks; t++)
		if (sp.at[t] > sp.n_py || (t && sp.at[t] < sp.at[t - 1]))
			abort();
	return 0;
}
