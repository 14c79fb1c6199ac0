// SPDX-License-Identifier: MIT
/*
 * test_diff.c - what the `diff` verb stands on: the folded reader (round
 * trip with the folded writer, leading frames, odd but valid frames, every
 * kind of malformed line with its number, the depth and size bounds), the
 * loader's choice between folded and pprof by content, and the per-function
 * own/total shares and their order on hand-built profiles.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "unit.h"
#include "render.h"
#include "symbolize/model/diff.h"
#include "symbolize/model/profile.h"
#include "user/output/folded_read.h"
#include "user/output/load.h"
#include "user/output/output.h"
#include "user/output/svg.h"

static int read_str(const char *text, struct profile *p, struct folded_read_error *e)
{
	return folded_read_mem(text, strlen(text), p, e);
}

/* --- stacks as seen through the profile API --------------------------------- */

struct one_stack {
	int n_seen;
	struct profile_stack s;
};

static void grab(const struct profile *p, struct one_stack *o)
{
	struct profile_stack_iter it = profile__stacks(p);
	struct profile_stack s;

	while (profile_stack_iter__next(&it, &s))
		if (!o->n_seen++)
			o->s = s;
}

static const char *loc_name(const struct profile *p, uint32_t loc)
{
	const struct profile_location *l = profile__get_location(p, loc);
	const struct profile_function *f = l ? profile__get_function(p, l->function) : NULL;

	return f ? profile__str(p, f->name) : "?";
}

static const char *loc_file(const struct profile *p, uint32_t loc)
{
	const struct profile_location *l = profile__get_location(p, loc);
	const struct profile_function *f = l ? profile__get_function(p, l->function) : NULL;

	return f ? profile__str(p, f->file) : "?";
}

static int loc_line(const struct profile *p, uint32_t loc)
{
	const struct profile_location *l = profile__get_location(p, loc);

	return l ? l->line : -99;
}

/* --- the folded reader --------------------------------------------------------- */

/* Processes, threads, markers, an unknown frame, names with odd characters. */
static struct profile *sample_profile(void)
{
	struct profile *p = profile__new(0);
	uint32_t fm = profile__function(p, "<module>", "/app/main.py", 1);
	uint32_t fc = profile__function(p, "Worker.compute", "/srv/my app (v2)/w.py", 30);
	uint32_t fl = profile__function(p, "outer.<locals>.<lambda>", "C:\\x:y.py", 5);
	uint32_t fu = profile__function(p, "[unknown]", "", 0);
	uint32_t fs = profile__function(p, "[sleep]", "", 0);
	uint32_t s1[2] = { profile__location(p, fc, 31), profile__location(p, fm, 43) };
	uint32_t s2[2] = { profile__location(p, fl, 6), profile__location(p, fm, -1) };
	uint32_t s3[2] = { profile__location(p, fu, -1), profile__location(p, fc, 26) };
	uint32_t s4[2] = { profile__location(p, fs, -1), profile__location(p, fm, 44) };

	profile__set_process_name(p, 100, "python3");
	profile__set_process_name(p, 200, "my worker");
	profile__set_thread_name(p, 100, 100, "MainThread");
	profile__set_thread_name(p, 100, 101, "pool (1)");
	CHECK(profile__add(p, 100, 100, 0, s1, 2, 40) == 0);
	CHECK(profile__add(p, 100, 101, 0, s2, 2, 3) == 0);
	CHECK(profile__add(p, 200, 201, PROFILE_STACK_TRUNCATED, s1, 2, 2) == 0);
	CHECK(profile__add(p, 200, 201, PROFILE_STACK_PARTIAL, s3, 2, 5) == 0);
	CHECK(profile__add(p, 200, 202, 0, s4, 2, 1000000000) == 0);
	return p;
}

