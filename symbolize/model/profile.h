/* SPDX-License-Identifier: MIT */
/*
 * profile.h - the in-memory profile every output format reads.
 *
 * Owns: interned strings, functions (name, file, first line), locations
 * (function, line), and stacks (process, thread, locations innermost first)
 * with their weights.  Bounded: past max_stacks distinct stacks, new stacks
 * are dropped and counted, and past a byte budget, new symbols are (see
 * profile__set_symbol_budget), so memory stays fixed whatever the workload.
 */
#ifndef PYSPY_PROFILE_H
#define PYSPY_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct profile;

/* What ran: Python code, or a native frame beside it (--native, --kernel). */
enum profile_fn_kind {
	PROFILE_FN_PYTHON = 0, /* and markers */
	PROFILE_FN_NATIVE,     /* user-space machine code: name (object or source file) */
	PROFILE_FN_KERNEL,     /* the kernel's: name ends in " [k]" */
	PROFILE_FN_TASK,       /* --async: an asyncio task, "task NAME" */
};

struct profile_function {
	uint32_t name;	/* string id: qualname, or a native symbol */
	uint32_t file;	/* string id: co_filename, or the object / source file */
	int start_line; /* co_firstlineno; 0 for native frames */
	uint8_t kind;	/* enum profile_fn_kind */
};

struct profile_location {
	uint32_t function;
	int line;	  /* -1: unknown */
	uint32_t mapping; /* native frames: profile__mapping id + 1; 0: none */
	uint64_t address; /* ... the first link-time address seen there */
};

/*
 * The object a native frame is in, as pprof's Mapping wants it: its file
 * and build-id, and its executable segment at link-time addresses (so an
 * address is a vaddr of the file, whatever the process it came from).
 */
struct profile_mapping {
	uint32_t file;	   /* string id */
	uint32_t build_id; /* string id, hex; "" if none */
	uint64_t start, limit, offset;
};

#define PROFILE_STACK_TRUNCATED 0x1 /* deeper than the walk limit */
#define PROFILE_STACK_PARTIAL	0x2 /* the walk faulted before the root */

struct profile_stack {
	uint32_t pid, tid;
	uint32_t flags; /* PROFILE_STACK_* */
	uint32_t n;	/* locations, innermost first */
	uint64_t weight;
	const uint32_t *locs;
};

/* max_stacks 0 = the default (1 << 20). NULL on ENOMEM. */
struct profile *profile__new(uint32_t max_stacks);
void profile__free(struct profile *p); /* NULL-safe */

/*
 * A profile with stacks of its own but the strings, functions, locations
 * and process/thread names of base (which must outlive it): several views
 * can aggregate the same samples differently (per request, per interval)
 * while symbols are resolved once.
 */
struct profile *profile__new_view(struct profile *base, uint32_t max_stacks);

/* Forget every stack (and the totals); symbols stay. */
void profile__clear_stacks(struct profile *p);

/*
 * Symbols (strings, functions, locations) are bounded too: past a byte
 * budget, a new one becomes "[dropped: too many names]" (a string, a
 * function without a file, a location without a line) and is counted.
 * The budget is the base profile's; views share it.
 */
#define PROFILE_DEFAULT_SYMBOL_BYTES (64u << 20)
void profile__set_symbol_budget(struct profile *p, size_t bytes);
uint64_t profile__symbols_dropped(const struct profile *p);

/*
 * Rebuild a base's symbols with only those still in use, so that a daemon
 * whose targets made up names for hours gets its budget back once they
 * stop (serve does it periodically).  Ids change: the caller visits
 * everything that holds one (each view's stacks, caches of function or
 * location ids) twice, calling profile_remap__* on every id it holds:
 *	m = profile__compact_begin(base);	NULL on ENOMEM: nothing changed
 *	visit the holders: each id says it is in use
 *	profile_remap__rewrite(m);		the base is renumbered
 *	visit the holders again: each id learns its new one
 *	profile_remap__end(m);
 * The base's own stacks, names and labels are kept without being visited.
 * A cache may hold ids weakly instead (profile_remap__weak_*): they
 * keep nothing alive, and come back UINT32_MAX when no one else used them
 * (or when it was the budget's overflow entry), for the cache to forget.
 */
struct profile_remap;
struct profile_remap *profile__compact_begin(struct profile *base);
void profile_remap__rewrite(struct profile_remap *m);
void profile_remap__end(struct profile_remap *m); /* NULL-safe */
uint32_t profile_remap__location(struct profile_remap *m, uint32_t loc);
uint32_t profile_remap__function(struct profile_remap *m, uint32_t fn);
uint32_t profile_remap__weak_function(struct profile_remap *m, uint32_t fn);
uint32_t profile_remap__weak_location(struct profile_remap *m, uint32_t loc);
void profile_remap__view(struct profile_remap *m, struct profile *view);

/* Intern a string; returns its id (0 is ""). UINT32_MAX on ENOMEM. */
uint32_t profile__intern(struct profile *p, const char *s);
const char *profile__str(const struct profile *p, uint32_t id);

