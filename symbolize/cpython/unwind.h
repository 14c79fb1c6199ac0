/* SPDX-License-Identifier: MIT */
/*
 * unwind.h - every Python thread's current stack, read from userspace.
 *
 * Owns: walking a live target's runtime -> interpreters -> thread states ->
 * frame chain with process_vm_readv (no ptrace, the target keeps running),
 * with the same frame model as the BPF walker (bpf/pyspy.bpf.c), so that
 * threads the sampler never sees (blocked, sleeping) can be shown; and
 * telling a 3.8-3.10 thread's kernel TID from its pthread_t.  Everything
 * read is untrusted and every loop bounded; a read that races with the
 * target marks the stack partial instead of failing.
 */
#ifndef PYSPY_UNWIND_H
#define PYSPY_UNWIND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/types.h>

#include "pyoffsets.h"
#include "bpf/pyspy.h"

/* Thread states read per process (all interpreters together). */
#define PY_UNWIND_MAX_THREADS 4096
/* Interpreters followed (main + subinterpreters). */
#define PY_UNWIND_MAX_INTERPS 64

/* py_thread_stack.flags */
#define PY_STACK_TRUNCATED 0x1 /* more than PYSPY_MAX_FRAMES Python frames */
#define PY_STACK_PARTIAL   0x2 /* a read faulted before the root frame */

struct py_thread_stack {
	uint64_t tstate;     /* PyThreadState * in the target */
	uint64_t pthread_id; /* tstate->thread_id: pthread_self() of the thread */
	int64_t native_tid;  /* tstate->native_thread_id (3.11+, the target's PID
			      * namespace); -1 when the version has none */
	uint32_t flags;	     /* PY_STACK_* */
	uint32_t n_frames;
	/* Innermost first, each with its code object's fingerprint (as in a
	 * PYSPY_SAMPLE_VERIFIED sample); NULL when n_frames is 0. */
	struct pyspy_frame *frames;
};

struct py_threads {
	uint32_t n;
	bool list_partial;   /* the thread list changed under us, or faulted part way */
	bool list_truncated; /* more than PY_UNWIND_MAX_THREADS thread states, or
			      * PY_UNWIND_MAX_INTERPS interpreters */
	struct py_thread_stack *t;
};

/*
 * Read every thread of every interpreter of pid, in list order (newest
 * first within an interpreter).  0, or -errno when not even the runtime or
 * the interpreter list could be read (-ESRCH, -EPERM, -EFAULT, ...);
 * -EINVAL for a layout whose offsets are out of range.  Free with
 * py_threads__free() (also after an error).
 */
int py_unwind__threads(pid_t pid, const struct py_layout *l, uint64_t runtime_addr,
		       struct py_threads *out);
/*
 * The same, with marks: frames as a --native record has them, with
 * PYSPY_FRAME_ENTRY bits and PYSPY_FRAME_SHIM entries (bpf/pyspy.h), for
 * nativestack.h to place each evaluation call's Python frames.
 */
int py_unwind__threads_marked(pid_t pid, const struct py_layout *l, uint64_t runtime_addr,
			      bool marks, struct py_threads *out);
void py_threads__free(struct py_threads *t);

/*
 * The thread states alone (no frames): at most max of them into out, *n
 * how many.  0, -EAGAIN if the list kept changing while read, or -errno.
 */
int py_unwind__thread_states(pid_t pid, const struct py_layout *l, uint64_t runtime_addr,
			     uint64_t *out, uint32_t max, uint32_t *n);

/*
 * The kernel TID, as seen in the target's PID namespace, of the thread
 * whose pthread_t is pthread_id, read from libc's thread descriptor (see
 * unwind.c for how).  is_tid(tid, ctx) says whether tid is a live thread
 * of the target; only such a value is believed.  -1 if it cannot be told.
 */
pid_t py_unwind__libc_tid(pid_t pid, uint64_t pthread_id, bool (*is_tid)(pid_t tid, void *ctx),
			  void *ctx);

#endif /* PYSPY_UNWIND_H */
