// SPDX-License-Identifier: MIT
/*
 * main.c - command line: parse options, pick the verb, run it.
 *
 * `pyspy-bpf --pid N` is shorthand for `pyspy-bpf record --pid N`.
 * Everything after `--` is a command to launch and profile.
 */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "options.h"

const char *argp_program_version = "pyspy-bpf " PYSPY_VERSION;
const char *argp_program_bug_address = "<https://github.com/pyspy-bpf/pyspy-bpf/issues>";

static const char doc[] =
	"pyspy-bpf -- a sampling profiler for CPython 3.8+ that reads each thread's own "
	"Python stack from BPF, without stopping the program.\n"
	"\n"
	"VERBS:\n"
	"  record   (default) sample processes and write a profile\n"
	"\n"
	"EXAMPLES:\n"
	"  sudo pyspy-bpf record --pid 1234 --duration 10 -o app.folded\n"
	"  sudo pyspy-bpf --pid 1234                 # until Ctrl-C\n"
	"  sudo pyspy-bpf record -o out.folded -- python3 app.py\n"
	"  sudo pyspy-bpf record --pid 1234 --threads -o - | flamegraph.pl > app.svg\n"
	"\nOPTIONS:";

static const char args_doc[] = "[record] [--pid PID]... [-- COMMAND [ARGS...]]";

enum {
	OPT_THREADS = 0x100,
	OPT_PIDS,
	OPT_NO_PIDS,
	OPT_INIT_WAIT,
};

static const struct argp_option opts[] = {
	{ "pid", 'p', "PID", 0, "Process to profile (repeat for several)", 0 },
	{ "duration", 'd', "SECS", 0, "Stop after SECS seconds (default: until Ctrl-C or exit)", 0 },
	{ "rate", 'r', "HZ", 0, "Samples per second per CPU (default 99)", 0 },
	{ "format", 'f', "FMT", 0, "Output format: folded (default: from -o, else folded)", 0 },
	{ "output", 'o', "FILE", 0, "Write the profile to FILE ('-' for stdout)", 0 },
	{ "threads", OPT_THREADS, NULL, 0, "Start each stack with `thread TID (NAME)`", 0 },
	{ "pids", OPT_PIDS, NULL, 0,
	  "Start each stack with `process PID (COMM)` (default with several processes)", 0 },
	{ "no-pids", OPT_NO_PIDS, NULL, 0, "Never add the process frame", 0 },
	{ "init-wait", OPT_INIT_WAIT, "SECS", 0,
	  "Wait up to SECS for a target's interpreter to initialise (default 5)", 0 },
	{ "quiet", 'q', NULL, 0, "No progress line or summary", 0 },
	{ "verbose", 'v', NULL, 0, "More messages (repeat for libbpf debug output)", 0 },
	{},
};

static int parse_long(const char *s, long min, long max, long *out)
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

static int parse_secs(const char *s, double *out)
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

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct options *o = state->input;
	long v;

	switch (key) {
	case 'p':
		if (parse_long(arg, 1, INT_MAX, &v))
			argp_error(state, "invalid PID: %s", arg);
		if (o->n_pids >= OPT_MAX_PIDS)
			argp_error(state, "at most %d --pid options", OPT_MAX_PIDS);
		o->pids[o->n_pids++] = v;
		break;
	case 'd':
		if (parse_secs(arg, &o->duration_s))
			argp_error(state, "invalid duration (seconds > 0): %s", arg);
		break;
	case 'r':
		if (parse_long(arg, 1, 10000, &v))
			argp_error(state, "invalid rate (1-10000 Hz): %s", arg);
		o->rate_hz = v;
		break;
	case 'f':
		o->format = arg;
		break;
	case 'o':
		o->output = arg;
		break;
	case OPT_THREADS:
		o->threads = true;
		break;
	case OPT_PIDS:
		o->pids_frames = true;
		break;
	case OPT_NO_PIDS:
		o->no_pids_frames = true;
		break;
	case OPT_INIT_WAIT:
		if (parse_secs(arg, &o->init_wait_s))
			argp_error(state, "invalid --init-wait (seconds > 0): %s", arg);
		break;
	case 'q':
		o->quiet = true;
		break;
	case 'v':
		log_verbose++;
		break;
	case ARGP_KEY_ARG:
		if (state->arg_num == 0 && !strcmp(arg, "record"))
			break;
		argp_error(state, "unexpected argument '%s' (a command to launch goes after --)",
			   arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct argp argp = { opts, parse_opt, args_doc, doc, NULL, NULL, NULL };
	struct options o = { .rate_hz = 99, .init_wait_s = 5.0 };
	int n = argc;

	/* Split at `--` ourselves: argp would otherwise read the command's options. */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			n = i;
			o.cmd = i + 1 < argc ? &argv[i + 1] : NULL;
			if (!o.cmd) {
				log_error("nothing to launch after --");
				return 2;
			}
			break;
		}
	}
	argv[n] = NULL;
	if (argp_parse(&argp, n, argv, 0, NULL, &o))
		return 2;
	if (!o.n_pids && !o.cmd) {
		log_error("nothing to profile: give --pid PID or -- COMMAND (see --help)");
		return 2;
	}
	if (o.pids_frames && o.no_pids_frames) {
		log_error("--pids and --no-pids contradict each other");
		return 2;
	}
	return cmd_record(&o);
}
