// SPDX-License-Identifier: MIT
/* common.c - what the verbs share above the engine: signals, memory-budget options. */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>

#include "common.h"
#include "user/base/cli.h"
#include "user/base/log.h"
#include "bpf/pyspy.h"
#include "user/engine/options.h"

void cmd_catch_signals(void (*handler)(int), const int *sigs)
{
	struct sigaction sa = { .sa_handler = handler };

	sigemptyset(&sa.sa_mask);
	for (; *sigs; sigs++)
		sigaction(*sigs, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

error_t cmd_parse_common(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case 'v':
		log_verbose++;
		return 0;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

void cmd_add_pid(struct argp_state *state, struct options *o, const char *arg, int max)
{
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

int cmd_parse_mode(struct argp_state *state, const char *arg, bool memory_ok)
{
	int mode = profile_mode_parse(arg);

	if (mode == MODE_MEMORY && !memory_ok)
		argp_error(state, "top shows time: --mode cpu, offcpu or wall (memory is for "
				  "record)");
	if (mode < 0)
		argp_error(state, "unknown mode '%s' (cpu, offcpu, wall%s)", arg,
			   memory_ok ? ", memory" : "");
	return mode;
}

/* --- memory budgets, shared by the sampling verbs ------------------------- */

enum {
	OPT_CACHE_PER_TARGET = 0x1000,
	OPT_CACHE_TOTAL,
	OPT_SYMBOL_BUDGET,
	OPT_MAX_THREADS,
};

static const struct argp_option limit_opts[] = {
	{ NULL, 0, NULL, 0, "Memory (whatever the targets do, the agent stays within these):", 0 },
	{ "cache-per-target", OPT_CACHE_PER_TARGET, "MB", 0,
	  "Code objects and line tables cached per process (default 64)", 0 },
	{ "cache-total", OPT_CACHE_TOTAL, "MB", 0,
	  "Code objects and line tables cached in all (default 192)", 0 },
	{ "symbol-budget", OPT_SYMBOL_BUDGET, "MB", 0,
	  "Names, functions and locations the profile keeps (default 64)", 0 },
	{ "max-threads", OPT_MAX_THREADS, "N", 0,
	  "Processes and threads the BPF side keeps track of at once; past it the least "
	  "recently seen is looked up again (default 16384)",
	  0 },
	{ 0 },
};

static error_t limit_opt(int key, char *arg, struct argp_state *state)
{
	struct options *o = state->input;
	const char *name;
	size_t *to;
	long v;

	switch (key) {
	case ARGP_KEY_INIT:
		/* A knob for tests (and the doubtful): frames one by one, as before 3.11. */
		o->frames_one_by_one = getenv("PYSPY_NO_WINDOWS") != NULL;
		return 0;
	case OPT_MAX_THREADS:
		if (cli_parse_long(arg, 1024, 1 << 20, &v))
			argp_error(state, "--max-threads: from 1024 to 1048576");
		o->max_threads = (unsigned)v;
		return 0;
	case OPT_CACHE_PER_TARGET:
		to = &o->cache_per_target;
		name = "cache-per-target";
		break;
	case OPT_CACHE_TOTAL:
		to = &o->cache_total;
		name = "cache-total";
		break;
	case OPT_SYMBOL_BUDGET:
		to = &o->symbol_bytes;
		name = "symbol-budget";
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	/* 1 MB at least: below that not even one line table fits. */
	if (cli_parse_long(arg, 1, 1 << 20, &v))
		argp_error(state, "--%s: MB from 1 to 1048576", name);
	*to = (size_t)v << 20;
	return 0;
}

const struct argp cli_limits_argp = { limit_opts, limit_opt, NULL, NULL, NULL, NULL, NULL };

/* --- native and kernel frames, shared by the sampling verbs --------------- */

enum {
	OPT_NATIVE = 0x1100,
	OPT_NATIVE_ALL,
	OPT_KERNEL,
	OPT_NATIVE_STACK,
	OPT_ASYNC,
	OPT_ASYNC_TASKS,
};

static const struct argp_option stack_opts[] = {
	{ NULL, 0, NULL, 0, "Native and kernel frames:", 0 },
	{ "native", OPT_NATIVE, NULL, 0,
	  "C/C++/Rust frames between the Python frames that called them (unwound with the "
	  "objects' CFI)",
	  0 },
	{ "native-all", OPT_NATIVE_ALL, NULL, 0,
	  "--native, and the interpreter's own frames (evaluation loop, call machinery)", 0 },
	{ "kernel", OPT_KERNEL, NULL, 0,
	  "The kernel stack on top of each sample (off-CPU: where the thread blocked)", 0 },
	{ "native-stack", OPT_NATIVE_STACK, "BYTES", 0,
	  "User stack copied per sample for --native (default and most 16384)", 0 },
	{ NULL, 0, NULL, 0, "asyncio (CPython 3.14+):", 0 },
	{ "async", OPT_ASYNC, NULL, 0,
	  "Stacks by task: a running task's frames under the tasks awaiting it, each "
	  "introduced by a `task NAME` frame, without the event loop's; with --mode wall, "
	  "suspended tasks are charged their waits too",
	  0 },
	{ "async-tasks", OPT_ASYNC_TASKS, "N", 0,
	  "--async --mode wall: suspended tasks read per tick at most (default 8; the rest "
	  "are read on later ticks and charged for all the time since)",
	  0 },
	{ 0 },
};

static error_t stack_opt(int key, char *arg, struct argp_state *state)
{
	struct options *o = state->input;
	long v;

	switch (key) {
	case OPT_NATIVE:
		o->native = true;
		return 0;
	case OPT_NATIVE_ALL:
		o->native = o->native_all = true;
		return 0;
	case OPT_KERNEL:
		o->kernel = true;
		return 0;
	case OPT_NATIVE_STACK:
		if (cli_parse_long(arg, 512, PYSPY_USTACK_MAX, &v))
			argp_error(state, "--native-stack: bytes from 512 to %d", PYSPY_USTACK_MAX);
		o->ustack_bytes = (unsigned)v;
		return 0;
	case OPT_ASYNC:
		o->async = true;
		return 0;
	case OPT_ASYNC_TASKS:
		if (cli_parse_long(arg, 1, 65536, &v))
			argp_error(state, "--async-tasks: a count from 1 to 65536");
		o->async_tasks = (unsigned)v;
		return 0;
	case ARGP_KEY_END:
		if (o->async && (o->native || o->kernel))
			argp_error(state,
				   "--async cannot be combined with --native or --kernel yet");
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

static const struct argp cli_stacks_argp = { stack_opts, stack_opt, NULL, NULL, NULL, NULL, NULL };
const struct argp_child cmd_limits_children[] = { { &cli_limits_argp, 0, NULL, 0 },
						  { &cli_stacks_argp, 0, NULL, 0 },
						  { 0 } };
