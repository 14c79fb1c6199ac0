/* SPDX-License-Identifier: MIT */
/*
 * summary.h - what the user reads on stderr: one progress line while
 * recording on a terminal, and the end-of-run summary (samples, lost
 * samples, unwinding errors by kind, top functions by own samples).
 */
#ifndef PYSPY_SUMMARY_H
#define PYSPY_SUMMARY_H

#include <stdbool.h>
#include <stdint.h>

#include "bpf/pyspy.h"
#include "symbolize/nativestack.h"
#include "symbolize/model/profile.h"

struct run_counts {
	uint64_t samples;	/* added to the profile */
	uint64_t bad_frames;	/* frames userspace could not symbolize */
	uint64_t ambiguous;	/* ... of which: code object replaced around the sample */
	uint64_t user_dropped;	/* samples of processes no longer tracked */
	uint64_t reads, frames; /* user-memory reads and frames, summed over samples */
	uint64_t late;		/* ... ambiguous, and named over LATE_NS after they were taken */
	uint64_t code_bytes;	/* the code caches' memory now (codestore.h) */
	uint64_t code_evicted;	/* code objects forgotten to stay within it */
	uint64_t code_refused;	/* ... and ones too big to keep at all */
	uint64_t bpf_err[PYSPY_ERR__COUNT];
	bool native; /* --native: native is what its unwinding did */
	struct native_stats native_st;
	/* --async: stacks written as tasks', and (wall) the suspended tasks read */
	bool async;
	uint64_t async_samples, async_names_lost, async_await_cycles, async_cycles;
	uint64_t async_read, async_deferred, async_list_errors, async_tasks;
	uint64_t bpf_stat[PYSPY_STAT__COUNT];
	double elapsed_s;
	unsigned rate_hz;
	int processes, threads;
	unsigned refused; /* processes asked for that could not be sampled (each said once) */
};

/*
 * A code object freed within this long of a sample may be gone when the
 * sample is named: a sample named later than this, one of whose code
 * objects changed hands meanwhile, is [unknown] for want of time, not of a
 * rule (-v counts them; on a loaded machine they are many).
 */
#define LATE_NS (1000 * 1000ULL)

const char *summary__error_name(enum pyspy_error e);

/* Overwrite the progress line (only if stderr is a terminal). */
void summary__progress(const struct run_counts *c);
void summary__progress_end(void);

/* Print the summary and the top n functions by own samples. */
void summary__print(const struct run_counts *c, const struct profile *p, int top_n);

#endif /* PYSPY_SUMMARY_H */
