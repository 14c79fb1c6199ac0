// SPDX-License-Identifier: MIT
/*
 * test_codecache.c - which code object a frame saw, told without a read
 * when the cache can, and never wrongly when it cannot.
 *
 * The "target" is this process: code objects, strs and bytes laid out as
 * CPython 3.12 has them (the layout table's), made and changed in our own
 * memory, so a test can free and replace a code object at an address
 * between a sample and its symbolization, exactly when it wants to.  The
 * room a sample's headers take is the store's, one for all its caches.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "unit.h"
#include "symbolize/codecache.h"
#include "symbolize/cpython/pyoffsets.h"
#include "symbolize/base/clock.h"

#define ARENA (64 * 1024)

static const struct py_layout *L;
static uint8_t *arena;
static size_t used;

static void *take(size_t n)
{
	void *p = arena + used;

	used += (n + 63) & ~(size_t)63;
	return p;
}

static void put_u64(uint8_t *obj, uint16_t off, uint64_t v)
{
	memcpy(obj + off, &v, sizeof(v));
}

/* A compact ASCII str. */
static uint64_t make_str(const char *s)
{
	size_t n = strlen(s);
	uint8_t *o = take(L->unicode_ascii_data + n + 1);
	uint32_t state = 1u << 2 | 1u << 5 | 1u << 6; /* kind 1, compact, ascii */

	put_u64(o, 0, 1);
	put_u64(o, L->unicode_length, n);
	memcpy(o + L->unicode_state, &state, sizeof(state));
	memcpy(o + L->unicode_ascii_data, s, n + 1);
	return (uint64_t)(uintptr_t)o;
}

/* An empty bytes object: a line table that knows no lines. */
static uint64_t make_bytes(void)
{
	uint8_t *o = take(L->bytes_sval + 8);

	put_u64(o, 0, 1);
	put_u64(o, L->bytes_size, 0);
	return (uint64_t)(uintptr_t)o;
}

/* Make (or remake, as a new code object at the same address) code at o. */
static void set_code(uint8_t *o, const char *name, int firstlineno)
{
	uint64_t s = make_str(name);

	memset(o, 0, L->code_size);
	put_u64(o, 0, 1);
	put_u64(o, L->code_name, s);
	put_u64(o, L->code_qualname, s);
	put_u64(o, L->code_filename, make_str("fake.py"));
	put_u64(o, L->code_linetable, make_bytes());
	memcpy(o + L->code_firstlineno, &firstlineno, sizeof(firstlineno));
}

static uint64_t code_at(uint8_t *o)
{
	return (uint64_t)(uintptr_t)o;
}

/* The fingerprint the BPF side reads in verify mode. */
static uint32_t fp_of(uint8_t *o)
{
	uint64_t name;
	int32_t line;

	memcpy(&name, o + L->code_name, sizeof(name));
	memcpy(&line, o + L->code_firstlineno, sizeof(line));
	return pyspy_code_fp(name, line);
}

struct fixture {
	struct profile *prof;
	struct code_store *store;
	struct code_cache *c;
};

static int setup(struct fixture *f)
{
	f->prof = profile__new(0);
	f->store = code_store__new(0, 0);
	f->c = f->prof && f->store ? code_cache__new(getpid(), L, 0, f->prof, f->store) : NULL;
	return f->c ? 0 : -1;
}

static void teardown(struct fixture *f)
{
	code_cache__free(f->c);
	code_store__free(f->store);
	profile__free(f->prof);
}

/* The function name a location stands for ("[unknown]" included). */
static const char *name_of(const struct fixture *f, uint32_t loc)
{
	const struct profile_location *l = profile__get_location(f->prof, loc);
	const struct profile_function *fn = l ? profile__get_function(f->prof, l->function) : NULL;

	return fn ? profile__str(f->prof, fn->name) : "?";
}

static const char *resolve1(struct fixture *f, uint64_t code, uint32_t fp, uint64_t t,
			    bool verified)
{
	struct pyspy_frame fr = { .code = code, .lasti = 0, .code_fp = fp };
	uint32_t loc;

	code_cache__resolve(f->c, &fr, 1, t, verified, &loc);
	return name_of(f, loc);
}

/*
 * By time: a code object is known from the read that found it, a sample
 * inside the span it was seen needs no read, and one from before a
 * replacement was seen keeps the old name.
 */
