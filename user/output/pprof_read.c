// SPDX-License-Identifier: MIT
/* pprof_read.c - a pprof file (gzipped or raw) into the profile model, with every size and reference checked. */
#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "pprof_read.h"
#include "proto/profile.pb-c.h"
#include "symbolize/base/freeall.h"

typedef Perftools__Profiles__Profile pb_profile;
typedef Perftools__Profiles__Sample pb_sample;
typedef Perftools__Profiles__Label pb_label;
typedef Perftools__Profiles__Location pb_location;
typedef Perftools__Profiles__Function pb_function;

struct id_index {
	uint64_t id;
	uint32_t idx;
};

struct reader {
	const pb_profile *m;
	struct profile *into;
	struct id_index *fn_ids, *loc_ids; /* sorted by id */
	uint32_t *fn_map;		   /* function index -> our function id */
	uint32_t *fn_marker;		   /* function index -> PROFILE_STACK_* or 0 */
	uint32_t *loc_first, *loc_count;   /* location index -> its frames */
	uint32_t *loc_marker;		   /* location index -> PROFILE_STACK_* or 0 */
	uint32_t *frames;		   /* our location ids, innermost first */
	uint32_t *stack;		   /* scratch: one sample's frames */
	size_t value_idx;
};

/* --- bytes in --------------------------------------------------------------- */

/* --- lookups ------------------------------------------------------------------ */

static const char *str_at(const pb_profile *m, int64_t i)
{
	return i >= 0 && (uint64_t)i < m->n_string_table ? m->string_table[i] : NULL;
}

static int clamp_int(int64_t v)
{
	return v < INT_MIN ? INT_MIN : v > INT_MAX ? INT_MAX : (int)v;
}

static int cmp_id(const void *a, const void *b)
{
	uint64_t x = ((const struct id_index *)a)->id, y = ((const struct id_index *)b)->id;

	return x < y ? -1 : x > y;
}

