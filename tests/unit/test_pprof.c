// SPDX-License-Identifier: MIT
/*
 * test_pprof.c - the pprof writer and reader: a profile written and read
 * back is the same (stacks, weights, pids, tids, names, markers), the
 * header and values follow pprof's conventions, and malformed files (cut,
 * garbled, dangling references) are refused without crashing.
 *
 * `test_pprof --to-folded FILE` instead prints FILE as read by pprof_read,
 * in folded form with process and thread frames: the integration test
 * compares that with what `go tool pprof` reads from the same file.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "unit.h"
#include "proto/profile.pb-c.h"
#include "symbolize/model/profile.h"
#include "user/output/output.h"
#include "user/output/pprof_read.h"

typedef Perftools__Profiles__Profile pb_profile;

#define RATE	 250
#define PERIOD	 (1000000000 / RATE)
#define START_NS 1700000000123456789ull

static const struct output_opts opts = {
	.rate_hz = RATE,
	.duration_s = 2.5,
	.start_unix_ns = START_NS,
};

/* Two processes, three threads, markers, an unknown frame, a deep stack. */
static struct profile *sample_profile(void)
{
	struct profile *p = profile__new(0);
	uint32_t fm = profile__function(p, "<module>", "/app/main.py", 1);
	uint32_t fc = profile__function(p, "Worker.compute", "/app/main.py", 30);
	uint32_t fh = profile__function(p, "hot_loop", "/app/main.py", 22);
	uint32_t fl = profile__function(p, "outer.<locals>.<lambda>", "/app/lib.py", 5);
	uint32_t fu = profile__function(p, "[unknown]", "", 0);
	uint32_t s1[3] = { profile__location(p, fh, 25), profile__location(p, fc, 31),
			   profile__location(p, fm, 43) };
	uint32_t s2[2] = { profile__location(p, fl, 6), profile__location(p, fm, 44) };
	uint32_t s3[2] = { profile__location(p, fu, -1), profile__location(p, fh, 26) };
	uint32_t deep[1024];

	for (int i = 0; i < 1024; i++)
		deep[i] = profile__location(p, fc, 100 + i % 7);
	profile__set_process_name(p, 100, "python3");
	profile__set_process_name(p, 200, "worker");
	profile__set_thread_name(p, 100, 100, "MainThread");
	profile__set_thread_name(p, 100, 101, "pool-1");
	CHECK(profile__add(p, 100, 100, 0, s1, 3, 40) == 0);
	CHECK(profile__add(p, 100, 101, 0, s1, 3, 7) == 0);
	CHECK(profile__add(p, 100, 101, 0, s2, 2, 3) == 0);
	CHECK(profile__add(p, 200, 201, PROFILE_STACK_TRUNCATED, deep, 1024, 2) == 0);
	CHECK(profile__add(p, 200, 201, PROFILE_STACK_PARTIAL, s3, 2, 5) == 0);
	CHECK(profile__add(p, 200, 202, 0, s3, 2, 1) == 0);
	return p;
}

static char *folded(const struct profile *p)
{
	struct output_opts o = { .show_pids = true, .show_threads = true };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK(output_folded.write(p, &o, f) == 0, "folded write failed");
	fclose(f);
	return buf;
}

static void write_pprof(const struct profile *p, char **buf, size_t *len)
{
	FILE *f = open_memstream(buf, len);

	CHECK(output_pprof.write(p, &opts, f) == 0, "pprof write failed");
	fclose(f);
}

/* Test-side gunzip, independent of the reader under test. */
static uint8_t *gunzip(const char *gz, size_t len, size_t *out_len)
{
	size_t cap = 1 << 20;
	uint8_t *out = malloc(cap);
	z_stream zs = { 0 };

	inflateInit2(&zs, 15 + 16);
	zs.next_in = (Bytef *)gz;
	zs.avail_in = len;
	zs.next_out = out;
	zs.avail_out = cap;
	CHECK(inflate(&zs, Z_FINISH) == Z_STREAM_END, "pprof output is not one gzip stream");
	*out_len = zs.total_out;
	inflateEnd(&zs);
	return out;
}

