/* SPDX-License-Identifier: MIT */
/*
 * load.h - read a profile file of either kind we write, chosen by its
 * content rather than its name: folded text or pprof, gzipped or not.
 *
 * After an optional gzip layer, bytes that look like text (no control
 * bytes but tab, CR and LF in the first 4 KiB) are folded stacks, anything
 * else is given to the pprof reader.  For pprof, the header's sample and
 * period types are kept too, so callers can turn weights into seconds.
 */
#ifndef PYSPY_OUTPUT_LOAD_H
#define PYSPY_OUTPUT_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "folded_read.h"
#include "symbolize/model/profile.h"

/* Largest file, and largest content once decompressed. */
#define PROFILE_LOAD_MAX_BYTES (256u << 20)

enum profile_load_format {
	PROFILE_LOAD_FOLDED,
	PROFILE_LOAD_PPROF
};

struct profile_load_info {
	enum profile_load_format format;
	bool gzipped;
	/*
	 * pprof only ("" when unknown or folded): the sample type whose values
	 * became the weights (the one pprof_read picks), and the period, e.g.
	 * samples/count with period 10101010 cpu/nanoseconds at 99 Hz.
	 */
	char value_type[32], value_unit[32];
	char period_unit[32];
	int64_t period;
	/* Where a folded file is malformed; for input that is not valid pprof
	 * either, where it fails as folded text. */
	struct folded_read_error folded;
};

/*
 * Add the profile in path to into.  0, or -errno: the open/read error,
 * -ENODATA (empty file), -EFBIG (over PROFILE_LOAD_MAX_BYTES), -EINVAL
 * (malformed; for folded input info->folded says where), -ENOMEM.
 */
int profile_load(const char *path, struct profile *into, struct profile_load_info *info);
int profile_load_mem(const void *buf, size_t len, struct profile *into,
		     struct profile_load_info *info);

/* "folded", "pprof", "gzipped folded", "gzipped pprof", for messages. */
const char *profile_load_format_name(const struct profile_load_info *info);

#endif /* PYSPY_OUTPUT_LOAD_H */