/* Sorted id -> index table; ids must be unique and nonzero. */
static int index_ids(struct id_index **out, size_t n, uint64_t (*id_of)(const pb_profile *, size_t),
		     const pb_profile *m)
{
	struct id_index *t = calloc(n ? n : 1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	*out = t;
	for (size_t i = 0; i < n; i++)
		t[i] = (struct id_index){ id_of(m, i), (uint32_t)i };
	qsort(t, n, sizeof(*t), cmp_id);
	for (size_t i = 0; i < n; i++)
		if (!t[i].id || (i && t[i].id == t[i - 1].id))
			return -EINVAL;
	return 0;
}

/* Index of id in t, or -1. */
static int64_t find_id(const struct id_index *t, size_t n, uint64_t id)
{
	struct id_index key = { id, 0 };
	const struct id_index *e = bsearch(&key, t, n, sizeof(*t), cmp_id);

	return e ? (int64_t)e->idx : -1;
}

static uint64_t function_id(const pb_profile *m, size_t i)
{
	return m->function[i]->id;
}

static uint64_t location_id(const pb_profile *m, size_t i)
{
	return m->location[i]->id;
}

/* --- functions and locations ------------------------------------------------ */

static uint32_t marker_flag(const char *name, const char *file)
{
	if (*file)
		return 0;
	if (!strcmp(name, "[truncated]"))
		return PROFILE_STACK_TRUNCATED;
	if (!strcmp(name, "[partial]"))
		return PROFILE_STACK_PARTIAL;
	return 0;
}

/* Marker functions become stack flags, so they are added to `into` only if used as frames. */
#define NOT_YET UINT32_MAX

static int read_functions(struct reader *r)
{
	const pb_profile *m = r->m;
	int err;

	r->fn_map = calloc(m->n_function + 1, sizeof(*r->fn_map));
	r->fn_marker = calloc(m->n_function + 1, sizeof(*r->fn_marker));
	if (!r->fn_map || !r->fn_marker)
		return -ENOMEM;
	err = index_ids(&r->fn_ids, m->n_function, function_id, m);
	if (err)
		return err;
	for (size_t i = 0; i < m->n_function; i++) {
		const pb_function *f = m->function[i];
		const char *name = str_at(m, f->name), *file = str_at(m, f->filename);

		if (!name || !file)
			return -EINVAL;
		r->fn_marker[i] = marker_flag(name, file);
		r->fn_map[i] = NOT_YET;
		if (!r->fn_marker[i]) {
			r->fn_map[i] =
				profile__function(r->into, name, file, clamp_int(f->start_line));
			if (r->fn_map[i] == UINT32_MAX)
				return -ENOMEM;
		}
	}
	return 0;
}

/* Our location for the function at index f and a pprof line; UINT32_MAX on ENOMEM. */
static uint32_t our_location(struct reader *r, size_t f, int64_t line)
{
	const pb_function *fn = r->m->function[f];

	if (r->fn_map[f] == NOT_YET)
		r->fn_map[f] =
			profile__function(r->into, str_at(r->m, fn->name),
					  str_at(r->m, fn->filename), clamp_int(fn->start_line));
	if (r->fn_map[f] == UINT32_MAX)
		return UINT32_MAX;
	/* pprof's 0 is "no line", ours is -1. */
	return profile__location(r->into, r->fn_map[f], line > 0 ? clamp_int(line) : -1);
}

/* One of our locations per pprof Line; a Location without lines is [unknown]. */
static int read_location(struct reader *r, size_t i, uint32_t *next)
{
	const pb_location *l = r->m->location[i];
	int64_t f, f0 = -1;
	uint32_t id, fn;

	r->loc_first[i] = *next;
	r->loc_count[i] = l->n_line ? l->n_line : 1;
	if (!l->n_line) {
		fn = profile__function(r->into, "[unknown]", "", 0);
		id = fn == UINT32_MAX ? fn : profile__location(r->into, fn, -1);
		if (id == UINT32_MAX)
			return -ENOMEM;
		r->frames[(*next)++] = id;
		return 0;
	}
	for (size_t j = 0; j < l->n_line; j++) {
		f = find_id(r->fn_ids, r->m->n_function, l->line[j]->function_id);
		if (f < 0)
			return -EINVAL;
		f0 = j ? f0 : f;
	}
	if (l->n_line == 1 && r->fn_marker[f0]) {
		r->loc_marker[i] = r->fn_marker[f0];
		r->frames[(*next)++] = NOT_YET; /* made if the stack has it as a frame */
		return 0;
	}
	for (size_t j = 0; j < l->n_line; j++) {
		f = find_id(r->fn_ids, r->m->n_function, l->line[j]->function_id);
		id = our_location(r, f, l->line[j]->line);
		if (id == UINT32_MAX)
			return -ENOMEM;
		r->frames[(*next)++] = id;
	}
	return 0;
}

static int read_locations(struct reader *r)
{
	const pb_profile *m = r->m;
	size_t n_frames = 0;
	uint32_t next = 0;
	int err;

	for (size_t i = 0; i < m->n_location; i++)
		n_frames += m->location[i]->n_line ? m->location[i]->n_line : 1;
	/* Frames index with 32 bits; the input cap keeps far below that. */
	if (n_frames > UINT32_MAX)
		return -EFBIG;
	r->loc_first = calloc(m->n_location + 1, sizeof(*r->loc_first));
	r->loc_count = calloc(m->n_location + 1, sizeof(*r->loc_count));
	r->loc_marker = calloc(m->n_location + 1, sizeof(*r->loc_marker));
	r->frames = calloc(n_frames + 1, sizeof(*r->frames));
	if (!r->loc_first || !r->loc_count || !r->loc_marker || !r->frames)
		return -ENOMEM;
	err = index_ids(&r->loc_ids, m->n_location, location_id, m);
	for (size_t i = 0; !err && i < m->n_location; i++)
		err = read_location(r, i, &next);
	return err;
}

/* --- samples ------------------------------------------------------------------ */

/* The samples/count value, else the first one. */
static size_t pick_value(const pb_profile *m)
{
	for (size_t i = 0; i < m->n_sample_type; i++) {
		const char *type = str_at(m, m->sample_type[i]->type);
		const char *unit = str_at(m, m->sample_type[i]->unit);

		if (type && unit && !strcmp(type, "samples") && !strcmp(unit, "count"))
			return i;
	}
	return 0;
}

struct sample_labels {
	uint32_t pid, tid;
	const char *thread, *process;
};

static int read_labels(const pb_profile *m, const pb_sample *s, struct sample_labels *out)
{
	*out = (struct sample_labels){ 0 };
	for (size_t i = 0; i < s->n_label; i++) {
		const pb_label *l = s->label[i];
		const char *key = str_at(m, l->key);
		int num_ok = l->num >= 0 && l->num <= UINT32_MAX;

		if (!key)
			return -EINVAL;
		if (!strcmp(key, "pid") && num_ok)
			out->pid = (uint32_t)l->num;
		else if (!strcmp(key, "tid") && num_ok)
			out->tid = (uint32_t)l->num;
		else if (!strcmp(key, "thread_name") && l->str)
			out->thread = str_at(m, l->str);
		else if (!strcmp(key, "process") && l->str)
			out->process = str_at(m, l->str);
	}
	return 0;
}

/* The sample's frames into r->stack; returns their number, or -errno. */
static int64_t expand_stack(struct reader *r, const pb_sample *s, uint32_t *flags)
{
	size_t n = 0;

	*flags = 0;
	for (size_t j = 0; j < s->n_location_id; j++) {
		int64_t li = find_id(r->loc_ids, r->m->n_location, s->location_id[j]);

		if (li < 0)
			return -EINVAL;
		/* A marker at the root is the stack's flag, not a frame. */
		if (j == s->n_location_id - 1 && r->loc_marker[li]) {
			*flags |= r->loc_marker[li];
			break;
		}
		for (uint32_t k = 0; k < r->loc_count[li]; k++) {
			uint32_t *fr = &r->frames[r->loc_first[li] + k];

			if (n == PPROF_READ_MAX_FRAMES) {
				*flags |= PROFILE_STACK_TRUNCATED;
				return (int64_t)n;
			}
			if (*fr == NOT_YET) {
				const pb_location *l = r->m->location[li];

				*fr = our_location(r,
						   find_id(r->fn_ids, r->m->n_function,
							   l->line[0]->function_id),
						   l->line[0]->line);
				if (*fr == UINT32_MAX)
					return -ENOMEM;
			}
			r->stack[n++] = *fr;
		}
	}
	return (int64_t)n;
}

static int read_sample(struct reader *r, const pb_sample *s)
{
	struct sample_labels lb;
	uint32_t flags;
	int64_t n, w;
	int err;

	if (r->value_idx >= s->n_value)
		return -EINVAL;
	w = s->value[r->value_idx];
	if (w <= 0)
		return 0;
	err = read_labels(r->m, s, &lb);
	if (err)
		return err;
	n = expand_stack(r, s, &flags);
	if (n < 0)
		return (int)n;
	err = profile__add(r->into, lb.pid, lb.tid, flags, r->stack, (uint32_t)n, (uint64_t)w);
	if (err && err != -ENOSPC) /* -ENOSPC: over the cap, counted as dropped */
		return err;
	if (lb.process)
		profile__set_process_name(r->into, lb.pid, lb.process);
	if (lb.thread)
		profile__set_thread_name(r->into, lb.pid, lb.tid, lb.thread);
	return 0;
}

/* --- entry points ----------------------------------------------------------- */

static void reader_free(struct reader *r)
{
	FREE_ALL(r->fn_ids, r->loc_ids, r->fn_map, r->fn_marker, r->loc_first, r->loc_count,
		 r->loc_marker, r->frames, r->stack);
}

static int convert(const pb_profile *m, struct profile *into)
{
	struct reader r = { .m = m, .into = into };
	int err;

	/* string_table[0] must be "": a cheap check that this is a profile at all. */
	if (!m->n_string_table || m->string_table[0][0])
		return -EINVAL;
	r.value_idx = pick_value(m);
	r.stack = calloc(PPROF_READ_MAX_FRAMES, sizeof(*r.stack));
	err = r.stack ? read_functions(&r) : -ENOMEM;
	if (!err)
		err = read_locations(&r);
	for (size_t i = 0; !err && i < m->n_sample; i++)
		err = read_sample(&r, m->sample[i]);
	reader_free(&r);
	return err;
}

/*
 * protobuf-c decodes the whole message at once, and a few bytes of input
 * can decode to far more (an empty sample is 2 bytes, its struct ~100):
 * the allocator it is given stops at a budget.
 */
struct budget {
	size_t left;
	bool over;
};

static void *budget_alloc(void *data, size_t size)
{
	struct budget *b = data;

	if (size > b->left) {
		b->over = true;
		return NULL;
	}
	b->left -= size;
	return malloc(size);
}

static void budget_free(void *data, void *ptr)
{
	(void)data;
	free(ptr);
}

static int read_raw(const uint8_t *buf, size_t len, struct profile *into)
{
	struct budget b = { .left = PPROF_READ_MAX_DECODED };
	ProtobufCAllocator a = { budget_alloc, budget_free, &b };
	pb_profile *m = perftools__profiles__profile__unpack(&a, len, buf);
	int err;

	if (!m)
		return b.over ? -E2BIG : -EINVAL;
	err = convert(m, into);
	perftools__profiles__profile__free_unpacked(m, &a);
	return err;
}

int pprof_read_mem(const void *buf, size_t len, struct profile *into)
{
	const uint8_t *b = buf;
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	int err;

	if (len > PPROF_READ_MAX_BYTES)
		return -EFBIG;
	/* gzip magic; a raw Profile never starts with 0x1f (field 3, wire type 7 is invalid). */
	if (len >= 2 && b[0] == 0x1f && b[1] == 0x8b) {
		err = bytes_inflate(b, len, PPROF_READ_MAX_BYTES, &raw, &raw_len);
		if (!err)
			err = read_raw(raw, raw_len, into);
		free(raw);
		return err;
	}
	return read_raw(b, len, into);
}

int pprof_read(const char *path, struct profile *into)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int err = bytes_read_file(path, PPROF_READ_MAX_BYTES, &buf, &len);

	if (!err)
		err = pprof_read_mem(buf, len, into);
	free(buf);
	return err;
}
