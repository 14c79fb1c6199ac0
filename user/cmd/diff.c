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
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "symbolize/base/cli.h"
#include "symbolize/base/fileopen.h"
#include "symbolize/base/log.h"
#include "user/engine/sandbox.h"
#include "symbolize/model/diff.h"
#include "symbolize/model/profile.h"
#include "user/output/load.h"
#include "user/output/output.h"
#include "user/output/pprof_read.h"
#include "user/output/svg.h"

#define DEFAULT_TOP 20
#define COL_W	    14 /* columns of numbers */

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
		log_error("cannot read %s: %s", s->path, fileopen_strerror(-err));
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
	return fabs(v) < half_digit ? 0 : v;
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
			  fileopen_strerror(-err));
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

	/* Two files from anywhere: parsed with no privilege at all. */
	if (sandbox__enter(0))
		return 1;
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

static const struct cmd_store stores[] = {
	CMD_FLAG(OPT_ABSOLUTE, struct diff_opts, absolute),
	{ 0 },
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct diff_opts *o = state->input;

	switch (key) {
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
		return cmd_parse_common(stores, key, arg, state);
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
