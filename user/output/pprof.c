// SPDX-License-Identifier: MIT
/*
 * pprof.c - gzipped pprof profile.proto, the format `go tool pprof`,
 * Pyroscope, Parca and most profile viewers read.
 *
 * Each profile function becomes a pprof Function, each (function, line)
 * location a Location with one Line, each stack a Sample whose location
 * ids run innermost first, as pprof wants.  Values are samples/count and
 * cpu/nanoseconds (count x the sampling period); labels carry pid, tid,
 * thread_name and process.  A [truncated] or [partial] stack gets a marker
 * function at its root, like the folded output.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "symbolize/base/hash.h" /* before uthash.h: its HASH_FUNCTION */
#include <uthash.h>
#include <zlib.h>

#include "output.h"
#include "proto/profile.pb-c.h"
#include "symbolize/base/grow.h"
#include "symbolize/base/freeall.h"

typedef Perftools__Profiles__Profile pb_profile;
typedef Perftools__Profiles__ValueType pb_value_type;
typedef Perftools__Profiles__Sample pb_sample;
typedef Perftools__Profiles__Label pb_label;
typedef Perftools__Profiles__Mapping pb_mapping;
typedef Perftools__Profiles__Location pb_location;
typedef Perftools__Profiles__Line pb_line;
typedef Perftools__Profiles__Function pb_function;

#define NSEC_PER_SEC 1000000000ull
/* pid, tid, thread_name, process, the container ones (container_labels), task */
#define MAX_LABELS 10
#define N_MARKERS  2 /* [truncated], [partial] */
#define MAPPING_ID 1

/* --- string table ---------------------------------------------------------- */

struct str_entry {
	UT_hash_handle hh;
	int64_t idx;
	char s[];
};

struct strtab {
	struct str_entry *h;
	char **v; /* pprof index -> string, owned by the entries */
	size_t n, cap;
};

/* Index of s in the table, added if new; -ENOMEM on failure. */
static int64_t strtab_add(struct strtab *t, const char *s)
{
	size_t len = strlen(s);
	struct str_entry *e;

	HASH_FIND(hh, t->h, s, len, e);
	if (e)
		return e->idx;
	if (ARRAY_ROOM(t->v, t->n + 1, t->cap, 256))
		return -ENOMEM;
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return -ENOMEM;
	memcpy(e->s, s, len + 1);
	e->idx = (int64_t)t->n;
	HASH_ADD(hh, t->h, s[0], len, e);
	t->v[t->n] = e->s;
	return (int64_t)t->n++;
}

static void strtab_free(struct strtab *t)
{
	HASH_CLEAR_FREE(hh, t->h, free);
	free(t->v);
}

/* --- building the message ------------------------------------------------ */

struct build {
	const struct profile *p;
	const struct output_opts *o;
	struct strtab st;
	int64_t period;
	int64_t k_pid, k_tid, k_thread, k_process, k_task; /* label keys */
	uint32_t flags_seen;				   /* PROFILE_STACK_* in any stack */

	pb_function *funcs;
	pb_function **func_ptrs;
	size_t n_funcs;
	pb_location *locs;
	pb_location **loc_ptrs;
	pb_line *lines;
	pb_line **line_ptrs;
	size_t n_locs;
	uint64_t marker_loc[N_MARKERS]; /* location id of [truncated], [partial] */

	pb_sample *samples;
	pb_sample **sample_ptrs;
	size_t n_samples, cap_samples;
	uint64_t *loc_ids;
	size_t n_loc_ids, cap_loc_ids;
	int64_t *values;
	pb_label *labels;
	pb_label **label_ptrs;
	size_t n_labels;
	pb_mapping *maps; /* [0]: the Python one; then the profile's, in order */
	pb_mapping **map_ptrs;
	size_t n_maps;
	int err;
};

static const char *const marker_names[N_MARKERS] = { "[truncated]", "[partial]" };
static const uint32_t marker_flags[N_MARKERS] = { PROFILE_STACK_TRUNCATED, PROFILE_STACK_PARTIAL };

/* Interns s, latching the first failure in b->err; returns 0 after one. */
static int64_t str(struct build *b, const char *s)
{
	int64_t i;

	if (b->err)
		return 0;
	i = strtab_add(&b->st, s ? s : "");
	if (i < 0) {
		b->err = (int)i;
		return 0;
	}
	return i;
}

