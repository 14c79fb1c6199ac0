// SPDX-License-Identifier: MIT
/*
 * test_walk.c - the one walk (bpf/pywalk.h, the BPF side's own code) and
 * the naming of its frames, replayed over saved memory of every
 * interpreter of tests/interpreters.txt: no process, no root, no BPF.
 *
 * tests/corpus/ID.img holds every byte a `dump --save-image` read of a
 * real target (tests/corpus/target.py: deep recursion across data-stack
 * chunks, a generator, a coroutine, Python called back from C, nested
 * qualnames, a thread in C, the main thread); ID.expected is each
 * thread's stack as the interpreter itself printed it (qualname, file,
 * line, innermost first).  tests/corpus/make.py takes them again.  Here
 * the layout is derived from the image (the target's _Py_DebugOffsets, or
 * the table), the threads listed and walked, the code objects read and
 * the lines decoded, all from the image alone, and every frame must be
 * the interpreter's own.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corpus.h"
#include "interpreters.h"
#include "symbolize/codecache.h"
#include "symbolize/codestore.h"
#include "symbolize/cpython/unwind.h"
#include "unit.h"
#include "symbolize/model/profile.h"

#define MAX_THREADS 16
#define MAX_FRAMES  1024

struct want_frame {
	char name[256], file[512];
	int line;
};

struct want_thread {
	uint64_t ident;
	unsigned n;
	struct want_frame *f;
};

static int load_expected(const char *path, struct want_thread *t, int max)
{
	char line[1024];
	int n = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *tab1, *tab2;

		line[strcspn(line, "\n")] = 0;
		if (!strncmp(line, "thread ", 7)) {
			if (n + 1 >= max)
				break;
			t[++n] = (struct want_thread){ strtoull(line + 7, NULL, 10), 0,
						       calloc(MAX_FRAMES,
							      sizeof(struct want_frame)) };
			continue;
		}
		tab1 = strchr(line, '\t');
		tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
		if (n < 0 || !tab2 || t[n].n >= MAX_FRAMES)
			continue;
		*tab1 = *tab2 = 0;
		snprintf(t[n].f[t[n].n].name, sizeof(t[n].f[0].name), "%.255s", line);
		snprintf(t[n].f[t[n].n].file, sizeof(t[n].f[0].file), "%.511s", tab1 + 1);
		t[n].f[t[n].n++].line = atoi(tab2 + 1);
	}
	fclose(f);
	return n + 1;
}

/* The frames of st, named, against the interpreter's own. */
static void check_thread(const char *id, struct code_cache *c, const struct profile *p,
			 const struct py_thread_stack *st, const struct want_thread *w)
{
	uint32_t locs[PYSPY_MAX_FRAMES];
	unsigned bad = 0;

	CHECK(!(st->flags & (PY_STACK_PARTIAL | PY_STACK_TRUNCATED)),
	      "%s: thread %" PRIu64 ": flags %#x", id, w->ident, st->flags);
	CHECK(st->n_frames == w->n, "%s: thread %" PRIu64 ": %u frames, the interpreter says %u",
	      id, w->ident, st->n_frames, w->n);
	if (!st->n_frames || st->n_frames != w->n)
		return;
	code_cache__resolve(c, st->frames, st->n_frames, 0, true, locs);
	for (unsigned i = 0; i < w->n; i++) {
		int line = -1;
		const struct profile_function *fn = profile__location_function(p, locs[i], &line);
		const char *name = fn ? profile__str(p, fn->name) : "?";
		const char *file = fn ? profile__str(p, fn->file) : "?";

		if (fn && !strcmp(name, w->f[i].name) && !strcmp(file, w->f[i].file) &&
		    line == w->f[i].line)
			continue;
		if (bad++ < 3)
			CHECK(0,
			      "%s: thread %" PRIu64
			      " frame %u: %s (%s:%d), the interpreter says %s "
			      "(%s:%d)",
			      id, w->ident, i, name, file, line, w->f[i].name, w->f[i].file,
			      w->f[i].line);
	}
	CHECK(!bad, "%s: thread %" PRIu64 ": %u of %u frames wrong", id, w->ident, bad, w->n);
}

static void replay(const struct interp *it)
{
	struct want_thread want[MAX_THREADS];
	struct corpus_replay r = { 0 };
	char path[256];
	int n, deepest = 0;

	snprintf(path, sizeof(path), "tests/corpus/%s.expected", it->id);
	n = load_expected(path, want, MAX_THREADS);
	CHECK(n >= 7, "%s: %d threads expected", path, n);
	if (n < 7 || corpus_replay_open(it, &r))
		goto out;
	CHECK(!r.th.list_partial && !r.th.list_truncated, "%s: thread list cut", it->id);
	for (int i = 0; i < n; i++) {
		const struct py_thread_stack *st = NULL;

		for (uint32_t k = 0; k < r.th.n; k++)
			if (r.th.t[k].pthread_id == want[i].ident)
				st = &r.th.t[k];
		CHECK(st, "%s: thread %" PRIu64 " not found", it->id, want[i].ident);
		if (st)
			check_thread(it->id, r.c, r.p, st, &want[i]);
		if (want[i].n > (unsigned)deepest)
			deepest = (int)want[i].n;
	}
	/* The deep thread crossed the 3.11+ data stack's chunks (16 KiB each). */
	CHECK(deepest > 400, "%s: deepest %d", it->id, deepest);
	printf("  %s: %u threads, %d frames at most, all as the interpreter says\n", it->id, r.th.n,
	       deepest);
out:
	corpus_replay_close(&r);
	for (int i = 0; i < n; i++)
		free(want[i].f);
}

/* An image serves exactly what it holds: no byte past it, no wrapped range. */
static void check_image(void)
{
	struct procimage *img = procimage__new(), *back = NULL;
	char path[] = "/tmp/pyspy-test-walk-XXXXXX";
	uint8_t a[64], b[64];
	int fd = mkstemp(path);

	for (int i = 0; i < 64; i++)
		a[i] = (uint8_t)i;
	CHECK(img && !procimage__add(img, 0x1000, a, 32) &&
	      !procimage__add(img, 0x1020, a + 32, 32));
	CHECK(!procimage__add(img, 0x1010, "\xff\xff", 2), "a later read wins");
	CHECK(!procimage__read(img, 0x1000, b, 64) && b[0x10] == 0xff && b[0x12] == 0x12,
	      "touching ranges join");
	CHECK(procimage__read(img, 0x0fff, b, 2) == -EFAULT &&
	      procimage__read(img, 0x103f, b, 2) == -EFAULT);
	CHECK(procimage__read(img, UINT64_MAX - 1, b, 4) == -EFAULT);
	CHECK(!procimage__set(img, "runtime_addr", 0x1234) && procimage__set(img, "Bad Key", 1));
	if (fd >= 0)
		close(fd);
	unlink(path);
	CHECK(!procimage__save(img, path), "save");
	CHECK(!procimage__load(path, &back), "load");
	CHECK(back && !procimage__read(back, 0x1000, b, 64) && b[0x10] == 0xff && b[63] == 63);
	CHECK(back && !procimage__get(back, "runtime_addr", &(uint64_t){ 0 }));
	/* Not an image: refused. */
	CHECK(procimage__load("/etc/passwd", &(struct procimage *){ NULL }) == -EINVAL);
	unlink(path);
	procimage__free(img);
	procimage__free(back);
}

int main(void)
{
	check_image();
	corpus_replay_each(replay);
	return unit_done("walk");
}
