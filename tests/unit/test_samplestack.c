// SPDX-License-Identifier: MIT
/*
 * test_samplestack.c - a sample record's frames as profile locations
 * (symbolize/samplestack.h), and the counters gathered from what named
 * them (user/engine/counts.h), over the saved memory of every interpreter
 * of tests/interpreters.txt: no process, no root, no BPF.
 *
 * Each thread of tests/corpus/ID.img (test_walk.c checks the walk and the
 * names against the interpreter's own) is made into the record the BPF
 * side would send, and must come out as the code cache names the walk's
 * frames; a record that says more frames than it holds, one with no
 * frame, and one shorter than its header are bounded or refused; the
 * walk's flags become the stack's; a --async record's tasks go where the
 * awaiting chain puts them, its awaiting task's coroutines turned round;
 * and a thread read from userspace takes the same route as its record.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpus.h"
#include "interpreters.h"
#include "symbolize/codecache.h"
#include "symbolize/codestore.h"
#include "symbolize/cpython/unwind.h"
#include "symbolize/samplestack.h"
#include "unit.h"
#include "user/engine/counts.h"
#include "symbolize/model/profile.h"

/* The record the BPF side sends for n frames (the caller frees it); *len its size. */
static struct pyspy_sample *record_of(const struct pyspy_frame *frames, uint32_t n, size_t *len)
{
	struct pyspy_sample *rec;

	*len = PYSPY_SAMPLE_HDR_SIZE + n * sizeof(struct pyspy_frame);
	rec = calloc(1, *len);
	if (!rec)
		return NULL;
	rec->pid = NO_PID;
	rec->tid = NO_PID;
	rec->flags = PYSPY_SAMPLE_VERIFIED;
	rec->n_frames = n;
	memcpy(rec->frames, frames, n * sizeof(*frames));
	return rec;
}

/* Is loc one of the n locations of ref? */
static bool among(uint32_t loc, const uint32_t *ref, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (ref[i] == loc)
			return true;
	return false;
}

/* Every thread's record, named as its frames are. */
static uint32_t check_threads(const char *id, struct sample_stack *x, struct code_cache *c,
			      struct code_cache *ref_cache, const struct py_threads *th)
{
	static uint32_t ref[PYSPY_MAX_FRAMES];
	const struct stack_sources src = { c, NULL, NULL };
	uint32_t frames = 0;

	for (uint32_t k = 0; k < th->n; k++) {
		const struct py_thread_stack *st = &th->t[k];
		struct stack_locs out = { 0 }, out2 = { 0 };
		struct pyspy_sample *rec;
		size_t len;
		bool ok;

		if (!st->n_frames)
			continue;
		rec = record_of(st->frames, st->n_frames, &len);
		if (!rec)
			continue;
		code_cache__resolve(ref_cache, st->frames, st->n_frames, 0, true, ref);
		ok = sample_stack__of_record(x, &src, rec, len, &out);
		CHECK(ok && out.n == st->n_frames && !out.flags && !out.bad &&
			      !memcmp(out.locs, ref, out.n * sizeof(*ref)),
		      "%s: thread %u: %u locations of %u frames, flags %#x, %u bad", id, k, out.n,
		      st->n_frames, out.flags, out.bad);
		sample_stack__of_thread(x, &src, NO_PID, NO_PID, st, false, 1, 0, &out2);
		CHECK(out2.n == st->n_frames && !out2.flags &&
			      !memcmp(out2.locs, ref, out2.n * sizeof(*ref)),
		      "%s: thread %u read from userspace: %u locations", id, k, out2.n);
		frames += st->n_frames;
		free(rec);
	}
	return frames;
}

/* A record whose header says more than it holds, or nothing: bounded, or refused. */
static void check_bounds(const char *id, struct sample_stack *x, struct code_cache *c,
			 const struct py_thread_stack *st, const uint32_t *ref)
{
	const struct stack_sources src = { c, NULL, NULL };
	struct stack_locs out = { 0 };
	struct pyspy_sample *rec;
	size_t len;

	rec = record_of(st->frames, st->n_frames, &len);
	if (!rec)
		return;
	/* The ring gave 5 frames' worth of a record that says n_frames. */
	CHECK(sample_stack__frames(rec, PYSPY_SAMPLE_HDR_SIZE + 5 * sizeof(struct pyspy_frame)) ==
		      5,
	      "%s", id);
	CHECK(sample_stack__of_record(x, &src, rec,
				      PYSPY_SAMPLE_HDR_SIZE + 5 * sizeof(struct pyspy_frame) + 3,
				      &out) &&
		      out.n == 5 && !memcmp(out.locs, ref, 5 * sizeof(*ref)),
	      "%s: a short record: %u locations", id, out.n);
	out.n = 77;
	CHECK(!sample_stack__of_record(x, &src, rec, PYSPY_SAMPLE_HDR_SIZE, &out) && out.n == 77,
	      "%s: a header alone holds no frame", id);
	CHECK(!sample_stack__of_record(x, &src, rec, PYSPY_SAMPLE_HDR_SIZE - 1, &out),
	      "%s: a record shorter than its header", id);
	rec->n_frames = 0;
	CHECK(!sample_stack__of_record(x, &src, rec, len, &out), "%s: no frame", id);
	rec->n_frames = st->n_frames;

	/* The walk's flags: truncated wins over partial. */
	rec->flags |= PYSPY_SAMPLE_TRUNCATED;
	CHECK(sample_stack__of_record(x, &src, rec, len, &out) &&
		      out.flags == PROFILE_STACK_TRUNCATED,
	      "%s: %#x", id, out.flags);
	rec->error = 1;
	CHECK(sample_stack__of_record(x, &src, rec, len, &out) &&
		      out.flags == PROFILE_STACK_TRUNCATED,
	      "%s: %#x", id, out.flags);
	rec->flags &= ~PYSPY_SAMPLE_TRUNCATED;
	CHECK(sample_stack__of_record(x, &src, rec, len, &out) &&
		      out.flags == PROFILE_STACK_PARTIAL && out.n == st->n_frames,
	      "%s: %#x", id, out.flags);
	free(rec);
}

