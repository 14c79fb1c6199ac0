/* SPDX-License-Identifier: MIT */
/*
 * codestore.h - the memory every code cache lives in, and its budget.
 *
 * Owns: line tables shared by content (a target whose functions share one
 * 1 MiB table, or a hundred identical workers, hold one copy), the bytes
 * each code cache is charged (every distinct table it uses once, plus its
 * entries) against a per-target budget, the bytes of all caches together
 * against a total, and the counts of code objects evicted or refused to
 * stay within them; and the room one sample's frames take while a cache
 * resolves it, one for all the caches.  One store per sampler;
 * thread-safe.
 */
#ifndef PYSPY_CODESTORE_H
#define PYSPY_CODESTORE_H

#include <stddef.h>
#include <stdint.h>

#include "symbolize/proc/procmem.h"

#define CODE_STORE_DEFAULT_PER_TARGET ((size_t)64 << 20)
#define CODE_STORE_DEFAULT_TOTAL      ((size_t)192 << 20)

struct code_store;

struct code_store_stats {
	uint64_t bytes;	  /* held now, all caches */
	uint64_t tables;  /* distinct line tables held */
	uint64_t evicted; /* code objects forgotten (least recently used) */
	uint64_t refused; /* code objects not kept at all: one alone was over */
};

/* Budgets in bytes; 0 for the defaults. NULL on ENOMEM. */
struct code_store *code_store__new(size_t per_target, size_t total);
void code_store__free(struct code_store *s); /* NULL-safe; after its caches */

size_t code_store__per_target(const struct code_store *s);

/*
 * A line table of len bytes, by content: the store's copy (a new one made
 * from bytes, or an existing one that is equal), with one more reference.
 * bytes stays the caller's.  NULL on ENOMEM.  *fresh says the copy is new
 * to the store (its bytes were just added to the total).
 */
const uint8_t *code_store__get_table(struct code_store *s, const uint8_t *bytes, size_t len,
				     int *fresh);
void code_store__put_table(struct code_store *s, const uint8_t *table); /* NULL-safe */

/* Bytes a cache holds outside the shared tables (its entries). */
void code_store__charge(struct code_store *s, long delta);
/* Is the store over its total? */
int code_store__over_total(const struct code_store *s);
void code_store__count_evicted(struct code_store *s, uint64_t n);
void code_store__count_refused(struct code_store *s);

void code_store__stats(const struct code_store *s, struct code_store_stats *out);

/*
 * Room for the frames of one sample while a cache resolves it: a header
 * of hdr_size bytes, a flag and an index for each of frames, and
 * CODE_SCRATCH_SPAN bytes for the spans they are read in.  A 1024-deep
 * sample takes up to 500 KB: one room for all the store's caches, grown
 * to the deepest sample and charged to the total, instead of one per
 * deep process outside every budget.  Held (the store's scratch lock)
 * until code_store__scratch_done; NULL on ENOMEM (then not held).
 */
struct code_scratch {
	uint8_t *hdrs;		    /* frames * hdr_size */
	int *hdr_ok;		    /* frames */
	uint32_t *read_idx;	    /* frames */
	struct procmem_req *reqs;   /* frames */
	struct procmem_scratch mem; /* the span reader's room */
};
struct code_scratch *code_store__scratch(struct code_store *s, uint32_t frames, size_t hdr_size);
void code_store__scratch_done(struct code_store *s);

#endif /* PYSPY_CODESTORE_H */