/* Pass 1: how many samples and location ids, and which markers are used. */
static int count_stack(struct build *b, const struct profile_stack *s)
{

	b->cap_samples++;
	b->cap_loc_ids += s->n + 1;
	b->flags_seen |= s->flags;
	return 0;
}

/*
 * pprof's demangler "simplifies" any name whose system_name equals it as
 * if it were C++: `<module>` loses its <...> and shows as [python] (the
 * mapping) in `go tool pprof -top`.  A system_name that differs tells
 * pprof the name is final, so Python's qualname is shown untouched.  We
 * use FILE:QUALNAME, like Python's own module:qualname notation; a marker
 * without a file keeps its name, which has nothing pprof would strip.
 */
static void set_function(struct build *b, pb_function *f, uint64_t id, const char *name,
			 const char *file, int start_line)
{
	char *sys = NULL;

	perftools__profiles__function__init(f);
	f->id = id;
	f->name = str(b, name);
	f->filename = str(b, file);
	f->start_line = start_line;
	if (!*file) {
		f->system_name = f->name;
	} else if (asprintf(&sys, "%s:%s", file, name) < 0) {
		b->err = b->err ? b->err : -ENOMEM;
	} else {
		f->system_name = str(b, sys);
		free(sys);
	}
}

static void set_location(struct build *b, size_t i, uint64_t fn_id, int line,
			 const struct profile_location *at)
{
	pb_location *l = &b->locs[i];
	pb_line *ln = &b->lines[i];

	perftools__profiles__line__init(ln);
	ln->function_id = fn_id;
	ln->line = line > 0 ? line : 0; /* 0: unknown */
	b->line_ptrs[i] = ln;
	perftools__profiles__location__init(l);
	l->id = i + 1;
	/* Native frames: their object's mapping and a link-time address in it. */
	l->mapping_id = at && at->mapping ? MAPPING_ID + at->mapping : MAPPING_ID;
	l->address = at && at->mapping ? at->address : 0;
	l->n_line = 1;
	l->line = &b->line_ptrs[i];
	b->loc_ptrs[i] = l;
}

/* Functions and locations keep the profile's ids, plus one: pprof ids are nonzero. */
static int build_functions(struct build *b)
{
	const struct profile *p = b->p;
	size_t nf = profile__n_functions(p), nl = profile__n_locations(p);
	size_t i;

	b->funcs = calloc(nf + N_MARKERS, sizeof(*b->funcs));
	b->func_ptrs = calloc(nf + N_MARKERS, sizeof(*b->func_ptrs));
	b->locs = calloc(nl + N_MARKERS, sizeof(*b->locs));
	b->loc_ptrs = calloc(nl + N_MARKERS, sizeof(*b->loc_ptrs));
	b->lines = calloc(nl + N_MARKERS, sizeof(*b->lines));
	b->line_ptrs = calloc(nl + N_MARKERS, sizeof(*b->line_ptrs));
	if (!b->funcs || !b->func_ptrs || !b->locs || !b->loc_ptrs || !b->lines || !b->line_ptrs)
		return -ENOMEM;
	for (i = 0; i < nf; i++) {
		const struct profile_function *fn = profile__get_function(p, i);

		set_function(b, &b->funcs[i], i + 1, profile__str(p, fn->name),
			     profile__str(p, fn->file), fn->start_line);
		b->func_ptrs[i] = &b->funcs[i];
	}
	for (i = 0; i < nl; i++) {
		const struct profile_location *loc = profile__get_location(p, i);

		set_location(b, i, loc->function + 1, loc->line, loc);
	}
	b->n_funcs = nf;
	b->n_locs = nl;
	for (int m = 0; m < N_MARKERS; m++) {
		if (!(b->flags_seen & marker_flags[m]))
			continue;
		set_function(b, &b->funcs[b->n_funcs], b->n_funcs + 1, marker_names[m], "", 0);
		b->func_ptrs[b->n_funcs] = &b->funcs[b->n_funcs];
		b->n_funcs++;
		set_location(b, b->n_locs, b->n_funcs, -1, NULL);
		b->marker_loc[m] = ++b->n_locs;
	}
	return b->err;
}

