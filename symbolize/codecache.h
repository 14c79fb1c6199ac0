/* SPDX-License-Identifier: MIT */
/*
 * codecache.h - where a sampled frame becomes `qualname (file:line)`.
 *
 * Owns: the per-process cache of code objects (address -> name, file, line
 * table), kept honest by the time each occupant of an address was seen
 * there (a fingerprint read again once a sample is newer than the last
 * look) or by the fingerprint the BPF side read, so that a code object
 * freed and replaced at the same address is never shown under the wrong
 * name; the translation of a sample's frames into profile locations; and
 * the whole stacks already translated.
 * Its memory is the store's (codestore.h): line tables shared by content,
 * and a byte budget kept by forgetting the least recently used.
 */
#ifndef PYSPY_CODECACHE_H
#define PYSPY_CODECACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/types.h>

#include "codestore.h"
#include "bpf/pyspy.h"
#include "symbolize/cpython/pyoffsets.h"
#include "symbolize/model/profile.h"

struct code_cache;

struct code_cache_stats {
	uint64_t hits, misses, replaced; /* replaced: same address, new code */
	uint64_t ambiguous;		 /* address changed hands around the sample */
	uint64_t bad_code;		 /* frames shown as [unknown], all causes */
	uint64_t rereads;		 /* line tables read again after eviction */
	uint64_t last_change_ns;	 /* CLOCK_MONOTONIC of the last miss/replace */
	uint64_t last_replace_ns;	 /* ... of the last replace */
};

/*
 * code_type_addr: runtime &PyCode_Type, 0 to skip the type check.  store
 * (shared by the caches of one sampler) must outlive the cache.
 */
struct code_cache *code_cache__new(pid_t pid, const struct py_layout *l, uint64_t code_type_addr,
				   struct profile *prof, struct code_store *store);
void code_cache__free(struct code_cache *c); /* NULL-safe */

/*
 * Frames innermost first -> profile location ids in locs (same order).
 * t_sample is the sample's bpf_ktime_get_ns() (CLOCK_MONOTONIC); verified
 * says the frames carry the BPF side's code_fp (PYSPY_SAMPLE_VERIFIED), in
 * which case that, not time, tells which occupant of an address was
 * sampled.  Frames that cannot be read, or whose code object cannot be
 * told, become an "[unknown]" location.  Returns how many frames were bad.
 */
uint32_t code_cache__resolve(struct code_cache *c, const struct pyspy_frame *frames, uint32_t n,
			     uint64_t t_sample, bool verified, uint32_t *locs);

const struct code_cache_stats *code_cache__stats(const struct code_cache *c);

/* The function ids this cache holds, for profile__compact_begin. */
void code_cache__remap(struct code_cache *c, struct profile_remap *m);

#endif /* PYSPY_CODECACHE_H */
