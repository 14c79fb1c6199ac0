// SPDX-License-Identifier: MIT
/*
 * diff.c - the `diff` verb: what changed between two recordings of one
 * program, per function: own and total share before, after and the
 * change, as a table, and as a differential flame graph.
 *
 * Shares by default, because two recordings rarely last equally long or
 * sample at one rate: a function that went from a third to half of all
 * samples grew whatever the run lengths.  --absolute compares weights in
 * the files' own unit instead (see absolute_unit()).
 */
#include <argp.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "user/base/hash.h" /* before uthash.h: its HASH_FUNCTION */
#include <uthash.h>

#include "common.h"
#include "diff.h"
#include "user/base/cli.h"
#include "user/base/log.h"
#include "user/model/profile.h"
#include "user/model/rollup.h"
#include "user/output/load.h"
#include "user/output/output.h"
#include "user/output/pprof_read.h"
#include "user/output/svg.h"

#define NONE	    UINT32_MAX
#define DEFAULT_TOP 20
#define COL_W	    14 /* columns of numbers */

/* --- rows: the arithmetic ------------------------------------------------------- */

struct fn_entry {
	UT_hash_handle hh;
	uint32_t row;
};

struct builder {
	struct diff_row *rows;
	size_t n, cap;
	struct fn_entry *by_key; /* "name\0file" -> row */
	const struct profile *p;
	int side;
	uint32_t *loc_row; /* location id of p -> row, NONE until seen */
	uint32_t n_locs;
};

/* The row of function (name, file), made if new; NONE on ENOMEM. */
static uint32_t find_or_add(struct builder *b, const char *name, const char *file)
{
	size_t ln = strlen(name), lf = strlen(file), keylen = ln + 1 + lf;
	struct fn_entry *e;
	char *key;

	key = malloc(keylen + 1);
	if (!key)
		return NONE;
	memcpy(key, name, ln + 1);
	memcpy(key + ln + 1, file, lf + 1);
	HASH_FIND(hh, b->by_key, key, keylen, e);
	if (e) {
		free(key);
		return e->row;
	}
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		struct diff_row *rows = realloc(b->rows, cap * sizeof(*rows));

		if (!rows) {
			free(key);
			return NONE;
		}
		b->rows = rows;
		b->cap = cap;
	}
	e = calloc(1, sizeof(*e));
	if (!e || b->n >= NONE) {
		free(e);
		free(key);
		return NONE;
	}
	/* The row owns the key: its name, then its file. */
	b->rows[b->n] = (struct diff_row){ .name = key, .file = key + ln + 1 };
	e->row = (uint32_t)b->n++;
	HASH_ADD_KEYPTR(hh, b->by_key, key, keylen, e);
	return e->row;
}

static uint32_t row_of(struct builder *b, uint32_t loc)
{
	const struct profile_location *l;
	const struct profile_function *fn;
	uint32_t r;

	if (loc < b->n_locs && b->loc_row[loc] != NONE)
		return b->loc_row[loc];
	l = profile__get_location(b->p, loc);
	fn = l ? profile__get_function(b->p, l->function) : NULL;
	r = fn ? find_or_add(b, profile__str(b->p, fn->name), profile__str(b->p, fn->file))
	       : find_or_add(b, "[unknown]", "");
	if (r != NONE && loc < b->n_locs)
		b->loc_row[loc] = r;
	return r;
}

static uint32_t rollup_row(void *ctx, uint32_t loc)
{
	uint32_t r = row_of(ctx, loc);

	return r == NONE ? ROLLUP_FAIL : r;
}

