// SPDX-License-Identifier: MIT
/*
 * test_hash.c - the keyed hash (symbolize/base/hash.h): SipHash as published
 * (the paper's SipHash-2-4 vectors, CPython's SipHash-1-3), whole or a
 * word at a time, keyed (two keys, two hashes; one key, one hash), and
 * the names that all collide under the unkeyed hash of e939864 spread
 * over uthash's buckets as random names do; HASH_CLEAR_FREE gives every
 * item to its free function once, and leaves the table empty.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "symbolize/base/hash.h" /* before uthash.h: its HASH_FUNCTION */
#include <uthash.h>

/* SipHash-2-4, key 00..0f, message 00..(n-1): the reference vectors. */
static const uint64_t sip24[16] = {
	0x726fdb47dd0e0e31ull, 0x74f839c593dc67fdull, 0x0d6c8009d9a94f5aull, 0x85676696d7fb7e2dull,
	0xcf2794e0277187b7ull, 0x18765564cd99a68dull, 0xcbc9466e58fee3ceull, 0xab0200f58b01d137ull,
	0x93f5f5799a932462ull, 0x9e0082df0ba9e4b0ull, 0x7a5dbbc594ddb9f3ull, 0xf4b32f46226bada7ull,
	0x751e8fbc860ee5fbull, 0x14ea5627c0843d90ull, 0xf723ca908e7af2eeull, 0xa129ca6149be45e5ull,
};

static void test_vectors(void)
{
	static const struct {
		size_t len;
		uint64_t h;
	} sip13[] = {
		/* CPython 3.11+ (siphash13), PYTHONHASHSEED=0 (key 0), hash(bytes(range(len))) */
		{ 1, 0x68a914128e01e473ull },  { 3, 0x4d4c9a4a8ef6e0adull },
		{ 7, 0x2f098ab0c751325aull },  { 8, 0xead411e67ebe2eeaull },
		{ 15, 0xf30eb725bb91c9eaull }, { 16, 0x8972188433a5c5b7ull },
		{ 63, 0x385d3e39e5f37359ull },
	};
	const uint64_t key[2] = { 0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull },
		       zero[2] = { 0, 0 };
	uint8_t msg[72];
	uint64_t first;

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	for (size_t n = 0; n < 16; n++)
		CHECK(hash_siphash(key, NULL, msg, n, 2, 4) == sip24[n], "SipHash-2-4 of %zu bytes",
		      n);
	for (size_t i = 0; i < sizeof(sip13) / sizeof(sip13[0]); i++)
		CHECK(hash_siphash(zero, NULL, msg, sip13[i].len, 1, 3) == sip13[i].h,
		      "SipHash-1-3 of %zu bytes", sip13[i].len);
	/* Words one at a time are the same as their bytes. */
	for (size_t n = 0; n <= 8; n++) {
		struct hash_state h;
		uint64_t w[8];

		memcpy(w, msg, sizeof(w));
		hash_words_start(&h);
		for (size_t i = 0; i < n; i++)
			hash_word(&h, w[i]);
		CHECK(hash_words_end(&h, n) == hash_bytes(w, n * 8), "%zu words", n);
	}
	/* A first word is the same as 8 more bytes in front. */
	memcpy(&first, msg, 8);
	for (size_t n = 0; n < 20; n++)
		CHECK(hash_siphash(key, &first, msg + 8, n, 1, 3) ==
			      hash_siphash(key, NULL, msg, n + 8, 1, 3),
		      "first word, %zu bytes", n);
}

static void test_keyed(void)
{
	static const char *const in[] = { "", "a", "main", "Worker.run (app.py:12)",
					  "a name longer than sixteen bytes, and than 32 too" };
	uint64_t a[5], b[5], prev[2] = { hash_key[0], hash_key[1] };
	int differ = 0;

	hash_set_key(1, 2);
	for (int i = 0; i < 5; i++)
		a[i] = hash_bytes(in[i], strlen(in[i]));
	hash_set_key(3, 4);
	for (int i = 0; i < 5; i++) {
		b[i] = hash_bytes(in[i], strlen(in[i]));
		differ += a[i] != b[i];
	}
	CHECK(differ == 5, "another key gives other hashes: %d of 5 differ", differ);
	hash_set_key(1, 2);
	for (int i = 0; i < 5; i++)
		CHECK(hash_bytes(in[i], strlen(in[i])) == a[i], "the same key, the same hash: %d",
		      i);
	CHECK(hash_more(a[1], "b", 1) != hash_more(a[1], "c", 1));
	CHECK(hash_more(a[1], "b", 1) == hash_more(a[1], "b", 1));

	CHECK(hash_seed() == 0, "getrandom");
	CHECK(hash_key[0] != 1 || hash_key[1] != 2, "a seeded key is a new one");
	hash_set_key(prev[0], prev[1]);
}

