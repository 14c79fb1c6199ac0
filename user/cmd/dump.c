// SPDX-License-Identifier: MIT
/*
 * dump.c - the `dump` verb: print every Python thread's current stack once,
 * sleeping and blocked threads included, read from userspace without BPF.
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
#include "symbolize/codecache.h"
#include "symbolize/cpython/discover.h"
#include "symbolize/cpython/discover_wait.h"
#include "symbolize/cpython/pytasks.h"
#include "symbolize/cpython/unwind.h"
#include "user/base/cli.h"
#include "user/base/clock.h"
#include "user/base/escape.h"
#include "user/base/log.h"
#include "user/model/profile.h"

struct dump_opts {
	pid_t pid;
	bool json;
	double init_wait_s;
};

/* A thread to print: its stack, who it is, its frames as profile locations. */
struct dump_thread {
	const struct py_thread_stack *st;
	const struct py_task *task; /* NULL: TID unknown or the thread has gone */
	uint32_t *locs;
};

struct dump {
	const struct py_target *py;
	const struct py_threads *threads;
	struct profile *prof;
	struct dump_thread *t;
};

/* --- symbolization -------------------------------------------------------------- */

static int symbolize(struct dump *d, pid_t pid, const struct py_tasks *tk)
{
	const struct py_threads *th = d->threads;
	struct code_store *store = code_store__new(0, 0);
	struct code_cache *c =
		store ? code_cache__new(pid, &d->py->layout, d->py->code_type_addr, d->prof, store)
		      : NULL;

	if (!c) {
		code_store__free(store);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < th->n; i++) {
		const struct py_thread_stack *st = &th->t[i];

		d->t[i].st = st;
		d->t[i].task = py_tasks__of_thread(pid, tk, st);
		d->t[i].locs = calloc(st->n_frames ? st->n_frames : 1, sizeof(uint32_t));
		if (!d->t[i].locs) {
			code_cache__free(c);
			code_store__free(store);
			return -ENOMEM;
		}
		/* The walk read each code object's fingerprint along with its frame. */
		if (st->n_frames)
			code_cache__resolve(c, st->frames, st->n_frames, mono_ns(), true,
					    d->t[i].locs);
	}
	code_cache__free(c);
	code_store__free(store);
	return 0;
}

/* --- output ------------------------------------------------------------------------ */

static const char *state_name(const struct py_task *t)
{
	if (!t)
		return "unknown";
	return t->state == 'R' ? "active" : "idle";
}

/* A frame's function, file and line; NULL function for an unknown one. */
static const struct profile_function *frame_fn(const struct profile *p, uint32_t loc_id, int *line)
{
	const struct profile_location *loc = profile__get_location(p, loc_id);

	*line = loc ? loc->line : -1;
	return loc ? profile__get_function(p, loc->function) : NULL;
}

static void text_frame(FILE *f, const struct profile *p, uint32_t loc_id)
{
	int line;
	const struct profile_function *fn = frame_fn(p, loc_id, &line);

	fputs("    ", f);
	profile__put_frame(f, p, fn, line, term_put);
	fputc('\n', f);
}

static void text_thread(FILE *f, const struct dump *d, const struct dump_thread *t)
{
	const struct py_thread_stack *st = t->st;

	if (t->task) {
		fprintf(f, "Thread %d (", t->task->tid);
		term_put(f, t->task->comm);
		fprintf(f, "): %s\n", state_name(t->task));
	} else
		fprintf(f, "Thread 0x%llx (?): %s\n", (unsigned long long)st->pthread_id,
			state_name(NULL));
	for (uint32_t i = 0; i < st->n_frames; i++)
		text_frame(f, d->prof, t->locs[i]);
	if (st->flags & PY_STACK_TRUNCATED)
		fputs("    [truncated]\n", f);
	else if (st->flags & PY_STACK_PARTIAL)
		fputs("    [partial]\n", f);
	else if (!st->n_frames)
		fputs("    (no Python frames)\n", f);
}

