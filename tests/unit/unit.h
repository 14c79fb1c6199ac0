/* SPDX-License-Identifier: MIT */
/*
 * unit.h - the smallest test harness: CHECK records a failure with its
 * location and goes on; unit_done() prints "N passed, N failed" and
 * returns the exit code.  Each tests/unit/test_*.c is one binary.
 */
#ifndef PYSPY_UNIT_H
#define PYSPY_UNIT_H

#include <stdio.h>

static int unit_passed, unit_failed;

#define CHECK(cond, ...)                                                        \
	do {                                                                    \
		if (cond) {                                                     \
			unit_passed++;                                          \
		} else {                                                        \
			unit_failed++;                                          \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, "" __VA_ARGS__);                        \
			fputc('\n', stderr);                                    \
		}                                                               \
	} while (0)

static inline int unit_done(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, unit_passed, unit_failed);
	return unit_failed || !unit_passed;
}

#endif /* PYSPY_UNIT_H */
