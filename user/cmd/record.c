// SPDX-License-Identifier: MIT
/*
 * record.c - the `record` verb: sample until the duration ends,
 * Ctrl-C/SIGTERM, or the targets exit, then write the profile whole and
 * print the summary.
 */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "sample_opts.h"
#include "symbolize/base/clock.h"
#include "symbolize/base/fileopen.h"
#include "symbolize/base/log.h"
#include "user/engine/memlimit.h"
#include "user/engine/options.h"
#include "user/engine/preflight.h"
#include "user/engine/sampler.h"
#include "user/engine/summary.h"
#include "symbolize/model/profile.h"
#include "user/output/output.h"

/* The longest wait for samples: the end of --duration is not overshot by more. */
#define POLL_MS 100
/* How often the progress line is redrawn. */
#define PROGRESS_S 0.25

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct out_choice {
	const struct output_writer *writer;
	char path[512];
};

/* Decided before sampling starts, so a bad name costs nothing. */
static int choose_output(const struct options *o, struct out_choice *c)
{
	char stamp[32];
	time_t t = time(NULL);
	int err;

	if (o->format) {
		c->writer = output__by_name(o->format);
		if (!c->writer) {
			log_error("unknown format '%s' (known: %s)", o->format, output__names());
			return -EINVAL;
		}
	} else if (o->output && strcmp(o->output, "-")) {
		c->writer = output__by_path(o->output);
		if (!c->writer) {
			log_error("cannot tell the format from '%s': use --format (known: %s)",
				  o->output, output__names());
			return -EINVAL;
		}
	} else {
		c->writer = &output_folded;
	}
	if (o->output) {
		snprintf(c->path, sizeof(c->path), "%s", o->output);
	} else {
		strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", localtime(&t));
		snprintf(c->path, sizeof(c->path), "pyspy-bpf-%s.%s", stamp,
			 c->writer->exts[0] + 1);
	}
	/* A FIFO or device at the name is refused now, not after the recording. */
	err = output__check_path(c->path);
	if (err)
		log_error("cannot write %s: %s", c->path, fileopen_strerror(-err));
	return err;
}

static void loop(const struct options *o, struct sampler *s)
{
	double next_progress = mono_s(), now;
	struct run_counts rc;

	while (!stop_requested) {
		double left = o->duration_s > 0 ? o->duration_s - sampler__elapsed(s) : 1;
		int wait_ms = left * 1e3 < POLL_MS ? (int)(left * 1e3) + 1 : POLL_MS;

		if (sampler__poll(s, left > 0 ? wait_ms : 0)) {
			log_debug("nothing left to sample");
			break;
		}
		now = mono_s();
		if (o->duration_s > 0 && sampler__elapsed(s) >= o->duration_s)
			break;
		if (!o->quiet && now >= next_progress) {
			next_progress = now + PROGRESS_S;
			sampler__counts(s, &rc);
			summary__progress(&rc);
		}
	}
}

_Static_assert(sizeof(((struct options *)0)->group_by) == OUTPUT_MAX_GROUPS,
	       "options.group_by holds an output_group list");

static int write_profile(const struct options *o, const struct out_choice *c,
			 const struct profile *prof, int n_processes, double elapsed_s,
			 uint64_t start_unix_ns)
{
	struct output_opts oo = {
		.show_threads = o->threads,
		.show_pids = o->pids_frames || (!o->no_pids_frames && n_processes > 1),
		.rate_hz = o->rate_hz,
		.duration_s = elapsed_s,
		.start_unix_ns = start_unix_ns,
	};
	int err;

	profile_mode_units(o->mode, &oo.value_type, &oo.value_unit);
	if (o->group_by[0]) {
		/* Writers that know only the two flags still get those frames. */
		memcpy(oo.group_by, o->group_by, sizeof(oo.group_by));
		oo.show_pids = output_group__has(oo.group_by, OUTPUT_GROUP_PROCESS);
		oo.show_threads = output_group__has(oo.group_by, OUTPUT_GROUP_THREAD);
	}
	err = output__write_file(c->writer, prof, &oo, c->path);
	if (err)
		log_error("cannot write %s: %s", c->path, fileopen_strerror(-err));
	else if (!o->quiet && strcmp(c->path, "-"))
		fprintf(stderr, "  wrote %s (%s, %u stacks)\n", c->path, c->writer->name,
			profile__n_stacks(prof));
	return err;
}

int cmd_record(struct options *o)
{
	struct out_choice c;
	struct profile *prof = NULL;
	struct sampler *s = NULL;
	struct run_counts rc;
	uint64_t start_ns;
	int err;

	cmd_catch_signals(on_signal, (const int[]){ SIGINT, SIGTERM, 0 });
	err = choose_output(o, &c);
	if (!err)
		err = preflight_privileges();
	if (!err)
		err = preflight_btf();
	if (err)
		return 1;
	prof = profile__new(0);
	if (!prof) {
		log_error("out of memory");
		return 1;
	}
	start_ns = unix_ns();
	s = sampler__start(o, prof);
	if (!s) {
		profile__free(prof);
		return 1;
	}
	loop(o, s);
	sampler__drain(s);
	sampler__refresh_thread_names(s);
	sampler__counts(s, &rc);
	err = write_profile(o, &c, prof, sampler__n_processes(s), rc.elapsed_s, start_ns);
	sampler__stop(s);
	if (!o->quiet)
		summary__print(&rc, prof, 10);
	profile__free(prof);
	/* A launched Python we could not sample was said so; the exit says it too. */
	return err || rc.refused ? 1 : 0;
}

