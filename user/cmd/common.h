/* SPDX-License-Identifier: MIT */
/*
 * common.h - what the verbs share above the engine: the verb table's entry
 * type, each verb's entry point, and the memory-budget options.
 */
#ifndef PYSPY_COMMON_H
#define PYSPY_COMMON_H

#include <argp.h>

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

#endif /* PYSPY_COMMON_H */
