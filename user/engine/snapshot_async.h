/* SPDX-License-Identifier: MIT */
/*
 * snapshot_async.h - a snapshot's asyncio tasks (`dump --async`, CPython
 * 3.14+).
 *
 * Owns: reading every task of every thread and of the interpreter
 * (symbolize/cpython/asyncio.h), once the snapshot's threads are read;
 * which thread each task's list belongs to; where each is suspended,
 * named like any frame (a running task: its thread's frames down to the
 * task's coroutine); and which tasks no task awaits (the roots of the
 * tree `dump` prints).  The snapshot's async fields point into what it
 * keeps (struct snapshot_async), which lives as long as the snapshot.
 */
#ifndef PYSPY_SNAPSHOT_ASYNC_H
#define PYSPY_SNAPSHOT_ASYNC_H

#include "snapshot_data.h"
#include "symbolize/codecache.h"
#include "symbolize/cpython/discover.h"
#include "symbolize/cpython/unwind.h"

struct snapshot_async;

/*
 * The tasks of s's process (py: its interpreter; th: its threads as s
 * walked them, s->threads matched to their tasks), their frames named in
 * cache (a code cache of s->prof), into s->async.  0, or -errno after one
 * line saying why (a version before 3.14, asyncio not imported, memory
 * that cannot be read).  *out: to free with snapshot_async__free, after
 * an error too.
 */
int snapshot_async__read(struct snapshot *s, const struct py_target *py,
			 const struct py_threads *th, struct code_cache *cache,
			 struct snapshot_async **out);
void snapshot_async__free(struct snapshot_async *a); /* NULL-safe */

#endif /* PYSPY_SNAPSHOT_ASYNC_H */
