/* SPDX-License-Identifier: MIT */
/*
 * targets.h - the set of processes being sampled.
 *
 * Owns: per-process state (discovery result, code cache), the BPF `procs`
 * map (the only module that writes it, through the session): adding a
 * process once its interpreter is initialised, its mode, noticing
 * processes that exit (or whose PID is reused) and dropping them, and
 * thread names.
 */
#ifndef PYSPY_TARGETS_H
#define PYSPY_TARGETS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "asyncwait.h"
#include "session.h"
#include "symbolize/codecache.h"
#include "symbolize/asyncstack.h"
#include "symbolize/nativestack.h"
#include "symbolize/cpython/discover.h"
#include "symbolize/model/profile.h"

struct target {
	struct py_target py;
	struct code_cache *cache;
	struct native_proc *native; /* --native / --kernel, else NULL */
	struct async_proc *async;   /* --async, else NULL */
	struct async_wait *wait;    /* --async --mode wall, once asyncio is found */
	uint16_t ustack_bytes;	    /* pyspy_proc.ustack_bytes now in the BPF map */
	bool exited;
	uint8_t mode;		 /* PYSPY_MODE_* now in the BPF map */
	uint64_t added_ns;	 /* CLOCK_MONOTONIC when sampling started */
	uint64_t last_sample_ns; /* ... of its latest sample; 0: none yet */
	uint64_t samples;
};

struct targets;

/*
 * store: the memory of every target's code cache (outlives t);
 * frames_one_by_one: never read 3.11+ frames a data-stack window at a time.
 */
struct targets *targets__new(struct session *s, struct profile *prof, struct code_store *store,
			     bool frames_one_by_one);
/* Give each target added from now on a native_proc of nc (--native / --kernel). */
void targets__set_native(struct targets *t, struct native_ctx *nc);
/* Give each target added from now on an async_proc (--async). */
void targets__set_async(struct targets *t);
void targets__free(struct targets *t); /* NULL-safe; removes from BPF */

/* Start sampling a discovered, initialised process. 0 or -errno. */
int targets__add(struct targets *t, const struct py_target *py);
struct target *targets__find(struct targets *t, pid_t pid);
bool targets__has(struct targets *t, pid_t pid);

/*
 * Pick the BPF mode from what the code cache saw:
 * VERIFY while the process is new or meets new code objects, plus EAGER
 * while it frees and reuses them; neither once it has been quiet for a
 * while, when one read per frame is enough.
 */
void targets__update_mode(struct targets *t, struct target *tg);

/*
 * What the BPF side does with processes that are not targets: skip one
 * that is not Python (under --all), or watch one that is not Python yet
 * (a launched command), timing its waits until it is registered.
 */
void targets__ignore(struct targets *t, pid_t pid);
void targets__watch(struct targets *t, pid_t pid);

/* Stop sampling pid now (it called exec: its layout is void). */
void targets__drop(struct targets *t, pid_t pid, const char *why);
/* Write pid's BPF entry again (it was evicted or deleted under us). */
void targets__refresh(struct targets *t, pid_t pid);

/* Code-cache ambiguities of processes already forgotten by _reap. */
uint64_t targets__retired_ambiguous(const struct targets *t);

/* Drop processes that exited. Returns how many are still alive. */
int targets__reap(struct targets *t);
int targets__count(const struct targets *t); /* ever added */
int targets__alive(const struct targets *t);

/* Name (pid, tid) in the profile the first time it is seen. */
void targets__name_thread(struct targets *t, pid_t pid, pid_t tid);

/* Visit every target not yet forgotten by targets__reap. */
void targets__for_each(struct targets *t, void (*cb)(struct target *tg, void *ctx), void *ctx);

#endif /* PYSPY_TARGETS_H */