/* Own and total of side's profile p, per row (name, file) across both. */
static int count_side(struct builder *b, const struct profile *p, int side)
{
	static const struct rollup_ops ops = { .row_of = rollup_row };
	struct rollup r = {};
	int err;

	b->p = p;
	b->side = side;
	b->n_locs = profile__n_locations(p);
	free(b->loc_row);
	b->loc_row = malloc(((size_t)b->n_locs + 1) * sizeof(*b->loc_row));
	if (!b->loc_row)
		return -ENOMEM;
	memset(b->loc_row, 0xff, ((size_t)b->n_locs + 1) * sizeof(*b->loc_row));
	err = rollup__count(&r, p, &ops, b);
	for (uint32_t i = 0; !err && i < r.n; i++) {
		b->rows[i].own[side] = (double)r.own[i];
		b->rows[i].total[side] = (double)r.total[i];
	}
	rollup__free(&r);
	return err;
}

static double absd(double x)
{
	return x < 0 ? -x : x;
}

static int cmp_row(const void *a, const void *b)
{
	const struct diff_row *x = a, *y = b;
	double dx = absd(x->own[DIFF_AFTER] - x->own[DIFF_BEFORE]);
	double dy = absd(y->own[DIFF_AFTER] - y->own[DIFF_BEFORE]);
	int c;

	if (dx != dy)
		return dx < dy ? 1 : -1;
	dx = absd(x->total[DIFF_AFTER] - x->total[DIFF_BEFORE]);
	dy = absd(y->total[DIFF_AFTER] - y->total[DIFF_BEFORE]);
	if (dx != dy)
		return dx < dy ? 1 : -1;
	c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->file, y->file);
}

void diff_rows_free(struct diff_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((char *)rows[i].name); /* name and file are one block */
	free(rows);
}

int diff_compute(const struct profile *before, const struct profile *after, const double scale[2],
		 struct diff_row **rows, size_t *n)
{
	const struct profile *p[2] = { before, after };
	struct builder b = { 0 };
	struct fn_entry *e, *tmp;
	double k[2];
	int err = 0;

	for (int side = 0; side < 2 && !err; side++) {
		uint64_t total = profile__total_weight(p[side]);

		k[side] = scale ? scale[side] : total ? 1.0 / (double)total : 0;
		err = count_side(&b, p[side], side);
	}
	HASH_ITER (hh, b.by_key, e, tmp) {
		HASH_DEL(b.by_key, e);
		free(e);
	}
	free(b.loc_row);
	if (err) {
		diff_rows_free(b.rows, b.n);
		return err;
	}
	for (size_t i = 0; i < b.n; i++)
		for (int side = 0; side < 2; side++) {
			b.rows[i].own[side] *= k[side];
			b.rows[i].total[side] *= k[side];
		}
	if (b.n)
		qsort(b.rows, b.n, sizeof(*b.rows), cmp_row);
	*rows = b.rows;
	*n = b.n;
	return 0;
}

/* --- the profile by function, for the flame graph ----------------------------- */

struct by_fn {
	const struct profile *p;
	struct profile *q;
	uint32_t *map; /* location of p -> location of q, NONE until seen */
	uint32_t n_map;
	uint32_t *buf;
	size_t cap;
	int err;
};

static uint32_t fn_location(struct by_fn *c, uint32_t loc)
{
	const struct profile_location *l;
	const struct profile_function *fn;
	uint32_t f;

	if (loc < c->n_map && c->map[loc] != NONE)
		return c->map[loc];
	l = profile__get_location(c->p, loc);
	fn = l ? profile__get_function(c->p, l->function) : NULL;
	if (fn)
		f = profile__function(c->q, profile__str(c->p, fn->name),
				      profile__str(c->p, fn->file), 0);
	else
		f = profile__function(c->q, "[unknown]", "", 0);
	f = f == NONE ? NONE : profile__location(c->q, f, -1);
	if (loc < c->n_map)
		c->map[loc] = f;
	return f;
}

static int by_fn_stack(const struct profile_stack *s, void *ctx)
{
	struct by_fn *c = ctx;
	int err;

	if (s->n > c->cap) {
		uint32_t *nb = realloc(c->buf, s->n * sizeof(*nb));

		if (!nb)
			return c->err = -ENOMEM;
		c->buf = nb;
		c->cap = s->n;
	}
	for (uint32_t i = 0; i < s->n; i++) {
		c->buf[i] = fn_location(c, s->locs[i]);
		if (c->buf[i] == NONE)
			return c->err = -ENOMEM;
	}
	err = profile__add(c->q, 0, 0, s->flags, c->buf, s->n, s->weight);
	if (err && err != -ENOSPC) /* cannot happen: never more stacks than p has */
		return c->err = err;
	return 0;
}