static int alloc_samples(struct build *b)
{
	size_t n = b->cap_samples ? b->cap_samples : 1;

	b->samples = calloc(n, sizeof(*b->samples));
	b->sample_ptrs = calloc(n, sizeof(*b->sample_ptrs));
	b->loc_ids = calloc(b->cap_loc_ids ? b->cap_loc_ids : 1, sizeof(*b->loc_ids));
	b->values = calloc(2 * n, sizeof(*b->values));
	b->labels = calloc(MAX_LABELS * n, sizeof(*b->labels));
	b->label_ptrs = calloc(MAX_LABELS * n, sizeof(*b->label_ptrs));
	if (!b->samples || !b->sample_ptrs || !b->loc_ids || !b->values || !b->labels ||
	    !b->label_ptrs)
		return -ENOMEM;
	return 0;
}

static pb_label *add_label(struct build *b, int64_t key)
{
	pb_label *l = &b->labels[b->n_labels];

	perftools__profiles__label__init(l);
	l->key = key;
	b->label_ptrs[b->n_labels++] = l;
	return l;
}

/* Process labels (symbolize/container.c) -> pprof label keys, as Parca and
 * Pyroscope users filter on them. */
static const char *const container_labels[][2] = {
	{ PROFILE_LABEL_CONTAINER_ID, "container_id" },
	{ PROFILE_LABEL_POD_NAME, "pod" },
	{ PROFILE_LABEL_POD_NAMESPACE, "namespace" },
	{ PROFILE_LABEL_POD_UID, "pod_uid" },
	{ PROFILE_LABEL_NS_PID, "ns_pid" },
};

#define N_CONTAINER_LABELS (sizeof(container_labels) / sizeof(container_labels[0]))

static void add_labels(struct build *b, pb_sample *smp, const struct profile_stack *s)
{
	const char *thread = profile__thread_name(b->p, s->pid, s->tid);
	const char *comm = profile__process_name(b->p, s->pid);

	smp->label = &b->label_ptrs[b->n_labels];
	add_label(b, b->k_pid)->num = s->pid;
	add_label(b, b->k_tid)->num = s->tid;
	if (thread)
		add_label(b, b->k_thread)->str = str(b, thread);
	if (comm)
		add_label(b, b->k_process)->str = str(b, comm);
	for (size_t i = 0; i < N_CONTAINER_LABELS; i++) {
		const char *v = profile__process_label(b->p, s->pid, container_labels[i][0]);

		if (v)
			add_label(b, str(b, container_labels[i][1]))->str = str(b, v);
	}
	/* --async: the task the sample ran (or waited) in, its innermost. */
	for (uint32_t i = 0; i < s->n; i++) {
		const struct profile_location *loc = profile__get_location(b->p, s->locs[i]);
		const struct profile_function *fn =
			loc ? profile__get_function(b->p, loc->function) : NULL;

		if (profile__is_task(b->p, fn)) {
			add_label(b, b->k_task)->str = str(b, profile__str(b->p, fn->name) + 5);
			break;
		}
	}
	smp->n_label = &b->label_ptrs[b->n_labels] - smp->label;
}

/* Pass 2: one Sample per stack, in the profile's order. */
static int add_sample(struct build *b, const struct profile_stack *s)
{
	pb_sample *smp;
	uint64_t *ids;

	/* The profile cannot change between passes; this is a guard, not a path. */
	if (b->n_samples == b->cap_samples || b->n_loc_ids + s->n + 1 > b->cap_loc_ids)
		return b->err = -EAGAIN;
	smp = &b->samples[b->n_samples];
	perftools__profiles__sample__init(smp);
	ids = &b->loc_ids[b->n_loc_ids];
	for (uint32_t i = 0; i < s->n; i++)
		ids[i] = (uint64_t)s->locs[i] + 1;
	smp->n_location_id = s->n;
	for (int m = 0; m < N_MARKERS; m++) {
		if (s->flags & marker_flags[m]) {
			ids[smp->n_location_id++] = b->marker_loc[m];
			break; /* one marker, as in the folded output */
		}
	}
	smp->location_id = ids;
	b->n_loc_ids += smp->n_location_id;
	smp->value = &b->values[2 * b->n_samples];
	if (b->o->value_type) {
		/* The weight is already in the unit (ns, bytes): one value. */
		smp->n_value = 1;
		smp->value[0] = (int64_t)s->weight;
	} else {
		smp->n_value = 2;
		smp->value[0] = (int64_t)s->weight;
		smp->value[1] = (int64_t)s->weight * b->period;
	}
	add_labels(b, smp, s);
	b->sample_ptrs[b->n_samples++] = smp;
	return b->err;
}

