// SPDX-License-Identifier: MIT
/*
 * speedscope.c - speedscope's JSON file format: frames shared, one
 * "sampled" profile per thread, so speedscope's thread picker works.
 *
 * Samples are frame-index arrays root first, which is the order speedscope
 * reads them in (its importer walks each array from the call-tree root
 * down).  Weights are sample counts and the unit is "none": counts are
 * exact integers, the same numbers the folded output and the summary
 * show, whereas seconds would only be count / rate rounded; the rate and
 * the duration are in the file's name instead.  In the modes whose
 * weights are already nanoseconds or bytes (output_opts.value_unit),
 * speedscope is told that unit, so it shows times and sizes.  A stack cut at the depth
 * limit or by a faulting walk starts with a `[truncated]` / `[partial]`
 * frame, as in the folded output.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "symbolize/base/escape.h"
#include "symbolize/base/grow.h"

#define SCHEMA_URL "https://www.speedscope.app/file-format-schema.json"
#define NO_FRAME   UINT32_MAX

enum {
	MARK_TRUNCATED,
	MARK_PARTIAL,
	N_MARKS
};

static const char *const mark_names[N_MARKS] = { "[truncated]", "[partial]" };

struct item {
	struct profile_stack s;
	size_t seq; /* insertion order, so the sort is stable */
};

struct ss {
	const struct profile *p;
	struct item *items;
	size_t n, cap;
	uint32_t *frame_of; /* location id -> frame index */
	uint32_t *loc_of;   /* frame index -> location id, or UINT32_MAX - mark */
	uint32_t n_frames;
	uint32_t mark_frame[N_MARKS];
	const char *unit; /* speedscope's ValueUnit */
};

static int collect(struct ss *c, const struct profile_stack *s)
{

	if (ARRAY_ROOM(c->items, c->n + 1, c->cap, 256))
		return -ENOMEM;
	c->items[c->n] = (struct item){ *s, c->n };
	c->n++;
	return 0;
}

/* Processes by PID; in each, the main thread (TID == PID) first, then by TID. */
static int thread_rank(uint32_t pid, uint32_t tid)
{
	return tid != pid;
}

static int cmp_item(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->s.pid != y->s.pid)
		return x->s.pid < y->s.pid ? -1 : 1;
	if (thread_rank(x->s.pid, x->s.tid) != thread_rank(y->s.pid, y->s.tid))
		return thread_rank(x->s.pid, x->s.tid) - thread_rank(y->s.pid, y->s.tid);
	if (x->s.tid != y->s.tid)
		return x->s.tid < y->s.tid ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int same_thread(const struct item *a, const struct item *b)
{
	return a->s.pid == b->s.pid && a->s.tid == b->s.tid;
}

static int mark_of(const struct profile_stack *s)
{
	if (s->flags & PROFILE_STACK_TRUNCATED)
		return MARK_TRUNCATED;
	if (s->flags & PROFILE_STACK_PARTIAL)
		return MARK_PARTIAL;
	return -1;
}

/* Frame indices in first-use order, so only frames that occur are listed. */
static int number_frames(struct ss *c)
{
	uint32_t n_locs = profile__n_locations(c->p);
	size_t i;

	c->frame_of = malloc((n_locs + 1) * sizeof(*c->frame_of));
	c->loc_of = malloc((n_locs + N_MARKS + 1) * sizeof(*c->loc_of));
	if (!c->frame_of || !c->loc_of)
		return -ENOMEM;
	memset(c->frame_of, 0xff, (n_locs + 1) * sizeof(*c->frame_of));
	for (i = 0; i < N_MARKS; i++)
		c->mark_frame[i] = NO_FRAME;
	for (i = 0; i < c->n; i++) {
		const struct profile_stack *s = &c->items[i].s;
		int m = mark_of(s);

		if (m >= 0 && c->mark_frame[m] == NO_FRAME) {
			c->mark_frame[m] = c->n_frames;
			c->loc_of[c->n_frames++] = UINT32_MAX - m;
		}
		for (uint32_t j = s->n; j-- > 0;) {
			uint32_t loc = s->locs[j] < n_locs ? s->locs[j] : n_locs;

			if (c->frame_of[loc] == NO_FRAME) {
				c->frame_of[loc] = c->n_frames;
				c->loc_of[c->n_frames++] = loc;
			}
		}
	}
	return 0;
}

