// SPDX-License-Identifier: MIT
/*
 * test_grow.c - ARRAY_ROOM (symbolize/base/grow.h): room from the first size,
 * doubled until it fits, and a size the counter or size_t cannot hold
 * refused with the array as it was.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "unit.h"
#include "symbolize/base/grow.h"

static void test_doubling(void)
{
	uint64_t *v = NULL;
	uint32_t cap = 0;

	CHECK(ARRAY_ROOM(v, 1, cap, 4) == 0 && v && cap == 4);
	for (uint32_t i = 0; i < 4; i++)
		v[i] = i;
	CHECK(ARRAY_ROOM(v, 4, cap, 4) == 0 && cap == 4, "no growth when it fits: %u", cap);
	CHECK(ARRAY_ROOM(v, 5, cap, 4) == 0 && cap == 8, "doubled: %u", cap);
	CHECK(ARRAY_ROOM(v, 100, cap, 4) == 0 && cap == 128, "doubled until it fits: %u", cap);
	CHECK(v[3] == 3, "kept what it held");
	free(v);
}

static void test_refused(void)
{
	uint8_t *b = NULL, *was;
	uint32_t cap = 0;
	size_t big = 0;

	CHECK(ARRAY_ROOM(b, 16, cap, 16) == 0 && cap == 16);
	was = b;
	/* Past what a uint32_t counter holds: refused, not wrapped to a small size. */
	CHECK(ARRAY_ROOM(b, (size_t)UINT32_MAX + 1, cap, 16) == -ENOMEM);
	CHECK(b == was && cap == 16, "array as it was: cap %u", cap);
	/* Past what size_t can double to. */
	CHECK(ARRAY_ROOM(b, SIZE_MAX, big, 16) == -ENOMEM && big == 0 && b == was);
	free(b);
}

int main(void)
{
	test_doubling();
	test_refused();
	return unit_done("grow");
}
