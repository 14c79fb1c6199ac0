// SPDX-License-Identifier: MIT
/* cli.c - strict number parsing for every verb's options. */
#include <errno.h>
#include <stdlib.h>

#include "cli.h"

int cli_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int cli_parse_secs(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > 365 * 86400.0)
		return -EINVAL;
	*out = v;
	return 0;
}