static void test_registry(void)
{
	CHECK(output__by_name("pprof") == &output_pprof);
	CHECK(output__by_path("/tmp/x.pb.gz") == &output_pprof);
	CHECK(output__by_path("x.pprof") == &output_pprof);
	CHECK(output__by_path("x.gz") != &output_pprof);
}

static void check_same(const struct profile *a, const struct profile *b, const char *what)
{
	char *fa = folded(a), *fb = folded(b);

	CHECK(!strcmp(fa, fb), "%s: read back differs:\n--- written\n%s--- read\n%s", what, fa, fb);
	CHECK(profile__total_weight(a) == profile__total_weight(b), "%s: total weight", what);
	CHECK(profile__n_stacks(a) == profile__n_stacks(b), "%s: %u stacks, read %u", what,
	      profile__n_stacks(a), profile__n_stacks(b));
	/* Function start lines are not in the folded text: compare them by name. */
	for (uint32_t i = 0; i < profile__n_functions(b); i++) {
		const struct profile_function *fb_ = profile__get_function(b, i);
		const char *name = profile__str(b, fb_->name);
		int found = 0;

		for (uint32_t j = 0; j < profile__n_functions(a); j++) {
			const struct profile_function *fa_ = profile__get_function(a, j);

			if (!strcmp(profile__str(a, fa_->name), name) &&
			    !strcmp(profile__str(a, fa_->file), profile__str(b, fb_->file)))
				found = fa_->start_line == fb_->start_line;
		}
		CHECK(found, "%s: function %s lost or changed its start line", what, name);
	}
	free(fa);
	free(fb);
}

static void test_roundtrip(void)
{
	struct profile *p = sample_profile(), *q;
	char *gz = NULL, path[] = "/tmp/test_pprof.XXXXXX";
	size_t len = 0, raw_len;
	uint8_t *raw;
	FILE *f;
	int fd;

	write_pprof(p, &gz, &len);
	CHECK(len > 20 && (uint8_t)gz[0] == 0x1f && (uint8_t)gz[1] == 0x8b, "not gzipped");

	q = profile__new(0);
	CHECK(pprof_read_mem(gz, len, q) == 0, "gzipped read failed");
	check_same(p, q, "gzipped");
	profile__free(q);

	raw = gunzip(gz, len, &raw_len);
	q = profile__new(0);
	CHECK(pprof_read_mem(raw, raw_len, q) == 0, "raw read failed");
	check_same(p, q, "raw");
	profile__free(q);
	free(raw);

	fd = mkstemp(path);
	CHECK(fd >= 0);
	f = fdopen(fd, "w");
	CHECK(output_pprof.write(p, &opts, f) == 0);
	fclose(f);
	q = profile__new(0);
	CHECK(pprof_read(path, q) == 0, "file read failed");
	check_same(p, q, "file");
	profile__free(q);
	unlink(path);

	free(gz);
	profile__free(p);
}

static void test_empty(void)
{
	struct profile *p = profile__new(0), *q = profile__new(0);
	char *gz = NULL;
	size_t len = 0;

	write_pprof(p, &gz, &len);
	CHECK(pprof_read_mem(gz, len, q) == 0, "empty profile does not read back");
	CHECK(profile__n_stacks(q) == 0);
	free(gz);
	profile__free(p);
	profile__free(q);
}

static const char *s_at(const pb_profile *m, int64_t i)
{
	return i >= 0 && (size_t)i < m->n_string_table ? m->string_table[i] : "(bad index)";
}