static void test_by_time(void)
{
	struct fixture f;
	uint8_t *o = take(L->code_size);
	uint64_t t_before, t0, t1, t2;
	const struct code_cache_stats *st;

	set_code(o, "f_a", 10);
	if (setup(&f)) {
		CHECK(0, "setup");
		return;
	}
	st = code_cache__stats(f.c);
	t_before = mono_ns();
	/* Before the first read: something else may have lived there then. */
	CHECK(!strcmp(resolve1(&f, code_at(o), 0, t_before, false), "[unknown]"),
	      "a sample older than the first look is not told");
	t0 = mono_ns();
	CHECK(!strcmp(resolve1(&f, code_at(o), 0, t0, false), "f_a"), "read after the sample");
	/* f_a is replaced; a sample from before that is inside f_a's span. */
	set_code(o, "f_b", 20);
	CHECK(!strcmp(resolve1(&f, code_at(o), 0, t0, false), "f_a"),
	      "a sample inside the span keeps its name");
	CHECK(st->replaced == 0, "... and took no read (replaced %llu)",
	      (unsigned long long)st->replaced);
	/* Newer than the last look: read; the replacement is seen, the sample not told. */
	t1 = mono_ns();
	CHECK(!strcmp(resolve1(&f, code_at(o), 0, t1, false), "[unknown]"),
	      "a sample between the last look and the replacement is not told");
	CHECK(st->replaced == 1, "the replacement was seen");
	t2 = mono_ns();
	CHECK(!strcmp(resolve1(&f, code_at(o), 0, t2, false), "f_b"), "the new occupant");
	CHECK(!strcmp(resolve1(&f, code_at(o), 0, t0, false), "f_a"),
	      "the old one still answers for its span");
	teardown(&f);
}

/* By fingerprint: the occupant the BPF side saw, with no read once both are known. */
static void test_by_fingerprint(void)
{
	struct fixture f;
	uint8_t *o = take(L->code_size);
	uint32_t fp_a, fp_b;
	const struct code_cache_stats *st;

	set_code(o, "g_a", 10);
	fp_a = fp_of(o);
	if (setup(&f)) {
		CHECK(0, "setup");
		return;
	}
	st = code_cache__stats(f.c);
	CHECK(!strcmp(resolve1(&f, code_at(o), fp_a, 0, true), "g_a"), "verified, first look");
	set_code(o, "g_b", 20);
	fp_b = fp_of(o);
	CHECK(!strcmp(resolve1(&f, code_at(o), fp_a, 0, true), "g_a"),
	      "the fingerprint of the old occupant names it");
	CHECK(st->replaced == 0, "... without a read");
	CHECK(!strcmp(resolve1(&f, code_at(o), fp_b, 0, true), "g_b"), "a new fingerprint: read");
	CHECK(!strcmp(resolve1(&f, code_at(o), fp_a, 0, true), "g_a"), "both known now");
	CHECK(!strcmp(resolve1(&f, code_at(o), fp_a ^ fp_b ^ 1, 0, true), "[unknown]"),
	      "a fingerprint of neither");
	teardown(&f);
}

/* A stack seen again is the kept one, until an occupant of it changes hands. */
static void test_kept_stacks(void)
{
	struct fixture f;
	uint8_t *a = take(L->code_size), *b = take(L->code_size);
	struct pyspy_frame fr[2];
	uint32_t l1[2], l2[2];
	uint64_t hits, t;

	set_code(a, "s_a", 1);
	set_code(b, "s_b", 2);
	if (setup(&f)) {
		CHECK(0, "setup");
		return;
	}
	code_cache__resolve(f.c, &(struct pyspy_frame){ .code = code_at(a) }, 1, mono_ns(), false,
			    l1);
	code_cache__resolve(f.c, &(struct pyspy_frame){ .code = code_at(b) }, 1, mono_ns(), false,
			    l1);
	t = mono_ns();
	fr[0] = (struct pyspy_frame){ .code = code_at(a), .lasti = 4 };
	fr[1] = (struct pyspy_frame){ .code = code_at(b), .lasti = 8 };
	CHECK(code_cache__resolve(f.c, fr, 2, t, false, l1) == 0, "both told");
	hits = code_cache__stats(f.c)->hits;
	CHECK(code_cache__resolve(f.c, fr, 2, t - 1, false, l2) == 0, "again");
	CHECK(!memcmp(l1, l2, sizeof(l1)), "the same locations");
	CHECK(code_cache__stats(f.c)->hits == hits + 2, "from the kept stack");
	/* s_a replaced: a newer sample of the same raw frames is not the kept stack. */
	set_code(a, "s_c", 3);
	code_cache__resolve(f.c, fr, 2, mono_ns(), false, l2);
	CHECK(!strcmp(name_of(&f, l2[1]), "s_b"), "the unchanged frame");
	CHECK(strcmp(name_of(&f, l2[0]), "s_a"), "never the old name for a newer sample");
	teardown(&f);
}

/*
 * Headers close together are read as one span; one whose span runs into
 * unmapped memory is read alone, and a hostile address is just unknown.
 */