static void test_roundtrip(void)
{
	struct output_opts o = { .show_pids = true, .show_threads = true };
	struct profile *a = sample_profile(), *b = profile__new(0);
	struct folded_read_error e;
	size_t la, lb;
	char *ta = render(&output_folded, a, &o, &la), *tb;

	CHECK(folded_read_mem(ta, la, b, &e) == 0, "line %lu: %s", e.line, e.why);
	tb = render(&output_folded, b, &o, &lb);
	CHECK(!strcmp(ta, tb), "folded -> read -> folded differs:\n%s---\n%s", ta, tb);
	CHECK(profile__total_weight(b) == profile__total_weight(a));
	CHECK(profile__n_stacks(b) == profile__n_stacks(a));
	CHECK(!strcmp(profile__process_name(b, 200) ?: "", "my worker"));
	CHECK(!strcmp(profile__thread_name(b, 100, 101) ?: "", "pool (1)"));
	CHECK(!profile__thread_name(b, 200, 201), "`thread 201 (?)` names no thread");
	free(ta);
	free(tb);

	/* Without pids and threads too: equal stacks merged, as written. */
	o = (struct output_opts){ 0 };
	profile__free(b);
	b = profile__new(0);
	ta = render(&output_folded, a, &o, &la);
	CHECK(folded_read_mem(ta, la, b, &e) == 0, "line %lu: %s", e.line, e.why);
	tb = render(&output_folded, b, &o, &lb);
	CHECK(!strcmp(ta, tb), "folded -> read -> folded differs:\n%s---\n%s", ta, tb);
	free(ta);
	free(tb);
	profile__free(a);
	profile__free(b);
}

static void test_frames(void)
{
	struct profile *p = profile__new(0);
	struct folded_read_error e;
	struct one_stack o = { 0 };
	const uint32_t *l;

	CHECK(read_str("container 3f2a1b4c5d6e (containerd);pod shop/web-0;process 5 (py 3);"
		       "thread 6 (w);[partial];<module> (/a b (c)/x.py:10);"
		       "f (/a b (c)/x.py);g (rel:9:x.py:12);[io: recv] 3\r\n",
		       p, &e) == 0,
	      "line %lu: %s", e.line, e.why);
	grab(p, &o);
	l = o.s.locs;
	CHECK(o.n_seen == 1 && o.s.n == 4, "%d stacks, %u frames", o.n_seen, o.s.n);
	CHECK(o.s.pid == 5 && o.s.tid == 6 && o.s.flags == PROFILE_STACK_PARTIAL);
	CHECK(!strcmp(profile__process_name(p, 5) ?: "", "py 3"));
	CHECK(!strcmp(profile__thread_name(p, 5, 6) ?: "", "w"));
	if (o.s.n == 4) {
		/* Innermost first; a marker leaf has no file and no line. */
		CHECK(!strcmp(loc_name(p, l[0]), "[io: recv]") && !*loc_file(p, l[0]) &&
		      loc_line(p, l[0]) == -1);
		CHECK(!strcmp(loc_name(p, l[1]), "g") && !strcmp(loc_file(p, l[1]), "rel:9:x.py") &&
		      loc_line(p, l[1]) == 12);
		CHECK(!strcmp(loc_name(p, l[2]), "f") &&
			      !strcmp(loc_file(p, l[2]), "/a b (c)/x.py") &&
			      loc_line(p, l[2]) == -1,
		      "%s|%s|%d", loc_name(p, l[2]), loc_file(p, l[2]), loc_line(p, l[2]));
		CHECK(!strcmp(loc_name(p, l[3]), "<module>") && loc_line(p, l[3]) == 10);
	}
	profile__free(p);

	/* Blank lines, trailing blanks, a 0 count, a line past INT_MAX, only leading frames. */
	p = profile__new(0);
	CHECK(read_str("\n  \n a (x.py:99999999999) 2 \t\nb (y.py:1) 0\nprocess 7 (x) 5", p, &e) ==
		      0,
	      "line %lu: %s", e.line, e.why);
	CHECK(profile__total_weight(p) == 7 && profile__n_stacks(p) == 2);
	o = (struct one_stack){ 0 };
	grab(p, &o);
	CHECK(o.s.n == 1 && !strcmp(loc_name(p, o.s.locs[0]), " a") &&
	      !strcmp(loc_file(p, o.s.locs[0]), "x.py:99999999999") &&
	      loc_line(p, o.s.locs[0]) == -1);
	profile__free(p);

	/* Each leading kind once: a second process frame is a frame like any other. */
	p = profile__new(0);
	CHECK(read_str("process 1 (a);process 2 (b) 1\n", p, &e) == 0);
	o = (struct one_stack){ 0 };
	grab(p, &o);
	CHECK(o.s.pid == 1 && o.s.n == 1 && !strcmp(loc_name(p, o.s.locs[0]), "process 2"));
	profile__free(p);
}

struct bad_case {
	const char *text;
	unsigned long line;
	const char *why;
};

