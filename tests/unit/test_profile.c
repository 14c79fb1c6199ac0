// SPDX-License-Identifier: MIT
/*
 * test_profile.c - the aggregation model and the folded writer: merging,
 * ordering, leading process/thread frames, truncated/partial markers,
 * the stack cap, and whole-file writing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"
#include "symbolize/base/fileopen.h"
#include "symbolize/model/profile.h"
#include "user/output/output.h"

static char *render(const struct profile *p, const struct output_opts *o)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK(output_folded.write(p, o, f) == 0, "folded write failed");
	fclose(f);
	return buf;
}

static void test_folded(void)
{
	struct profile *p = profile__new(0);
	struct output_opts o = {};
	uint32_t fm = profile__function(p, "<module>", "app.py", 1);
	uint32_t fh = profile__function(p, "Worker.hot", "app.py", 10);
	uint32_t st1[2] = { profile__location(p, fh, 12), profile__location(p, fm, 40) };
	uint32_t st2[1] = { profile__location(p, fm, 41) };
	char *s;

	CHECK(profile__location(p, fh, 12) == st1[0], "locations are interned");
	CHECK(profile__function(p, "Worker.hot", "app.py", 10) == fh, "functions are interned");
	profile__set_process_name(p, 7, "python3");
	profile__set_thread_name(p, 7, 8, "worker;a");
	CHECK(profile__add(p, 7, 8, 0, st1, 2, 3) == 0);
	CHECK(profile__add(p, 7, 9, 0, st1, 2, 2) == 0);
	CHECK(profile__add(p, 7, 9, PROFILE_STACK_TRUNCATED, st2, 1, 1) == 0);
	CHECK(profile__total_weight(p) == 6);
	CHECK(profile__n_stacks(p) == 3);

	s = render(p, &o);
	CHECK(!strcmp(s, "<module> (app.py:40);Worker.hot (app.py:12) 5\n"
			 "[truncated];<module> (app.py:41) 1\n"),
	      "threads merge without --threads, root first, sorted: got\n%s", s);
	free(s);

	o.show_threads = o.show_pids = true;
	s = render(p, &o);
	CHECK(!strcmp(s,
		      "process 7 (python3);thread 8 (worker_a);<module> (app.py:40);"
		      "Worker.hot (app.py:12) 3\n"
		      "process 7 (python3);thread 9 (?);<module> (app.py:40);Worker.hot (app.py:12) 2\n"
		      "process 7 (python3);thread 9 (?);[truncated];<module> (app.py:41) 1\n"),
	      "leading frames, ';' in names replaced: got\n%s", s);
	free(s);
	profile__free(p);
}

static void test_cap(void)
{
	struct profile *p = profile__new(2);
	uint32_t f = profile__function(p, "f", "x.py", 1);
	uint32_t l[3] = { profile__location(p, f, 1), profile__location(p, f, 2),
			  profile__location(p, f, 3) };

	CHECK(profile__add(p, 1, 1, 0, &l[0], 1, 1) == 0);
	CHECK(profile__add(p, 1, 1, 0, &l[1], 1, 1) == 0);
	CHECK(profile__add(p, 1, 1, 0, &l[2], 1, 5) == -ENOSPC, "third stack over the cap");
	CHECK(profile__add(p, 1, 1, 0, &l[0], 1, 1) == 0, "known stacks still count");
	CHECK(profile__add(p, 2, 2, 0, &l[2], 1, 0) == 0 && profile__n_stacks(p) == 2,
	      "weight 0 adds no stack (and is not counted as dropped)");
	CHECK(profile__dropped(p) == 5 && profile__total_weight(p) == 3);
	profile__free(p);
}

static void test_write_file(void)
{
	struct profile *p = profile__new(0);
	struct output_opts o = {};
	uint32_t f = profile__function(p, "f", "x.py", 1);
	uint32_t l = profile__location(p, f, 2);
	char dir[] = "/tmp/pyspy-unit-XXXXXX", path[256], other[256], buf[128] = "";
	struct stat st;
	FILE *in;

	profile__add(p, 1, 1, 0, &l, 1, 4);
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/out.folded", dir);
	CHECK(output__write_file(&output_folded, p, &o, path) == 0);
	in = fopen(path, "r");
	CHECK(in && fgets(buf, sizeof(buf), in));
	if (in)
		fclose(in);
	CHECK(!strcmp(buf, "f (x.py:2) 4\n"), "got %s", buf);
	/* Only a regular file is replaced; the rest are refused, never opened or renamed over. */
	CHECK(output__check_path("-") == 0 && output__check_path(path) == 0);
	CHECK(output__write_file(&output_folded, p, &o, "/dev/null") == -FILEOPEN_NOT_REGULAR);
	CHECK(!stat("/dev/null", &st) && S_ISCHR(st.st_mode), "/dev/null must stay a device");
	snprintf(path, sizeof(path), "%s/fifo", dir);
	snprintf(other, sizeof(other), "%s/link-fifo", dir);
	CHECK(!mkfifo(path, 0600) && !symlink(path, other));
	/* Writing into the FIFO would wait for a reader (the alarm ends the test). */
	alarm(20);
	CHECK(output__check_path(path) == -FILEOPEN_NOT_REGULAR);
	CHECK(output__write_file(&output_folded, p, &o, path) == -FILEOPEN_NOT_REGULAR);
	CHECK(output__write_file(&output_folded, p, &o, other) == -FILEOPEN_NOT_REGULAR);
	alarm(0);
	CHECK(!lstat(path, &st) && S_ISFIFO(st.st_mode) && !lstat(other, &st) &&
	      S_ISLNK(st.st_mode));
	unlink(path);
	unlink(other);
	CHECK(output__write_file(&output_folded, p, &o, dir) == -FILEOPEN_NOT_REGULAR);
	/* A symlink to a regular file, or to nothing, is replaced, never followed. */
	snprintf(path, sizeof(path), "%s/target", dir);
	in = fopen(path, "w");
	CHECK(in && fputs("keep", in) >= 0);
	if (in)
		fclose(in);
	snprintf(other, sizeof(other), "%s/link.folded", dir);
	CHECK(!symlink(path, other));
	CHECK(output__write_file(&output_folded, p, &o, other) == 0);
	CHECK(!lstat(other, &st) && S_ISREG(st.st_mode) && !stat(path, &st) && st.st_size == 4);
	unlink(other);
	CHECK(!symlink("nowhere", other));
	CHECK(output__write_file(&output_folded, p, &o, other) == 0);
	CHECK(!lstat(other, &st) && S_ISREG(st.st_mode));
	unlink(other);
	unlink(path);
	snprintf(path, sizeof(path), "%s/missing/out.folded", dir);
	CHECK(output__write_file(&output_folded, p, &o, path) == -ENOENT);
	CHECK(output__by_path("a.folded") == &output_folded && output__by_path("a.txt"));
	CHECK(output__by_path("a.xyz") == NULL && output__by_name("nope") == NULL);
	snprintf(path, sizeof(path), "%s/out.folded", dir);
	unlink(path);
	rmdir(dir);
	profile__free(p);
}

