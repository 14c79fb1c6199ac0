/* SPDX-License-Identifier: MIT */
/*
 * corpus.h - a saved memory image of tests/corpus/ (taken by `dump
 * --save-image`, tests/corpus/make.py) as a unit test's target, without a
 * process or root: while it is open, every read of process NO_PID comes
 * from the image.
 */
#ifndef PYSPY_UNIT_CORPUS_H
#define PYSPY_UNIT_CORPUS_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "interpreters.h"
#include "symbolize/cpython/discover.h"
#include "symbolize/proc/procimage.h"
#include "symbolize/proc/procmem.h"
#include "unit.h"

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

#endif /* PYSPY_UNIT_CORPUS_H */
