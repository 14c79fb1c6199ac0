// SPDX-License-Identifier: MIT
/*
 * test_output_formats.c - speedscope and SVG writers: JSON/XML escaping of
 * hostile names, exact speedscope text, SVG frame counts, merging of
 * frames too narrow to see (and a 100 000-frame profile staying small),
 * differential colours, and choosing a writer by name and extension.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "render.h"
#include "symbolize/base/escape.h"
#include "symbolize/model/profile.h"
#include "user/output/output.h"
#include "user/output/svg.h"

typedef void (*put_fn)(FILE *f, const char *s);

static char *capture(put_fn put, const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	put(f, s);
	fclose(f);
	return buf;
}

static void check_put(put_fn put, const char *in, const char *want)
{
	char *got = capture(put, in);

	CHECK(!strcmp(got, want), "escaping %s: got [%s], want [%s]", in, got, want);
	free(got);
}

static void test_json_escape(void)
{
	check_put(json_put_string, "plain", "\"plain\"");
	check_put(json_put_string, "", "\"\"");
	check_put(json_put_string, "a\"b\\c/d", "\"a\\\"b\\\\c/d\"");
	check_put(json_put_string, "\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
	check_put(json_put_string, "\x01\x1f\x7f", "\"\\u0001\\u001f\x7f\"");
	/* Valid UTF-8 (2, 3 and 4 bytes) passes through unchanged. */
	check_put(json_put_string, "h\xc3\xa9 \xe2\x9c\x93 \xf0\x9d\x84\x9e",
		  "\"h\xc3\xa9 \xe2\x9c\x93 \xf0\x9d\x84\x9e\"");
	/* Invalid: stray byte, overlong '/', surrogate, cut short, past U+10FFFF. */
	check_put(json_put_string, "a\xff", "\"a\\ufffd\"");
	check_put(json_put_string, "\xc0\xaf", "\"\\ufffd\\ufffd\"");
	check_put(json_put_string, "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
	check_put(json_put_string, "\xe2\x82", "\"\\ufffd\\ufffd\"");
	check_put(json_put_string, "\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
}

static void put_xml_3(FILE *f, const char *s)
{
	xml_put_text_n(f, s, 3);
}

static void test_xml_escape(void)
{
	check_put(xml_put_text, "<a href=\"x\">&'</a>",
		  "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;");
	check_put(xml_put_text, "tab\there\nnl", "tab&#9;here&#10;nl");
	check_put(xml_put_text, "\x01\x1b", "&#65533;&#65533;");
	check_put(xml_put_text, "\xef\xbf\xbe", "&#65533;"); /* U+FFFE is not XML */
	check_put(xml_put_text, "caf\xc3\xa9\xff", "caf\xc3\xa9&#65533;");
	/* A byte limit inside a character never emits half of it. */
	check_put(put_xml_3, "a\xe2\x9c\x93", "a");
	check_put(put_xml_3, "ab\xc3", "ab&#65533;");

	CHECK(utf8_len("h\xc3\xa9\xe2\x9c\x93\xf0\x9d\x84\x9e") == 4);
	CHECK(utf8_len("\xff\xfe") == 2, "bad bytes count one each");
	CHECK(utf8_prefix("h\xc3\xa9\xe2\x9c\x93", 2) == 3);
	CHECK(utf8_prefix("abc", 10) == 3);
}

static void test_speedscope(void)
{
	struct profile *p = profile__new(0);
	struct output_opts o = { .rate_hz = 99, .duration_s = 2.0, .show_threads = true };
	uint32_t fm = profile__function(p, "<module>", "app.py", 1);
	uint32_t fh = profile__function(p, "Worker.\"hot\"", "dir\\app\x01.py", 10);
	uint32_t fu = profile__function(p, "\xc3\xa9t\xc3\xa9", "", 0);
	uint32_t lm = profile__location(p, fm, 40), lh = profile__location(p, fh, 12);
	uint32_t lu = profile__location(p, fu, -1);
	uint32_t st1[2] = { lh, lm }, st2[1] = { lm }, st3[2] = { lu, lm };
	const char *want =
		"{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\n"
		"\"exporter\":\"pyspy-bpf " PYSPY_VERSION "\",\n"
		"\"name\":\"pyspy-bpf: 10 samples at 99 Hz over 2.0 s\",\n"
		"\"activeProfileIndex\":1,\n"
		"\"shared\":{\"frames\":[\n"
		"{\"name\":\"<module>\",\"file\":\"app.py\",\"line\":40},\n"
		"{\"name\":\"[truncated]\"},\n"
		"{\"name\":\"\xc3\xa9t\xc3\xa9\"},\n"
		"{\"name\":\"Worker.\\\"hot\\\"\",\"file\":\"dir\\\\app\\u0001.py\",\"line\":12}]},\n"
		"\"profiles\":[\n"
		"{\"type\":\"sampled\",\"name\":\"process 7 (py\\\"thon) / thread 7 (?)\","
		"\"unit\":\"none\",\"startValue\":0,\"endValue\":3,\n"
		"\"samples\":[\n[0]],\n\"weights\":[3]},\n"
		"{\"type\":\"sampled\",\"name\":\"process 7 (py\\\"thon) / thread 9 (w\\n1)\","
		"\"unit\":\"none\",\"startValue\":0,\"endValue\":6,\n"
		"\"samples\":[\n[1,0],\n[0,2],\n[0,3]],\n\"weights\":[1,1,4]},\n"
		"{\"type\":\"sampled\",\"name\":\"process 8 (?) / thread 8 (?)\","
		"\"unit\":\"none\",\"startValue\":0,\"endValue\":1,\n"
		"\"samples\":[\n[0,3]],\n\"weights\":[1]}]}\n";
	size_t len;
	char *s;

	profile__set_process_name(p, 7, "py\"thon");
	profile__set_thread_name(p, 7, 9, "w\n1");
	/* Insertion order is not thread order: the writer groups by thread. */
	CHECK(profile__add(p, 7, 9, PROFILE_STACK_TRUNCATED, st2, 1, 1) == 0);
	CHECK(profile__add(p, 8, 8, 0, st1, 2, 1) == 0);
	CHECK(profile__add(p, 7, 7, 0, st2, 1, 3) == 0);
	CHECK(profile__add(p, 7, 9, 0, st3, 2, 1) == 0);
	CHECK(profile__add(p, 7, 9, 0, st1, 2, 4) == 0);
	s = render(&output_speedscope, p, &o, &len);
	CHECK(!strcmp(s, want), "speedscope text:\n%s\nwant:\n%s", s, want);
	free(s);
	profile__free(p);

	p = profile__new(0);
	s = render(&output_speedscope, p, &o, &len);
	CHECK(strstr(s, "\"frames\":[]}") && strstr(s, "\"profiles\":[]}"),
	      "an empty profile is still a valid file: %s", s);
	free(s);
	profile__free(p);
}

/* --group-by container,pod: those lead the thread profiles' names. */
static void test_speedscope_groups(void)
{
	struct profile *p = profile__new(0);
	struct output_opts o = { .group_by = { OUTPUT_GROUP_CONTAINER, OUTPUT_GROUP_POD } };
	uint32_t loc = profile__location(p, profile__function(p, "f", "m.py", 1), 2);
	size_t len;
	char *s;

	profile__set_process_name(p, 7, "py");
	CHECK(profile__add(p, 7, 8, 0, &loc, 1, 1) == 0);
	s = render(&output_speedscope, p, &o, &len);
	CHECK(strstr(s, "\"name\":\"container - (host) / pod - / process 7 (py) / thread 8 (?)\""),
	      "got\n%s", s);
	free(s);
	profile__free(p);
}

static size_t count(const char *s, const char *needle)
{
	size_t n = 0;

	for (; (s = strstr(s, needle)); s += strlen(needle))
		n++;
	return n;
}

/* The number of <g> elements inside #frames. */
static size_t count_frames(const char *svg)
{
	const char *a = strstr(svg, "<g id=\"frames\">"), *b = a ? strstr(a, "<script") : NULL;
	char *part;
	size_t n;

	if (!a || !b)
		return 0;
	part = strndup(a, b - a);
	n = count(part, "<g>") + count(part, "<g data-l=");
	free(part);
	return n;
}

/* One stack of functions in m.py, names root first; 0 or -errno. */
static int add_chain(struct profile *p, const char *const *names, uint32_t n, uint64_t w)
{
	uint32_t locs[16];

	for (uint32_t i = 0; i < n; i++) /* innermost first */
		locs[n - 1 - i] =
			profile__location(p, profile__function(p, names[i], "m.py", 1), (int)i + 1);
	return profile__add(p, 1, 1, 0, locs, n, w);
}

static void test_svg_small(void)
{
	struct profile *p = profile__new(0);
	struct output_opts o = { .rate_hz = 99, .duration_s = 1.0 };
	const char *a[] = { "<module>", "main", "hot_loop" }, *b[] = { "<module>", "main", "x&y" };
	size_t len;
	char *s;

	CHECK(!add_chain(p, a, 3, 60));
	CHECK(!add_chain(p, b, 3, 40));
	s = render(&output_svg, p, &o, &len);
	/* all, <module>, main, hot_loop, x&y */
	CHECK(count_frames(s) == 5, "%zu frames", count_frames(s));
	CHECK(strstr(s, "<title>hot_loop (m.py:3) \u2014 60 samples (60.00%)</title>"));
	CHECK(strstr(s, "<title>x&amp;y (m.py:3) \u2014 40 samples (40.00%)</title>"));
	CHECK(strstr(s, "<title>all \u2014 100 samples (100.00%)</title>"));
	CHECK(strstr(s, "width=\"1180.00\""), "the root spans the frame area");
	CHECK(strstr(s, "100 samples \u00b7 99 Hz \u00b7 1.0 s"), "subtitle");
	CHECK(!strstr(s, "x&y"), "every & is escaped");
	CHECK(count(s, "<script") == 1 && count(s, "]]></script>") == 1);
	free(s);

	/* Leading frames as in folded, between the root and <module>. */
	profile__set_thread_name(p, 1, 1, "w<1>");
	o.show_pids = o.show_threads = true;
	s = render(&output_svg, p, &o, &len);
	CHECK(count_frames(s) == 7, "%zu frames", count_frames(s));
	CHECK(strstr(s, "<title>process 1 (?) \u2014 100 samples (100.00%)</title>"));
	CHECK(strstr(s, "<title>thread 1 (w&lt;1&gt;) \u2014 100 samples (100.00%)</title>"));
	free(s);
	profile__free(p);
}

static void test_svg_merges_narrow(void)
{
	struct profile *p = profile__new(0);
	struct output_opts o = {};
	const char *big[] = { "<module>", "big" };
	char name[32];
	size_t len;
	char *s;

	CHECK(!add_chain(p, big, 2, 100000));
	for (int i = 0; i < 50; i++) {
		const char *tiny[] = { "<module>", name };

		snprintf(name, sizeof(name), "tiny_%02d", i);
		CHECK(!add_chain(p, tiny, 2, 1)); /* 1180 / 100050 px each */
	}
	s = render(&output_svg, p, &o, &len);
	CHECK(count_frames(s) == 4, "all, <module>, big and one merged box: %zu", count_frames(s));
	CHECK(strstr(s, "<g data-l=\"[50 narrow frames]\"><title>50 frames too narrow to draw"),
	      "the merged box names how many it holds");
	CHECK(!strstr(s, "tiny_"), "no narrow frame is drawn on its own");
	free(s);
	profile__free(p);
}

/* 100 000 distinct frames in a tree 2-9 deep: the file stays bounded. */
static void test_svg_large(void)
{
	struct profile *p = profile__new(0);
	struct output_opts o = {};
	char names[10][32];
	const char *chain[10];
	uint32_t seed = 1;
	size_t len, frames, failed = 0;
	char *s;

	for (int i = 0; i < 100000; i++) {
		uint32_t depth = 2 + i % 8;

		for (uint32_t d = 0; d < depth; d++) {
			seed = seed * 1103515245u + 12345u;
			/* Few names near the root, many towards the leaves. */
			snprintf(names[d], sizeof(names[d]), "f%u_%u", d,
				 d + 1 == depth ? (uint32_t)i : (seed >> 16) % (4u << (2 * d)));
			chain[d] = names[d];
		}
		seed = seed * 1103515245u + 12345u;
		failed += add_chain(p, chain, depth, 1 + (seed >> 16) % 20) != 0;
	}
	CHECK(!failed, "%zu stacks not added", failed);
	CHECK(profile__n_functions(p) > 100000, "%u functions", profile__n_functions(p));
	s = render(&output_svg, p, &o, &len);
	frames = count_frames(s);
	printf("large profile: %u stacks -> %zu frames drawn, %zu bytes\n", profile__n_stacks(p),
	       frames, len);
	CHECK(frames > 100 && frames < 20000, "%zu frames drawn", frames);
	CHECK(len < 6 * 1024 * 1024, "%zu bytes", len);
	CHECK(count(s, "narrow frames]") > 0, "narrow frames were merged");
	free(s);
	profile__free(p);
}

/* The fill of the frame whose title starts with prefix: r, g, b. */
static int fill_of(const char *svg, const char *prefix, int rgb[3])
{
	char key[64];
	const char *t;

	snprintf(key, sizeof(key), "<title>%s", prefix);
	t = strstr(svg, key);
	t = t ? strstr(t, "fill=\"rgb(") : NULL;
	return t && sscanf(t, "fill=\"rgb(%d,%d,%d)", &rgb[0], &rgb[1], &rgb[2]) == 3;
}

static void test_svg_diff(void)
{
	struct profile *before = profile__new(0), *after = profile__new(0);
	struct output_opts o = {};
	const char *grew[] = { "<module>", "grew" }, *shrank[] = { "<module>", "shrank" };
	const char *same[] = { "<module>", "same" }, *gone[] = { "<module>", "gone" };
	int c[3];
	size_t len;
	char *s = NULL;
	FILE *f;

	CHECK(!add_chain(before, grew, 2, 10));
	CHECK(!add_chain(before, shrank, 2, 50));
	CHECK(!add_chain(before, same, 2, 20));
	CHECK(!add_chain(before, gone, 2, 20));
	CHECK(!add_chain(after, grew, 2, 120));
	CHECK(!add_chain(after, shrank, 2, 20));
	CHECK(!add_chain(after, same, 2, 40));
	f = open_memstream(&s, &len);
	CHECK(svg_write_diff(before, after, &o, f) == 0);
	fclose(f);
	CHECK(fill_of(s, "grew", c) && c[0] > 200 && c[1] < 100 && c[2] < 100,
	      "10%% -> 67%% is full red: %d,%d,%d", c[0], c[1], c[2]);
	CHECK(fill_of(s, "shrank", c) && c[2] > c[0] + 50, "50%% -> 11%% is blue: %d,%d,%d", c[0],
	      c[1], c[2]);
	CHECK(fill_of(s, "same", c) && c[0] >= 220 && c[1] >= 220 && c[2] >= 220,
	      "20%% -> 22%% is nearly neutral: %d,%d,%d", c[0], c[1], c[2]);
	CHECK(!strstr(s, "<title>gone"), "frames only in the baseline have no width");
	CHECK(strstr(s, "grew (m.py:2) \u2014 120 samples (66.67%), before: 10 samples (10.00%), "
			"+56.67 points"));
	CHECK(strstr(s, "Differential flame graph"));
	free(s);
	profile__free(before);
	profile__free(after);
}

/* Every writer takes a profile without a stack (UBSan: no NULL to qsort). */
static void test_all_empty(void)
{
	const struct output_writer *w[] = { &output_folded, &output_pprof, &output_speedscope,
					    &output_svg };
	struct output_opts o = { .rate_hz = 99, .duration_s = 1 };
	struct profile *p = profile__new(0);
	size_t len;

	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		char *s = render(w[i], p, &o, &len);

		CHECK(s != NULL, "%s: an empty profile", w[i]->name);
		CHECK(w[i] != &output_folded || len == 0, "folded: empty is no lines, got %zu",
		      len);
		free(s);
	}
	profile__free(p);
}