/* --- the collisions of the unkeyed hash ------------------------------------- */

/* hash_bytes as it was at e939864: two lanes of multiply and xorshift, no key. */
static uint64_t old_mix(uint64_t h, uint64_t w, uint64_t k, int shift)
{
	h = (h ^ w) * k;
	return h ^ h >> shift;
}

static uint64_t old_hash(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint64_t h1 = 0x9E3779B97F4A7C15ull ^ len, h2 = 0xC2B2AE3D27D4EB4Full;
	uint64_t w[2];
	size_t i = 0;

	for (; i < len; i += 16) {
		w[0] = w[1] = 0;
		memcpy(w, b + i, len - i < 16 ? len - i : 16);
		h1 = old_mix(h1, w[0], 0xff51afd7ed558ccdull, 32);
		h2 = old_mix(h2, w[1], 0xc4ceb9fe1a85ec53ull, 29);
	}
	return old_mix(h1 ^ (h2 << 31 | h2 >> 33), h2, 0x94d049bb133111ebull, 31);
}

/* Printable, and no ';' (the folded format's separator). */
static int printable(uint64_t w)
{
	for (int i = 0; i < 8; i++, w >>= 8)
		if ((w & 0xff) < 0x21 || (w & 0xff) > 0x7e || (w & 0xff) == ';')
			return 0;
	return 1;
}

/*
 * n pairs of printable words (w0, w1) that take one lane of the old hash
 * from h0 to the same state: w1 is what cancels w0's mix, kept when it is
 * printable.  Each lane's pairs combine freely with the other's.
 */
static void lane_pairs(uint64_t h0, uint64_t k, int shift, uint64_t (*out)[2], int n)
{
	uint64_t target = 0, base = 0x2121212121ull;
	int have = 0;

	for (uint64_t i = 0; have < n; i++) {
		uint64_t w0 = base | (0x21 + i % 94) << 40 | (0x21 + i / 94 % 94) << 48 |
			      (0x21 + i / (94 * 94) % 94) << 56;
		uint64_t st = old_mix(h0, w0, k, shift);

		if (!i)
			target = st ^ 0x5f5f5f5f5f5f5f5full;
		if (printable(w0) && printable(st ^ target)) {
			out[have][0] = w0;
			out[have++][1] = st ^ target;
		}
	}
}

#define SIDE  64
#define NAMES (SIDE * SIDE)

/* NAMES names of 32 printable bytes, all with one old hash. */
static void colliding_names(char (*names)[33])
{
	static uint64_t a[SIDE][2], b[SIDE][2];

	lane_pairs(0x9E3779B97F4A7C15ull ^ 32, 0xff51afd7ed558ccdull, 32, a, SIDE);
	lane_pairs(0xC2B2AE3D27D4EB4Full, 0xc4ceb9fe1a85ec53ull, 29, b, SIDE);
	for (int i = 0; i < NAMES; i++) {
		uint64_t w[4] = { a[i / SIDE][0], b[i % SIDE][0], a[i / SIDE][1], b[i % SIDE][1] };

		memcpy(names[i], w, 32);
		names[i][32] = 0;
	}
}

struct item {
	UT_hash_handle hh;
	const char *s;
};

/* The longest chain of a uthash table of the names; *expand: it still grows. */
static unsigned longest_chain(char (*names)[33], int *expand)
{
	struct item *items = calloc(NAMES, sizeof(*items)), *h = NULL;
	unsigned most = 0;

	if (!items)
		return UINT32_MAX;
	for (int i = 0; i < NAMES; i++) {
		items[i].s = names[i];
		HASH_ADD_KEYPTR(hh, h, items[i].s, strlen(items[i].s), &items[i]);
	}
	for (unsigned i = 0; i < h->hh.tbl->num_buckets; i++)
		if (h->hh.tbl->buckets[i].count > most)
			most = h->hh.tbl->buckets[i].count;
	*expand = !h->hh.tbl->noexpand;
	HASH_CLEAR(hh, h);
	free(items);
	return most;
}

