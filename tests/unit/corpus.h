/* SPDX-License-Identifier: MIT */
/*
 * corpus.h - a saved memory image of tests/corpus/ (taken by `dump
 * --save-image`, tests/corpus/make.py) as a unit test's target, without a
 * process or root: while it is open, every read of process NO_PID comes
 * from the image.
 */
#ifndef PYSPY_UNIT_CORPUS_H
#define PYSPY_UNIT_CORPUS_H

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "interpreters.h"
#include "symbolize/codecache.h"
#include "symbolize/codestore.h"
#include "symbolize/cpython/discover.h"
#include "symbolize/cpython/unwind.h"
#include "symbolize/proc/procimage.h"
#include "symbolize/proc/procmem.h"
#include "unit.h"
#include "symbolize/model/profile.h"

/* No such process: every read must come from the image. */
#define NO_PID 0x3ffffff0

/*
 * tests/corpus/<it's id><suffix>.img as the target *t (pid NO_PID), of
 * it's version, with its layout: 0, or non-zero once CHECK said what
 * failed.  corpus_close(*img) after, whatever came of it.
 */
static inline int corpus_open(const struct interp *it, const char *suffix, struct py_target *t,
			      struct procimage **img)
{
	char path[256];
	uint64_t v = 0;
	int err;

	*t = (struct py_target){ .pid = NO_PID };
	snprintf(path, sizeof(path), "tests/corpus/%s%s.img", it->id, suffix);
	err = procimage__load(path, img);
	CHECK(!err, "%s: %s", path, strerror(-err));
	if (err)
		return err;
	CHECK(!procimage__get(*img, "version_hex", &v) && (v >> 16) == (it->major << 8 | it->minor),
	      "%s: version %#" PRIx64, path, v);
	t->version_hex = (uint32_t)v;
	procimage__get(*img, "runtime_addr", &t->runtime_addr);
	procimage__get(*img, "code_type_addr", &t->code_type_addr);
	procmem_tap(NO_PID, *img, true);
	err = py_target__layout(t);
	CHECK(!err, "%s: layout: %d", path, err);
	return err;
}

static inline void corpus_close(struct procimage *img)
{
	procmem_tap(0, NULL, false);
	procimage__free(img);
}

/* An image replayed: its threads as read, and a code cache to name their frames. */
struct corpus_replay {
	struct py_target t;
	struct procimage *img;
	struct py_threads th;
	struct profile *p;
	struct code_store *store;
	struct code_cache *c;
};

/*
 * tests/corpus/<it's id>.img opened (corpus_open), its threads read and a
 * code cache made: 0, or non-zero once CHECK said what failed.
 * corpus_replay_close(r) after, whatever came of it.
 */
static inline int corpus_replay_open(const struct interp *it, struct corpus_replay *r)
{
	int err;

	*r = (struct corpus_replay){ 0 };
	err = corpus_open(it, "", &r->t, &r->img);
	if (err)
		return err;
	err = py_unwind__threads(NO_PID, &r->t.layout, r->t.runtime_addr, &r->th);
	CHECK(!err, "%s: threads: %d", it->id, err);
	r->p = profile__new(0);
	r->store = code_store__new(0, 0);
	if (r->p && r->store)
		r->c = code_cache__new(NO_PID, &r->t.layout, r->t.code_type_addr, r->p, r->store);
	CHECK(r->c, "%s: code cache", it->id);
	return err ? err : r->c ? 0 : -ENOMEM;
}

static inline void corpus_replay_close(struct corpus_replay *r)
{
	code_cache__free(r->c);
	code_store__free(r->store);
	profile__free(r->p);
	py_threads__free(&r->th);
	corpus_close(r->img);
}

/*
 * replay(it) for every interpreter of tests/interpreters.py, each of
 * which has its image in tests/corpus/ (at least the 11 of 3.8-3.15).
 */
static inline void corpus_replay_each(void (*replay)(const struct interp *it))
{
	static struct interp all[INTERPS_MAX];
	int n = interps_load("", all, INTERPS_MAX);

	CHECK(n >= 11, "tests/interpreters.py: %d", n);
	for (int i = 0; i < n; i++)
		replay(&all[i]);
}

#endif /* PYSPY_UNIT_CORPUS_H */