static void test_spans(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t *m = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *near1 = take(L->code_size), *near2 = take(L->code_size), *edge;
	struct pyspy_frame fr[5];
	uint32_t locs[5], bad;
	struct fixture f;

	CHECK(m != MAP_FAILED, "mmap");
	if (m == MAP_FAILED)
		return;
	/* The last code object of a page whose next page is gone. */
	edge = m + pg - ((L->code_size + 63) & ~(size_t)63);
	set_code(near1, "n_1", 1);
	set_code(near2, "n_2", 2);
	set_code(edge, "n_edge", 3);
	munmap(m + pg, pg);
	if (setup(&f)) {
		CHECK(0, "setup");
		munmap(m, pg);
		return;
	}
	fr[0] = (struct pyspy_frame){ .code = code_at(near1) };
	fr[1] = (struct pyspy_frame){ .code = code_at(near2) };
	fr[2] = (struct pyspy_frame){ .code = code_at(edge) };
	fr[3] = (struct pyspy_frame){ .code = code_at(m + pg + 64) }; /* unmapped, near edge */
	fr[4] = (struct pyspy_frame){ .code = UINT64_MAX & ~7ull };   /* hostile */
	bad = code_cache__resolve(f.c, fr, 5, 0, false, locs);
	/* t 0: before every first look, so by time nothing is told... */
	CHECK(bad == 5, "all before the first look (%u)", bad);
	bad = code_cache__resolve(f.c, fr, 5, mono_ns(), false, locs);
	CHECK(bad == 2, "two bad of five (%u)", bad);
	CHECK(!strcmp(name_of(&f, locs[0]), "n_1") && !strcmp(name_of(&f, locs[1]), "n_2"),
	      "neighbours read in one span");
	CHECK(!strcmp(name_of(&f, locs[2]), "n_edge"), "the one next to unmapped memory");
	CHECK(!strcmp(name_of(&f, locs[3]), "[unknown]") &&
		      !strcmp(name_of(&f, locs[4]), "[unknown]"),
	      "unmapped and hostile addresses");
	teardown(&f);
	munmap(m, pg);
}

#ifdef __SANITIZE_ADDRESS__
/* libasan's (sanitizer/allocator_interface.h, which gcc does not install). */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

/* What the heap holds now (the sanitizers' allocator, or glibc's). */
static size_t heap_bytes(void)
{
#ifdef __SANITIZE_ADDRESS__
	return __sanitizer_get_current_allocated_bytes();
#else
	return mallinfo2().uordblks;
#endif
}

/*
 * Processes 1000 frames deep in a recursion (one code object, over and
 * over): the room a sample's 1000 headers take (200 KB at 3.12's header
 * size) is the store's, shared by its caches and charged to its total,
 * not held once more by each process outside every budget.
 */
static void test_deep_scratch(void)
{
	enum {
		PROCS = 16,
		DEPTH = 1000
	};
	struct profile *prof = profile__new(0);
	struct code_store *store = code_store__new(0, 0);
	struct code_cache *c[PROCS] = { NULL };
	struct pyspy_frame *fr = calloc(DEPTH, sizeof(*fr));
	uint32_t *locs = calloc(DEPTH, sizeof(*locs));
	uint8_t *rec = take(L->code_size), *leaf = take(L->code_size);
	struct code_store_stats st;
	size_t before, first = 0, more, bad = 0;

	CHECK(prof && store && fr && locs, "setup");
	if (!prof || !store || !fr || !locs)
		goto out;
	set_code(rec, "recurse", 1);
	set_code(leaf, "leaf", 2);
	fr[0] = (struct pyspy_frame){ .code = code_at(leaf), .lasti = 2, .code_fp = fp_of(leaf) };
	for (int i = 1; i < DEPTH; i++)
		fr[i] = (struct pyspy_frame){ .code = code_at(rec),
					      .lasti = 4,
					      .code_fp = fp_of(rec) };
	before = heap_bytes();
	for (int k = 0; k < PROCS; k++) {
		c[k] = code_cache__new(getpid(), L, 0, prof, store);
		if (!c[k]) {
			CHECK(0, "cache %d", k);
			goto out;
		}
		bad += code_cache__resolve(c[k], fr, DEPTH, 0, true, locs);
		if (k == 0) {
			first = heap_bytes() - before;
			code_store__stats(store, &st);
			CHECK(st.bytes >= (uint64_t)DEPTH * L->code_size,
			      "the room for a deep sample is charged to the store: %llu bytes",
			      (unsigned long long)st.bytes);
		}
	}
	more = (heap_bytes() - before - first) / (PROCS - 1);
	CHECK(bad == 0, "every frame told (%zu bad)", bad);
	CHECK(!strcmp(name_of(&(struct fixture){ .prof = prof }, locs[0]), "leaf") &&
		      !strcmp(name_of(&(struct fixture){ .prof = prof }, locs[DEPTH - 1]),
			      "recurse"),
	      "the names");
	CHECK(first >= (size_t)DEPTH * L->code_size, "the first deep sample made room: %zu", first);
	CHECK(more < 16 * 1024, "each more deep process holds %zu bytes (the first %zu)", more,
	      first);
out:
	for (int k = 0; k < PROCS; k++)
		code_cache__free(c[k]);
	code_store__free(store);
	profile__free(prof);
	free(fr);
	free(locs);
}

int main(void)
{
	L = py_layout__from_table(3, 12);
	arena = aligned_alloc(64, ARENA);
	CHECK(L && arena, "3.12 layout");
	if (!L || !arena)
		return unit_done("codecache");
	memset(arena, 0, ARENA);
	test_by_time();
	test_by_fingerprint();
	test_kept_stacks();
	test_spans();
	test_deep_scratch();
	free(arena);
	return unit_done("codecache");
}
