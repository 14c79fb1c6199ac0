// SPDX-License-Identifier: MIT
/* dump_async.c - `dump --async`: a process's asyncio tasks as a tree of who awaits whom. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dump_async.h"
#include "symbolize/codecache.h"
#include "symbolize/cpython/asyncio.h"
#include "symbolize/cpython/code.h"
#include "symbolize/proc/procmem.h"
#include "user/base/clock.h"
#include "user/base/escape.h"
#include "user/base/log.h"
#include "user/model/profile.h"

/* Levels of the tree printed at most (a deeper chain is cut, and says so). */
#define TREE_MAX_DEPTH 64

/* A thread state, which thread of th it is, and its /proc TID (-1: not known). */
struct adump_thread {
	uint64_t tstate;
	uint32_t i;
	pid_t tid;
};

struct adump {
	FILE *f;
	const struct py_target *py;
	const struct py_threads *th;
	const struct py_tasks *tk;
	struct py_async_tasks tasks;
	struct adump_thread *threads; /* th->n of them, sorted by tstate */
	struct profile *prof;
	/* per task: its frames as locations (innermost first), printed yet */
	uint32_t **locs;
	uint32_t *n_locs;
	bool *printed;
};

static int by_tstate(const void *x, const void *y)
{
	const struct adump_thread *a = x, *b = y;

	return (a->tstate > b->tstate) - (a->tstate < b->tstate);
}

/* Each thread's TID once, and thread states sorted to be found in log time. */
static int index_threads(struct adump *d)
{
	d->threads = calloc(d->th->n ? d->th->n : 1, sizeof(*d->threads));
	if (!d->threads)
		return -ENOMEM;
	for (uint32_t i = 0; i < d->th->n; i++) {
		const struct py_task *t = py_tasks__of_thread(d->py->pid, d->tk, &d->th->t[i]);

		d->threads[i] = (struct adump_thread){ d->th->t[i].tstate, i, t ? t->tid : -1 };
	}
	qsort(d->threads, d->th->n, sizeof(*d->threads), by_tstate);
	return 0;
}

static const struct adump_thread *thread_of(const struct adump *d, uint64_t ts)
{
	struct adump_thread key = { .tstate = ts };

	if (!ts || !d->th->n)
		return NULL;
	return bsearch(&key, d->threads, d->th->n, sizeof(key), by_tstate);
}

static pid_t tid_of(const struct adump *d, uint64_t ts)
{
	const struct adump_thread *t = thread_of(d, ts);

	return t ? t->tid : -1;
}

static const struct pyspy_frame *frames_of(const struct adump *d, const struct py_async_entry *t)
{
	return d->tasks.frames + t->frames_at;
}

/*
 * A running task's stack is its thread's, down to the task's coroutine:
 * the outermost frame of the thread running that code (the event loop's
 * frames are below it).
 */
static uint32_t running_frames(const struct adump *d, const struct py_async_entry *t,
			       const struct pyspy_frame **out)
{
	const struct adump_thread *at =
		t->state == PY_TASK_RUNNING ? thread_of(d, t->running_on) : NULL;
	const struct py_thread_stack *st = at ? &d->th->t[at->i] : NULL;
	uint32_t root = UINT32_MAX;

	if (!st || !t->n_frames)
		return 0;
	for (uint32_t i = 0; i < st->n_frames; i++)
		if ((st->frames[i].code & ~3ull) == frames_of(d, t)[0].code)
			root = i;
	if (root == UINT32_MAX)
		return 0;
	*out = st->frames;
	return root + 1;
}

