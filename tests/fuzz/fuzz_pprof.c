// SPDX-License-Identifier: MIT
/* fuzz_pprof.c - the pprof reader (`diff` input) on any bytes, gzipped or not. */
#include <stdint.h>

#include "symbolize/model/profile.h"
#include "user/output/pprof_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct profile *p = profile__new(1000);

	if (!p)
		return 0;
	profile__set_symbol_budget(p, 1 << 20);
	pprof_read_mem(data, size, p);
	profile__free(p);
	return 0;
}
