/* SPDX-License-Identifier: MIT */
/*
 * dump_async.h - `dump --async`: a process's asyncio tasks, printed as a
 * tree.
 *
 * Owns: how the tasks of a snapshot (user/engine/snapshot.h) look: like
 * `python -m asyncio pstree`, each task under the one awaiting it, with
 * its state and where it is suspended, grouped by the thread whose list
 * holds it; or as JSON.
 */
#ifndef PYSPY_DUMP_ASYNC_H
#define PYSPY_DUMP_ASYNC_H

#include <stdbool.h>
#include <stdio.h>

#include "user/engine/snapshot.h"

/* Print s's tasks (snapshot__take with async) to f: 0, or -ENOMEM after one line. */
int dump_async(FILE *f, bool json, const struct snapshot *s);

#endif /* PYSPY_DUMP_ASYNC_H */