static void test_malformed(void)
{
	static const struct bad_case cases[] = {
		{ "a;b 5\nfoo\n", 2, "no count" },
		{ "a;b x5\n", 1, "not a whole number" },
		{ "a;b -5\n", 1, "not a whole number" },
		{ "a;b 1.5\n", 1, "not a whole number" },
		{ "a;;b 5\n", 1, "empty frame" },
		{ ";a 5\n", 1, "empty frame" },
		{ "a; 5\n", 1, "empty frame" },
		{ "process 1 (x); 5\n", 1, "empty frame" },
		{ " 5\n", 1, "no frames" },
		{ " (x.py:1) 5\n", 1, "no function name" },
		{ "a 99999999999999999999999\n", 1, "count too large" },
		{ "a 9223372036854775807\nb 2\n", 2, "more than 2^63" },
		{ "a\x01"
		  "b 5\n",
		  1, "control character 0x01 at column 2" },
		{ "ok 1\n\n\nx\x1b[2Jy 5\n", 4, "control character 0x1b" },
		{ "a\rb 5\n", 1, "control character 0x0d" },
	};
	struct folded_read_error e;
	struct profile *p;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p = profile__new(0);
		CHECK(read_str(cases[i].text, p, &e) == -EINVAL, "case %zu accepted", i);
		CHECK(e.line == cases[i].line && strstr(e.why, cases[i].why),
		      "case %zu: line %lu '%s', want line %lu '%s'", i, e.line, e.why,
		      cases[i].line, cases[i].why);
		profile__free(p);
	}

	/* A NUL inside a line (the length is explicit, not strlen). */
	p = profile__new(0);
	CHECK(folded_read_mem("a\0b 5\n", 6, p, &e) == -EINVAL && e.line == 1 &&
		      strstr(e.why, "0x00"),
	      "NUL: %s", e.why);
	profile__free(p);

	/* A line over the bound; the one before it still counts. */
	{
		size_t n = FOLDED_READ_MAX_LINE + 16;
		char *big = malloc(n);

		memcpy(big, "ok 1\n", 5);
		memset(big + 5, 'a', n - 5);
		memcpy(big + n - 2, " 1", 2);
		p = profile__new(0);
		CHECK(folded_read_mem(big, n, p, &e) == -EINVAL && e.line == 2 &&
			      strstr(e.why, "longer than"),
		      "%lu %s", e.line, e.why);
		CHECK(profile__total_weight(p) == 1);
		profile__free(p);
		free(big);
	}
	/* err may be NULL. */
	p = profile__new(0);
	CHECK(read_str("nope\n", p, NULL) == -EINVAL);
	profile__free(p);
}

/* Deeper than the frame cap: the innermost frames stay, the stack is flagged. */
static void test_deep(void)
{
	const uint32_t n = FOLDED_READ_MAX_FRAMES + 1000;
	struct profile *p = profile__new(0);
	struct folded_read_error e;
	struct one_stack o = { 0 };
	size_t len = 0;
	char *buf = NULL;
	FILE *f = open_memstream(&buf, &len);

	fputs("process 3 (deep)", f);
	for (uint32_t i = 0; i < n; i++)
		fprintf(f, ";f%u (d.py:%u)", i, i + 1);
	fputs(" 9\n", f);
	fclose(f);
	CHECK(folded_read_mem(buf, len, p, &e) == 0, "line %lu: %s", e.line, e.why);
	grab(p, &o);
	CHECK(o.s.n == FOLDED_READ_MAX_FRAMES && o.s.flags == PROFILE_STACK_TRUNCATED &&
		      o.s.pid == 3,
	      "n %u flags %u", o.s.n, o.s.flags);
	if (o.s.n == FOLDED_READ_MAX_FRAMES) {
		CHECK(!strcmp(loc_name(p, o.s.locs[0]), "f66535"), "%s", loc_name(p, o.s.locs[0]));
		CHECK(loc_line(p, o.s.locs[o.s.n - 1]) == 1001);
	}
	free(buf);
	profile__free(p);
}

/* --- choosing the format by content --------------------------------------------- */