static void check_labels(const pb_profile *m, const Perftools__Profiles__Sample *s)
{
	int pid = 0, tid = 0;

	for (size_t i = 0; i < s->n_label; i++) {
		const char *k = s_at(m, s->label[i]->key);

		pid |= !strcmp(k, "pid") && s->label[i]->num >= 100 && !s->label[i]->str;
		tid |= !strcmp(k, "tid") && s->label[i]->num >= 100 && !s->label[i]->str;
		if (!strcmp(k, "pid") && s->label[i]->num == 100)
			CHECK(s->n_label == 4, "pid 100's threads are named: want 4 labels");
		if (!strcmp(k, "process"))
			CHECK(!strcmp(s_at(m, s->label[i]->str), "python3") ||
			      !strcmp(s_at(m, s->label[i]->str), "worker"));
	}
	CHECK(pid && tid, "pid and tid must be numeric labels");
}

/* The wire content as pprof defines it, read with protobuf-c directly. */
static void test_fields(void)
{
	struct profile *p = sample_profile();
	char *gz = NULL;
	size_t len = 0, raw_len;
	uint8_t *raw;
	pb_profile *m;

	write_pprof(p, &gz, &len);
	raw = gunzip(gz, len, &raw_len);
	m = perftools__profiles__profile__unpack(NULL, raw_len, raw);
	CHECK(m, "protobuf-c cannot unpack our output");
	if (!m)
		goto out;
	CHECK(m->n_string_table && !strcmp(m->string_table[0], ""));
	CHECK(m->n_sample_type == 2);
	CHECK(!strcmp(s_at(m, m->sample_type[0]->type), "samples") &&
	      !strcmp(s_at(m, m->sample_type[0]->unit), "count"));
	CHECK(!strcmp(s_at(m, m->sample_type[1]->type), "cpu") &&
	      !strcmp(s_at(m, m->sample_type[1]->unit), "nanoseconds"));
	CHECK(m->period_type && !strcmp(s_at(m, m->period_type->type), "cpu") &&
	      !strcmp(s_at(m, m->period_type->unit), "nanoseconds"));
	CHECK(m->period == PERIOD, "period %ld", (long)m->period);
	CHECK(m->time_nanos == (int64_t)START_NS);
	CHECK(m->duration_nanos == 2500000000);
	CHECK(m->n_sample == profile__n_stacks(p));
	for (size_t i = 0; i < m->n_sample; i++) {
		CHECK(m->sample[i]->n_value == 2 &&
		      m->sample[i]->value[1] == m->sample[i]->value[0] * PERIOD);
		check_labels(m, m->sample[i]);
	}
	/* The first stack is hot_loop <- Worker.compute <- <module>: leaf first. */
	CHECK(m->sample[0]->n_location_id == 3);
	for (size_t i = 0; i < m->n_location; i++) {
		const Perftools__Profiles__Location *l = m->location[i];

		CHECK(l->n_line == 1, "one Line per location");
		if (l->id == m->sample[0]->location_id[0]) {
			const Perftools__Profiles__Function *f = NULL;

			for (size_t j = 0; j < m->n_function; j++)
				if (m->function[j]->id == l->line[0]->function_id)
					f = m->function[j];
			CHECK(f && !strcmp(s_at(m, f->name), "hot_loop") &&
				      l->line[0]->line == 25 && f->start_line == 22 &&
				      !strcmp(s_at(m, f->filename), "/app/main.py"),
			      "leaf must come first");
		}
	}
	/* A system_name equal to name makes pprof mangle `<module>`. */
	for (size_t j = 0; j < m->n_function; j++) {
		const Perftools__Profiles__Function *f = m->function[j];

		if (*s_at(m, f->filename))
			CHECK(f->system_name != f->name, "%s: system_name must differ",
			      s_at(m, f->name));
	}
	perftools__profiles__profile__free_unpacked(m, NULL);
out:
	free(raw);
	free(gz);
	profile__free(p);
}

/* --- malformed input ---------------------------------------------------------- */

static int read_buf(const void *buf, size_t len)
{
	struct profile *q = profile__new(0);
	int err = pprof_read_mem(buf, len, q);

	profile__free(q);
	return err;
}

