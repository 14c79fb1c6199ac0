// SPDX-License-Identifier: MIT
/*
 * dump.c - the `dump` verb: every Python thread's current stack, printed
 * once, sleeping and blocked threads included, as text or JSON; or with
 * --async the process's asyncio tasks (dump_async.c).  What is printed is
 * the engine's snapshot (user/engine/snapshot.h), read from userspace
 * without BPF: this file says what to read and how it looks.
 */
#include <argp.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>

#include "common.h"
#include "dump_async.h"
#include "sample_opts.h"
#include "symbolize/base/escape.h"
#include "symbolize/base/log.h"
#include "user/engine/options.h"
#include "user/engine/sandbox.h"
#include "user/engine/snapshot.h"
#include "symbolize/model/profile.h"

struct dump_opts {
	/* --pid, --native, --native-all, --kernel, --async (tasks, not threads), --init-wait */
	struct options o;
	bool json;
	const char *save_image; /* --save-image: what was read of the target, kept */
};

/* --- output ------------------------------------------------------------------------ */

static const char *state_name(const struct snapshot_task *t)
{
	if (!t)
		return "unknown";
	return t->state == 'R' ? "active" : "idle";
}

static void text_frame(FILE *f, const struct profile *p, uint32_t loc_id)
{
	int line;
	const struct profile_function *fn = profile__location_function(p, loc_id, &line);

	fputs("    ", f);
	profile__put_frame(f, p, fn, line, term_put);
	fputc('\n', f);
}

static void text_thread(FILE *f, const struct snapshot *s, const struct snapshot_thread *t)
{
	const struct snapshot_task *task = snapshot__task_of(s, t);

	if (task) {
		fprintf(f, "Thread %d (", task->tid);
		term_put(f, task->comm);
		fprintf(f, "): %s\n", state_name(task));
	} else
		fprintf(f, "Thread 0x%llx (?): %s\n", (unsigned long long)t->pthread_id,
			state_name(NULL));
	for (uint32_t i = 0; i < t->n_locs; i++)
		text_frame(f, s->prof, t->locs[i]);
	if (t->truncated)
		fputs("    [truncated]\n", f);
	else if (t->partial)
		fputs("    [partial]\n", f);
	else if (!t->n_frames)
		fputs("    (no Python frames)\n", f);
}

static void text_dump(FILE *f, const struct snapshot *s)
{
	fprintf(f, "Process %d (", s->pid);
	term_put(f, s->comm);
	fprintf(f, "): Python %s\n", s->version);
	if (s->threads_partial)
		fputs("[partial] the thread list changed while it was read: threads may be missing\n",
		      f);
	if (s->threads_truncated)
		fprintf(f, "[truncated] more than %d threads: the rest are not shown\n",
			SNAPSHOT_MAX_THREADS);
	for (uint32_t i = 0; i < s->n_threads; i++)
		text_thread(f, s, &s->threads[i]);
}

static void json_frame(FILE *f, const struct profile *p, uint32_t loc_id)
{
	int line;
	const struct profile_function *fn = profile__location_function(p, loc_id, &line);

	fputs("{\"name\": ", f);
	json_put_string(f, fn ? profile__str(p, fn->name) : "[unknown]");
	fputs(", \"file\": ", f);
	json_put_string(f, fn ? profile__str(p, fn->file) : "");
	if (fn && fn->kind != PROFILE_FN_PYTHON)
		fprintf(f, ", \"kind\": \"%s\"",
			fn->kind == PROFILE_FN_KERNEL ? "kernel" : "native");
	if (line >= 0)
		fprintf(f, ", \"line\": %d}", line);
	else
		fputs(", \"line\": null}", f);
}

static void json_thread(FILE *f, const struct snapshot *s, const struct snapshot_thread *t)
{
	const struct snapshot_task *task = snapshot__task_of(s, t);

	if (task)
		fprintf(f, "{\"tid\": %d, \"name\": ", task->tid);
	else
		fputs("{\"tid\": null, \"name\": ", f);
	json_put_string(f, task ? task->comm : "");
	fprintf(f, ", \"pthread_id\": \"0x%llx\", \"state\": \"%s\", ",
		(unsigned long long)t->pthread_id, state_name(task));
	fprintf(f, "\"partial\": %s, \"truncated\": %s, \"frames\": [",
		t->partial ? "true" : "false", t->truncated ? "true" : "false");
	for (uint32_t i = 0; i < t->n_locs; i++) {
		fputs(i ? ", " : "", f);
		json_frame(f, s->prof, t->locs[i]);
	}
	fputs("]}", f);
}

static void json_dump(FILE *f, const struct snapshot *s)
{
	fprintf(f, "{\"pid\": %d, \"comm\": ", s->pid);
	json_put_string(f, s->comm);
	fprintf(f, ", \"python_version\": \"%s\", \"threads_partial\": %s, ", s->version,
		s->threads_partial ? "true" : "false");
	fprintf(f, "\"threads_truncated\": %s, \"threads\": [",
		s->threads_truncated ? "true" : "false");
	for (uint32_t i = 0; i < s->n_threads; i++) {
		fputs(i ? ",\n  " : "\n  ", f);
		json_thread(f, s, &s->threads[i]);
	}
	fputs("\n]}\n", f);
}

