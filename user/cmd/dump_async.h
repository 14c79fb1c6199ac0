/* SPDX-License-Identifier: MIT */
/*
 * dump_async.h - `dump --async`: every asyncio task of a process, as a tree.
 *
 * Owns: reading a 3.14+ target's tasks (symbolize/cpython/asyncio.h), their
 * coroutine stacks named like any frame, and printing them like `python -m
 * asyncio pstree`: each task under the one awaiting it, with its state
 * and where it is suspended; or as JSON.
 */
#ifndef PYSPY_DUMP_ASYNC_H
#define PYSPY_DUMP_ASYNC_H

#include <stdbool.h>
#include <stdio.h>

#include "symbolize/cpython/discover.h"
#include "symbolize/cpython/pytasks.h"
#include "symbolize/cpython/unwind.h"

/*
 * Print py's tasks to f; th and tk: its threads as dump read them.  0, or
 * 1 after one line saying why not (a version before 3.14, asyncio not
 * imported, memory that cannot be read).
 */
int dump_async(FILE *f, bool json, const struct py_target *py, const struct py_threads *th,
	       const struct py_tasks *tk);

#endif /* PYSPY_DUMP_ASYNC_H */