/* Pack m, read it back; returns pprof_read_mem's result. */
static int read_msg(const pb_profile *m)
{
	size_t len = perftools__profiles__profile__get_packed_size(m);
	uint8_t *buf = malloc(len + 1);
	int err;

	perftools__profiles__profile__pack(m, buf);
	err = read_buf(buf, len);
	free(buf);
	return err;
}

static uint32_t rng_state = 12345;

static uint32_t rng(void)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return rng_state >> 8;
}

static void test_garbage(const char *gz, size_t len, const uint8_t *raw, size_t raw_len)
{
	uint8_t *mut = malloc(raw_len > len ? raw_len : len);
	int bad_gz = 0, ok_raw = 0, bad_raw = 0, bad_mut = 0, odd = 0;

	struct profile *q = profile__new(0);

	CHECK(pprof_read("/nonexistent/x.pb.gz", q) == -ENOENT);
	profile__free(q);
	CHECK(read_buf("", 0) == -EINVAL, "empty input is not a profile");
	CHECK(read_buf("hello, not a profile", 20) < 0);
	CHECK(read_buf("\x1f\x8b\x08\x00garbage", 11) == -EINVAL);
	/* Every cut of the gzip stream is refused: its trailer is missing. */
	for (size_t n = 0; n < len; n++)
		bad_gz += read_buf(gz, n) < 0;
	CHECK(bad_gz == (int)len, "%d of %zu gzip prefixes refused", bad_gz, len);
	/* A cut raw message may still parse: it must just not crash. */
	for (size_t n = 0; n < raw_len; n++) {
		int err = read_buf(raw, n);

		ok_raw += !err;
		bad_raw += err < 0;
	}
	CHECK(ok_raw + bad_raw == (int)raw_len && bad_raw > 0);
	/* Random byte changes, in the raw message and in the gzip stream. */
	for (int i = 0; i < 3000; i++) {
		int err;

		memcpy(mut, raw, raw_len);
		for (int k = 1 + rng() % 4; k > 0; k--)
			mut[rng() % raw_len] = rng();
		err = read_buf(mut, raw_len);
		odd += err > 0;
		memcpy(mut, gz, len);
		mut[10 + rng() % (len - 10)] ^= 1 + rng() % 255;
		err = read_buf(mut, len);
		bad_mut += err < 0;
		odd += err > 0;
	}
	CHECK(!odd, "results are 0 or -errno");
	/* Nearly every change fails the CRC; a few hit bits that inflate ignores. */
	CHECK(bad_mut >= 2900, "only %d of 3000 changed gzip streams refused", bad_mut);
	free(mut);
}

/* Dangling references and inconsistent samples, each from a valid message. */
static void test_bad_references(const uint8_t *raw, size_t raw_len)
{
	pb_profile *m = perftools__profiles__profile__unpack(NULL, raw_len, raw);
	uint64_t saved_u;
	int64_t saved_i;
	size_t saved_n;

	CHECK(m && m->n_sample && m->n_location && m->n_function);
	if (!m)
		return;
	CHECK(read_msg(m) == 0, "the untouched message reads");

	saved_u = m->location[0]->line[0]->function_id;
	m->location[0]->line[0]->function_id = 999999;
	CHECK(read_msg(m) == -EINVAL, "line -> missing function");
	m->location[0]->line[0]->function_id = saved_u;

	saved_u = m->sample[0]->location_id[0];
	m->sample[0]->location_id[0] = 999999;
	CHECK(read_msg(m) == -EINVAL, "sample -> missing location");
	m->sample[0]->location_id[0] = saved_u;

	saved_i = m->function[0]->name;
	m->function[0]->name = (int64_t)m->n_string_table;
	CHECK(read_msg(m) == -EINVAL, "string index past the table");
	m->function[0]->name = -1;
	CHECK(read_msg(m) == -EINVAL, "negative string index");
	m->function[0]->name = saved_i;

	saved_u = m->function[1]->id;
	m->function[1]->id = m->function[0]->id;
	CHECK(read_msg(m) == -EINVAL, "duplicate function id");
	m->function[1]->id = saved_u;

	saved_n = m->sample[0]->n_value;
	m->sample[0]->n_value = 0;
	CHECK(read_msg(m) == -EINVAL, "sample without values");
	m->sample[0]->n_value = saved_n;

	CHECK(read_msg(m) == 0, "restored message reads again");
	perftools__profiles__profile__free_unpacked(m, NULL);
}

