// SPDX-License-Identifier: MIT
/*
 * fuzz_linetable.c - the three line-table decoders on any bytes: the first
 * byte picks the format (lnotab, 3.10 linetable, 3.11+ locations), the
 * next four the instruction offset, the rest is the table a target gave.
 */
#include <stdint.h>
#include <string.h>

#include "symbolize/cpython/linetable.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum py_linetable_kind kinds[] = { PY_LT_LNOTAB, PY_LT_LINETABLE,
							PY_LT_LOCATIONS };
	int32_t addr;

	if (size < 5)
		return 0;
	memcpy(&addr, data + 1, sizeof(addr));
	py_linetable_line(kinds[data[0] % 3], data + 5, size - 5, 1, addr);
	py_linetable_line(kinds[data[0] % 3], data + 5, size - 5, 1, addr & 0xffff);
	return 0;
}