/* --- command line ---------------------------------------------------------- */

static const char doc[] =
	"pyspy-bpf -- a sampling profiler for CPython 3.8+ that reads each thread's own "
	"Python stack from BPF, without stopping the program.\n"
	"\n"
	"VERBS:\n"
	"  record   (default) sample processes and write a profile\n"
	"  dump     print every thread's current Python stack once (no BPF needed)\n"
	"  top      live view of the functions a process spends its time in\n"
	"  serve    continuous profiling daemon: pprof over HTTP, files per interval\n"
	"  diff     compare two profiles (folded or pprof)\n"
	"\n"
	"EXAMPLES:\n"
	"  sudo pyspy-bpf record --pid 1234 --duration 10 -o app.folded\n"
	"  sudo pyspy-bpf --pid 1234                 # until Ctrl-C\n"
	"  sudo pyspy-bpf record --all --duration 30 -o host.folded\n"
	"  sudo pyspy-bpf record --pid 1234 --mode wall -o app.svg\n"
	"  sudo pyspy-bpf record -o out.folded -- python3 app.py\n"
	"  sudo pyspy-bpf record --pid 1234 --threads -o - | flamegraph.pl > app.svg\n"
	"\nOPTIONS:";

static const char args_doc[] = "[record] [--pid PID]... [-- COMMAND [ARGS...]]";

enum {
	OPT_THREADS = 0x100,
	OPT_PIDS,
	OPT_NO_PIDS,
	OPT_GROUP_BY,
};

static const struct argp_option opts[] = {
	{ "format", 'f', "FMT", 0,
	  "folded, pprof, speedscope or svg (default: from the -o suffix: .folded/.txt, "
	  ".pb.gz/.pprof, .speedscope.json, .svg; else folded)",
	  0 },
	{ "output", 'o', "FILE", 0, "Write the profile to FILE ('-' for stdout)", 0 },
	{ "threads", OPT_THREADS, NULL, 0, "Start each stack with `thread TID (NAME)`", 0 },
	{ "pids", OPT_PIDS, NULL, 0,
	  "Start each stack with `process PID (COMM)` (default with several processes)", 0 },
	{ "no-pids", OPT_NO_PIDS, NULL, 0, "Never add the process frame", 0 },
	{ "group-by", OPT_GROUP_BY, "LIST", 0,
	  "Start each stack with these frames, outermost first: container, pod, process, "
	  "thread (comma list, repeatable; --pids and --threads add process and thread)",
	  0 },
	{ "quiet", 'q', NULL, 0, "No progress line or summary", 0 },
	{ "verbose", 'v', NULL, 0, "More messages (repeat for libbpf debug output)", 0 },
	{},
};

static const struct sample_spec sampling = {
	.takes = SOPT(PID) | SOPT(ALL) | SOPT(DURATION) | SOPT(INIT_WAIT) | SOPT_SAMPLER,
};

static const struct cmd_store stores[] = {
	CMD_ARG('f', struct options, format),
	CMD_ARG('o', struct options, output),
	CMD_FLAG(OPT_THREADS, struct options, threads),
	CMD_FLAG(OPT_PIDS, struct options, pids_frames),
	CMD_FLAG(OPT_NO_PIDS, struct options, no_pids_frames),
	CMD_FLAG('q', struct options, quiet),
	{ 0 },
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct options *o = state->input;
	char bad[80] = "";

	switch (key) {
	case OPT_GROUP_BY:
		if (*arg && !output_group__parse(arg, o->group_by, bad, sizeof(bad)))
			break;
		if (*bad)
			argp_error(state, "unknown --group-by kind '%s' (known: %s)", bad,
				   output_group__names());
		else
			argp_error(state, "empty kind in --group-by '%s' (known: %s)", arg,
				   output_group__names());
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

int record_main(int argc, char **argv)
{
	static const struct argp argp = { opts, parse_opt, args_doc, doc, NULL, NULL, NULL };
	struct options o = { OPTIONS_DEFAULTS };
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
	if (sample_opts_parse(&argp, stores, &sampling, &o, n, argv, &o))
		return 2;
	if (!o.n_pids && !o.cmd && !o.all) {
		log_error("nothing to profile: give --pid PID, --all or -- COMMAND (see --help)");
		return 2;
	}
	if (o.all && (o.n_pids || o.cmd)) {
		log_error("--all profiles every process: it takes no --pid or command");
		return 2;
	}
	if (o.pids_frames && o.no_pids_frames) {
		log_error("--pids and --no-pids contradict each other");
		return 2;
	}
	if (o.group_by[0]) {
		if (o.no_pids_frames && output_group__has(o.group_by, OUTPUT_GROUP_PROCESS)) {
			log_error("--group-by process and --no-pids contradict each other");
			return 2;
		}
		/* The older flags are shorthands: they append their frame. */
		if (o.pids_frames)
			output_group__add(o.group_by, OUTPUT_GROUP_PROCESS);
		if (o.threads)
			output_group__add(o.group_by, OUTPUT_GROUP_THREAD);
	}
	memlimit__budgets(&o, memlimit__own());
	o.sandbox = true;
	return cmd_record(&o);
}
