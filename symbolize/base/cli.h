/* SPDX-License-Identifier: MIT */
/*
 * cli.h - strict number parsing, for every option of every verb.
 */
#ifndef PYSPY_CLI_H
#define PYSPY_CLI_H

/* Whole-string integer in [min, max]. 0 or -EINVAL. */
int cli_parse_long(const char *s, long min, long max, long *out);
/* Seconds, > 0 and at most a year. 0 or -EINVAL. */
int cli_parse_secs(const char *s, double *out);

#endif /* PYSPY_CLI_H */