static void test_views(void)
{
	struct profile *base = profile__new(0);
	struct profile *v = profile__new_view(base, 1);
	struct output_opts o = {};
	uint32_t f = profile__function(v, "g", "y.py", 3);
	uint32_t l = profile__location(v, f, 4), l2 = profile__location(base, f, 5);
	char *s;

	CHECK(profile__function(base, "g", "y.py", 3) == f, "a view shares its base's symbols");
	CHECK(profile__add(v, 1, 1, 0, &l, 1, 2) == 0);
	CHECK(profile__add(v, 1, 1, 0, &l2, 1, 1) == -ENOSPC, "the view's own cap");
	CHECK(profile__n_stacks(base) == 0 && profile__total_weight(v) == 2);
	s = render(v, &o);
	CHECK(!strcmp(s, "g (y.py:4) 2\n"), "got %s", s);
	free(s);
	profile__clear_stacks(v);
	CHECK(profile__n_stacks(v) == 0 && profile__total_weight(v) == 0);
	profile__free(v);
	CHECK(!strcmp(profile__str(base, profile__get_function(base, f)->name), "g"),
	      "freeing a view leaves the base whole");
	profile__free(base);
}

/* Names a target makes up cannot grow the symbols past their budget. */
static void test_symbol_budget(void)
{
	struct profile *p = profile__new(0);
	struct output_opts o = {};
	uint32_t keep = profile__function(p, "kept", "k.py", 1), fn, loc, n;
	char name[64], *s;

	profile__set_symbol_budget(p, 64 * 1024);
	for (int i = 0; i < 100000; i++) {
		snprintf(name, sizeof(name), "made_up_%d", i);
		fn = profile__function(p, name, "churn.py", i);
		loc = profile__location(p, fn, i);
	}
	n = profile__n_functions(p);
	CHECK(n < 2000, "functions grew to %u", n);
	CHECK(profile__symbols_dropped(p) > 90000, "dropped %llu",
	      (unsigned long long)profile__symbols_dropped(p));
	CHECK(!strcmp(profile__str(p, profile__get_function(p, fn)->name),
		      "[dropped: too many names]"),
	      "overflow function");
	CHECK(profile__function(p, "kept", "k.py", 1) == keep, "known names stay");
	CHECK(profile__function(p, "made_up_99999", "churn.py", 99999) == fn, "one overflow entry");
	CHECK(profile__add(p, 1, 1, 0, &loc, 1, 5) == 0);
	s = render(p, &o);
	CHECK(!strcmp(s, "[dropped: too many names] 5\n"), "folded: %s", s);
	free(s);
	CHECK(profile__n_functions(p) == n, "stable");
	profile__free(p);
}