static void text_dump(FILE *f, const struct dump *d)
{
	char ver[32];

	py_version_str(d->py->version_hex, true, ver, sizeof(ver));
	fprintf(f, "Process %d (", d->py->pid);
	term_put(f, d->py->comm);
	fprintf(f, "): Python %s\n", ver);
	if (d->threads->list_partial)
		fputs("[partial] the thread list changed while it was read: threads may be missing\n",
		      f);
	if (d->threads->list_truncated)
		fprintf(f, "[truncated] more than %d threads: the rest are not shown\n",
			PY_UNWIND_MAX_THREADS);
	for (uint32_t i = 0; i < d->threads->n; i++)
		text_thread(f, d, &d->t[i]);
}

static void json_frame(FILE *f, const struct profile *p, uint32_t loc_id)
{
	int line;
	const struct profile_function *fn = frame_fn(p, loc_id, &line);

	fputs("{\"name\": ", f);
	json_put_string(f, fn ? profile__str(p, fn->name) : "[unknown]");
	fputs(", \"file\": ", f);
	json_put_string(f, fn ? profile__str(p, fn->file) : "");
	if (line >= 0)
		fprintf(f, ", \"line\": %d}", line);
	else
		fputs(", \"line\": null}", f);
}

static void json_thread(FILE *f, const struct dump *d, const struct dump_thread *t)
{
	const struct py_thread_stack *st = t->st;

	if (t->task)
		fprintf(f, "{\"tid\": %d, \"name\": ", t->task->tid);
	else
		fputs("{\"tid\": null, \"name\": ", f);
	json_put_string(f, t->task ? t->task->comm : "");
	fprintf(f, ", \"pthread_id\": \"0x%llx\", \"state\": \"%s\", ",
		(unsigned long long)st->pthread_id, state_name(t->task));
	fprintf(f, "\"partial\": %s, \"truncated\": %s, \"frames\": [",
		st->flags & PY_STACK_PARTIAL ? "true" : "false",
		st->flags & PY_STACK_TRUNCATED ? "true" : "false");
	for (uint32_t i = 0; i < st->n_frames; i++) {
		fputs(i ? ", " : "", f);
		json_frame(f, d->prof, t->locs[i]);
	}
	fputs("]}", f);
}

static void json_dump(FILE *f, const struct dump *d)
{
	char ver[32];

	py_version_str(d->py->version_hex, true, ver, sizeof(ver));
	fprintf(f, "{\"pid\": %d, \"comm\": ", d->py->pid);
	json_put_string(f, d->py->comm);
	fprintf(f, ", \"python_version\": \"%s\", \"threads_partial\": %s, ", ver,
		d->threads->list_partial ? "true" : "false");
	fprintf(f, "\"threads_truncated\": %s, \"threads\": [",
		d->threads->list_truncated ? "true" : "false");
	for (uint32_t i = 0; i < d->threads->n; i++) {
		fputs(i ? ",\n  " : "\n  ", f);
		json_thread(f, d, &d->t[i]);
	}
	fputs("\n]}\n", f);
}

/* --- the verb -------------------------------------------------------------------- */

static void report_walk_error(const struct py_target *py, int err)
{
	if (err == -ESRCH)
		log_error("PID %d (%s) exited while it was read", py->pid, py->comm);
	else if (err == -EPERM || err == -EACCES)
		log_error("PID %d (%s): permission denied reading its memory "
			  "(needs CAP_SYS_PTRACE, or the same user)",
			  py->pid, py->comm);
	else
		log_error("PID %d (%s): cannot read its threads: %s", py->pid, py->comm,
			  strerror(-err));
}

static int print_dump(const struct dump_opts *o, const struct dump *d)
{
	if (o->json)
		json_dump(stdout, d);
	else
		text_dump(stdout, d);
	if (fflush(stdout) || ferror(stdout)) {
		log_error("cannot write the dump: %m");
		return -EIO;
	}
	return 0;
}