static int symbolize_tasks(struct adump *d)
{
	struct code_store *store = code_store__new(0, 0);
	struct code_cache *c = store ? code_cache__new(d->py->pid, &d->py->layout,
						       d->py->code_type_addr, d->prof, store)
				     : NULL;
	struct pyspy_frame rev[PY_ASYNC_MAX_DEPTH];
	int err = c ? 0 : -ENOMEM;

	for (uint32_t i = 0; !err && i < d->tasks.n; i++) {
		const struct py_async_entry *t = &d->tasks.t[i];
		const struct pyspy_frame *fr = NULL;
		uint32_t n = running_frames(d, t, &fr);
		bool verified = n > 0;

		if (!n) {
			/* Its coroutines come outermost first: innermost first, as threads print;
			 * fingerprinted now, as the thread walk does its frames. */
			n = t->n_frames < PY_ASYNC_MAX_DEPTH ? t->n_frames : PY_ASYNC_MAX_DEPTH;
			for (uint32_t k = 0; k < n; k++) {
				struct py_code_fp fp;

				rev[k] = frames_of(d, t)[n - 1 - k];
				if (!py_code__fingerprint(d->py->pid, &d->py->layout, rev[k].code,
							  &fp))
					rev[k].code_fp = pyspy_code_fp(fp.name, fp.firstlineno);
			}
			fr = rev;
			verified = true;
		}
		d->locs[i] = calloc(n ? n : 1, sizeof(uint32_t));
		if (!d->locs[i]) {
			err = -ENOMEM;
			break;
		}
		if (n)
			code_cache__resolve(c, fr, n, mono_ns(), verified, d->locs[i]);
		d->n_locs[i] = n;
	}
	code_cache__free(c);
	code_store__free(store);
	return err;
}

/* The tasks task i awaits (indexes into d->tasks.t), n_kids of them. */
static const uint32_t *kids_of(const struct adump *d, uint32_t i)
{
	return d->tasks.kids + d->tasks.t[i].kids_at;
}

/* What task i waits on, when it is one task: "[await task NAME]". */
static void await_line(const struct adump *d, uint32_t i, char *buf, size_t len)
{
	const struct py_async_entry *t = &d->tasks.t[i];

	snprintf(buf, len, "[await]");
	if (t->state != PY_TASK_SUSPENDED)
		return;
	if (t->n_kids == 1)
		snprintf(buf, len, "[await task %s]", d->tasks.t[kids_of(d, i)[0]].name);
	else if (t->n_kids > 1)
		snprintf(buf, len, "[await %u tasks]", t->n_kids);
}

static void text_task(struct adump *d, uint32_t i, const char *prefix, bool last, int depth)
{
	const struct py_async_entry *t = &d->tasks.t[i];
	char pre[TREE_MAX_DEPTH * 6 + 8], why[PY_ASYNC_NAME_MAX + 32];
	const uint32_t *kids = kids_of(d, i);
	uint32_t left = 0, seen = 0;

	d->printed[i] = true;
	snprintf(pre, sizeof(pre), "%s%s", prefix, depth ? (last ? "    " : "│   ") : "");
	fprintf(d->f, "%s%stask ", prefix, depth ? (last ? "└── " : "├── ") : "");
	term_put(d->f, t->name);
	fprintf(d->f, " (%s%s)\n", py_async_task__state_name(t->state),
		t->chain_partial ? ", partial" : "");
	for (uint32_t k = 0; k < d->n_locs[i]; k++) {
		int line;
		const struct profile_function *fn =
			profile__location_function(d->prof, d->locs[i][k], &line);

		fprintf(d->f, "%s      ", pre);
		profile__put_frame(d->f, d->prof, fn, line, term_put);
		fputc('\n', d->f);
	}
	if (t->state == PY_TASK_SUSPENDED) {
		await_line(d, i, why, sizeof(why));
		fprintf(d->f, "%s      ", pre);
		term_put(d->f, why);
		fputc('\n', d->f);
	}
	if (depth >= TREE_MAX_DEPTH) {
		fprintf(d->f, "%s      [deeper tasks not shown]\n", pre);
		return;
	}
	/* Each task once: one met again (awaited by two, or a cycle) is not repeated. */
	for (uint32_t k = 0; k < t->n_kids; k++)
		left += !d->printed[kids[k]];
	for (uint32_t k = 0; k < t->n_kids; k++) {
		if (d->printed[kids[k]])
			continue;
		text_task(d, kids[k], pre, ++seen == left, depth + 1);
	}
}