static void test_svg_empty(void)
{
	struct profile *p = profile__new(0);
	struct output_opts o = {};
	size_t len;
	char *s = render(&output_svg, p, &o, &len);

	CHECK(strstr(s, "No samples") && count_frames(s) == 0 && strstr(s, "</svg>\n"));
	free(s);
	profile__free(p);
}

/* --mode offcpu/wall/memory: weights are nanoseconds or bytes, not samples. */
static void check_units(const char *type, const char *unit, uint64_t w, const char *ss_unit,
			const char *amount)
{
	struct profile *p = profile__new(0);
	struct output_opts o = { .duration_s = 3.0, .value_type = type, .value_unit = unit };
	const char *a[] = { "<module>", "waits" };
	char want[160];
	size_t len;
	char *s;

	CHECK(!add_chain(p, a, 2, w));
	s = render(&output_speedscope, p, &o, &len);
	snprintf(want, sizeof(want), "\"unit\":\"%s\"", ss_unit);
	CHECK(strstr(s, want), "%s: no %s in\n%s", unit, want, s);
	snprintf(want, sizeof(want), "\"name\":\"pyspy-bpf %s: %llu %s over 3.0 s\"", type,
		 (unsigned long long)w, unit);
	CHECK(strstr(s, want), "%s: no %s in\n%s", unit, want, s);
	free(s);
	s = render(&output_svg, p, &o, &len);
	snprintf(want, sizeof(want), "<title>waits (m.py:2) \u2014 %s (100.00%%)</title>", amount);
	CHECK(strstr(s, want), "%s: no %s", unit, want);
	snprintf(want, sizeof(want), ">%s profile \u00b7 %s \u00b7 3.0 s<", type, amount);
	CHECK(strstr(s, want), "%s: no subtitle %s", unit, want);
	free(s);
	profile__free(p);
}

