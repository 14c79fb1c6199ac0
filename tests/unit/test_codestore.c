// SPDX-License-Identifier: MIT
/*
 * test_codestore.c - line tables shared by content, and the bytes the
 * store counts for them: equal bytes share one copy whatever their
 * address, a copy lives as long as its last reference, and the total
 * returns to nothing when every table and entry is given back.
 */
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "symbolize/codestore.h"

static void test_sharing(void)
{
	struct code_store *s = code_store__new(0, 0);
	size_t len = 1 << 20;
	uint8_t *a = malloc(len), *b = malloc(len), *c = malloc(len);
	const uint8_t *ta, *tb, *tc;
	struct code_store_stats st;
	int fresh;

	CHECK(s && a && b && c, "setup");
	if (!s || !a || !b || !c)
		goto out;
	memset(a, 0xf8, len);
	memcpy(b, a, len); /* equal content, another address */
	memcpy(c, a, len);
	c[len - 1] = 0xf9; /* differs in the last byte only */

	ta = code_store__get_table(s, a, len, &fresh);
	CHECK(ta && fresh, "first table is new");
	CHECK(ta != a, "the store keeps its own copy");
	tb = code_store__get_table(s, b, len, &fresh);
	CHECK(tb == ta && !fresh, "equal bytes share the copy");
	tc = code_store__get_table(s, c, len, &fresh);
	CHECK(tc && tc != ta && fresh, "different bytes do not");
	code_store__stats(s, &st);
	CHECK(st.tables == 2, "two tables, got %llu", (unsigned long long)st.tables);
	CHECK(st.bytes >= 2 * len && st.bytes < 2 * len + 4096, "bytes %llu",
	      (unsigned long long)st.bytes);

	code_store__put_table(s, ta);
	code_store__stats(s, &st);
	CHECK(st.tables == 2, "one reference left keeps the copy");
	CHECK(tb[0] == 0xf8 && tb[len - 1] == 0xf8, "and its bytes");
	code_store__put_table(s, tb);
	code_store__put_table(s, tc);
	code_store__put_table(s, NULL);
	code_store__stats(s, &st);
	CHECK(st.tables == 0 && st.bytes == 0, "all given back: %llu bytes",
	      (unsigned long long)st.bytes);

	/* An empty table is a table too (a code object with no lines). */
	ta = code_store__get_table(s, a, 0, &fresh);
	CHECK(ta && fresh, "empty table");
	code_store__put_table(s, ta);
out:
	free(a);
	free(b);
	free(c);
	code_store__free(s);
}

static void test_budget(void)
{
	struct code_store *s = code_store__new(1 << 20, 2 << 20);
	struct code_store_stats st;

	CHECK(s, "setup");
	if (!s)
		return;
	CHECK(code_store__per_target(s) == 1 << 20, "per-target budget");
	CHECK(!code_store__over_total(s), "empty store within its total");
	code_store__charge(s, 3 << 20);
	CHECK(code_store__over_total(s), "entries count toward the total");
	code_store__charge(s, -(3l << 20));
	CHECK(!code_store__over_total(s), "and are given back");
	code_store__count_evicted(s, 3);
	code_store__count_refused(s);
	code_store__stats(s, &st);
	CHECK(st.evicted == 3 && st.refused == 1 && st.bytes == 0, "counts");
	code_store__free(s);

	s = code_store__new(0, 0);
	CHECK(s && code_store__per_target(s) == CODE_STORE_DEFAULT_PER_TARGET, "defaults");
	code_store__free(s);
	code_store__free(NULL);
}

int main(void)
{
	test_sharing();
	test_budget();
	return unit_done("codestore");
}