static char *gzip_mem(const char *in, size_t len, size_t *out_len)
{
	z_stream zs = { 0 };
	size_t cap = len + 1024;
	char *out = malloc(cap);

	CHECK(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = (Bytef *)out;
	zs.avail_out = (uInt)cap;
	CHECK(deflate(&zs, Z_FINISH) == Z_STREAM_END);
	*out_len = zs.total_out;
	deflateEnd(&zs);
	return out;
}

static void test_load(void)
{
	struct output_opts o = { .show_pids = true, .show_threads = true, .rate_hz = 250 };
	struct profile *a = sample_profile(), *b;
	struct profile_load_info in;
	size_t len, gz_len, folded_len;
	char *folded = render(&output_folded, a, &o, &folded_len), *pb, *gz, *again;

	/* Folded, plain and gzipped. */
	b = profile__new(0);
	CHECK(profile_load_mem(folded, folded_len, b, &in) == 0);
	CHECK(in.format == PROFILE_LOAD_FOLDED && !in.gzipped && !in.value_unit[0]);
	CHECK(profile__total_weight(b) == profile__total_weight(a));
	profile__free(b);
	gz = gzip_mem(folded, folded_len, &gz_len);
	b = profile__new(0);
	CHECK(profile_load_mem(gz, gz_len, b, &in) == 0);
	CHECK(in.format == PROFILE_LOAD_FOLDED && in.gzipped);
	CHECK(!strcmp(profile_load_format_name(&in), "gzipped folded"));
	again = render(&output_folded, b, &o, &len);
	CHECK(!strcmp(again, folded), "gzipped folded reads back differently");
	free(again);
	/* Cut short: the gzip layer says so. */
	profile__free(b);
	b = profile__new(0);
	CHECK(profile_load_mem(gz, gz_len / 2, b, &in) == -EINVAL && in.gzipped && !in.folded.line);
	profile__free(b);
	free(gz);

	/* pprof as our writer makes it (gzipped): CPU samples with the period. */
	pb = render(&output_pprof, a, &o, &len);
	b = profile__new(0);
	CHECK(profile_load_mem(pb, len, b, &in) == 0);
	CHECK(in.format == PROFILE_LOAD_PPROF && in.gzipped);
	CHECK(!strcmp(in.value_type, "samples") && !strcmp(in.value_unit, "count"), "%s/%s",
	      in.value_type, in.value_unit);
	CHECK(in.period == 4000000 && !strcmp(in.period_unit, "nanoseconds"), "%lld %s",
	      (long long)in.period, in.period_unit);
	again = render(&output_folded, b, &o, &len);
	CHECK(!strcmp(again, folded), "pprof reads back differently:\n%s---\n%s", again, folded);
	free(again);
	profile__free(b);
	free(pb);

	/* Off-CPU pprof: one value in nanoseconds. */
	o.value_type = "offcpu";
	o.value_unit = "nanoseconds";
	pb = render(&output_pprof, a, &o, &len);
	b = profile__new(0);
	CHECK(profile_load_mem(pb, len, b, &in) == 0);
	CHECK(!strcmp(in.value_type, "offcpu") && !strcmp(in.value_unit, "nanoseconds"));
	profile__free(b);
	free(pb);

	/* Empty, binary garbage, missing file. */
	b = profile__new(0);
	CHECK(profile_load_mem("", 0, b, &in) == -ENODATA);
	CHECK(profile_load_mem("\x0a\x04\x08\x01\x10\x02\xff\xff", 8, b, &in) == -EINVAL &&
	      in.format == PROFILE_LOAD_PPROF);
	CHECK(profile_load("/nonexistent/x.folded", b, &in) == -ENOENT);
	profile__free(b);
	free(folded);
	profile__free(a);
}

static uint32_t rng_state = 2463534242u;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

/* Flipped bytes and cut files of either format: an error or a profile, never a crash (ASan). */
static void test_fuzz(void)
{
	struct output_opts o = { .show_pids = true, .show_threads = true, .rate_hz = 99 };
	struct profile *a = sample_profile(), *b;
	struct profile_load_info in;
	size_t len[2], gz_len;
	char *src[2], *gz, *m;
	int ok = 0, bad = 0, odd = 0, err;

	src[0] = render(&output_folded, a, &o, &len[0]);
	gz = render(&output_pprof, a, &o, &gz_len);
	/* The raw protobuf, so flips hit fields rather than only the gzip CRC. */
	{
		z_stream zs = { 0 };

		src[1] = malloc(1 << 20);
		inflateInit2(&zs, 15 + 16);
		zs.next_in = (Bytef *)gz;
		zs.avail_in = (uInt)gz_len;
		zs.next_out = (Bytef *)src[1];
		zs.avail_out = 1 << 20;
		CHECK(inflate(&zs, Z_FINISH) == Z_STREAM_END);
		len[1] = zs.total_out;
		inflateEnd(&zs);
	}
	for (int i = 0; i < 4000; i++) {
		int k = i & 1;
		size_t n = len[k];

		m = malloc(n);
		memcpy(m, src[k], n);
		for (int j = 1 + (int)(rng() % 4); j > 0; j--)
			m[rng() % n] = (char)rng();
		if (rng() % 4 == 0)
			n = rng() % n;
		b = profile__new(0);
		err = profile_load_mem(m, n, b, &in);
		if (err != 0 && err != -EINVAL && err != -ENODATA)
			odd++;
		if (err)
			bad++;
		else
			ok++;
		profile__free(b);
		free(m);
	}
	CHECK(!odd, "%d loads failed with other errors than -EINVAL/-ENODATA", odd);
	CHECK(ok > 100 && bad > 100, "%d loaded, %d refused", ok, bad);
	free(src[0]);
	free(src[1]);
	free(gz);
	profile__free(a);
}

/* --- shares -------------------------------------------------------------------- */

static void add(struct profile *p, const char *const *names, const char *const *files,
		const int *lines, uint32_t n, uint64_t w, uint32_t pid)
{
	uint32_t locs[8];

	/* names root first, as in folded; the profile wants innermost first */
	for (uint32_t i = 0; i < n; i++) {
		uint32_t f = profile__function(p, names[i], files[i], lines[i] - 1);

		locs[n - 1 - i] = profile__location(p, f, lines[i]);
	}
	CHECK(profile__add(p, pid, pid, 0, locs, n, w) == 0);
}

#define ADD(p, w, pid, ...)                                      \
	do {                                                     \
		const char *spec[] = { __VA_ARGS__ };            \
		const char *nm[4], *fl[4];                       \
		int ln[4];                                       \
		uint32_t k = sizeof(spec) / sizeof(spec[0]) / 3; \
		for (uint32_t j = 0; j < k; j++) {               \
			nm[j] = spec[3 * j];                     \
			fl[j] = spec[3 * j + 1];                 \
			ln[j] = atoi(spec[3 * j + 2]);           \
		}                                                \
		add(p, nm, fl, ln, k, w, pid);                   \
	} while (0)

static bool near(double a, double b)
{
	return a - b < 1e-9 && b - a < 1e-9;
}

static const struct diff_row *find_row(const struct diff_row *rows, size_t n, const char *name,
				       const char *file)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(rows[i].name, name) && !strcmp(rows[i].file, file))
			return &rows[i];
	return NULL;
}

