// SPDX-License-Identifier: MIT
/* fuzz_folded.c - the folded-text reader (`diff` input) on any bytes. */
#include <stdint.h>

#include "symbolize/model/profile.h"
#include "user/output/folded_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct profile *p = profile__new(1000);
	struct folded_read_error err;

	if (!p)
		return 0;
	profile__set_symbol_budget(p, 1 << 20);
	folded_read_mem((const char *)data, size, p, &err);
	profile__free(p);
	return 0;
}
