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
 * The key is never written anywhere.
 *
 * Every file that includes <uthash.h> includes this first (so that its
 * tables use HASH_FUNCTION below); scripts/check-layers.py checks it.
 */
#ifndef PYSPY_HASH_H
#define PYSPY_HASH_H

#ifdef UTHASH_H
#error "user/base/hash.h must come before <uthash.h>: its tables use the keyed hash"
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

static inline void hash_sipword(uint64_t v[4], uint64_t m, int c_rounds)
{
	v[3] ^= m;
	for (int r = 0; r < c_rounds; r++)
		hash_sipround(v);
	v[0] ^= m;
}

/*
 * SipHash-c-d under key of (*first, if not NULL, as 8 little-endian bytes)
 * then p[0..len): c and d are constants at every call, so the rounds
 * unroll.  hash_bytes is SipHash-1-3, as in CPython and Rust's tables;
 * the unit test checks this against the paper's SipHash-2-4 vectors.
 */
static inline uint64_t hash_siphash(const uint64_t key[2], const uint64_t *first, const void *p,
				    size_t len, int c_rounds, int d_rounds)
{
	uint64_t v[4] = { key[0] ^ 0x736f6d6570736575ull, key[1] ^ 0x646f72616e646f6dull,
			  key[0] ^ 0x6c7967656e657261ull, key[1] ^ 0x7465646279746573ull };
	const uint8_t *b = p;
	uint64_t m, total = len + (first ? 8 : 0);
	size_t i = 0;

	if (first)
		hash_sipword(v, *first, c_rounds);
	for (; i + 8 <= len; i += 8) {
		memcpy(&m, b + i, 8); /* little-endian: x86 is the one ARCH */
		hash_sipword(v, m, c_rounds);
	}
	m = total << 56;
	for (size_t k = 0; i + k < len; k++)
		m |= (uint64_t)b[i + k] << (8 * k);
	hash_sipword(v, m, c_rounds);
	v[2] ^= 0xff;
	for (int r = 0; r < d_rounds; r++)
		hash_sipround(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
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

/* For files that include uthash.h after this. */
#define HASH_FUNCTION(keyptr, keylen, hashv) ((hashv) = (unsigned)hash_bytes((keyptr), (keylen)))

#endif /* PYSPY_HASH_H */
