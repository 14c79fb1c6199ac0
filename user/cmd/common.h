/* SPDX-License-Identifier: MIT */
/*
 * common.h - what the verbs share above the engine: the verb table's entry
 * type, each verb's entry point, signals, and what every parser does alike
 * (the sampling options are sample_opts.h's).
 */
#ifndef PYSPY_COMMON_H
#define PYSPY_COMMON_H

#include <argp.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * handler for each signal of sigs (0-ended), without SA_RESTART, so that
 * the verb's poll returns and its loop sees the flag at once; SIGPIPE is
 * ignored (a reader that went away is a failed write, not a death).
 */
void cmd_catch_signals(void (*handler)(int), const int *sigs);

/*
 * An option that only stores into the verb's input (state->input): true
 * into a bool field, or its argument into a const char * field.  The
 * macros check the field's type.
 */
struct cmd_store {
	int key;
	size_t off;
	bool arg; /* the argument, else true */
};

#define CMD_FLAG(key, type, field)                                                       \
	{                                                                                \
		(key), _Generic(((type *)0)->field, bool : offsetof(type, field)), false \
	}
#define CMD_ARG(key, type, field)                                                               \
	{                                                                                       \
		(key), _Generic(((type *)0)->field, const char * : offsetof(type, field)), true \
	}

/*
 * What every verb's parser does alike: the options of stores (0-ended, or
 * NULL), -v (more messages), and no arguments but options.  Called after
 * the verb's own parser by sample_opts_parse, and from the default: case
 * of diff's, which takes no sampling option.
 */
error_t cmd_parse_common(const struct cmd_store *stores, int key, char *arg,
			 struct argp_state *state);

/*
 * An option's number, or argp_error (which exits) in one line naming what
 * it is for: "invalid WHAT: ARG" (a whole number from min to max), or
 * "invalid WHAT (seconds > 0): ARG".
 */
long cmd_long(struct argp_state *state, const char *what, const char *arg, long min, long max);
double cmd_secs(struct argp_state *state, const char *what, const char *arg);

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
