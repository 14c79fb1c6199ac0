/* SPDX-License-Identifier: MIT */
/*
 * snapshot_data.h - what a snapshot hands out: a process's threads, their
 * /proc entries and Python stacks, and its asyncio tasks, as plain data
 * (TIDs, names, states, stacks as locations of a profile).
 *
 * Owns: the shape of that data, apart from the readers that fill it
 * (snapshot.h for the threads, snapshot_async.h for the tasks), so that a
 * reader of one part never calls back into the whole, and a verb formats
 * it knowing nothing of symbolize/.
 */
#ifndef PYSPY_SNAPSHOT_DATA_H
#define PYSPY_SNAPSHOT_DATA_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "symbolize/model/profile.h"

/* Thread states read at most (all interpreters together), and asyncio tasks. */
#define SNAPSHOT_MAX_THREADS 4096
#define SNAPSHOT_MAX_TASKS   65536
/* Bytes of an asyncio task's name kept, its NUL included. */
#define SNAPSHOT_TASK_NAME_MAX 128

/* A thread as /proc/PID/task lists it. */
struct snapshot_task {
	pid_t tid;  /* host namespace: what /proc and the sampler use */
	char state; /* its /proc state letter: 'R' running, 'S' sleeping, ... */
	char comm[32];
};

/* A Python thread state and its stack. */
struct snapshot_thread {
	uint64_t tstate;     /* PyThreadState * in the target */
	uint64_t pthread_id; /* pthread_self() of its thread */
	int32_t task;	     /* its entry in snapshot.tasks; -1: not known, or gone */
	bool truncated;	     /* more Python frames than a stack holds */
	bool partial;	     /* a read faulted before the root frame */
	uint32_t n_frames;   /* Python frames read */
	/* Once named (snapshot__name): innermost first, and PROFILE_STACK_*. */
	const uint32_t *locs;
	uint32_t n_locs, flags;
};

/* An asyncio task (dump --async). */
struct snapshot_async_task {
	uint64_t addr;
	const char *name;
	const char *state; /* "running", "suspended", "pending", "done" */
	bool suspended;	   /* waiting in an await (it says on what) */
	bool partial;	   /* its await chain faulted or looped part way */
	bool root;	   /* awaited by no task read: a tree of who awaits whom starts here */
	uint64_t tstate;   /* the thread state whose list holds it; 0: the interpreter's */
	pid_t tid;	   /* that thread's TID; -1: not known */
	const uint64_t *awaited_by; /* the tasks awaiting it, by address */
	uint32_t n_awaited_by;
	const uint32_t *awaits; /* the tasks it awaits, as indexes of snapshot.async */
	uint32_t n_awaits;
	/* Where it is suspended, innermost first (a running task: its thread's
	 * frames down to its coroutine). */
	const uint32_t *locs;
	uint32_t n_locs;
};

struct snapshot_priv;

struct snapshot {
	pid_t pid;
	char comm[16];
	char version[32];     /* its Python as people write it ("3.12.1", "3.15.0a2") */
	struct profile *prof; /* what snapshot__take's stacks are locations of */
	/* /proc's list of its threads (snapshot__list) */
	uint32_t n_tasks;
	struct snapshot_task *tasks;
	/* Its Python threads, in list order (snapshot__walk) */
	uint32_t n_threads;
	struct snapshot_thread *threads;
	bool threads_partial;	/* the thread list changed while read, or faulted part way */
	bool threads_truncated; /* more than SNAPSHOT_MAX_THREADS, or too many interpreters */
	/* Its asyncio tasks (snapshot__take with async) */
	uint32_t n_async;
	struct snapshot_async_task *async;
	bool async_truncated;  /* more than SNAPSHOT_MAX_TASKS */
	uint32_t async_errors; /* task lists that were corrupt or changed while read */
	struct snapshot_priv *priv;
};

/* The /proc entry of thread t, or NULL. */
static inline const struct snapshot_task *snapshot__task_of(const struct snapshot *s,
							    const struct snapshot_thread *t)
{
	return t->task >= 0 ? &s->tasks[t->task] : NULL;
}

#endif /* PYSPY_SNAPSHOT_DATA_H */
