/* SPDX-License-Identifier: MIT */
/*
 * sample_opts.h - the sampling options, once for every verb: which
 * processes (--pid, --all), how (--rate, --mode, --gil, --duration,
 * --init-wait), which frames (--native, --kernel, --async, ...) and within
 * what memory (--cache-per-target, ...), parsed into one struct options.
 *
 * Owns: those options' names, help, checks and messages.  A verb says
 * which of them it takes and, where its help words one its own way, how
 * (struct sample_spec); one it does not take is unknown to its parser and
 * absent from its help, as if it did not exist.  A feature that adds a
 * sampling option adds it here, and each verb that takes it says so.
 *
 * The group is the root of a verb's argp and the verb's own options its
 * child, so the verb's parser sees only its own input (argp's child_inputs).
 */
#ifndef PYSPY_SAMPLE_OPTS_H
#define PYSPY_SAMPLE_OPTS_H

#include <argp.h>
#include <stdbool.h>

struct options;

enum sample_opt {
	SOPT_PID,
	SOPT_ALL,
	SOPT_MODE,
	SOPT_GIL,
	SOPT_DURATION,
	SOPT_RATE,
	SOPT_INIT_WAIT,
	SOPT_CACHE_PER_TARGET,
	SOPT_CACHE_TOTAL,
	SOPT_SYMBOL_BUDGET,
	SOPT_MAX_THREADS,
	SOPT_NATIVE,
	SOPT_NATIVE_ALL,
	SOPT_KERNEL,
	SOPT_NATIVE_STACK,
	SOPT_ASYNC,
	SOPT_ASYNC_TASKS,
	SOPT__COUNT
};

_Static_assert(SOPT__COUNT <= 32, "sample_spec.takes has a bit per option");

/* An option's bit in sample_spec.takes: SOPT(RATE) | SOPT(GIL) ... */
#define SOPT(name) (1u << SOPT_##name)
/* What a verb that runs the sampler takes besides its targets and its end. */
#define SOPT_SAMPLER                                                                        \
	(SOPT(MODE) | SOPT(GIL) | SOPT(RATE) | SOPT(CACHE_PER_TARGET) | SOPT(CACHE_TOTAL) | \
	 SOPT(SYMBOL_BUDGET) | SOPT(MAX_THREADS) | SOPT(NATIVE) | SOPT(NATIVE_ALL) |        \
	 SOPT(KERNEL) | SOPT(NATIVE_STACK) | SOPT(ASYNC) | SOPT(ASYNC_TASKS))

/* What a verb takes of the sampling options, and how its help says them. */
struct sample_spec {
	unsigned takes;	       /* SOPT() bits */
	int max_pids;	       /* --pid at most; 1 says "one --pid only"; 0: OPT_MAX_PIDS */
	const char *no_memory; /* --mode memory is refused with this; NULL: taken */
	/*
	 * The verb refuses --async with --native or --kernel itself, in its
	 * own words; else the group does, as not possible "yet".
	 */
	bool verb_checks_async;
	bool flat;		      /* every option with the verb's own, under no header */
	const char *doc[SOPT__COUNT]; /* the verb's own help of an option; NULL: the common */
};

struct cmd_store;

/*
 * argp_parse for a verb: its own options (verb's; its parser, if any, is
 * given input as state->input and returns ARGP_ERR_UNKNOWN for what it
 * does not parse itself), those that only store into input (stores, 0-ended,
 * or NULL: common.h), -v, and the sampling options spec says it takes,
 * parsed into o (which holds the defaults already).  The verb's doc and
 * args_doc are the help's.  Returns argp_parse's result.
 */
int sample_opts_parse(const struct argp *verb, const struct cmd_store *stores,
		      const struct sample_spec *spec, struct options *o, int argc, char **argv,
		      void *input);

#endif /* PYSPY_SAMPLE_OPTS_H */