/* A root: awaited by no task we know of. */
static bool is_root(const struct adump *d, uint32_t i)
{
	const struct py_async_entry *t = &d->tasks.t[i];
	const uint64_t *aw = d->tasks.awaiters + t->awaiters_at;

	for (uint32_t k = 0; k < t->n_awaiters; k++)
		if (py_async_tasks__find(&d->tasks, aw[k]) >= 0)
			return false;
	return true;
}

static void text_dump(struct adump *d)
{
	uint64_t ts = 0;
	char ver[32];

	py_version_str(d->py->version_hex, true, ver, sizeof(ver));
	fprintf(d->f, "Process %d (", d->py->pid);
	term_put(d->f, d->py->comm);
	fprintf(d->f, "): Python %s, %u asyncio tasks\n", ver, d->tasks.n);
	if (d->tasks.truncated)
		fprintf(d->f, "[truncated] more than %d tasks: the rest are not shown\n",
			PY_ASYNC_MAX_TASKS);
	if (d->tasks.errors)
		fprintf(d->f, "[partial] %u task lists were corrupt or changed while read\n",
			d->tasks.errors);
	/* Roots thread by thread (the list a task was made in), then what is left (a cycle). */
	for (int pass = 0, ts_set = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < d->tasks.n; i++) {
			const struct py_async_entry *t = &d->tasks.t[i];

			if (d->printed[i] || (pass == 0 && !is_root(d, i)))
				continue;
			if (!ts_set || t->tstate != ts) {
				pid_t tid = tid_of(d, t->tstate);

				ts = t->tstate;
				ts_set = 1;
				if (tid > 0)
					fprintf(d->f, "Thread %d:\n", tid);
				else
					fprintf(d->f, "%s:\n", ts ? "Thread ?" : "Interpreter");
			}
			text_task(d, i, "  ", true, 0);
		}
	}
}

static void json_task(struct adump *d, uint32_t i)
{
	const struct py_async_entry *t = &d->tasks.t[i];
	const uint64_t *aw = d->tasks.awaiters + t->awaiters_at;
	pid_t tid = tid_of(d, t->tstate);
	char why[PY_ASYNC_NAME_MAX + 32];

	fprintf(d->f, "{\"id\": \"0x%llx\", \"name\": ", (unsigned long long)t->addr);
	json_put_string(d->f, t->name);
	fprintf(d->f, ", \"state\": \"%s\", \"partial\": %s, ", py_async_task__state_name(t->state),
		t->chain_partial ? "true" : "false");
	if (tid > 0)
		fprintf(d->f, "\"tid\": %d, ", tid);
	else
		fputs("\"tid\": null, ", d->f);
	await_line(d, i, why, sizeof(why));
	fputs("\"await\": ", d->f);
	json_put_string(d->f, t->state == PY_TASK_SUSPENDED ? why : "");
	fputs(", \"awaited_by\": [", d->f);
	for (uint32_t k = 0; k < t->n_awaiters; k++)
		fprintf(d->f, "%s\"0x%llx\"", k ? ", " : "", (unsigned long long)aw[k]);
	fputs("], \"frames\": [", d->f);
	for (uint32_t k = 0; k < d->n_locs[i]; k++) {
		int line;
		const struct profile_function *fn =
			profile__location_function(d->prof, d->locs[i][k], &line);

		fputs(k ? ", {\"name\": " : "{\"name\": ", d->f);
		json_put_string(d->f, fn ? profile__str(d->prof, fn->name) : "[unknown]");
		fputs(", \"file\": ", d->f);
		json_put_string(d->f, fn ? profile__str(d->prof, fn->file) : "");
		if (line >= 0)
			fprintf(d->f, ", \"line\": %d}", line);
		else
			fputs(", \"line\": null}", d->f);
	}
	fputs("]}", d->f);
}

