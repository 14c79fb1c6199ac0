// SPDX-License-Identifier: MIT
/*
 * dump.c - the `dump` verb: print every Python thread's current stack once,
 * sleeping and blocked threads included, read from userspace without BPF.
 * --native: a thread that is not running has its user registers in
 * /proc/PID/task/TID/syscall, and its stack is read like its frames, so it
 * is unwound as a --native sample is; --kernel adds its kernel stack from
 * /proc/PID/task/TID/stack.  A running thread keeps its Python frames only.
 */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "dump_async.h"
#include "sample_opts.h"
#include "symbolize/codecache.h"
#include "symbolize/nativestack.h"
#include "symbolize/cpython/asyncio.h"
#include "symbolize/cpython/discover.h"
#include "symbolize/cpython/discover_wait.h"
#include "symbolize/proc/procimage.h"
#include "symbolize/proc/procmem.h"
#include "symbolize/cpython/pytasks.h"
#include "symbolize/cpython/unwind.h"
#include "user/base/clock.h"
#include "user/base/escape.h"
#include "user/base/log.h"
#include "user/engine/options.h"
#include "user/engine/sandbox.h"
#include "user/model/profile.h"

struct dump_opts {
	/* --pid, --native, --native-all, --kernel, --async (tasks, not threads), --init-wait */
	struct options o;
	bool json;
	const char *save_image; /* --save-image: what was read of the target, kept */
};

/* Locations of a thread at most: Python frames, native and kernel ones, a marker. */
#define DUMP_MAX_LOCS (PYSPY_MAX_FRAMES + SW_MAX_FRAMES + NATIVE_PROC_KSTACK_MAX + 2)

/* A thread to print: its stack, who it is, its frames as profile locations. */
struct dump_thread {
	const struct py_thread_stack *st;
	const struct py_task *task; /* NULL: TID unknown or the thread has gone */
	uint32_t *locs;
	uint32_t n_locs;
};

struct dump {
	const struct dump_opts *o;
	const struct py_target *py;
	const struct py_threads *threads;
	struct profile *prof;
	struct dump_thread *t;
};

/* --- symbolization -------------------------------------------------------------- */

/* Scratch for one thread's native part. */
struct native_scratch {
	struct pyspy_frame clean[PYSPY_MAX_FRAMES];
	uint8_t entry[PYSPY_MAX_FRAMES];
	uint64_t shim[PYSPY_MAX_FRAMES];
	uint32_t py_locs[PYSPY_MAX_FRAMES];
	struct native_proc_scratch proc;
};

/*
 * The thread's whole stack into t->locs: its Python frames (marked, see
 * py_unwind__threads_marked) placed in its native stack, unwound from its
 * registers and its stack as they are now.  A thread that mostly waits (a
 * reader of a pipe, a worker on a queue) is caught between two waits now
 * and then: its registers are read a few times while it runs.
 */
static void native_thread(struct dump *d, struct native_proc *np, struct code_cache *c,
			  struct native_scratch *ns, struct dump_thread *t)
{
	const struct py_thread_stack *st = t->st;
	struct native_py py = { ns->py_locs, ns->entry, ns->shim, 0 };

	py.n = st->n_frames ? native_stack__split(st->frames, st->n_frames, ns->clean, ns->entry,
						  ns->shim)
			    : 0;
	if (py.n)
		code_cache__resolve(c, ns->clean, py.n, mono_ns(), true, ns->py_locs);
	if (t->task)
		t->n_locs = native_stack__from_proc(np, d->py->pid, t->task->tid, d->o->o.kernel, 5,
						    &py, &ns->proc, t->locs, DUMP_MAX_LOCS);
	else
		t->n_locs = native_stack__merge(np, &(struct native_in){ 0 }, &py, t->locs,
						DUMP_MAX_LOCS);
}