/* --- the verb -------------------------------------------------------------------- */

static int print_dump(const struct dump_opts *o, const struct snapshot *s)
{
	if (o->o.async) {
		if (dump_async(stdout, o->json, s))
			return -ENOMEM;
	} else if (o->json)
		json_dump(stdout, s);
	else
		text_dump(stdout, s);
	if (fflush(stdout) || ferror(stdout)) {
		log_error("cannot write the dump: %m");
		return -EIO;
	}
	return 0;
}

/*
 * The snapshot is all the engine's: found, read and named there; this
 * verb only says what to read and prints it.  --save-image keeps every
 * read of the target's memory from before the walk to after the last
 * name (a replay runs them again without the process: the unit tests'
 * corpus of real interpreters, tests/corpus/; a bug report).
 */
static int cmd_dump(const struct dump_opts *o)
{
	const struct snapshot_req req = {
		.native = o->o.native,
		.native_all = o->o.native_all,
		.kernel = o->o.kernel,
		.async = o->o.async,
	};
	struct snapshot *s;
	int err;

	signal(SIGPIPE, SIG_IGN);
	/*
	 * No BPF here: only read access to the target is needed, so no
	 * preflight, and least privilege before its files are parsed.
	 */
	if (sandbox__enter(SANDBOX_TARGETS | (o->o.kernel ? SANDBOX_KERNEL_STACKS : 0)))
		return 1;
	if (snapshot__open(o->o.pids[0], o->o.init_wait_s, &s))
		return 1;
	if (o->save_image && snapshot__keep_reads(s, o->o.async)) {
		snapshot__free(s);
		return 1;
	}
	err = snapshot__take(s, &req);
	if (!err)
		err = print_dump(o, s);
	if (o->save_image && snapshot__save_reads(s, o->save_image))
		err = err ? err : -EIO;
	snapshot__free(s);
	return err ? 1 : 0;
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
	"  pyspy-bpf dump --pid 1234 --native --kernel\n"
	"  pyspy-bpf dump --pid 1234 --async\n"
	"\nOPTIONS:";

enum {
	OPT_JSON = 0x100,
	OPT_SAVE_IMAGE,
};

static const struct argp_option opts[] = {
	{ "json", OPT_JSON, NULL, 0, "One JSON document instead of text", 0 },
	{ "save-image", OPT_SAVE_IMAGE, "FILE", 0,
	  "Also keep every byte of the process's memory the dump read in FILE (gzip, mode "
	  "0600: it holds the process's data), to replay the walk without the process",
	  0 },
	{ "verbose", 'v', NULL, 0, "More messages", 0 },
	{},
};

/* No BPF: nothing of the sampler's rate, mode, budgets or end. */
static const struct sample_spec sampling = {
	.takes = SOPT(PID) | SOPT(INIT_WAIT) | SOPT(NATIVE) | SOPT(NATIVE_ALL) | SOPT(KERNEL) |
		 SOPT(ASYNC),
	.max_pids = 1,
	.verb_checks_async = true,
	.flat = true,
	.doc = {
		[SOPT_PID] = "Process to dump",
		[SOPT_INIT_WAIT] = "Wait up to SECS for the interpreter to initialise (default 5)",
		[SOPT_NATIVE] = "C/C++/Rust frames between the Python frames (threads that are not "
				"running)",
		[SOPT_NATIVE_ALL] = "--native, and the interpreter's own frames",
		[SOPT_KERNEL] = "The kernel stack of each thread that is not running",
		[SOPT_ASYNC] = "asyncio tasks instead of threads (CPython 3.14+): each task under "
			       "the task awaiting it, with its state and the coroutines it is "
			       "suspended in, like python -m asyncio pstree",
	},
};

static const struct cmd_store stores[] = {
	CMD_FLAG(OPT_JSON, struct dump_opts, json),
	CMD_ARG(OPT_SAVE_IMAGE, struct dump_opts, save_image),
	{ 0 },
};

int dump_main(int argc, char **argv)
{
	static const struct argp argp = { opts, NULL, "--pid PID", doc, NULL, NULL, NULL };
	struct dump_opts o = { .o = { OPTIONS_DEFAULTS } };

	if (sample_opts_parse(&argp, stores, &sampling, &o.o, argc, argv, &o))
		return 2;
	if (!o.o.n_pids) {
		log_error("nothing to dump: give --pid PID (see --help)");
		return 2;
	}
	if (o.o.async && (o.o.native || o.o.kernel)) {
		log_error("--async cannot be combined with --native or --kernel");
		return 2;
	}
	return cmd_dump(&o);
}
