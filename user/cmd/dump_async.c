// SPDX-License-Identifier: MIT
/* dump_async.c - `dump --async`: a process's asyncio tasks as a tree of who awaits whom. */
#include <errno.h>
#include <stdlib.h>

#include "dump_async.h"
#include "symbolize/base/escape.h"
#include "symbolize/base/log.h"
#include "symbolize/model/profile.h"

/* Levels of the tree printed at most (a deeper chain is cut, and says so). */
#define TREE_MAX_DEPTH 64

struct adump {
	FILE *f;
	const struct snapshot *s;
	bool *printed; /* per task */
};

/* What task i waits on, when it is one task: "[await task NAME]". */
static void await_line(const struct adump *d, uint32_t i, char *buf, size_t len)
{
	const struct snapshot_async_task *t = &d->s->async[i];

	snprintf(buf, len, "[await]");
	if (!t->suspended)
		return;
	if (t->n_awaits == 1)
		snprintf(buf, len, "[await task %s]", d->s->async[t->awaits[0]].name);
	else if (t->n_awaits > 1)
		snprintf(buf, len, "[await %u tasks]", t->n_awaits);
}

static void text_task(struct adump *d, uint32_t i, const char *prefix, bool last, int depth)
{
	const struct snapshot_async_task *t = &d->s->async[i];
	char pre[TREE_MAX_DEPTH * 6 + 8], why[SNAPSHOT_TASK_NAME_MAX + 32];
	uint32_t left = 0, seen = 0;

	d->printed[i] = true;
	snprintf(pre, sizeof(pre), "%s%s", prefix, depth ? (last ? "    " : "│   ") : "");
	fprintf(d->f, "%s%stask ", prefix, depth ? (last ? "└── " : "├── ") : "");
	term_put(d->f, t->name);
	fprintf(d->f, " (%s%s)\n", t->state, t->partial ? ", partial" : "");
	for (uint32_t k = 0; k < t->n_locs; k++) {
		int line;
		const struct profile_function *fn =
			profile__location_function(d->s->prof, t->locs[k], &line);

		fprintf(d->f, "%s      ", pre);
		profile__put_frame(d->f, d->s->prof, fn, line, term_put);
		fputc('\n', d->f);
	}
	if (t->suspended) {
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
	for (uint32_t k = 0; k < t->n_awaits; k++)
		left += !d->printed[t->awaits[k]];
	for (uint32_t k = 0; k < t->n_awaits; k++) {
		if (d->printed[t->awaits[k]])
			continue;
		text_task(d, t->awaits[k], pre, ++seen == left, depth + 1);
	}
}

static void text_dump(struct adump *d)
{
	const struct snapshot *s = d->s;
	uint64_t ts = 0;

	fprintf(d->f, "Process %d (", s->pid);
	term_put(d->f, s->comm);
	fprintf(d->f, "): Python %s, %u asyncio tasks\n", s->version, s->n_async);
	if (s->async_truncated)
		fprintf(d->f, "[truncated] more than %d tasks: the rest are not shown\n",
			SNAPSHOT_MAX_TASKS);
	if (s->async_errors)
		fprintf(d->f, "[partial] %u task lists were corrupt or changed while read\n",
			s->async_errors);
	/* Roots thread by thread (the list a task was made in), then what is left (a cycle). */
	for (int pass = 0, ts_set = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < s->n_async; i++) {
			const struct snapshot_async_task *t = &s->async[i];

			if (d->printed[i] || (pass == 0 && !t->root))
				continue;
			if (!ts_set || t->tstate != ts) {
				ts = t->tstate;
				ts_set = 1;
				if (t->tid > 0)
					fprintf(d->f, "Thread %d:\n", t->tid);
				else
					fprintf(d->f, "%s:\n", ts ? "Thread ?" : "Interpreter");
			}
			text_task(d, i, "  ", true, 0);
		}
	}
}

static void json_task(struct adump *d, uint32_t i)
{
	const struct snapshot_async_task *t = &d->s->async[i];
	const struct profile *p = d->s->prof;
	char why[SNAPSHOT_TASK_NAME_MAX + 32];

	fprintf(d->f, "{\"id\": \"0x%llx\", \"name\": ", (unsigned long long)t->addr);
	json_put_string(d->f, t->name);
	fprintf(d->f, ", \"state\": \"%s\", \"partial\": %s, ", t->state,
		t->partial ? "true" : "false");
	if (t->tid > 0)
		fprintf(d->f, "\"tid\": %d, ", t->tid);
	else
		fputs("\"tid\": null, ", d->f);
	await_line(d, i, why, sizeof(why));
	fputs("\"await\": ", d->f);
	json_put_string(d->f, t->suspended ? why : "");
	fputs(", \"awaited_by\": [", d->f);
	for (uint32_t k = 0; k < t->n_awaited_by; k++)
		fprintf(d->f, "%s\"0x%llx\"", k ? ", " : "", (unsigned long long)t->awaited_by[k]);
	fputs("], \"frames\": [", d->f);
	for (uint32_t k = 0; k < t->n_locs; k++) {
		int line;
		const struct profile_function *fn =
			profile__location_function(p, t->locs[k], &line);

		fputs(k ? ", {\"name\": " : "{\"name\": ", d->f);
		json_put_string(d->f, fn ? profile__str(p, fn->name) : "[unknown]");
		fputs(", \"file\": ", d->f);
		json_put_string(d->f, fn ? profile__str(p, fn->file) : "");
		if (line >= 0)
			fprintf(d->f, ", \"line\": %d}", line);
		else
			fputs(", \"line\": null}", d->f);
	}
	fputs("]}", d->f);
}

static void json_dump(struct adump *d)
{
	const struct snapshot *s = d->s;

	fprintf(d->f, "{\"pid\": %d, \"comm\": ", s->pid);
	json_put_string(d->f, s->comm);
	fprintf(d->f, ", \"python_version\": \"%s\", \"tasks_truncated\": %s, ", s->version,
		s->async_truncated ? "true" : "false");
	fprintf(d->f, "\"list_errors\": %u, \"tasks\": [", s->async_errors);
	for (uint32_t i = 0; i < s->n_async; i++) {
		fputs(i ? ",\n  " : "\n  ", d->f);
		json_task(d, i);
	}
	fputs("\n]}\n", d->f);
}

int dump_async(FILE *f, bool json, const struct snapshot *s)
{
	struct adump d = { .f = f, .s = s };

	d.printed = calloc(s->n_async ? s->n_async : 1, sizeof(*d.printed));
	if (!d.printed) {
		log_error("PID %d: out of memory for its tasks", s->pid);
		return -ENOMEM;
	}
	if (json)
		json_dump(&d);
	else
		text_dump(&d);
	free(d.printed);
	return 0;
}