static void free_dump(struct dump *d)
{
	for (uint32_t i = 0; d->t && i < d->threads->n; i++)
		free(d->t[i].locs);
	free(d->t);
	profile__free(d->prof);
}

static int run_dump(const struct dump_opts *o, const struct py_target *py)
{
	struct py_threads th = {};
	struct py_tasks tk = {};
	struct dump d = { .py = py, .threads = &th };
	int err = py_unwind__threads(py->pid, &py->layout, py->runtime_addr, &th);

	if (err) {
		report_walk_error(py, err);
		py_threads__free(&th);
		return 1;
	}
	/* After the walk: every thread it found has its /proc entry by now. */
	err = py_tasks__read(py->pid, &tk);
	d.prof = profile__new(0);
	d.t = calloc(th.n ? th.n : 1, sizeof(*d.t));
	if (!err && (!d.prof || !d.t))
		err = -ENOMEM;
	if (!err)
		err = symbolize(&d, py->pid, &tk);
	if (err)
		report_walk_error(py, err);
	else
		err = print_dump(o, &d);
	free_dump(&d);
	py_tasks__free(&tk);
	py_threads__free(&th);
	return err ? 1 : 0;
}

static int cmd_dump(const struct dump_opts *o)
{
	struct py_target py;

	signal(SIGPIPE, SIG_IGN);
	/* No BPF here: only read access to the target is needed, so no preflight. */
	if (py_target__discover_wait(o->pid, o->init_wait_s, &py))
		return 1;
	return run_dump(o, &py);
}

/* --- command line ------------------------------------------------------------------- */

static const char doc[] =
	"Print the current Python stack of every thread of a process once, innermost frame "
	"first, sleeping and blocked threads included.  Needs no BPF: only permission to "
	"read the process's memory (same user, or CAP_SYS_PTRACE).  The process is neither "
	"stopped nor ptraced, so a stack that changed while it was read is marked [partial]."
	"\n\nEXAMPLES:\n"
	"  pyspy-bpf dump --pid 1234\n"
	"  pyspy-bpf dump --pid 1234 --json | jq .\n"
	"\nOPTIONS:";

enum {
	OPT_JSON = 0x100,
	OPT_INIT_WAIT
};

static const struct argp_option opts[] = {
	{ "pid", 'p', "PID", 0, "Process to dump", 0 },
	{ "json", OPT_JSON, NULL, 0, "One JSON document instead of text", 0 },
	{ "init-wait", OPT_INIT_WAIT, "SECS", 0,
	  "Wait up to SECS for the interpreter to initialise (default 5)", 0 },
	{ "verbose", 'v', NULL, 0, "More messages", 0 },
	{},
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct dump_opts *o = state->input;
	long v;

	switch (key) {
	case 'p':
		if (cli_parse_long(arg, 1, INT_MAX, &v))
			argp_error(state, "invalid PID: %s", arg);
		if (o->pid)
			argp_error(state, "one --pid only");
		o->pid = v;
		break;
	case OPT_JSON:
		o->json = true;
		break;
	case OPT_INIT_WAIT:
		if (cli_parse_secs(arg, &o->init_wait_s))
			argp_error(state, "invalid --init-wait (seconds > 0): %s", arg);
		break;
	default:
		return cmd_parse_common(key, arg, state);
	}
	return 0;
}

int dump_main(int argc, char **argv)
{
	static const struct argp argp = { opts, parse_opt, "--pid PID", doc, NULL, NULL, NULL };
	struct dump_opts o = { .init_wait_s = 5.0 };

	if (argp_parse(&argp, argc, argv, 0, NULL, &o))
		return 2;
	if (!o.pid) {
		log_error("nothing to dump: give --pid PID (see --help)");
		return 2;
	}
	return cmd_dump(&o);
}
