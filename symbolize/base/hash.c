// SPDX-License-Identifier: MIT
/* hash.c - the run's hash key (hash.h). */
#include <errno.h>
#include <sys/random.h>

#include "hash.h"

uint64_t hash_key[2];

int hash_seed(void)
{
	uint64_t k[2];
	ssize_t got;

	/*
	 * The urandom pool, blocking only until it is first initialised
	 * (early boot); a signal before then is tried again.
	 */
	do
		got = getrandom(k, sizeof(k), 0);
	while (got < 0 && errno == EINTR);
	if (got != (ssize_t)sizeof(k))
		return got < 0 ? -errno : -EIO;
	hash_set_key(k[0], k[1]);
	return 0;
}

void hash_set_key(uint64_t k0, uint64_t k1)
{
	hash_key[0] = k0;
	hash_key[1] = k1;
}