uint32_t profile__function(struct profile *p, const char *name, const char *file, int start_line);
/* The same for a function of any kind; profile__function is PROFILE_FN_PYTHON. */
uint32_t profile__function_of(struct profile *p, enum profile_fn_kind kind, const char *name,
			      const char *file, int start_line);
uint32_t profile__location(struct profile *p, uint32_t function, int line);
/*
 * Is fn an asyncio task frame (`task NAME`)?  By its kind, or for a
 * profile read back from a file (which has no kinds), by its shape: no
 * file, and a name no Python function has (qualnames have no spaces).
 */
bool profile__is_task(const struct profile *p, const struct profile_function *fn);
/* A location's function (NULL for an unknown id) and, in *line, its line (-1: none). */
const struct profile_function *profile__location_function(const struct profile *p, uint32_t loc,
							  int *line);
/*
 * A native frame's location: the same (function, line) is one location,
 * and keeps the mapping and address it was first made with.
 */
uint32_t profile__location_at(struct profile *p, uint32_t function, int line, uint32_t mapping,
			      uint64_t address);
/* Find or add a mapping (by file and build-id): its id + 1, 0 on ENOMEM. */
uint32_t profile__mapping(struct profile *p, const char *file, const char *build_id, uint64_t start,
			  uint64_t limit, uint64_t offset);
uint32_t profile__n_mappings(const struct profile *p);
/* By id + 1, as locations hold it. */
const struct profile_mapping *profile__get_mapping(const struct profile *p, uint32_t id);
const struct profile_function *profile__get_function(const struct profile *p, uint32_t id);

/*
 * A marker frame ([unknown], a wait's reason, [dropped: ...]) names no
 * Python function: it has neither a file nor a line (line < 0).
 */
static inline bool profile_frame__is_marker(const struct profile_function *fn, int line)
{
	return !fn->file && line < 0;
}

/*
 * A frame as every text format shows it: `name (file:line)`, `name (file)`
 * without a line, `name` alone for a marker, `[unknown]` without fn.  put
 * writes each name, escaped as the format needs: one of symbolize/base/escape.h
 * (term_put, folded_put), so the model calls nothing above it.
 */
void profile__put_frame(FILE *f, const struct profile *p, const struct profile_function *fn,
			int line, void (*put)(FILE *f, const char *s));
const struct profile_location *profile__get_location(const struct profile *p, uint32_t id);
uint32_t profile__n_functions(const struct profile *p);
uint32_t profile__n_locations(const struct profile *p);

/*
 * Add weight to a stack. 0, -ENOSPC when it was dropped (cap), -ENOMEM.
 * Weight 0 adds nothing: a stack in the model always weighs something, so
 * no writer ever emits an empty one (e.g. a wait that ended before it was
 * seen to begin).
 */
int profile__add(struct profile *p, uint32_t pid, uint32_t tid, uint32_t flags,
		 const uint32_t *locs, uint32_t n, uint64_t weight);

/* Names shown for processes and threads; the latest one set wins. */
void profile__set_process_name(struct profile *p, uint32_t pid, const char *comm);
void profile__set_thread_name(struct profile *p, uint32_t pid, uint32_t tid, const char *name);
const char *profile__process_name(const struct profile *p, uint32_t pid);
const char *profile__thread_name(const struct profile *p, uint32_t pid, uint32_t tid);

/*
 * Per-process labels, key -> value, for attribution that outputs may show
 * or export (e.g. record --group-by container).  The latest value set
 * wins; "" or NULL removes the label, and a missing label reads as NULL.
 * Like names, they are kept in the base, so every view sees them.
 * Keys in use, named after the OpenTelemetry conventions:
 */
#define PROFILE_LABEL_CONTAINER_ID	"container.id"	    /* 64 hex */
#define PROFILE_LABEL_CONTAINER_RUNTIME "container.runtime" /* docker, cri-o, ... */
#define PROFILE_LABEL_POD_UID		"k8s.pod.uid"
#define PROFILE_LABEL_POD_NAME		"k8s.pod.name"
#define PROFILE_LABEL_POD_NAMESPACE	"k8s.namespace.name"
#define PROFILE_LABEL_POD_QOS		"k8s.pod.qos_class" /* guaranteed, burstable, besteffort */
#define PROFILE_LABEL_NS_PID		"process.ns_pid"    /* PID inside its PID namespace */
void profile__set_process_label(struct profile *p, uint32_t pid, const char *key,
				const char *value);
const char *profile__process_label(const struct profile *p, uint32_t pid, const char *key);

/*
 * The stacks in insertion order, pulled by the caller (the model calls
 * no one back):
 *	struct profile_stack_iter it = profile__stacks(p);
 *	struct profile_stack s;
 *	while (profile_stack_iter__next(&it, &s))
 *		...;
 * Nothing may be added to p meanwhile.
 */
struct profile_stack_iter {
	const void *next;
};
struct profile_stack_iter profile__stacks(const struct profile *p);
bool profile_stack_iter__next(struct profile_stack_iter *it, struct profile_stack *s);

uint64_t profile__total_weight(const struct profile *p);
uint32_t profile__n_stacks(const struct profile *p);
uint64_t profile__dropped(const struct profile *p); /* weight of dropped stacks */

#endif /* PYSPY_PROFILE_H */
