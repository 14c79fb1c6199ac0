/* SPDX-License-Identifier: MIT */
/*
 * livetarget.h - a live target of the engine's unit tests: an interpreter
 * running tests/workloads/engine_target.py (pychild.h), discovered
 * (symbolize/cpython/discover.h), with a code cache of its own to name
 * the frames the BPF side sends of it.
 */
#ifndef PYSPY_TEST_LIVETARGET_H
#define PYSPY_TEST_LIVETARGET_H

#include <string.h>

#include "pychild.h"
#include "unit.h"
#include "symbolize/codecache.h"
#include "symbolize/cpython/discover.h"

#define ENGINE_WORKLOAD "tests/workloads/engine_target.py"

struct kid {
	const struct interp *it;
	struct pychild p;
	struct py_target py;
	struct code_cache *cache; /* its own, not a target's */
};

/* Discover k (again, after an exec) and make its cache: 0 or -1. */
static inline int kid_find(struct kid *k, struct profile *prof, struct code_store *store)
{
	int err = py_target__discover(k->p.c.pid, &k->py);

	CHECK(!err && k->py.pid == k->p.pid, "%s: discover: %s", k->it->id,
	      py_target__strerror(err));
	code_cache__free(k->cache);
	k->cache =
		err ? NULL
		    : code_cache__new(k->py.pid, &k->py.layout, k->py.code_type_addr, prof, store);
	return k->cache ? 0 : -1;
}

/* Start it on it, parked: 0 or -1 (said). */
static inline int kid_start(struct kid *k, const struct interp *it, struct profile *prof,
			    struct code_store *store)
{
	int err;

	memset(k, 0, sizeof(*k));
	k->it = it;
	err = pychild_start(&k->p, it, ENGINE_WORKLOAD, NULL);
	if (!err)
		err = pychild_until(&k->p, "ready");
	CHECK(!err && k->p.pid == k->p.c.pid, "%s: %s", it->id, strerror(-err));
	if (err) {
		pychild_end(&k->p, true);
		return -1;
	}
	return kid_find(k, prof, store);
}

/*
 * End the n kids, then free the profile and store they were started with
 * (kid_start's): every test's teardown, whichever of them it got to make.
 */
static inline void kids_end(struct kid *kids, int n, struct profile *prof, struct code_store *store)
{
	for (int i = 0; i < n; i++) {
		pychild_end(&kids[i].p, true);
		code_cache__free(kids[i].cache);
		kids[i].cache = NULL;
	}
	code_store__free(store);
	profile__free(prof);
}

/* Tell it cmd (wake, name N): it runs, prints its stack, parks again. */
static inline void kid_say(struct kid *k, const char *cmd)
{
	CHECK(!pychild_say(&k->p, cmd) && !pychild_until(&k->p, "ready"), "%s: %s", k->it->id, cmd);
}

/* Do frames (innermost first), named by cache, say where k is now?  Said if not. */
static inline bool kid_frames_are(struct kid *k, struct code_cache *cache, struct profile *prof,
				  const struct pyspy_frame *f, uint32_t n, uint64_t ktime,
				  bool verified, const char *what)
{
	uint32_t locs[PYCHILD_FRAMES];
	char why[512] = "";
	bool ok;

	code_cache__resolve(cache, f, n < PYCHILD_FRAMES ? n : PYCHILD_FRAMES, ktime, verified,
			    locs);
	ok = pystack_is(prof, locs, n, k->p.f, k->p.n, why, sizeof(why));
	CHECK(ok, "%s: %s: %s", k->it->id, what, why);
	return ok;
}

#endif /* PYSPY_TEST_LIVETARGET_H */