static void put_frame(FILE *f, const struct profile *p, uint32_t loc_id)
{
	const struct profile_location *loc = profile__get_location(p, loc_id);
	const struct profile_function *fn = loc ? profile__get_function(p, loc->function) : NULL;

	fputs("{\"name\":", f);
	if (loc_id >= UINT32_MAX - N_MARKS + 1) {
		json_put_string(f, mark_names[UINT32_MAX - loc_id]);
	} else if (!fn) {
		json_put_string(f, "[unknown]");
	} else {
		json_put_string(f, profile__str(p, fn->name));
		/*
		 * speedscope colours a frame by where its file + name sorts
		 * among all frames' (it has no colour field): a file after
		 * every path puts the task frames at one end of its palette.
		 */
		if (profile__is_task(p, fn))
			fputs(",\"file\":\"\xe2\x9f\xa8"
			      "asyncio task"
			      "\xe2\x9f\xa9\"",
			      f);
		else if (fn->file) {
			fputs(",\"file\":", f);
			json_put_string(f, profile__str(p, fn->file));
		}
		if (loc->line >= 0)
			fprintf(f, ",\"line\":%d", loc->line);
	}
	fputc('}', f);
}

/*
 * "container ... / pod ... / process PID (COMM) / thread TID (NAME)": the
 * container and pod only when --group-by asks for them; a profile is
 * always one thread, so process and thread are always named.
 */
static void put_thread_name(FILE *f, const struct profile *p, const struct output_opts *o,
			    uint32_t pid, uint32_t tid)
{
	static const uint8_t always[] = { OUTPUT_GROUP_PROCESS, OUTPUT_GROUP_THREAD };
	uint8_t groups[OUTPUT_MAX_GROUPS];
	int n = output_group__effective(o, groups);
	char frame[512], name[2048] = "";
	size_t off = 0;

	for (int i = 0; i < n; i++) {
		if (groups[i] != OUTPUT_GROUP_CONTAINER && groups[i] != OUTPUT_GROUP_POD)
			continue;
		output_group__frame(p, groups[i], pid, tid, frame, sizeof(frame));
		off += snprintf(name + off, sizeof(name) - off, "%s / ", frame);
		if (off >= sizeof(name))
			off = sizeof(name) - 1;
	}
	for (size_t i = 0; i < sizeof(always); i++) {
		output_group__frame(p, always[i], pid, tid, frame, sizeof(frame));
		off += snprintf(name + off, sizeof(name) - off, "%s%s", i ? " / " : "", frame);
		if (off >= sizeof(name))
			off = sizeof(name) - 1;
	}
	json_put_string(f, name);
}

static void put_samples(FILE *f, const struct ss *c, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		const struct profile_stack *s = &c->items[i].s;
		uint32_t n_locs = profile__n_locations(c->p);
		int m = mark_of(s), sep = 0;

		fputs(i > from ? ",\n[" : "\n[", f);
		if (m >= 0) {
			fprintf(f, "%u", c->mark_frame[m]);
			sep = 1;
		}
		for (uint32_t j = s->n; j-- > 0;) {
			uint32_t loc = s->locs[j] < n_locs ? s->locs[j] : n_locs;

			fprintf(f, "%s%u", sep ? "," : "", c->frame_of[loc]);
			sep = 1;
		}
		fputc(']', f);
	}
}