static void test_compute(void)
{
	struct profile *before = profile__new(0), *after = profile__new(0);
	const struct diff_row *r;
	struct diff_row *rows;
	size_t n;

	/* before, 100: a 30, b 50, r (recursing) 20. */
	ADD(before, 30, 1, "main", "m.py", "1", "a", "m.py", "10");
	ADD(before, 50, 2, "main", "m.py", "1", "b", "m.py", "20");
	ADD(before, 20, 1, "main", "m.py", "1", "r", "m.py", "30", "r", "m.py", "31");
	/*
	 * after, 120: a moved (other lines, other first line) 60, b behind a
	 * new wrapper 30, r 10, and a same-named `a` in another file 20.
	 */
	ADD(after, 60, 9, "main", "m.py", "2", "a", "m.py", "12");
	ADD(after, 30, 9, "main", "m.py", "2", "w", "m.py", "40", "b", "m.py", "22");
	ADD(after, 10, 9, "main", "m.py", "2", "r", "m.py", "32", "r", "m.py", "33");
	ADD(after, 20, 9, "main", "m.py", "2", "a", "n.py", "1");
	CHECK(diff_compute(before, after, NULL, &rows, &n) == 0);
	CHECK(n == 6, "%zu rows", n);
	if (n == 6) {
		/* |Δown|: b .25, a .2, a@n .1667, r .1167; then by |Δtotal|: w .25, main 0. */
		static const char *const order[][2] = { { "b", "m.py" }, { "a", "m.py" },
							{ "a", "n.py" }, { "r", "m.py" },
							{ "w", "m.py" }, { "main", "m.py" } };

		for (size_t i = 0; i < 6; i++)
			CHECK(!strcmp(rows[i].name, order[i][0]) &&
				      !strcmp(rows[i].file, order[i][1]),
			      "row %zu is %s (%s)", i, rows[i].name, rows[i].file);
	}
	r = find_row(rows, n, "a", "m.py");
	CHECK(r && near(r->own[DIFF_BEFORE], 0.3) && near(r->own[DIFF_AFTER], 0.5) &&
	      near(r->total[DIFF_BEFORE], 0.3) && near(r->total[DIFF_AFTER], 0.5));
	r = find_row(rows, n, "r", "m.py");
	CHECK(r && near(r->own[DIFF_BEFORE], 0.2) && near(r->total[DIFF_BEFORE], 0.2) &&
		      near(r->total[DIFF_AFTER], 10.0 / 120),
	      "recursion counts once per stack");
	r = find_row(rows, n, "main", "m.py");
	CHECK(r && r->own[DIFF_BEFORE] == 0 && r->own[DIFF_AFTER] == 0 &&
	      near(r->total[DIFF_BEFORE], 1) && near(r->total[DIFF_AFTER], 1));
	r = find_row(rows, n, "a", "n.py");
	CHECK(r && r->own[DIFF_BEFORE] == 0 && near(r->own[DIFF_AFTER], 20.0 / 120));
	r = find_row(rows, n, "w", "m.py");
	CHECK(r && r->own[DIFF_AFTER] == 0 && near(r->total[DIFF_AFTER], 0.25));
	diff_rows_free(rows, n);

	/* Absolute: each side's weights times its own scale. */
	{
		const double scale[2] = { 0.01, 0.5 };

		CHECK(diff_compute(before, after, scale, &rows, &n) == 0);
		r = find_row(rows, n, "a", "m.py");
		CHECK(r && near(r->own[DIFF_BEFORE], 0.3) && near(r->own[DIFF_AFTER], 30));
		CHECK(n && !strcmp(rows[0].name, "a") && !strcmp(rows[0].file, "m.py"),
		      "first is %s", n ? rows[0].name : "none");
		diff_rows_free(rows, n);
	}

	/* An empty side is all zeros, not a division by zero. */
	{
		struct profile *empty = profile__new(0);

		CHECK(diff_compute(empty, after, NULL, &rows, &n) == 0 && n == 6);
		for (size_t i = 0; i < n; i++)
			CHECK(rows[i].own[DIFF_BEFORE] == 0 && rows[i].total[DIFF_BEFORE] == 0);
		diff_rows_free(rows, n);
		CHECK(diff_compute(empty, empty, NULL, &rows, &n) == 0 && n == 0);
		diff_rows_free(rows, n);
		profile__free(empty);
	}
	profile__free(before);
	profile__free(after);
}