struct profile *diff_by_function(const struct profile *p)
{
	struct by_fn c = { .p = p, .q = profile__new(0), .n_map = profile__n_locations(p) };

	c.map = malloc(((size_t)c.n_map + 1) * sizeof(*c.map));
	if (c.q && c.map) {
		memset(c.map, 0xff, ((size_t)c.n_map + 1) * sizeof(*c.map));
		profile__for_each_stack(p, by_fn_stack, &c);
	}
	if (!c.map || c.err) {
		profile__free(c.q);
		c.q = NULL;
	}
	free(c.map);
	free(c.buf);
	return c.q;
}

/* --- the verb ------------------------------------------------------------------- */

enum diff_format {
	FMT_TEXT,
	FMT_SVG
};

struct diff_opts {
	const char *path[2];
	int n_paths;
	bool absolute;
	long top;
	long rate;
	const char *output;
	const char *format;
};

struct side {
	const char *path;
	struct profile *p;
	struct profile_load_info info;
	const char *unit; /* what scale turns a weight into */
	double scale;
};

struct diff_run {
	const struct diff_opts *o;
	struct side side[2];
	struct diff_row *rows;
	size_t n_rows;
	struct profile *by_fn[2];
};

static void report_load_error(const struct side *s, int err)
{
	const struct profile_load_info *in = &s->info;

	if (err == -EINVAL && in->format == PROFILE_LOAD_PPROF && in->folded.line)
		log_error("%s: not a valid pprof profile, nor folded text (line %lu: %s)", s->path,
			  in->folded.line, in->folded.why);
	else if (err == -EINVAL && in->format == PROFILE_LOAD_PPROF)
		log_error("%s: not a valid pprof profile", s->path);
	else if (err == -EINVAL && in->folded.line)
		log_error("%s:%lu: %s", s->path, in->folded.line, in->folded.why);
	else if (err == -EINVAL && in->gzipped)
		log_error("%s: corrupt or cut-short gzip data", s->path);
	else if (err == -ENODATA)
		log_error("%s: empty file", s->path);
	else if (err == -EFBIG)
		log_error("%s: larger than %u MiB (uncompressed)", s->path,
			  PROFILE_LOAD_MAX_BYTES >> 20);
	else if (err == -E2BIG)
		log_error("%s: decodes to more than %u MiB of samples, functions and locations",
			  s->path, PPROF_READ_MAX_DECODED >> 20);
	else
		log_error("cannot read %s: %s", s->path, strerror(-err));
}

/* The unit a side's raw weights are in, for the header lines. */
static const char *raw_unit(const struct side *s)
{
	const char *u = s->info.value_unit;

	return !u[0] || !strcmp(u, "count") ? "samples" : u;
}

/*
 * --absolute: CPU samples become seconds when the rate is known (a pprof
 * file's period, or --rate for folded files, which do not record it);
 * nanosecond weights (off-CPU, wall) become seconds; any other weight
 * (bytes, or samples at an unknown rate) stays as it is.
 */
static void absolute_unit(struct side *s, long rate)
{
	const struct profile_load_info *in = &s->info;

	s->unit = raw_unit(s);
	s->scale = 1;
	if (in->format == PROFILE_LOAD_FOLDED) {
		if (rate) {
			s->unit = "s";
			s->scale = 1.0 / (double)rate;
		}
	} else if (!strcmp(in->value_unit, "nanoseconds")) {
		s->unit = "s";
		s->scale = 1e-9;
	} else if (!strcmp(s->unit, "samples") && in->period > 0 &&
		   !strcmp(in->period_unit, "nanoseconds")) {
		s->unit = "s";
		s->scale = (double)in->period * 1e-9;
	}
}

