// SPDX-License-Identifier: MIT
/* sample_opts.c - the sampling options every verb takes a part of (sample_opts.h). */
#include <argp.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>

#include "common.h"
#include "sample_opts.h"
#include "bpf/pyspy.h"
#include "symbolize/base/cli.h"
#include "user/engine/options.h"

/* Keys of the long-only options: apart from every verb's own (0x100...). */
#define KEY_BASE  0x1000
#define KEY(name) (KEY_BASE + SOPT_##name)

/* Where an option is listed: with the verb's own options, or under a header. */
enum section {
	SEC_VERB,
	SEC_MEMORY,
	SEC_FRAMES,
	SEC_ASYNC,
};

static const char *const headers[] = {
	[SEC_MEMORY] = "Memory (whatever the targets do, the agent stays within these):",
	[SEC_FRAMES] = "Native and kernel frames:",
	[SEC_ASYNC] = "asyncio (CPython 3.14+):",
};

/* The sections follow enum sample_opt's order. */
static enum section section_of(int opt)
{
	return opt >= SOPT_ASYNC	      ? SEC_ASYNC
	       : opt >= SOPT_NATIVE	      ? SEC_FRAMES
	       : opt >= SOPT_CACHE_PER_TARGET ? SEC_MEMORY
					      : SEC_VERB;
}

/* Each option, with the help a verb gets unless it words it its own way. */
static const struct argp_option defs[SOPT__COUNT] = {
	[SOPT_PID] = { "pid", 'p', "PID", 0, "Process to profile (repeat for several)", 0 },
	[SOPT_ALL] = { "all", 'a', NULL, 0,
		       "Every Python process on the host, also ones started later", 0 },
	[SOPT_MODE] = { "mode", 'm', "MODE", 0,
			"cpu (default): on-CPU samples; offcpu: time off the CPU (ns) with the "
			"reason ([sleep], [io: read], [lock: futex], [gil], ...); wall: both, in "
			"ns; memory: page faults, in bytes",
			0 },
	[SOPT_GIL] = { "gil", 'g', NULL, 0, "Only samples whose thread held the GIL", 0 },
	[SOPT_DURATION] = { "duration", 'd', "SECS", 0,
			    "Stop after SECS seconds (default: until Ctrl-C or exit)", 0 },
	[SOPT_RATE] = { "rate", 'r', "HZ", 0, "Samples per second per CPU (default 99)", 0 },
	[SOPT_INIT_WAIT] = { "init-wait", KEY(INIT_WAIT), "SECS", 0,
			     "Wait up to SECS for a target's interpreter to initialise (default 5)",
			     0 },
	[SOPT_CACHE_PER_TARGET] = { "cache-per-target", KEY(CACHE_PER_TARGET), "MB", 0,
				    "Code objects and line tables cached per process (default 64)",
				    0 },
	[SOPT_CACHE_TOTAL] = { "cache-total", KEY(CACHE_TOTAL), "MB", 0,
			       "Code objects and line tables cached in all (default 192)", 0 },
	[SOPT_SYMBOL_BUDGET] = { "symbol-budget", KEY(SYMBOL_BUDGET), "MB", 0,
				 "Names, functions and locations the profile keeps (default 64)",
				 0 },
	[SOPT_MAX_THREADS] = { "max-threads", KEY(MAX_THREADS), "N", 0,
			       "Processes and threads the BPF side keeps track of at once; past it "
			       "the least recently seen is looked up again (default 16384)",
			       0 },
	[SOPT_NATIVE] = { "native", KEY(NATIVE), NULL, 0,
			  "C/C++/Rust frames between the Python frames that called them (unwound "
			  "with the objects' CFI)",
			  0 },
	[SOPT_NATIVE_ALL] = { "native-all", KEY(NATIVE_ALL), NULL, 0,
			      "--native, and the interpreter's own frames (evaluation loop, call "
			      "machinery)",
			      0 },
	[SOPT_KERNEL] = { "kernel", KEY(KERNEL), NULL, 0,
			  "The kernel stack on top of each sample (off-CPU: where the thread "
			  "blocked)",
			  0 },
	[SOPT_NATIVE_STACK] = { "native-stack", KEY(NATIVE_STACK), "BYTES", 0,
				"User stack copied per sample for --native (default and most 16384)",
				0 },
	[SOPT_ASYNC] = { "async", KEY(ASYNC), NULL, 0,
			 "Stacks by task: a running task's frames under the tasks awaiting it, each "
			 "introduced by a `task NAME` frame, without the event loop's; with --mode "
			 "wall, suspended tasks are charged their waits too",
			 0 },
	[SOPT_ASYNC_TASKS] = { "async-tasks", KEY(ASYNC_TASKS), "N", 0,
			       "--async --mode wall: suspended tasks read per tick at most (default "
			       "8; the rest are read on later ticks and charged for all the time "
			       "since)",
			       0 },
};

/* One parse: the group, the verb's argp as its child, the verb's input. */
struct sample_opts {
	const struct sample_spec *spec;
	struct options *o;
	const struct argp *verb;
	const struct cmd_store *stores;
	void *input; /* the verb's */
};

static void add_pid(struct argp_state *state, const struct sample_opts *g, const char *arg)
{
	int max = g->spec->max_pids ? g->spec->max_pids : OPT_MAX_PIDS;
	struct options *o = g->o;
	long v;

	if (cli_parse_long(arg, 1, INT_MAX, &v))
		argp_error(state, "invalid PID: %s", arg);
	if (o->n_pids >= max) {
		if (max == 1)
			argp_error(state, "one --pid only");
		argp_error(state, "at most %d --pid options", max);
	}
	o->pids[o->n_pids++] = v;
}