static int check_deep(const struct profile_stack *s)
{
	CHECK(s->n == PPROF_READ_MAX_FRAMES && (s->flags & PROFILE_STACK_TRUNCATED),
	      "a %u-frame stack, flags %u", s->n, s->flags);
	return 1; /* only the first stack was made deep */
}

/* A stack deeper than the reader's cap keeps its leaf-most frames, flagged. */
static void test_deep_cap(const uint8_t *raw, size_t raw_len)
{
	struct profile_stack_iter it;
	struct profile_stack s;
	pb_profile *m = perftools__profiles__profile__unpack(NULL, raw_len, raw);
	size_t n = PPROF_READ_MAX_FRAMES + 100, saved_n;
	uint64_t *ids = calloc(n, sizeof(*ids)), *saved;
	struct profile *q = profile__new(0);
	size_t len;
	uint8_t *buf;

	for (size_t i = 0; i < n; i++)
		ids[i] = m->sample[0]->location_id[0];
	saved = m->sample[0]->location_id;
	saved_n = m->sample[0]->n_location_id;
	m->sample[0]->location_id = ids;
	m->sample[0]->n_location_id = n;
	len = perftools__profiles__profile__get_packed_size(m);
	buf = malloc(len);
	perftools__profiles__profile__pack(m, buf);
	m->sample[0]->location_id = saved;
	m->sample[0]->n_location_id = saved_n;
	CHECK(pprof_read_mem(buf, len, q) == 0);
	it = profile__stacks(q);
	if (profile_stack_iter__next(&it, &s))
		check_deep(&s);
	free(buf);
	free(ids);
	profile__free(q);
	perftools__profiles__profile__free_unpacked(m, NULL);
}

static void test_malformed(void)
{
	struct profile *p = sample_profile();
	char *gz = NULL;
	size_t len = 0, raw_len;
	uint8_t *raw;

	write_pprof(p, &gz, &len);
	raw = gunzip(gz, len, &raw_len);
	test_garbage(gz, len, raw, raw_len);
	test_bad_references(raw, raw_len);
	test_deep_cap(raw, raw_len);
	free(raw);
	free(gz);
	profile__free(p);
}

/* --- converter mode for the integration test ----------------------------------- */

static int to_folded(const char *path)
{
	struct output_opts o = { .show_pids = true, .show_threads = true };
	struct profile *p = profile__new(0);
	int err = p ? pprof_read(path, p) : -ENOMEM;

	if (!err)
		err = output_folded.write(p, &o, stdout);
	if (err)
		fprintf(stderr, "test_pprof: %s: %s\n", path, strerror(-err));
	profile__free(p);
	return err ? 1 : 0;
}

/* A few bytes that decode to a lot: refused at the decode budget, not after it. */
static void test_decode_bomb(void)
{
	size_t n = 32u << 20;
	uint8_t *raw = malloc(n);
	struct profile *p = profile__new(0);

	CHECK(raw && p, "alloc");
	if (raw && p) {
		/* 16 Mi empty samples: field 2, length 0, two bytes each. */
		for (size_t i = 0; i < n; i += 2) {
			raw[i] = 0x12;
			raw[i + 1] = 0;
		}
		CHECK(pprof_read_mem(raw, n, p) == -E2BIG, "32 MiB of empty samples");
	}
	free(raw);
	profile__free(p);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--to-folded"))
		return to_folded(argv[2]);
	test_registry();
	test_roundtrip();
	test_empty();
	test_fields();
	test_malformed();
	test_decode_bomb();
	return unit_done("pprof");
}