static void test_value_units(void)
{
	check_units("offcpu", "nanoseconds", 1500000, "nanoseconds", "1.50 ms");
	check_units("wall", "nanoseconds", 2500000000ull, "nanoseconds", "2.50 s");
	check_units("wall", "nanoseconds", 999, "nanoseconds", "999 ns");
	check_units("memory", "bytes", 3 << 19, "bytes", "1.50 MiB");
	check_units("memory", "bytes", 512, "bytes", "512 B");
	check_units("odd", "widgets", 7, "none", "7 widgets");
}

static void test_choose_writer(void)
{
	CHECK(output__by_path("out.speedscope.json") == &output_speedscope);
	CHECK(output__by_path("/a.b/c.svg.speedscope.json") == &output_speedscope);
	CHECK(output__by_path("out.svg") == &output_svg);
	CHECK(output__by_path("out.speedscope.json.svg") == &output_svg);
	CHECK(output__by_path("out.folded") == &output_folded);
	CHECK(output__by_path("out.txt") == &output_folded);
	CHECK(output__by_path("out.json") != &output_speedscope,
	      "plain .json is not claimed by speedscope");
	CHECK(output__by_path("speedscope.json") != &output_speedscope);
	CHECK(output__by_path("out.unknown") == NULL);
	CHECK(output__by_path("svg") == NULL);
	CHECK(output__by_name("speedscope") == &output_speedscope);
	CHECK(output__by_name("svg") == &output_svg);
	CHECK(strstr(output__names(), "speedscope") && strstr(output__names(), "svg"));
	CHECK(!strcmp(output_speedscope.exts[0], ".speedscope.json"),
	      "the default file name gets the full suffix");
}

int main(void)
{
	test_json_escape();
	test_xml_escape();
	test_speedscope();
	test_speedscope_groups();
	test_svg_small();
	test_svg_merges_narrow();
	test_svg_large();
	test_svg_diff();
	test_svg_empty();
	test_all_empty();
	test_value_units();
	test_choose_writer();
	return unit_done("test_output_formats");
}
