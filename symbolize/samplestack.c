// SPDX-License-Identifier: MIT
/*
 * samplestack.c - a sampled stack as profile locations: split, resolve,
 * merge, once each.
 */
#include <stdlib.h>

#include "samplestack.h"
#include "symbolize/base/log.h"
#include "symbolize/model/profile.h"

/* A thread read from /proc names at most as many kernel frames as a record carries. */
_Static_assert(NATIVE_PROC_KSTACK_MAX <= PYSPY_KSTACK_MAX, "kernel frames from /proc");

struct sample_stack {
	uint32_t locs[SAMPLE_STACK_MAX_LOCS];
	/* The Python frames without the marks split off, and their locations. */
	struct pyspy_frame clean[PYSPY_MAX_FRAMES];
	uint32_t py_locs[PYSPY_MAX_FRAMES];
	/* --native: where each evaluation call began, and its entry frame. */
	uint8_t entry[PYSPY_MAX_FRAMES];
	uint64_t shim[PYSPY_MAX_FRAMES];
	struct async_split split;	 /* --async: the record's tasks */
	struct native_proc_scratch proc; /* a thread's native part, from /proc */
};

struct sample_stack *sample_stack__new(void)
{
	return calloc(1, sizeof(struct sample_stack));
}

void sample_stack__free(struct sample_stack *x)
{
	free(x);
}

uint32_t sample_stack__frames(const struct pyspy_sample *smp, size_t len)
{
	size_t room = len > PYSPY_SAMPLE_HDR_SIZE ? len - PYSPY_SAMPLE_HDR_SIZE : 0;
	uint32_t n = smp->n_frames;

	if (n > room / sizeof(struct pyspy_frame))
		n = room / sizeof(struct pyspy_frame);
	if (n == 0 && log_verbose > 1 && (smp->flags & PYSPY_SAMPLE_OFFCPU))
		log_debug("PID %d TID %d: left the CPU with no Python frames (error %d)", smp->pid,
			  smp->tid, smp->error);
	return n < PYSPY_MAX_FRAMES ? n : PYSPY_MAX_FRAMES;
}

/* How a stack's parts are put together. */
enum route {
	ROUTE_PYTHON, /* Python frames only */
	ROUTE_NATIVE, /* around native and kernel frames (--native / --kernel) */
	ROUTE_ASYNC,  /* under the tasks awaiting the running one (--async) */
};

/*
 * Split: the Python frames of frames[0..n) for the route, into *py (*n_py
 * of them), and where their locations go.
 */
static uint32_t *split(struct sample_stack *x, const struct stack_sources *src, enum route route,
		       const struct pyspy_frame *frames, uint32_t n, const struct pyspy_frame **py,
		       uint32_t *n_py)
{
	switch (route) {
	case ROUTE_NATIVE:
		*n_py = native_stack__split(frames, n, x->clean, x->entry, x->shim);
		break;
	case ROUTE_ASYNC:
		async_stack__split(src->async, frames, n, x->clean, &x->split);
		*n_py = x->split.n_py;
		break;
	default:
		*py = frames;
		*n_py = n;
		return x->locs;
	}
	*py = x->clean;
	return x->py_locs;
}

/* The stack's flags from the walk's. */
static uint32_t stack_flags(bool truncated, bool partial)
{
	if (truncated)
		return PROFILE_STACK_TRUNCATED;
	return partial ? PROFILE_STACK_PARTIAL : 0;
}

bool sample_stack__of_record(struct sample_stack *x, const struct stack_sources *src,
			     const struct pyspy_sample *smp, size_t len, struct stack_locs *out)
{
	uint32_t n = sample_stack__frames(smp, len), n_py;
	enum route route = ROUTE_PYTHON;
	const struct pyspy_frame *py;
	uint32_t *named;

	if (!n)
		return false;
	if (src->native && (smp->flags & PYSPY_SAMPLE_NATIVE))
		route = ROUTE_NATIVE;
	else if (src->async && async_stack__has_tasks(smp->frames, n))
		route = ROUTE_ASYNC;
	named = split(x, src, route, smp->frames, n, &py, &n_py);
	out->bad = code_cache__resolve(src->cache, py, n_py, smp->ktime_ns,
				       smp->flags & PYSPY_SAMPLE_VERIFIED, named);
	if (route == ROUTE_NATIVE)
		n = native_stack__build(
			src->native, smp, len,
			&(const struct native_py){ x->py_locs, x->entry, x->shim, n_py }, x->locs,
			SAMPLE_STACK_MAX_LOCS);
	else if (route == ROUTE_ASYNC)
		n = async_stack__merge(src->async, &x->split, x->py_locs, x->locs,
				       SAMPLE_STACK_MAX_LOCS);
	out->locs = x->locs;
	out->n = n;
	out->flags = stack_flags(smp->flags & PYSPY_SAMPLE_TRUNCATED, smp->error);
	return true;
}

void sample_stack__of_thread(struct sample_stack *x, const struct stack_sources *src, pid_t pid,
			     pid_t tid, const struct py_thread_stack *st, bool kernel, int tries,
			     uint64_t now_ns, struct stack_locs *out)
{
	uint32_t n = st->n_frames < PYSPY_MAX_FRAMES ? st->n_frames : PYSPY_MAX_FRAMES, n_py;
	enum route route = src->native ? ROUTE_NATIVE : ROUTE_PYTHON;
	const struct pyspy_frame *py;
	uint32_t *named;

	named = split(x, src, route, st->frames, n, &py, &n_py);
	/* The walk read each code object's fingerprint along with its frame. */
	out->bad = n_py ? code_cache__resolve(src->cache, py, n_py, now_ns, true, named) : 0;
	if (route == ROUTE_NATIVE) {
		const struct native_py in_py = { x->py_locs, x->entry, x->shim, n_py };

		kernel = kernel || native_proc__kernel(src->native);
		/* No task, no /proc entry to read registers or kernel frames from. */
		n = tid > 0 ? native_stack__from_proc(src->native, pid, tid, kernel, tries, &in_py,
						      &x->proc, x->locs, SAMPLE_STACK_MAX_LOCS)
			    : native_stack__merge(src->native, &(const struct native_in){ 0 },
						  &in_py, x->locs, SAMPLE_STACK_MAX_LOCS);
	}
	out->locs = x->locs;
	out->n = n;
	out->flags = stack_flags(st->flags & PY_STACK_TRUNCATED, st->flags & PY_STACK_PARTIAL);
}