static void build_free(struct build *b)
{
	FREE_ALL(b->funcs, b->func_ptrs, b->locs, b->loc_ptrs, b->lines, b->line_ptrs, b->samples,
		 b->sample_ptrs, b->loc_ids, b->values, b->labels, b->label_ptrs, b->maps,
		 b->map_ptrs);
	strtab_free(&b->st);
}

/* --- gzip sink --------------------------------------------------------------- */

/* protobuf-c packs into this buffer; it deflates straight into the FILE. */
struct gz_sink {
	ProtobufCBuffer base; /* first: protobuf-c hands back this pointer */
	z_stream zs;
	FILE *f;
	int err;
	unsigned char out[1 << 16];
};

static int gz_drain(struct gz_sink *g)
{
	size_t n = sizeof(g->out) - g->zs.avail_out;

	if (n && fwrite(g->out, 1, n, g->f) != n)
		return errno ? -errno : -EIO;
	g->zs.next_out = g->out;
	g->zs.avail_out = sizeof(g->out);
	return 0;
}

static int gz_push(struct gz_sink *g, const uint8_t *data, size_t len, int flush)
{
	int ret;

	do {
		/* avail_in is 32 bits: feed big appends in slices. */
		uInt chunk = len > (1u << 30) ? 1u << 30 : (uInt)len;

		g->zs.next_in = (Bytef *)data;
		g->zs.avail_in = chunk;
		data += chunk;
		len -= chunk;
		do {
			ret = deflate(&g->zs, len ? Z_NO_FLUSH : flush);
			if (ret == Z_STREAM_ERROR)
				return -EIO;
			if (g->zs.avail_out == 0 || ret == Z_STREAM_END) {
				int err = gz_drain(g);

				if (err)
					return err;
			}
		} while (g->zs.avail_in || (flush == Z_FINISH && !len && ret != Z_STREAM_END));
	} while (len);
	return 0;
}

static void gz_append(ProtobufCBuffer *buf, size_t len, const uint8_t *data)
{
	struct gz_sink *g = (struct gz_sink *)buf;

	if (!g->err)
		g->err = gz_push(g, data, len, Z_NO_FLUSH);
}