/*
 * --async, from the stack's outermost six frames f0..f5 (of different
 * functions): the running task's frames f0 f1 f2, task A, the awaiting
 * task's coroutines outermost first (f4 f3), task B, then frames past the
 * last task (not shown).  Its tasks cannot be named from the image (their
 * layout is not known): each is the lost-name location, counted.
 */
static void check_async(const char *id, struct sample_stack *x, struct code_cache *c,
			struct async_proc *ap, const struct py_thread_stack *st,
			const uint32_t *all)
{
	const struct stack_sources src = { c, NULL, ap };
	const struct pyspy_frame *f = st->frames + st->n_frames - 6;
	const uint32_t *ref = all + st->n_frames - 6;
	const struct pyspy_frame in[] = {
		f[0],
		f[1],
		f[2],
		{ 0x10000 | PYSPY_FRAME_TASK, 7, 9 },
		f[4],
		f[3],
		{ 0x20000 | PYSPY_FRAME_TASK, 7, 9 },
		f[5],
	};
	struct stack_locs out = { 0 };
	struct pyspy_sample *rec;
	size_t len;

	CHECK(ref[3] != ref[4], "%s: the outermost frames are not all alike", id);
	rec = record_of(in, 8, &len);
	if (!rec)
		return;
	CHECK(sample_stack__of_record(x, &src, rec, len, &out) && out.n == 7 && !out.bad, "%s: %u",
	      id, out.n);
	if (out.n == 7) {
		CHECK(out.locs[0] == ref[0] && out.locs[1] == ref[1] && out.locs[2] == ref[2], "%s",
		      id);
		CHECK(out.locs[4] == ref[3] && out.locs[5] == ref[4],
		      "%s: awaiting task turned round", id);
		CHECK(out.locs[3] == out.locs[6] && !among(out.locs[3], ref, 6),
		      "%s: tasks in their place", id);
	}
	free(rec);
}

/* What counts.h gathers from a target's cache and asyncio reader, and from the store. */
static void check_counts(const char *id, struct code_cache *c, struct async_proc *ap,
			 struct code_store *store)
{
	const struct options o = { .async = true, .native = true };
	struct run_counts rc = { .processes = 3 };
	struct code_store_stats cs;

	run_counts__add_target(&rc, &(const struct target){ .cache = c, .async = ap });
	CHECK(rc.async_samples == 1 && rc.async_names_lost == 2 &&
		      rc.ambiguous == code_cache__stats(c)->ambiguous,
	      "%s: %" PRIu64 " async samples, %" PRIu64 " names lost", id, rc.async_samples,
	      rc.async_names_lost);
	code_store__stats(store, &cs);
	run_counts__refresh(&rc, &(const struct counts_sources){
					 .o = &o, .store = store, .threads = 7, .t0 = 0 });
	CHECK(rc.code_bytes == cs.bytes && cs.bytes > 0 && rc.threads == 7 && rc.async &&
		      !rc.native && rc.processes == 3 && rc.elapsed_s > 0,
	      "%s: %" PRIu64 " bytes", id, rc.code_bytes);
	/* Summed again from zero: no target, no reads. */
	CHECK(rc.async_samples == 0 && rc.async_names_lost == 0 && rc.ambiguous == 0, "%s", id);
}

static void replay(const struct interp *it)
{
	static uint32_t ref[PYSPY_MAX_FRAMES];
	struct corpus_replay r;
	struct code_cache *ref_cache = NULL;
	struct async_proc *ap = NULL;
	struct sample_stack *x = NULL;
	const struct py_thread_stack *deep = NULL;
	uint32_t frames;

	if (corpus_replay_open(it, &r))
		goto out;
	CHECK(r.th.n >= 7, "%s: %u threads", it->id, r.th.n);
	x = sample_stack__new();
	ref_cache = code_cache__new(NO_PID, &r.t.layout, r.t.code_type_addr, r.p, r.store);
	ap = async_proc__new(&r.t, r.p);
	CHECK(ref_cache && x && ap, "%s: set-up", it->id);
	if (!ref_cache || !x || !ap)
		goto out;
	frames = check_threads(it->id, x, r.c, ref_cache, &r.th);
	for (uint32_t k = 0; k < r.th.n; k++)
		if (!deep || r.th.t[k].n_frames > deep->n_frames)
			deep = &r.th.t[k];
	CHECK(deep && deep->n_frames > 400, "%s: deepest %u", it->id, deep ? deep->n_frames : 0);
	if (deep && deep->n_frames > 400) {
		code_cache__resolve(ref_cache, deep->frames, deep->n_frames, 0, true, ref);
		check_bounds(it->id, x, r.c, deep, ref);
		check_async(it->id, x, r.c, ap, deep, ref);
		check_counts(it->id, r.c, ap, r.store);
	}
	printf("  %s: %u threads, %u frames, each record as its frames\n", it->id, r.th.n, frames);
out:
	async_proc__free(ap);
	code_cache__free(ref_cache);
	sample_stack__free(x);
	corpus_replay_close(&r);
}

int main(void)
{
	corpus_replay_each(replay);
	return unit_done("samplestack");
}
