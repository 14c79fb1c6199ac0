/* SPDX-License-Identifier: MIT */
/*
 * common.h - what the verbs share above the engine: the verb table's entry
 * type, each verb's entry point, and the memory-budget options.
 */
#ifndef PYSPY_COMMON_H
#define PYSPY_COMMON_H

#include <argp.h>
#include <stdbool.h>

/*
 * --cache-per-target, --cache-total, --symbol-budget (MB) into a struct
 * options: a verb that samples lists it as an argp child, with the
 * options as that child's input (state->child_inputs[0] at ARGP_KEY_INIT).
 */
extern const struct argp cli_limits_argp;
/* ... as the children list of a verb's argp. */
extern const struct argp_child cmd_limits_children[];

/*
 * handler for each signal of sigs (0-ended), without SA_RESTART, so that
 * the verb's poll returns and its loop sees the flag at once; SIGPIPE is
 * ignored (a reader that went away is a failed write, not a death).
 */
void cmd_catch_signals(void (*handler)(int), const int *sigs);

struct options;

/*
 * What every verb's parser does alike, for its default: case: -v (more
 * messages), and no arguments but options.
 */
error_t cmd_parse_common(int key, char *arg, struct argp_state *state);

/* --pid PID into o (argp_error past max of them: "one --pid only" for 1). */
void cmd_add_pid(struct argp_state *state, struct options *o, const char *arg, int max);
/* --mode MODE (memory only where a verb records it); argp_error if unknown. */
int cmd_parse_mode(struct argp_state *state, const char *arg, bool memory_ok);

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
