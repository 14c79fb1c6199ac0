/* SPDX-License-Identifier: MIT */
/*
 * counts.h - the run's counters (summary.h's struct run_counts), gathered
 * from where they are kept.
 *
 * Owns: refreshing what the sample path does not count itself, from the
 * parts that keep it: the code caches' ambiguities (of live targets and
 * of those already forgotten), --async's readers, the BPF side's errors
 * and statistics, the native unwinder's, the code store's memory, the
 * processes sampled and refused, the threads named, the time elapsed.
 */
#ifndef PYSPY_COUNTS_H
#define PYSPY_COUNTS_H

#include <stdint.h>

#include "options.h"
#include "session.h"
#include "summary.h"
#include "targets.h"
#include "watch.h"
#include "symbolize/codestore.h"
#include "symbolize/nativestack.h"

/* Where the counters are kept; any pointer may be NULL (not there: its counters stay). */
struct counts_sources {
	const struct options *o;
	struct targets *tg;
	struct session *s;
	struct watch *watch;
	struct native_ctx *native; /* --native / --kernel */
	struct code_store *store;
	uint64_t threads; /* named so far */
	double t0;	  /* the recording began (mono_s) */
};

/* Bring rc's gathered counters up to now. */
void run_counts__refresh(struct run_counts *rc, const struct counts_sources *src);

/* Add one target's: its code cache's ambiguities and its --async readers'. */
void run_counts__add_target(struct run_counts *rc, const struct target *tg);

#endif /* PYSPY_COUNTS_H */
