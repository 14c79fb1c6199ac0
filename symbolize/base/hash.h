/* SPDX-License-Identifier: MIT */
/*
 * hash.h - the one hash of byte strings, keyed with a random key per run:
 * of a stack's raw frames on every sample, and (as uthash's HASH_FUNCTION)
 * of every table a target's bytes key (names, stacks, code addresses, line
 * tables, tasks, pods...).
 *
 * Owns: the key (hash_seed: getrandom at start-up), and SipHash-1-3 over
 * it.  A target chooses the names, addresses and line tables we hash; an
 * unkeyed hash lets it choose 160 000 names with one hash, and every
 * lookup walks them all.  SipHash is a PRF: without the key, colliding
 * inputs cannot be found any faster than by trying them (one in 2^32 per
 * uthash bucket value), so chains stay short whatever the target makes.
 * The key is never written anywhere.  Also owns the one way a table is
 * emptied (HASH_CLEAR_FREE), or thinned (HASH_FREE_IF).  A table's size is uthash's own HASH_COUNT
 * (O(1)), never a counter kept beside it that could drift from it: a cache
 * bounded at MAX items is `if (HASH_COUNT(t) >= MAX) HASH_CLEAR_FREE(...)`.
 *
 * Every file that includes <uthash.h> includes this first (so that its
 * tables use HASH_FUNCTION below); scripts/check-layers.py checks it.
 */
#ifndef PYSPY_HASH_H
#define PYSPY_HASH_H

#ifdef UTHASH_H
#error "symbolize/base/hash.h must come before <uthash.h>: its tables use the keyed hash"
#endif

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The run's key; all zeros until hash_seed (unit tests set their own). */
extern uint64_t hash_key[2];

/* A fresh key from getrandom(2), before any table exists: 0 or -errno. */
int hash_seed(void);
void hash_set_key(uint64_t k0, uint64_t k1);

static inline uint64_t hash_rotl(uint64_t x, int b)
{
	return x << b | x >> (64 - b);
}

/* One SipRound over the state v[4] (Aumasson and Bernstein, 2012). */
static inline void hash_sipround(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = hash_rotl(v[1], 13);
	v[1] ^= v[0];
	v[0] = hash_rotl(v[0], 32);
	v[2] += v[3];
	v[3] = hash_rotl(v[3], 16);
	v[3] ^= v[2];
	v[0] += v[3];
	v[3] = hash_rotl(v[3], 21);
	v[3] ^= v[0];
	v[2] += v[1];
	v[1] = hash_rotl(v[1], 17);
	v[1] ^= v[2];
	v[2] = hash_rotl(v[2], 32);
}

/*
 * SipHash-c-d, a word at a time: start, the message's 8-byte words
 * (little-endian: x86 is the one ARCH), then end with the last 0-7 bytes
 * and the message's length.  c and d are constants at every call, so the
 * rounds unroll.
 */
struct hash_state {
	uint64_t v[4];
};

static inline void hash_start(struct hash_state *h, const uint64_t key[2])
{
	h->v[0] = key[0] ^ 0x736f6d6570736575ull;
	h->v[1] = key[1] ^ 0x646f72616e646f6dull;
	h->v[2] = key[0] ^ 0x6c7967656e657261ull;
	h->v[3] = key[1] ^ 0x7465646279746573ull;
}

static inline void hash_word_c(struct hash_state *h, uint64_t m, int c_rounds)
{
	h->v[3] ^= m;
	for (int r = 0; r < c_rounds; r++)
		hash_sipround(h->v);
	h->v[0] ^= m;
}

/* tail: the last len % 8 bytes; len: the whole message's. */
static inline uint64_t hash_end_cd(struct hash_state *h, const uint8_t *tail, size_t len,
				   int c_rounds, int d_rounds)
{
	uint64_t m = (uint64_t)len << 56;

	for (size_t k = 0; k < len % 8; k++)
		m |= (uint64_t)tail[k] << (8 * k);
	hash_word_c(h, m, c_rounds);
	h->v[2] ^= 0xff;
	for (int r = 0; r < d_rounds; r++)
		hash_sipround(h->v);
	return h->v[0] ^ h->v[1] ^ h->v[2] ^ h->v[3];
}

/*
 * SipHash-c-d under key of (*first, if not NULL, as 8 little-endian bytes)
 * then p[0..len).  hash_bytes is SipHash-1-3, as in CPython and Rust's
 * tables; the unit test checks this against the paper's SipHash-2-4
 * vectors and CPython's SipHash-1-3.
 */
static inline uint64_t hash_siphash(const uint64_t key[2], const uint64_t *first, const void *p,
				    size_t len, int c_rounds, int d_rounds)
{
	const uint8_t *b = p;
	struct hash_state h;
	uint64_t m;
	size_t i = 0;

	hash_start(&h, key);
	if (first)
		hash_word_c(&h, *first, c_rounds);
	for (; i + 8 <= len; i += 8) {
		memcpy(&m, b + i, 8);
		hash_word_c(&h, m, c_rounds);
	}
	return hash_end_cd(&h, b + i, len + (first ? 8 : 0), c_rounds, d_rounds);
}

static inline uint64_t hash_bytes(const void *p, size_t len)
{
	return hash_siphash(hash_key, NULL, p, len, 1, 3);
}

/*
 * The hash of (h, then p[0..len)): a key of several parts hashed without
 * copying them together, e.g. hash_more(hash_bytes(name, n), file, m).
 */
static inline uint64_t hash_more(uint64_t h, const void *p, size_t len)
{
	return hash_siphash(hash_key, &h, p, len, 1, 3);
}

/*
 * hash_bytes of n words made on the fly, without a buffer for them:
 * hash_words_start, hash_word for each, then hash_words_end(n).
 */
static inline void hash_words_start(struct hash_state *h)
{
	hash_start(h, hash_key);
}

static inline void hash_word(struct hash_state *h, uint64_t w)
{
	hash_word_c(h, w, 1);
}

static inline uint64_t hash_words_end(struct hash_state *h, size_t n)
{
	return hash_end_cd(h, NULL, n * 8, 1, 3);
}

/* For files that include uthash.h after this. */
#define HASH_FUNCTION(keyptr, keylen, hashv) ((hashv) = (unsigned)hash_bytes((keyptr), (keylen)))

/*
 * Empty the uthash table head (hh: its handle's field), giving each item
 * to free_fn(item) once the table is gone (free_fn must not look in it);
 * head is NULL after.  One pass over the items, in insertion order,
 * without unlinking them one by one.
 */
#define HASH_CLEAR_FREE(hh, head, free_fn)                        \
	do {                                                      \
		__typeof__(head) hash_item_ = (head), hash_next_; \
		HASH_CLEAR(hh, head);                             \
		for (; hash_item_; hash_item_ = hash_next_) {     \
			hash_next_ = hash_item_->hh.next;         \
			free_fn(hash_item_);                      \
		}                                                 \
	} while (0)

/*
 * Free (free_fn) each item of the uthash table head for which cond is
 * true, item naming the item in cond; the others stay, in their order.
 * One pass: e.g. the entries of a cache whose object went away.
 */
#define HASH_FREE_IF(hh, head, item, cond, free_fn)            \
	do {                                                   \
		__typeof__(head) item, hash_next_;             \
		for (item = (head); item; item = hash_next_) { \
			hash_next_ = item->hh.next;            \
			if (cond) {                            \
				HASH_DELETE(hh, head, item);   \
				free_fn(item);                 \
			}                                      \
		}                                              \
	} while (0)

#endif /* PYSPY_HASH_H */