static int symbolize(struct dump *d, pid_t pid, const struct py_tasks *tk)
{
	const struct py_threads *th = d->threads;
	bool native = d->o->o.native || d->o->o.kernel;
	struct code_store *store = code_store__new(0, 0);
	struct code_cache *c =
		store ? code_cache__new(pid, &d->py->layout, d->py->code_type_addr, d->prof, store)
		      : NULL;
	struct native_ctx *nc =
		native ? native_ctx__new(d->prof, d->o->o.native, d->o->o.native_all, false) : NULL;
	struct native_proc *np =
		nc ? native_proc__new(nc, pid, d->py->elf_path, d->py->version_hex) : NULL;
	struct native_scratch *ns = native ? malloc(sizeof(*ns)) : NULL;
	int err = 0;

	if (!c || (native && (!np || !ns)))
		err = -ENOMEM;
	for (uint32_t i = 0; !err && i < th->n; i++) {
		const struct py_thread_stack *st = &th->t[i];
		struct dump_thread *t = &d->t[i];

		t->st = st;
		t->task = py_tasks__of_thread(pid, tk, st);
		t->locs = calloc(native		? DUMP_MAX_LOCS
				 : st->n_frames ? st->n_frames
						: 1,
				 sizeof(uint32_t));
		if (!t->locs) {
			err = -ENOMEM;
			break;
		}
		if (native) {
			native_thread(d, np, c, ns, t);
			continue;
		}
		/* The walk read each code object's fingerprint along with its frame. */
		if (st->n_frames)
			code_cache__resolve(c, st->frames, st->n_frames, mono_ns(), true, t->locs);
		t->n_locs = st->n_frames;
	}
	free(ns);
	native_proc__free(np);
	native_ctx__free(nc);
	code_cache__free(c);
	code_store__free(store);
	return err;
}

/* --- output ------------------------------------------------------------------------ */

static const char *state_name(const struct py_task *t)
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
	for (uint32_t i = 0; i < t->n_locs; i++)
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
	for (uint32_t i = 0; i < t->n_locs; i++) {
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
	struct dump d = { .o = o, .py = py, .threads = &th };
	int err = py_unwind__threads_marked(py->pid, &py->layout, py->runtime_addr,
					    o->o.native || o->o.kernel, &th);

	if (err) {
		report_walk_error(py, err);
		py_threads__free(&th);
		return 1;
	}
	/* After the walk: every thread it found has its /proc entry by now. */
	err = py_tasks__read(py->pid, &tk);
	if (!err && o->o.async) {
		err = dump_async(stdout, o->json, py, &th, &tk);
		if (!err && (fflush(stdout) || ferror(stdout))) {
			log_error("cannot write the dump: %m");
			err = 1;
		}
		py_tasks__free(&tk);
		py_threads__free(&th);
		return err ? 1 : 0;
	}
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

/*
 * --async: the AsyncioDebug section, which comes from a file and not from
 * memory, goes in the header (asyncio_FIELD), for a replay to find the
 * tasks' layout.  0, or -ENOMEM.
 */
static int save_asyncio(struct procimage *img, const struct py_target *py)
{
	uint64_t sec[PY_ASYNC_DEBUG_SIZE / 8 + 1];
	char key[64];
	size_t len = 0;

	if (py_target__asyncio_debug(py, sec, sizeof(sec), &len) || len != PY_ASYNC_DEBUG_SIZE)
		return 0; /* the dump says why */
	for (unsigned i = 0; py_async__debug_field(i); i++) {
		snprintf(key, sizeof(key), "asyncio_%s", py_async__debug_field(i));
		if (procimage__set(img, key, sec[i]))
			return -ENOMEM;
	}
	return 0;
}

/*
 * --save-image: every read of the target's memory is kept, with what
 * replaying them needs (procimage.h): a walk and its names can be run
 * again without the process (the unit tests' corpus of real interpreters,
 * tests/corpus/; a bug report).
 */
static int dump_saving(const struct dump_opts *o, const struct py_target *py)
{
	struct procimage *img = procimage__new();
	int rc, err;

	if (!img || procimage__set(img, "version_hex", py->version_hex) ||
	    procimage__set(img, "runtime_addr", py->runtime_addr) ||
	    procimage__set(img, "code_type_addr", py->code_type_addr) ||
	    procimage__set(img, "flags", py->flags) || (o->o.async && save_asyncio(img, py))) {
		procimage__free(img);
		log_error("out of memory");
		return 1;
	}
	procmem_tap(py->pid, img, false);
	{
		/* The bytes its layout was found from, as a replay finds it. */
		struct py_target again = *py;

		py_target__layout(&again);
	}
	rc = run_dump(o, py);
	procmem_tap(0, NULL, false);
	err = procimage__save(img, o->save_image);
	if (err)
		log_error("cannot write %s: %s", o->save_image, strerror(-err));
	procimage__free(img);
	return rc || err ? 1 : 0;
}

static int cmd_dump(const struct dump_opts *o)
{
	struct py_target py;

	signal(SIGPIPE, SIG_IGN);
	/*
	 * No BPF here: only read access to the target is needed, so no
	 * preflight, and least privilege before its files are parsed.
	 */
	if (sandbox__enter(SANDBOX_TARGETS | (o->o.kernel ? SANDBOX_KERNEL_STACKS : 0)))
		return 1;
	if (py_target__discover_wait(o->o.pids[0], o->o.init_wait_s, &py))
		return 1;
	return o->save_image ? dump_saving(o, &py) : run_dump(o, &py);
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
