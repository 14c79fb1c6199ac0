/* SPDX-License-Identifier: MIT */
/*
 * hash.h - the one hash of byte strings the hot path uses: of a stack's
 * raw frames, and (as uthash's HASH_FUNCTION) of stacks, locations and
 * code addresses.
 *
 * uthash's default hashes a byte at a time in a chain of dependent
 * steps; this takes 16 bytes a step in two independent lanes, which is
 * what a 32-frame stack, hashed on every sample, needs.  Not for keys an
 * attacker picks to collide: uthash's chains stay correct, only slower,
 * and its bucket expansion bounds them.
 */
#ifndef PYSPY_HASH_H
#define PYSPY_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t hash_mix(uint64_t h, uint64_t w, uint64_t k, int shift)
{
	h = (h ^ w) * k;
	return h ^ h >> shift;
}

static inline uint64_t hash_bytes(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint64_t h1 = 0x9E3779B97F4A7C15ull ^ len, h2 = 0xC2B2AE3D27D4EB4Full;
	uint64_t w[2] = { 0, 0 };
	size_t i = 0;

	for (; i + 16 <= len; i += 16) {
		memcpy(w, b + i, 16);
		h1 = hash_mix(h1, w[0], 0xff51afd7ed558ccdull, 32);
		h2 = hash_mix(h2, w[1], 0xc4ceb9fe1a85ec53ull, 29);
	}
	if (i < len) {
		w[0] = w[1] = 0;
		memcpy(w, b + i, len - i);
		h1 = hash_mix(h1, w[0], 0xff51afd7ed558ccdull, 32);
		h2 = hash_mix(h2, w[1], 0xc4ceb9fe1a85ec53ull, 29);
	}
	return hash_mix(h1 ^ (h2 << 31 | h2 >> 33), h2, 0x94d049bb133111ebull, 31);
}

/* For files that include uthash.h after this. */
#define HASH_FUNCTION(keyptr, keylen, hashv) ((hashv) = (unsigned)hash_bytes((keyptr), (keylen)))

#endif /* PYSPY_HASH_H */