static int parse_mode(struct argp_state *state, const struct sample_spec *spec, const char *arg)
{
	int mode = profile_mode_parse(arg);

	if (mode == MODE_MEMORY && spec->no_memory)
		argp_error(state, "%s", spec->no_memory);
	if (mode < 0)
		argp_error(state, "unknown mode '%s' (cpu, offcpu, wall%s)", arg,
			   spec->no_memory ? "" : ", memory");
	return mode;
}

/* --cache-per-target, --cache-total, --symbol-budget: MB into bytes. */
static void parse_budget(struct argp_state *state, int key, const char *arg, struct options *o)
{
	size_t *to = key == KEY(CACHE_PER_TARGET) ? &o->cache_per_target
		     : key == KEY(CACHE_TOTAL)	  ? &o->cache_total
						  : &o->symbol_bytes;
	long v;

	/* 1 MB at least: below that not even one line table fits. */
	if (cli_parse_long(arg, 1, 1 << 20, &v))
		argp_error(state, "--%s: MB from 1 to 1048576", defs[key - KEY_BASE].name);
	*to = (size_t)v << 20;
}

static error_t parse(int key, char *arg, struct argp_state *state)
{
	const struct sample_opts *g = state->input;
	struct options *o = g->o;
	long v;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = (void *)g; /* verb_parse */
		/* A knob for tests (and the doubtful): frames one by one, as before 3.11. */
		o->frames_one_by_one = getenv("PYSPY_NO_WINDOWS") != NULL;
		return 0;
	case 'p':
		add_pid(state, g, arg);
		return 0;
	case 'a':
		o->all = true;
		return 0;
	case 'm':
		o->mode = parse_mode(state, g->spec, arg);
		return 0;
	case 'g':
		o->gil_only = true;
		return 0;
	case 'd':
		o->duration_s = cmd_secs(state, "duration", arg);
		return 0;
	case 'r':
		if (cli_parse_long(arg, 1, 10000, &v))
			argp_error(state, "invalid rate (1-10000 Hz): %s", arg);
		o->rate_hz = v;
		return 0;
	case KEY(INIT_WAIT):
		o->init_wait_s = cmd_secs(state, "--init-wait", arg);
		return 0;
	case KEY(CACHE_PER_TARGET):
	case KEY(CACHE_TOTAL):
	case KEY(SYMBOL_BUDGET):
		parse_budget(state, key, arg, o);
		return 0;
	case KEY(MAX_THREADS):
		if (cli_parse_long(arg, 1024, 1 << 20, &v))
			argp_error(state, "--max-threads: from 1024 to 1048576");
		o->max_threads = (unsigned)v;
		return 0;
	case KEY(NATIVE_ALL):
		o->native_all = true;
		/* fall through */
	case KEY(NATIVE):
		o->native = true;
		return 0;
	case KEY(KERNEL):
		o->kernel = true;
		return 0;
	case KEY(NATIVE_STACK):
		if (cli_parse_long(arg, 512, PYSPY_USTACK_MAX, &v))
			argp_error(state, "--native-stack: bytes from 512 to %d", PYSPY_USTACK_MAX);
		o->ustack_bytes = (unsigned)v;
		return 0;
	case KEY(ASYNC):
		o->async = true;
		return 0;
	case KEY(ASYNC_TASKS):
		if (cli_parse_long(arg, 1, 65536, &v))
			argp_error(state, "--async-tasks: a count from 1 to 65536");
		o->async_tasks = (unsigned)v;
		return 0;
	case ARGP_KEY_END:
		if (!g->spec->verb_checks_async && o->async && (o->native || o->kernel))
			argp_error(state,
				   "--async cannot be combined with --native or --kernel yet");
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

/*
 * The verb's own options: its parser (with its own input), then what
 * every verb does alike (its stores, -v, no arguments).
 */
static error_t verb_parse(int key, char *arg, struct argp_state *state)
{
	const struct sample_opts *g = state->input;
	error_t err = ARGP_ERR_UNKNOWN;

	/* argp sets state->input again before each parser's call. */
	state->input = g->input;
	if (g->verb->parser)
		err = g->verb->parser(key, arg, state);
	if (err == ARGP_ERR_UNKNOWN)
		err = cmd_parse_common(g->stores, key, arg, state);
	state->input = (void *)g;
	return err;
}

int sample_opts_parse(const struct argp *verb, const struct cmd_store *stores,
		      const struct sample_spec *spec, struct options *o, int argc, char **argv,
		      void *input)
{
	/* Each option once, a header at most before each, and the end. */
	struct argp_option table[2 * SOPT__COUNT + 1] = { 0 };
	struct sample_opts g = {
		.spec = spec, .o = o, .verb = verb, .stores = stores, .input = input
	};
	struct argp_option *t = table;
	enum section sec = SEC_VERB;
	/* The verb's own options, as the group's child: the help and usage are the group's. */
	struct argp own = *verb;
	struct argp_child children[] = { { .argp = &own }, { 0 } };
	struct argp argp = { .options = table,
			     .parser = parse,
			     .args_doc = verb->args_doc,
			     .doc = verb->doc,
			     .children = children };

	own.parser = verb_parse;
	own.args_doc = own.doc = NULL;
	for (int i = 0; i < SOPT__COUNT; i++) {
		if (!(spec->takes & (1u << i)))
			continue;
		/* A header starts a group of its own in the help. */
		if (!spec->flat && section_of(i) != sec) {
			sec = section_of(i);
			*t++ = (struct argp_option){ .doc = headers[sec] };
		}
		*t = defs[i];
		if (spec->doc[i])
			t->doc = spec->doc[i];
		t++;
	}
	return argp_parse(&argp, argc, argv, 0, NULL, &g);
}
