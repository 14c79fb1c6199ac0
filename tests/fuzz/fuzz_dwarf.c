// SPDX-License-Identifier: MIT
/*
 * fuzz_dwarf.c - our DWARF readers on any section: the CFI index and its
 * run to an address (cfi.c, as .eh_frame or .debug_frame) and the line
 * index and its lookup (dwline.c).
 *
 * Input: a kind byte (0 .eh_frame, 1 .debug_frame, 2 .debug_line), the
 * section's link-time address (8 bytes, little-endian: the lookups go
 * from there), then the section.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "symbolize/native/cfi.h"
#include "symbolize/native/dwline.h"

#define LOOKUPS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t base, lo, hi;
	struct sw_rule r;
	uint8_t *sec;
	size_t len;

	if (size < 9)
		return 0;
	memcpy(&base, data + 1, 8);
	len = size - 9;
	sec = malloc(len ? len : 1);
	if (!sec)
		return 0;
	memcpy(sec, data + 9, len);
	if (data[0] % 3 < 2) {
		struct cfi_table *t = cfi_table__new(sec, len, base, data[0] % 3 == 0);

		for (uint64_t i = 0; t && i < LOOKUPS; i++)
			cfi_rule(t, base + i * 7, &r, &lo, &hi);
		cfi_table__free(t);
	} else {
		struct dwline *d = dwline__new(sec, len, NULL, 0);
		const char *file;
		int line;

		for (uint64_t i = 0; d && i < LOOKUPS; i++)
			dwline__find(d, base + i * 7, &file, &line);
		dwline__free(d);
	}
	return 0;
}