static void json_dump(struct adump *d)
{
	char ver[32];

	py_version_str(d->py->version_hex, true, ver, sizeof(ver));
	fprintf(d->f, "{\"pid\": %d, \"comm\": ", d->py->pid);
	json_put_string(d->f, d->py->comm);
	fprintf(d->f, ", \"python_version\": \"%s\", \"tasks_truncated\": %s, ", ver,
		d->tasks.truncated ? "true" : "false");
	fprintf(d->f, "\"list_errors\": %u, \"tasks\": [", d->tasks.errors);
	for (uint32_t i = 0; i < d->tasks.n; i++) {
		fputs(i ? ",\n  " : "\n  ", d->f);
		json_task(d, i);
	}
	fputs("\n]}\n", d->f);
}

static int read_tasks(struct adump *d)
{
	const struct py_target *py = d->py;
	uint8_t sec[PY_ASYNC_DEBUG_SIZE + 8];
	struct py_async_layout a;
	uint64_t *ts, interp = 0;
	char why[128] = "", ver[32];
	size_t len = 0;
	int err;

	if ((py->version_hex >> 16) < 0x030e) {
		py_version_str(py->version_hex, false, ver, sizeof(ver));
		log_error("--async needs CPython 3.14 or newer; PID %d runs %s", py->pid, ver);
		return -ENOTSUP;
	}
	err = py_target__asyncio_debug(py, sec, sizeof(sec), &len);
	if (err == -ENOENT) {
		log_error("PID %d (%s) has not imported asyncio: it has no tasks", py->pid,
			  py->comm);
		return err;
	}
	if (!err)
		err = py_async__layout(sec, len, &py->layout, py->layout.minor, &a, why,
				       sizeof(why));
	if (err) {
		log_error("PID %d (%s): its asyncio state cannot be read: %s", py->pid, py->comm,
			  why[0] ? why : strerror(-err));
		return err;
	}
	ts = calloc(d->th->n ? d->th->n : 1, sizeof(*ts));
	if (!ts)
		return -ENOMEM;
	for (uint32_t i = 0; i < d->th->n; i++)
		ts[i] = d->th->t[i].tstate;
	/* The main interpreter holds the tasks of threads that are gone. */
	procmem_read_u64(py->pid, py->runtime_addr + py->layout.runtime_interp_head, &interp);
	err = py_async__tasks(py->pid, &py->layout, &a, ts, d->th->n, interp, &d->tasks);
	free(ts);
	if (err)
		log_error("PID %d (%s): cannot read its tasks: %s", py->pid, py->comm,
			  strerror(-err));
	return err;
}

int dump_async(FILE *f, bool json, const struct py_target *py, const struct py_threads *th,
	       const struct py_tasks *tk)
{
	struct adump d = { .f = f, .py = py, .th = th, .tk = tk };
	int err = read_tasks(&d);
	uint32_t n = d.tasks.n ? d.tasks.n : 1;

	if (!err) {
		err = index_threads(&d);
		d.prof = profile__new(0);
		d.locs = calloc(n, sizeof(*d.locs));
		d.n_locs = calloc(n, sizeof(*d.n_locs));
		d.printed = calloc(n, sizeof(*d.printed));
		if (!err)
			err = d.prof && d.locs && d.n_locs && d.printed ? symbolize_tasks(&d)
									: -ENOMEM;
		if (err)
			log_error("PID %d: out of memory for its tasks", py->pid);
	}
	if (!err) {
		if (json)
			json_dump(&d);
		else
			text_dump(&d);
	}
	for (uint32_t i = 0; d.locs && i < d.tasks.n; i++)
		free(d.locs[i]);
	free(d.locs);
	free(d.n_locs);
	free(d.printed);
	free(d.threads);
	profile__free(d.prof);
	py_async_tasks__free(&d.tasks);
	return err ? 1 : 0;
}