/* One thread's profile: items [from, to) all share its pid and tid. */
static void put_profile(FILE *f, const struct ss *c, const struct output_opts *o, size_t from,
			size_t to)
{
	const struct profile_stack *first = &c->items[from].s;
	uint64_t total = 0;
	size_t i;

	for (i = from; i < to; i++)
		total += c->items[i].s.weight;
	fputs("{\"type\":\"sampled\",\"name\":", f);
	put_thread_name(f, c->p, o, first->pid, first->tid);
	fprintf(f, ",\"unit\":\"%s\",\"startValue\":0,\"endValue\":%" PRIu64 ",\n\"samples\":[",
		c->unit, total);
	put_samples(f, c, from, to);
	fputs("],\n\"weights\":[", f);
	for (i = from; i < to; i++)
		fprintf(f, "%s%" PRIu64, i > from ? "," : "", c->items[i].s.weight);
	fputs("]}", f);
}

/* Index of the thread with the most samples: the one speedscope opens on. */
static size_t heaviest_thread(const struct ss *c)
{
	uint64_t best = 0, w = 0;
	size_t i, idx = 0, best_idx = 0;

	for (i = 0; i < c->n; i++) {
		if (i && !same_thread(&c->items[i], &c->items[i - 1])) {
			idx++;
			w = 0;
		}
		w += c->items[i].s.weight;
		if (w > best) {
			best = w;
			best_idx = idx;
		}
	}
	return best_idx;
}

/* speedscope's name for the weights' unit; "none" for counts and anything it lacks. */
static const char *unit_of(const struct output_opts *o)
{
	static const char *const known[] = { "nanoseconds", "microseconds", "milliseconds",
					     "seconds", "bytes" };

	for (size_t i = 0; o->value_unit && i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(o->value_unit, known[i]))
			return known[i];
	return "none";
}

static void put_header(FILE *f, const struct ss *c, const struct output_opts *o)
{
	char *name;
	int n;

	fputs("{\"$schema\":\"" SCHEMA_URL "\",\n", f);
	fputs("\"exporter\":\"pyspy-bpf " PYSPY_VERSION "\",\n", f);
	if (o->value_type)
		n = asprintf(&name, "pyspy-bpf %s: %" PRIu64 " %s over %.1f s", o->value_type,
			     profile__total_weight(c->p), o->value_unit ? o->value_unit : "",
			     o->duration_s);
	else
		n = asprintf(&name, "pyspy-bpf: %" PRIu64 " samples at %u Hz over %.1f s",
			     profile__total_weight(c->p), o->rate_hz, o->duration_s);
	fputs("\"name\":", f);
	json_put_string(f, n < 0 ? "pyspy-bpf" : name);
	if (n >= 0)
		free(name);
	fprintf(f, ",\n\"activeProfileIndex\":%zu,\n", heaviest_thread(c));
}

static int speedscope_write(const struct profile *p, const struct output_opts *o, FILE *f)
{
	struct profile_stack_iter it;
	struct profile_stack s;
	struct ss c = { .p = p, .unit = unit_of(o) };
	size_t i, j;
	int err;

	it = profile__stacks(p);
	err = 0;
	while (!err && profile_stack_iter__next(&it, &s))
		err = collect(&c, &s);
	if (!err && c.n)
		qsort(c.items, c.n, sizeof(*c.items), cmp_item);
	if (!err)
		err = number_frames(&c);
	if (!err) {
		put_header(f, &c, o);
		fputs("\"shared\":{\"frames\":[", f);
		for (i = 0; i < c.n_frames; i++) {
			fputs(i ? ",\n" : "\n", f);
			put_frame(f, p, c.loc_of[i]);
		}
		fputs("]},\n\"profiles\":[", f);
		for (i = 0; i < c.n; i = j) {
			for (j = i + 1; j < c.n && same_thread(&c.items[j], &c.items[i]); j++)
				;
			fputs(i ? ",\n" : "\n", f);
			put_profile(f, &c, o, i, j);
		}
		fputs("]}\n", f);
		if (ferror(f))
			err = -EIO;
	}
	free(c.items);
	free(c.frame_of);
	free(c.loc_of);
	return err;
}

static const char *const speedscope_exts[] = { ".speedscope.json", NULL };

const struct output_writer output_speedscope = {
	.name = "speedscope",
	.exts = speedscope_exts,
	.write = speedscope_write,
};