static int write_gzipped(const pb_profile *msg, FILE *f)
{
	struct gz_sink *g = calloc(1, sizeof(*g));
	int err;

	if (!g)
		return -ENOMEM;
	g->base.append = gz_append;
	g->f = f;
	/* 15 + 16: a gzip header and trailer, as pprof files have. */
	if (deflateInit2(&g->zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK) {
		free(g);
		return -ENOMEM;
	}
	g->zs.next_out = g->out;
	g->zs.avail_out = sizeof(g->out);
	perftools__profiles__profile__pack_to_buffer(msg, &g->base);
	err = g->err;
	if (!err)
		err = gz_push(g, (const uint8_t *)"", 0, Z_FINISH);
	deflateEnd(&g->zs);
	free(g);
	return err;
}

/* --- the writer ------------------------------------------------------------ */

/*
 * Mapping 1 holds what is resolved here and has no file (Python code,
 * kernel frames, markers); the native objects follow, at link-time
 * addresses, with their file and build-id, so pprof could symbolize them.
 */
static int build_mappings(struct build *b)
{
	uint32_t n = profile__n_mappings(b->p);

	b->maps = calloc(n + 1, sizeof(*b->maps));
	b->map_ptrs = calloc(n + 1, sizeof(*b->map_ptrs));
	if (!b->maps || !b->map_ptrs)
		return -ENOMEM;
	for (uint32_t i = 0; i <= n; i++) {
		pb_mapping *m = &b->maps[i];

		perftools__profiles__mapping__init(m);
		m->id = MAPPING_ID + i;
		m->has_functions = m->has_filenames = m->has_line_numbers = 1;
		b->map_ptrs[i] = m;
		if (!i) {
			m->filename = str(b, "python");
			continue;
		}
		const struct profile_mapping *pm = profile__get_mapping(b->p, i);

		m->filename = str(b, profile__str(b->p, pm->file));
		m->build_id = str(b, profile__str(b->p, pm->build_id));
		m->memory_start = pm->start;
		m->memory_limit = pm->limit;
		m->file_offset = pm->offset;
	}
	b->n_maps = n + 1;
	return b->err;
}

static int fill_header(struct build *b, pb_profile *msg, pb_value_type vt[3],
		       pb_value_type *vt_ptrs[2])
{
	for (int i = 0; i < 3; i++)
		perftools__profiles__value_type__init(&vt[i]);
	vt[0].type = str(b, "samples");
	vt[0].unit = str(b, "count");
	vt[1].type = str(b, "cpu");
	vt[1].unit = str(b, "nanoseconds");
	vt[2] = vt[1];
	vt_ptrs[0] = &vt[0];
	vt_ptrs[1] = &vt[1];
	msg->n_sample_type = 2;
	msg->sample_type = vt_ptrs;
	msg->period_type = &vt[2];
	msg->period = b->period;
	if (b->o->value_type) {
		/* Off-CPU, wall and memory profiles: one value in its own unit. */
		vt[0].type = str(b, b->o->value_type);
		vt[0].unit = str(b, b->o->value_unit);
		vt[2] = vt[0];
		msg->n_sample_type = 1;
		msg->period = 1;
	}
	msg->time_nanos = (int64_t)b->o->start_unix_ns;
	msg->duration_nanos = b->o->duration_s > 0 ? (int64_t)(b->o->duration_s * 1e9 + 0.5) : 0;
	/* The cpu/nanoseconds view is the one pprof opens with. */
	msg->default_sample_type = msg->sample_type[msg->n_sample_type - 1]->type;
	b->k_pid = str(b, "pid");
	b->k_tid = str(b, "tid");
	b->k_thread = str(b, "thread_name");
	b->k_process = str(b, "process");
	b->k_task = str(b, "task");
	return b->err;
}

static int pprof_write(const struct profile *p, const struct output_opts *o, FILE *f)
{
	struct profile_stack_iter it;
	struct profile_stack s;
	struct build b = { .p = p, .o = o };
	pb_profile msg = PERFTOOLS__PROFILES__PROFILE__INIT;
	pb_value_type vt[3], *vt_ptrs[2];
	int err;

	b.period = o->rate_hz ? (int64_t)(NSEC_PER_SEC / o->rate_hz) : 0;
	str(&b, ""); /* first, as string_table[0] must be "" */
	err = b.err;
	if (!err)
		err = fill_header(&b, &msg, vt, vt_ptrs);
	if (!err)
		err = build_mappings(&b);
	it = profile__stacks(p);
	while (!err && profile_stack_iter__next(&it, &s) && !count_stack(&b, &s))
		;
	if (!err)
		err = build_functions(&b);
	if (!err)
		err = alloc_samples(&b);
	if (!err) {
		it = profile__stacks(p);
		while (profile_stack_iter__next(&it, &s) && !add_sample(&b, &s))
			;
		err = b.err;
	}
	if (!err) {
		msg.n_mapping = b.n_maps;
		msg.mapping = b.map_ptrs;
		msg.n_function = b.n_funcs;
		msg.function = b.func_ptrs;
		msg.n_location = b.n_locs;
		msg.location = b.loc_ptrs;
		msg.n_sample = b.n_samples;
		msg.sample = b.sample_ptrs;
		msg.n_string_table = b.st.n;
		msg.string_table = b.st.v;
		err = write_gzipped(&msg, f);
	}
	if (!err && ferror(f))
		err = -EIO;
	build_free(&b);
	return err;
}

static const char *const pprof_exts[] = { ".pb.gz", ".pprof", NULL };

const struct output_writer output_pprof = {
	.name = "pprof",
	.exts = pprof_exts,
	.write = pprof_write,
};
