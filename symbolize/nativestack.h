/* SPDX-License-Identifier: MIT */
/*
 * nativestack.h - where a native frame becomes `symbol (file:line)`, and a
 * sample's Python, native and kernel frames become one stack (--native,
 * --kernel).
 *
 * Owns: the sampler-wide native state (objects shared by file, kernel
 * symbols, the (object, address) -> location cache), each target's
 * mappings, unwinding a sample's copied user stack (stackwalk.h), and the
 * merge: each evaluation frame (_PyEval_EvalFrameDefault and its parts)
 * is replaced by the Python frames it ran, the interpreter's own call
 * machinery and start-up are hidden unless --native-all, and a walk that
 * ended early leaves a marker frame and the Python frames it did not
 * reach, never a guessed frame.
 */
#ifndef PYSPY_NATIVESTACK_H
#define PYSPY_NATIVESTACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bpf/pyspy.h"
#include "symbolize/native/stackwalk.h"
#include "symbolize/proc/procfs.h"
#include "symbolize/model/profile.h"

struct native_ctx;
struct native_proc;

/* What a native frame of the interpreter is, from its symbol (NULL: none). */
enum native_frame_kind {
	NATIVE_FRAME_OTHER = 0, /* work: shown */
	NATIVE_FRAME_EVAL,	/* the evaluation loop: Python frames take its place */
	NATIVE_FRAME_CALL,	/* call machinery: hidden unless --native-all */
	NATIVE_FRAME_UNNAMED,	/* no symbol (a stripped interpreter): hidden likewise */
};
enum native_frame_kind native_frame_kind(const char *symbol);

struct native_stats {
	uint64_t samples;		/* with a native part */
	uint64_t trimmed;		/* ... whose copy ended below every Python frame */
	uint64_t stops[SW_STOP__COUNT]; /* how the other walks ended */
	uint64_t unmatched;		/* Python frames left past the walk's end */
	uint64_t bad_records;		/* a native part that does not fit its record */
};

/*
 * native: unwind user stacks; all: show the interpreter's frames too;
 * kernel: name kernel frames (a kernel that hides its addresses is
 * logged once, and kernel frames are then left out).  NULL on ENOMEM.
 */
struct native_ctx *native_ctx__new(struct profile *prof, bool native, bool all, bool kernel);
void native_ctx__free(struct native_ctx *c); /* NULL-safe; after its procs */
const struct native_stats *native_ctx__stats(const struct native_ctx *c);
/* The location ids it holds, weakly, for profile__compact_begin. */
void native_ctx__remap(struct native_ctx *c, struct profile_remap *m);

/*
 * One target: interp is the file holding _PyRuntime as /proc/PID/maps
 * names it; version_hex says how its frames mark evaluation calls.
 */
struct native_proc *native_proc__new(struct native_ctx *c, pid_t pid, const char *interp,
				     uint32_t version_hex);
void native_proc__free(struct native_proc *p); /* NULL-safe */

/* Does it name kernel frames (--kernel, and a kernel that shows its addresses)? */
bool native_proc__kernel(const struct native_proc *p);

/*
 * How much of the user stack the BPF side should copy for this process
 * (pyspy_proc.ustack_bytes): what its walks needed to reach their
 * outermost Python frame lately, with room to spare; 0, the most, at
 * first, with --native-all, and after a walk that needed more.
 */
uint32_t native_proc__ustack_hint(const struct native_proc *p);

/*
 * A record's frames as its Python frames: into clean (returns how many)
 * without the BPF side's marks; entry[i]: clean[i] was the first frame its
 * evaluation call ran; shim[i]: the address of the entry frame the BPF
 * side found after clean[i] (3.12+), 0 if none.
 */
uint32_t native_stack__split(const struct pyspy_frame *frames, uint32_t n,
			     struct pyspy_frame *clean, uint8_t *entry, uint64_t *shim);

/* A sample's Python frames as locations (innermost first) and what split said. */
struct native_py {
	const uint32_t *locs;
	const uint8_t *entry;
	const uint64_t *shim;
	uint32_t n;
};

/*
 * What a stack's native part is made from: the thread's registers and a
 * copy of its user stack (have_regs: known at all), kernel return
 * addresses, or kernel frames known by name only (innermost first).
 */
struct native_in {
	bool have_regs;
	struct sw_regs regs;
	struct sw_stack stack;
	const uint64_t *kstack;
	uint32_t kstack_n;
	const char *const *kernel_names;
	uint32_t n_kernel_names;
	uint32_t mm_seq; /* 0: unknown */
};

/* The whole stack from in and py, at most cap locations, innermost first. */
uint32_t native_stack__merge(struct native_proc *p, const struct native_in *in,
			     const struct native_py *py, uint32_t *out, uint32_t cap);

/*
 * The whole stack of a PYSPY_SAMPLE_NATIVE record of len bytes, its
 * Python frames in py.  Writes at most cap locations to out, innermost
 * first; returns how many.
 */
uint32_t native_stack__build(struct native_proc *p, const struct pyspy_sample *smp, size_t len,
			     const struct native_py *py, uint32_t *out, uint32_t cap);

/* Kernel frames read by name from /proc per thread, at most. */
#define NATIVE_PROC_KSTACK_MAX 64

/* What native_stack__from_proc reads a thread into. */
struct native_proc_scratch {
	uint8_t stack[PYSPY_USTACK_MAX];
	char knames[NATIVE_PROC_KSTACK_MAX][PROCFS_KSYM_LEN];
	const char *kptrs[NATIVE_PROC_KSTACK_MAX];
};

/*
 * The whole stack of thread tid of pid while it is off the CPU (a dump,
 * a thread found blocked), from outside: its user registers from /proc
 * (read up to tries times, 2 ms apart, while it runs: a thread between
 * two waits is soon in the next), its user stack from its memory, and
 * with kernel its kernel stack by name (/proc/PID/task/TID/stack); its
 * Python frames in py.  At most cap locations into out, innermost first;
 * returns how many.
 */
uint32_t native_stack__from_proc(struct native_proc *p, pid_t pid, pid_t tid, bool kernel,
				 int tries, const struct native_py *py,
				 struct native_proc_scratch *s, uint32_t *out, uint32_t cap);

#endif /* PYSPY_NATIVESTACK_H */