/* The flame graph's input: one frame per function, lines and processes merged. */
static void test_by_function(void)
{
	struct profile *p = profile__new(0), *q, *before;
	struct output_opts o = { 0 };
	struct one_stack one = { 0 };
	size_t len;
	char *svg = NULL;
	FILE *f;

	ADD(p, 5, 1, "main", "m.py", "1", "a", "m.py", "10");
	ADD(p, 7, 2, "main", "m.py", "3", "a", "m.py", "12");
	q = diff_by_function(p);
	CHECK(q && profile__n_stacks(q) == 1 && profile__total_weight(q) == 12);
	if (!q)
		return;
	grab(q, &one);
	CHECK(one.s.n == 2 && one.s.pid == 0 && one.s.tid == 0);
	CHECK(!strcmp(loc_name(q, one.s.locs[0]), "a") && loc_line(q, one.s.locs[0]) == -1);
	CHECK(profile__n_functions(q) == 2 && profile__get_function(q, 0)->start_line == 0);

	/* Drawn as a diff: `b` took half, `a` shrank to half. */
	before = diff_by_function(p);
	ADD(p, 12, 3, "main", "m.py", "1", "b", "m.py", "20");
	profile__free(q);
	q = diff_by_function(p);
	f = open_memstream(&svg, &len);
	CHECK(svg_write_diff(before, q, &o, f) == 0);
	fclose(f);
	CHECK(strstr(svg, "<title>b (m.py) \u2014 12 samples (50.00%), before: 0 "),
	      "function-level frame titles");
	CHECK(strstr(svg, "<title>a (m.py) \u2014 12 samples (50.00%), before: 12 "));
	free(svg);
	profile__free(before);
	profile__free(q);
	profile__free(p);
}

int main(void)
{
	test_roundtrip();
	test_frames();
	test_malformed();
	test_deep();
	test_load();
	test_fuzz();
	test_compute();
	test_by_function();
	return unit_done("test_diff");
}
