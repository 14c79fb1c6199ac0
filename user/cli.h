/* SPDX-License-Identifier: MIT */
/*
 * cli.h - what every verb's command line shares: strict number parsing and
 * the verb table's entry type.
 */
#ifndef PYSPY_CLI_H
#define PYSPY_CLI_H

#include <argp.h>

/* Whole-string integer in [min, max]. 0 or -EINVAL. */
int cli_parse_long(const char *s, long min, long max, long *out);
/* Seconds, > 0 and at most a year. 0 or -EINVAL. */
int cli_parse_secs(const char *s, double *out);

/*
 * --cache-per-target, --cache-total, --symbol-budget (MB) into a struct
 * options: a verb that samples lists it as an argp child, with the
 * options as that child's input (state->child_inputs[0] at ARGP_KEY_INIT).
 */
extern const struct argp cli_limits_argp;

/* A verb: `pyspy-bpf VERB ARGS...`; argv[0] is the verb's name. */
struct cli_verb {
	const char *name;
	const char *summary;
	int (*main)(int argc, char **argv);
};

int record_main(int argc, char **argv);
int dump_main(int argc, char **argv);
int top_main(int argc, char **argv);
int serve_main(int argc, char **argv);
int diff_main(int argc, char **argv);

#endif /* PYSPY_CLI_H */
