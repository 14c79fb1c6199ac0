/* SPDX-License-Identifier: MIT */
/*
 * snapshot.h - a process's threads as they are now, read from userspace:
 * the engine's instant read, which `dump` prints and the blocked-thread
 * scan (blocked.h) charges.
 *
 * Owns: the one assembly of such a read: every thread state's Python
 * frames (symbolize/cpython/unwind.h) and /proc's list of threads
 * (pytasks.h), each thread state matched to its task; each stack named
 * as a sampled one is (symbolize/samplestack.h), with native and kernel
 * frames from /proc when asked; for `dump --async`, every asyncio task
 * (snapshot_async.h); for `dump`, the target found and waited for, the
 * code cache and profile its names live in, and every byte read kept on
 * request (snapshot_image.h).  What it hands out is plain data (TIDs,
 * names, states, stacks as locations of a profile), so that a verb
 * formats it without knowing anything of symbolize/.
 */
#ifndef PYSPY_SNAPSHOT_H
#define PYSPY_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "snapshot_data.h"

/* --- `dump`: a process found, read whole, its stacks named in s->prof ------- */

/*
 * pid's interpreter, waiting up to wait_s seconds for it to initialise,
 * as every verb finds a target: 0 and *out, or -errno after one line
 * saying why (symbolize/cpython/discover_wait.h).
 */
int snapshot__open(pid_t pid, double wait_s, struct snapshot **out);

/* What snapshot__take reads. */
struct snapshot_req {
	/* Native frames around the Python ones (threads that are not running):
	 * --native, --native-all (the interpreter's own frames too) */
	bool native, native_all;
	bool kernel; /* the kernel frames of threads that are not running, by name */
	bool async;  /* asyncio tasks (3.14+) instead of the threads' stacks */
};

/*
 * Read every thread now (the thread states first: every thread they name
 * has its /proc entry by then), and either name each one's stack, or read
 * the asyncio tasks.  0, or -errno after one line saying why.
 */
int snapshot__take(struct snapshot *s, const struct snapshot_req *req);

/*
 * --save-image: keep every byte of the target's memory read from now on
 * (with asyncio, its AsyncioDebug section too), with what replaying the
 * reads needs (symbolize/proc/procimage.h), until snapshot__save_reads
 * writes them to path (mode 0600: they are the process's data).  Each:
 * 0, or -errno after one line saying why.
 */
int snapshot__keep_reads(struct snapshot *s, bool asyncio);
int snapshot__save_reads(struct snapshot *s, const char *path);

void snapshot__free(struct snapshot *s); /* NULL-safe */

/* --- the steps, for a target the engine samples (blocked.h) ------------------ */

struct py_target;
struct code_cache;
struct native_proc;

/* Nothing read yet of pid; NULL on ENOMEM. */
struct snapshot *snapshot__new(pid_t pid);

/* /proc's list of pid's threads now, into s->tasks: 0 or -errno. */
int snapshot__list(struct snapshot *s);

/*
 * Every thread state's Python frames now, into s->threads (py: pid's
 * interpreter, which must outlive s); native: marked as --native splits
 * them (nativestack.h).  0, or -errno when not even the runtime or the
 * interpreter list could be read.  Threads and tasks are matched whichever
 * is read second.
 */
int snapshot__walk(struct snapshot *s, const struct py_target *py, bool native);

/* What a thread's stack is named with. */
struct snapshot_names {
	struct code_cache *cache;   /* the process's code objects (of the profile named into) */
	struct native_proc *native; /* its native frames too, from /proc; NULL: Python only */
	bool kernel;		    /* its kernel frames by name, even if native names none */
	int tries;		    /* reads of a running thread's registers, 2 ms apart */
};

/* Name thread i's stack as of now_ns (its locs, n_locs and flags): 0 or -ENOMEM. */
int snapshot__name(struct snapshot *s, uint32_t i, const struct snapshot_names *nm,
		   uint64_t now_ns);

#endif /* PYSPY_SNAPSHOT_H */
