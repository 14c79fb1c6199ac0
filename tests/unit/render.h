/* SPDX-License-Identifier: MIT */
/*
 * render.h - a profile written by one of the writers into memory, for the
 * tests that compare what it wrote.
 */
#ifndef PYSPY_TEST_RENDER_H
#define PYSPY_TEST_RENDER_H

#include <stdio.h>

#include "unit.h"
#include "user/output/output.h"

/* What w wrote of p with o (NUL-ended, *len bytes); the caller frees it. */
static inline char *render(const struct output_writer *w, const struct profile *p,
			   const struct output_opts *o, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	CHECK(w->write(p, o, f) == 0, "%s write failed", w->name);
	fclose(f);
	return buf;
}

#endif /* PYSPY_TEST_RENDER_H */