static void test_collisions_spread(void)
{
	static char names[NAMES][33], rnd[NAMES][33];
	unsigned most, most_rnd, same = 0;
	int expand = 0;
	uint64_t h0;

	colliding_names(names);
	h0 = old_hash(names[0], 32);
	for (int i = 0; i < NAMES; i++)
		same += old_hash(names[i], 32) == h0 && strlen(names[i]) == 32 &&
			(i == 0 || strcmp(names[i], names[i - 1]));
	CHECK(same == NAMES, "the old hash: %u of %d distinct names share one hash", same, NAMES);

	srand(1);
	for (int i = 0; i < NAMES; i++) {
		for (int k = 0; k < 32; k++)
			rnd[i][k] = (char)(0x21 + rand() % 94);
		rnd[i][32] = 0;
	}
	for (int key = 0; key < 4; key++) {
		hash_set_key(0x1234567 * (key + 1), 0x89abcdefull << key);
		most = longest_chain(names, &expand);
		CHECK(expand, "the table still grows (key %d)", key);
		most_rnd = longest_chain(rnd, &expand);
		/* 4096 names: uthash keeps about 10 per bucket before it doubles. */
		CHECK(most <= 16 && most <= most_rnd + 6,
		      "key %d: the longest chain of the colliding names is %u (random names: %u)",
		      key, most, most_rnd);
	}
}

/* Items freed by HASH_CLEAR_FREE, by key: each must be once. */
static int freed[1000];

struct owned {
	UT_hash_handle hh;
	int key;
};

static void owned_free(struct owned *o)
{
	if (o->key >= 0 && o->key < 1000)
		freed[o->key]++;
	free(o);
}

/* A table of items keyed 0..999, none freed yet. */
static struct owned *owned_table(void)
{
	struct owned *h = NULL, *o;

	memset(freed, 0, sizeof(freed));
	for (int i = 0; i < 1000; i++) {
		o = calloc(1, sizeof(*o));
		if (!o)
			break;
		o->key = i;
		HASH_ADD_INT(h, key, o);
	}
	return h;
}

static void test_clear_free(void)
{
	struct owned *h = NULL, *o;
	int once = 0;

	HASH_CLEAR_FREE(hh, h, owned_free); /* an empty table: nothing to do */
	CHECK(h == NULL);
	h = owned_table();
	/* Some deleted first: the table's items, not what was ever in it. */
	for (int i = 0; i < 1000; i += 7) {
		HASH_FIND_INT(h, &i, o);
		HASH_DEL(h, o);
		free(o);
		freed[i] = 1;
	}
	HASH_CLEAR_FREE(hh, h, owned_free);
	CHECK(h == NULL, "the table is empty after");
	for (int i = 0; i < 1000; i++)
		once += freed[i] == 1;
	CHECK(once == 1000, "%d of 1000 items freed exactly once", once);
	/* The table is usable again (ASan sees a leak or a double free). */
	o = calloc(1, sizeof(*o));
	if (o) {
		HASH_ADD_INT(h, key, o);
		CHECK(HASH_COUNT(h) == 1);
		HASH_CLEAR_FREE(hh, h, free);
	}
}

/* HASH_FREE_IF frees exactly the items it is told to, once; the rest stay in order. */
static void test_free_if(void)
{
	struct owned *h = NULL, *o;
	int once = 0, kept = 0, order = 1, last = -1;

	HASH_FREE_IF(hh, h, x, true, owned_free); /* an empty table: nothing to do */
	CHECK(h == NULL);
	h = owned_table();
	/* The head among them: the table's head moves. */
	HASH_FREE_IF(hh, h, x, x->key % 3 == 0, owned_free);
	for (int i = 0; i < 1000; i++)
		once += freed[i] == (i % 3 == 0);
	CHECK(once == 1000, "%d of 1000 items freed as asked", once);
	for (o = h; o; o = o->hh.next) {
		struct owned *found;

		kept++;
		order &= o->key > last;
		last = o->key;
		HASH_FIND_INT(h, &o->key, found);
		CHECK(found == o, "item %d still found by key", o->key);
	}
	CHECK(kept == 666 && HASH_COUNT(h) == 666, "%d kept, count %u", kept, HASH_COUNT(h));
	CHECK(order, "the kept items are in insertion order");
	HASH_FREE_IF(hh, h, x, true, owned_free);
	CHECK(h == NULL, "all freed: the table is empty");
}

int main(void)
{
	test_vectors();
	test_keyed();
	test_collisions_spread();
	test_clear_free();
	test_free_if();
	return unit_done("hash");
}