static int load_side(struct side *s)
{
	int err;

	s->p = profile__new(0);
	if (!s->p) {
		log_error("out of memory");
		return -ENOMEM;
	}
	err = profile_load(s->path, s->p, &s->info);
	if (err) {
		report_load_error(s, err);
		return err;
	}
	if (!profile__total_weight(s->p)) {
		log_error("%s: no samples in it", s->path);
		return -ENODATA;
	}
	if (profile__dropped(s->p))
		log_warn("%s: too many distinct stacks; weight %" PRIu64 " left out", s->path,
			 profile__dropped(s->p));
	if (profile__symbols_dropped(s->p))
		log_warn("%s: too many distinct names; %" PRIu64 " shown as [dropped: too many "
			 "names]",
			 s->path, profile__symbols_dropped(s->p));
	return 0;
}

/* Names come from untrusted files and go to a terminal: no control bytes. */
static void put_clean(FILE *f, const char *s)
{
	for (; *s; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
}

/* Right-aligned in COL_W columns, counting UTF-8 characters, not bytes. */
static void put_head(FILE *f, const char *s)
{
	int chars = 0;

	for (const char *c = s; *c; c++)
		chars += ((unsigned char)*c & 0xc0) != 0x80;
	fprintf(f, "%*s%s", COL_W - chars, "", s);
}

/* A change that rounds to nothing shows as +0, not as rounding noise's -0. */
static double unsigned_zero(double v, double half_digit)
{
	return absd(v) < half_digit ? 0 : v;
}

static void put_value(FILE *f, const struct diff_run *run, double v, bool delta)
{
	const char *unit = run->side[DIFF_AFTER].unit;

	if (!run->o->absolute)
		fprintf(f, delta ? "%+*.2f%%" : "%*.2f%%", COL_W - 1,
			unsigned_zero(100 * v, 0.005));
	else if (!strcmp(unit, "s"))
		fprintf(f, delta ? "%+*.3f" : "%*.3f", COL_W, unsigned_zero(v, 0.0005));
	else
		fprintf(f, delta ? "%+*.0f" : "%*.0f", COL_W, unsigned_zero(v, 0.5));
}

static void put_side(FILE *f, const char *label, const struct side *s, bool absolute)
{
	uint64_t total = profile__total_weight(s->p);

	fprintf(f, "%s ", label);
	put_clean(f, s->path);
	fprintf(f, " (%s): %" PRIu64 " %s", profile_load_format_name(&s->info), total, raw_unit(s));
	if (absolute && strcmp(s->unit, raw_unit(s)))
		fprintf(f, " = %.3f %s", (double)total * s->scale, s->unit);
	fputc('\n', f);
}

static void put_table(const struct diff_run *run, FILE *f)
{
	const struct diff_opts *o = run->o;
	size_t shown = o->top && (size_t)o->top < run->n_rows ? (size_t)o->top : run->n_rows;
	static const char *const heads[] = { "own before",   "own after",   "\u0394own",
					     "total before", "total after", "\u0394total" };

	put_side(f, "before:", &run->side[DIFF_BEFORE], o->absolute);
	put_side(f, "after: ", &run->side[DIFF_AFTER], o->absolute);
	if (o->absolute)
		fprintf(f, "absolute weights in %s\n\n", run->side[DIFF_AFTER].unit);
	else
		fputs("shares of all samples; \u0394 in percentage points\n\n", f);
	for (size_t i = 0; i < 6; i++)
		put_head(f, heads[i]);
	fputs("  function\n", f);
	for (size_t i = 0; i < shown; i++) {
		const struct diff_row *r = &run->rows[i];

		put_value(f, run, r->own[DIFF_BEFORE], false);
		put_value(f, run, r->own[DIFF_AFTER], false);
		put_value(f, run, r->own[DIFF_AFTER] - r->own[DIFF_BEFORE], true);
		put_value(f, run, r->total[DIFF_BEFORE], false);
		put_value(f, run, r->total[DIFF_AFTER], false);
		put_value(f, run, r->total[DIFF_AFTER] - r->total[DIFF_BEFORE], true);
		fputs("  ", f);
		put_clean(f, r->name);
		if (r->file[0]) {
			fputs(" (", f);
			put_clean(f, r->file);
			fputc(')', f);
		}
		fputc('\n', f);
	}
	if (shown < run->n_rows)
		fprintf(f, "... %zu more function%s (--top 0 shows all)\n", run->n_rows - shown,
			run->n_rows - shown == 1 ? "" : "s");
}

/* Both writers read the run (both profiles, the rows) from oo->ctx. */
static int text_write(const struct profile *p, const struct output_opts *oo, FILE *f)
{
	(void)p;
	put_table(oo->ctx, f);
	return ferror(f) ? -EIO : 0;
}

static int svg_diff_write(const struct profile *p, const struct output_opts *oo, FILE *f)
{
	const struct diff_run *run = oo->ctx;

	return svg_write_diff(run->by_fn[DIFF_BEFORE], p, oo, f);
}

static const char *const no_exts[] = { NULL };
static const struct output_writer text_writer = { "text", no_exts, text_write };
static const struct output_writer svg_diff_writer = { "svg", no_exts, svg_diff_write };

static int write_out(const struct output_writer *w, const struct diff_run *run,
		     const struct profile *p, const char *path)
{
	struct output_opts oo = { .ctx = run };
	int err = output__write_file(w, p, &oo, path);

	if (err)
		log_error("cannot write %s: %s", strcmp(path, "-") ? path : "to stdout",
			  strerror(-err));
	return err;
}

static int choose_format(const struct diff_opts *o, enum diff_format *fmt)
{
	size_t n = o->output ? strlen(o->output) : 0;

	if (o->format) {
		if (!strcmp(o->format, "text")) {
			*fmt = FMT_TEXT;
		} else if (!strcmp(o->format, "svg")) {
			*fmt = FMT_SVG;
		} else {
			log_error("unknown format '%s' (known: text, svg)", o->format);
			return -EINVAL;
		}
		return 0;
	}
	*fmt = n > 4 && !strcmp(o->output + n - 4, ".svg") ? FMT_SVG : FMT_TEXT;
	return 0;
}

static int cmd_diff(const struct diff_opts *o)
{
	struct diff_run run = { .o = o };
	const char *out = o->output ? o->output : "-";
	enum diff_format fmt;
	int err;

	err = choose_format(o, &fmt);
	for (int k = 0; k < 2 && !err; k++) {
		run.side[k].path = o->path[k];
		err = load_side(&run.side[k]);
		if (!err)
			absolute_unit(&run.side[k], o->rate);
	}
	if (!err && o->absolute && strcmp(run.side[0].unit, run.side[1].unit)) {
		log_error("--absolute: %s is in %s but %s in %s (give --rate HZ for folded input, "
			  "or compare shares)",
			  o->path[0], run.side[0].unit, o->path[1], run.side[1].unit);
		err = -EINVAL;
	}
	if (!err) {
		double scale[2] = { run.side[0].scale, run.side[1].scale };

		err = diff_compute(run.side[0].p, run.side[1].p, o->absolute ? scale : NULL,
				   &run.rows, &run.n_rows);
		if (err)
			log_error("out of memory");
	}
	if (!err && fmt == FMT_SVG) {
		for (int k = 0; k < 2 && !err; k++) {
			run.by_fn[k] = diff_by_function(run.side[k].p);
			if (!run.by_fn[k]) {
				log_error("out of memory");
				err = -ENOMEM;
			}
		}
		if (!err)
			err = write_out(&svg_diff_writer, &run, run.by_fn[DIFF_AFTER], out);
		if (!err && strcmp(out, "-"))
			fprintf(stderr, "  wrote %s (differential flame graph)\n", out);
		out = "-"; /* the table goes to stdout unless the SVG took it */
	}
	if (!err && (fmt == FMT_TEXT || strcmp(o->output ? o->output : "-", "-")))
		err = write_out(&text_writer, &run, NULL, out);
	diff_rows_free(run.rows, run.n_rows);
	for (int k = 0; k < 2; k++) {
		profile__free(run.side[k].p);
		profile__free(run.by_fn[k]);
	}
	return err ? 1 : 0;
}

/* --- command line ---------------------------------------------------------- */

static const char doc[] =
	"Compare two profiles of one program, e.g. before and after a change: which functions "
	"grew or shrank.  BEFORE and AFTER are folded or pprof files, gzipped or not, told "
	"apart by their content; they may come from different Python versions.\n\n"
	"A function is its qualname and file (lines are ignored, so functions that moved "
	"still match).  Own is the weight of the stacks a function is innermost in, total of "
	"those it is in at all.  By default both are shares of all samples of their profile, "
	"so runs of different lengths compare; rows are sorted by the largest change of own "
	"share, then of total share.  In the flame graph (-o FILE.svg) widths are AFTER's "
	"samples per function; red frames grew their share, blue ones shrank (shares, also "
	"with --absolute).\n\n"
	"EXAMPLES:\n"
	"  pyspy-bpf diff before.folded after.pb.gz\n"
	"  pyspy-bpf diff before.folded after.folded -o diff.svg\n"
	"  pyspy-bpf diff --absolute --rate 99 before.folded after.folded\n"
	"\nOPTIONS:";

enum {
	OPT_ABSOLUTE = 0x100
};

static const struct argp_option opts[] = {
	{ "absolute", OPT_ABSOLUTE, NULL, 0,
	  "Compare weights, not shares: seconds for CPU samples at a known rate and for "
	  "off-CPU/wall nanoseconds, else the files' own unit (samples, bytes)",
	  0 },
	{ "top", 'n', "N", 0, "Show the N rows that changed most (default 20; 0: all)", 0 },
	{ "output", 'o', "FILE", 0,
	  "Write to FILE ('-': stdout). A name ending in .svg writes the differential flame "
	  "graph, and the table still goes to stdout",
	  0 },
	{ "format", 'f', "FORMAT", 0, "text (the table) or svg; by default from -o, else text", 0 },
	{ "rate", 'r', "HZ", 0,
	  "Rate the folded inputs were recorded at (folded files do not say), so that "
	  "--absolute shows seconds; pprof files carry theirs",
	  0 },
	{},
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct diff_opts *o = state->input;

	switch (key) {
	case OPT_ABSOLUTE:
		o->absolute = true;
		break;
	case 'n':
		if (cli_parse_long(arg, 0, INT_MAX, &o->top))
			argp_error(state, "invalid --top (a count, 0 for all): %s", arg);
		break;
	case 'o':
		if (!*arg)
			argp_error(state, "empty -o");
		o->output = arg;
		break;
	case 'f':
		if (strcmp(arg, "text") && strcmp(arg, "svg"))
			argp_error(state, "unknown --format '%s' (known: text, svg)", arg);
		o->format = arg;
		break;
	case 'r':
		if (cli_parse_long(arg, 1, 1000000, &o->rate))
			argp_error(state, "invalid --rate (Hz, 1-1000000): %s", arg);
		break;
	case ARGP_KEY_ARG:
		if (o->n_paths == 2)
			argp_error(state, "unexpected argument '%s': give BEFORE and AFTER only",
				   arg);
		o->path[o->n_paths++] = arg;
		break;
	case ARGP_KEY_END:
		if (o->n_paths < 2)
			argp_error(state, "give two profiles: BEFORE AFTER");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

int diff_main(int argc, char **argv)
{
	static const struct argp argp = { opts, parse_opt, "BEFORE AFTER", doc, NULL, NULL, NULL };
	struct diff_opts o = { .top = DEFAULT_TOP };

	if (argp_parse(&argp, argc, argv, 0, NULL, &o))
		return 2;
	return cmd_diff(&o);
}
