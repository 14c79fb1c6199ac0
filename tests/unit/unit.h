/* SPDX-License-Identifier: MIT */
/*
 * unit.h - the smallest test harness: CHECK records a failure with its
 * location and goes on; unit_done() prints "N passed, N failed" and
 * returns the exit code.  Each tests/unit/test_*.c is one binary.
 */
#ifndef PYSPY_UNIT_H
#define PYSPY_UNIT_H

#include <stdarg.h>
#include <stdio.h>

static int unit_passed, unit_failed;

/* A function, not fprintf in the macro: CHECK(x) with no message is fine. */
static inline void unit_check(int ok, const char *file, int line, const char *expr, const char *fmt,
			      ...)
{
	va_list ap;

	if (ok) {
		unit_passed++;
		return;
	}
	unit_failed++;
	fprintf(stderr, "FAIL %s:%d: %s: ", file, line, expr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

#define CHECK(cond, ...) unit_check(!!(cond), __FILE__, __LINE__, #cond, "" __VA_ARGS__)

static inline int unit_done(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, unit_passed, unit_failed);
	return unit_failed || !unit_passed;
}

#endif /* PYSPY_UNIT_H */
