/* SPDX-License-Identifier: MIT */
/*
 * samplestack.h - a sampled stack as profile locations: the frames of a
 * BPF sample record, or of a thread read from userspace (a snapshot's,
 * user/engine/snapshot.h: `dump`, a thread found blocked at registration).
 *
 * Owns: how many frames a record really holds (never more than arrived,
 * whatever its header says); the one route from frames to locations:
 * split off what is not a Python frame (the evaluation-entry marks of
 * --native, the task markers of --async), name the Python frames in the
 * process's code cache, then merge native and kernel frames, or tasks,
 * back around them, each once per stack; and the stack's
 * PROFILE_STACK_* flags.  Charging the stack is the caller's.
 */
#ifndef PYSPY_SAMPLESTACK_H
#define PYSPY_SAMPLESTACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "asyncstack.h"
#include "codecache.h"
#include "nativestack.h"
#include "bpf/pyspy.h"
#include "symbolize/cpython/unwind.h"

/* A stack's locations at most: Python frames, native ones, kernel ones, markers. */
#define SAMPLE_STACK_MAX_LOCS (PYSPY_MAX_FRAMES + SW_MAX_FRAMES + PYSPY_KSTACK_MAX + 2)

/* What one process's frames are named with. */
struct stack_sources {
	struct code_cache *cache;   /* its code objects */
	struct native_proc *native; /* --native / --kernel, else NULL */
	struct async_proc *async;   /* --async, else NULL */
};

/* One stack, named. */
struct stack_locs {
	const uint32_t *locs; /* innermost first; the scratch's, until its next use */
	uint32_t n;
	uint32_t flags; /* PROFILE_STACK_* */
	uint32_t bad;	/* Python frames that could not be named */
};

/* Scratch for one stack at a time (a few hundred KiB: not for the C stack). */
struct sample_stack;

struct sample_stack *sample_stack__new(void);	 /* NULL on ENOMEM */
void sample_stack__free(struct sample_stack *x); /* NULL-safe */

/* The frames a record of len bytes holds: its n_frames, bounded by len and PYSPY_MAX_FRAMES. */
uint32_t sample_stack__frames(const struct pyspy_sample *smp, size_t len);

/*
 * A sample record of len bytes (a PYSPY_SAMPLE_NATIVE one with its native
 * part) as locations, named as of its ktime.  false, and *out untouched,
 * when it holds no frame.
 */
bool sample_stack__of_record(struct sample_stack *x, const struct stack_sources *src,
			     const struct pyspy_sample *smp, size_t len, struct stack_locs *out);

/*
 * A thread's stack read from userspace (st: its Python frames, with
 * fingerprints), named as of now_ns; with src->native, its native frames
 * from /proc around them (its registers read up to tries times while it
 * runs, native_stack__from_proc), and its kernel ones by name when
 * src->native names kernel frames or kernel says so (dump --kernel, which
 * needs no kernel symbols).  tid <= 0 (its task not known): the Python
 * frames alone, placed as --native places them.
 */
void sample_stack__of_thread(struct sample_stack *x, const struct stack_sources *src, pid_t pid,
			     pid_t tid, const struct py_thread_stack *st, bool kernel, int tries,
			     uint64_t now_ns, struct stack_locs *out);

#endif /* PYSPY_SAMPLESTACK_H */