/* A holder of ids besides views: a cache of location ids, say. */
struct held {
	struct profile *view;
	uint32_t loc;
};

static void hold(struct profile_remap *m, struct held *h)
{
	profile_remap__view(m, h->view);
	h->loc = profile_remap__location(m, h->loc);
}

/* What a holder of ids does (the sampler): visit, renumber, visit again. */
static int compact(struct profile *p, struct held *h)
{
	struct profile_remap *m = profile__compact_begin(p);

	if (!m)
		return -ENOMEM;
	hold(m, h);
	profile_remap__rewrite(m);
	hold(m, h);
	profile_remap__end(m);
	return 0;
}

static void test_compact(void)
{
	struct profile *p = profile__new(0);
	struct profile *v = profile__new_view(p, 0);
	struct output_opts o = {};
	char name[64], *before, *after;
	uint32_t st[2], fn_live, n_fn;
	struct held h;
	const struct profile_location *loc;

	CHECK(p && v, "setup");
	if (!p || !v)
		return;
	profile__set_process_name(p, 7, "app");
	profile__set_process_label(p, 7, PROFILE_LABEL_POD_NAME, "web-1");
	fn_live = profile__function(p, "live", "app.py", 3);
	st[0] = profile__location(p, fn_live, 4);
	st[1] = profile__location(p, profile__function(p, "<module>", "app.py", 1), 9);
	profile__add(v, 7, 7, 0, st, 2, 5);
	/* Names of the churn: used by nothing any more. */
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "gone_%d", i);
		profile__location(p, profile__function(p, name, "gen.py", i), i);
	}
	h.view = v;
	h.loc = profile__location(p, profile__function(p, "cached", "lib.py", 20), 21);
	n_fn = profile__n_functions(p);
	before = render(v, &o);

	CHECK(compact(p, &h) == 0, "compact");
	after = render(v, &o);
	CHECK(before && after && !strcmp(before, after), "the view is the same:\n%s---\n%s", before,
	      after);
	CHECK(profile__n_functions(p) == 3 && n_fn == 1003, "functions %u (were %u)",
	      profile__n_functions(p), n_fn);
	loc = profile__get_location(p, h.loc);
	CHECK(loc && loc->line == 21 &&
		      !strcmp(profile__str(p, profile__get_function(p, loc->function)->name),
			      "cached"),
	      "a holder's id follows its location");
	CHECK(!strcmp(profile__process_name(p, 7), "app"), "names stay");
	CHECK(!strcmp(profile__process_label(p, 7, PROFILE_LABEL_POD_NAME), "web-1"),
	      "labels stay");
	/* Interning still finds what was kept, and adds after it. */
	CHECK(profile__function(p, "live", "app.py", 3) < 3, "kept functions are found again");
	CHECK(profile__location(p, profile__function(p, "cached", "lib.py", 20), 21) == h.loc,
	      "and kept locations");
	CHECK(profile__function(p, "new", "app.py", 1) == 3, "new ids follow the kept ones");
	free(before);
	free(after);

	/* Past the budget names are dropped; after a compaction they come back. */
	profile__set_symbol_budget(p, 16 * 1024);
	for (int i = 0; i < 2000; i++) {
		snprintf(name, sizeof(name), "churn_%d", i);
		profile__function(p, name, "gen.py", 1);
	}
	CHECK(profile__symbols_dropped(p) > 0, "the budget was hit");
	CHECK(compact(p, &h) == 0, "compact again");
	CHECK(strcmp(profile__str(p,
				  profile__get_function(p, profile__function(p, "back", "x.py", 1))
					  ->name),
		     "back") == 0,
	      "a new name fits again");
	profile__free(v);
	profile__free(p);
}

int main(void)
{
	test_views();
	test_folded();
	test_cap();
	test_write_file();
	test_symbol_budget();
	test_compact();
	return unit_done("profile");
}
