// SPDX-License-Identifier: MIT
/*
 * hash.c - nanoseconds per hash (symbolize/base/hash.h) of the keys the agent
 * hashes most: a 32-frame stack as the code cache hashes it on every
 * sample (a word per frame), a code address (8 bytes), a name (32), a
 * profile stack of 32 locations (4 + 32 words: 144 bytes), and 32 raw
 * frames (512 bytes) for comparison.
 * Used by bench/run.sh; not a test.  Prints one key=value line per size.
 *
 *   pyspy-bench-hash [--millions N]   (hashes per size, default 20)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "symbolize/base/hash.h"

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 8, 32, 144, 512 };
	uint8_t buf[512];
	long n = 20;

	if (argc == 3 && !strcmp(argv[1], "--millions"))
		n = atol(argv[2]);
	if (n <= 0 || n > 10000 || (argc != 1 && argc != 3)) {
		fprintf(stderr, "usage: pyspy-bench-hash [--millions N]\n");
		return 2;
	}
	if (hash_seed()) {
		perror("getrandom");
		return 1;
	}
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	{
		uint64_t acc = 0;
		double t0 = cpu_s(), t;

		/* As the code cache hashes a 32-frame stack: a word per frame. */
		for (long i = 0; i < n * 1000000; i++) {
			struct hash_state h;

			hash_words_start(&h);
			for (int f = 0; f < 32; f++)
				hash_word(&h, (acc + f) ^ (uint64_t)f * 0x9E3779B97F4A7C15ull);
			acc += hash_words_end(&h, 32);
		}
		t = cpu_s() - t0;
		printf("stack_frames=32 words=32 ns_per_hash=%.1f check=%016llx\n",
		       t * 1e9 / (n * 1e6), (unsigned long long)acc);
	}
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		uint64_t acc = 0;
		double t0 = cpu_s(), t;

		/* Each hash feeds the next one's first word: no two overlap. */
		for (long i = 0; i < n * 1000000; i++) {
			memcpy(buf, &acc, sizeof(acc));
			acc += hash_bytes(buf, sizes[s]);
		}
		t = cpu_s() - t0;
		printf("bytes=%zu ns_per_hash=%.1f check=%016llx\n", sizes[s], t * 1e9 / (n * 1e6),
		       (unsigned long long)acc);
	}
	return 0;
}
