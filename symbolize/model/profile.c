// SPDX-License-Identifier: MIT
/*
 * profile.c - the aggregation model: interned strings, functions,
 * locations and weighted stacks, hashed with uthash.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "symbolize/base/hash.h" /* before uthash.h: its HASH_FUNCTION */
#include <uthash.h>

#include "profile.h"
#include "symbolize/base/grow.h"

#define DEFAULT_MAX_STACKS (1u << 20)
/* What a name, function or location past the budget becomes. */
#define OVERFLOW_NAME "[dropped: too many names]"

struct str_entry {
	UT_hash_handle hh;
	uint32_t id;
	char s[];
};

/*
 * Functions and locations: a hashed key -> dense id, plus an id array.
 * A function's key is (name, file, start line, kind), a location's
 * (function, line, 0, 0).
 */
#define ID_KEY 4
struct id_entry {
	UT_hash_handle hh;
	uint32_t id;
	uint32_t key[ID_KEY];
};

struct stack_entry {
	UT_hash_handle hh;
	uint64_t weight;
	uint32_t keylen;
	uint32_t key[]; /* pid, tid, flags, n, locs[n] */
};

struct name_entry {
	UT_hash_handle hh;
	uint64_t key; /* pid << 32 | tid; tid 0 for the process */
	uint32_t name;
};

/* A process label: (pid, key string id) -> value string id. */
struct label_entry {
	UT_hash_handle hh;
	uint32_t key[2];
	uint32_t value;
};

struct profile {
	struct profile *sym; /* whose symbols these are: itself, or a view's base */
	struct str_entry *strs;
	struct str_entry **str_by_id;
	uint32_t n_strs, cap_strs;

	struct id_entry *funcs_h;
	struct profile_function *funcs;
	uint32_t n_funcs, cap_funcs;

	struct id_entry *locs_h;
	struct profile_location *locs;
	uint32_t n_locs, cap_locs;

	/* Few (one per native object): a plain array, kept through compaction. */
	struct profile_mapping *maps;
	uint32_t n_maps, cap_maps;

	struct stack_entry *stacks;
	uint32_t n_stacks, max_stacks;
	uint64_t total, dropped;

	/* Symbols (in the base only): bytes held, the budget, what it refused. */
	size_t sym_bytes, sym_budget;
	uint64_t sym_dropped;
	uint32_t overflow_str, overflow_fn, overflow_loc; /* UINT32_MAX: none yet */

	struct name_entry *names;
	struct label_entry *labels;
};

struct profile *profile__new(uint32_t max_stacks)
{
	struct profile *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->sym = p;
	p->max_stacks = max_stacks ? max_stacks : DEFAULT_MAX_STACKS;
	p->sym_budget = PROFILE_DEFAULT_SYMBOL_BYTES;
	p->overflow_str = p->overflow_fn = p->overflow_loc = UINT32_MAX;
	if (profile__intern(p, "") != 0) {
		profile__free(p);
		errno = ENOMEM;
		return NULL;
	}
	return p;
}

struct profile *profile__new_view(struct profile *base, uint32_t max_stacks)
{
	struct profile *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->sym = base->sym;
	p->max_stacks = max_stacks ? max_stacks : DEFAULT_MAX_STACKS;
	return p;
}

void profile__clear_stacks(struct profile *p)
{
	HASH_CLEAR_FREE(hh, p->stacks, free);
	p->n_stacks = 0;
	p->total = p->dropped = 0;
}

void profile__free(struct profile *p)
{
	if (!p)
		return;
	HASH_CLEAR_FREE(hh, p->strs, free);
	HASH_CLEAR_FREE(hh, p->funcs_h, free);
	HASH_CLEAR_FREE(hh, p->locs_h, free);
	profile__clear_stacks(p);
	HASH_CLEAR_FREE(hh, p->names, free);
	HASH_CLEAR_FREE(hh, p->labels, free);
	free(p->str_by_id);
	free(p->funcs);
	free(p->locs);
	free(p->maps);
	free(p);
}

void profile__set_symbol_budget(struct profile *p, size_t bytes)
{
	p->sym->sym_budget = bytes;
}

uint64_t profile__symbols_dropped(const struct profile *p)
{
	return p->sym->sym_dropped;
}

/*
 * Would `more` bytes of symbols go over the budget?  If so it is counted,
 * and the caller hands out its overflow entry instead: memory stays
 * bounded whatever names a target (or an input file) makes up.
 */
static bool over_budget(struct profile *p, size_t more)
{
	if (p->sym_bytes + more <= p->sym_budget) {
		p->sym_bytes += more;
		return false;
	}
	p->sym_dropped++;
	return true;
}

static uint32_t intern_new(struct profile *p, const char *s, size_t len)
{
	struct str_entry *e;

	if (ARRAY_ROOM(p->str_by_id, p->n_strs + 1, p->cap_strs, 64))
		return UINT32_MAX;
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return UINT32_MAX;
	memcpy(e->s, s, len + 1);
	e->id = p->n_strs++;
	p->str_by_id[e->id] = e;
	HASH_ADD(hh, p->strs, s[0], len, e);
	return e->id;
}

uint32_t profile__intern(struct profile *view, const char *s)
{
	struct profile *p = view->sym;
	struct str_entry *e;
	size_t len = strlen(s);

	HASH_FIND(hh, p->strs, s, len, e);
	if (e)
		return e->id;
	if (!over_budget(p, sizeof(*e) + len + 1 + sizeof(*p->str_by_id)))
		return intern_new(p, s, len);
	/* The overflow name is one string more, past the budget, made once. */
	if (p->overflow_str == UINT32_MAX) {
		HASH_FIND(hh, p->strs, OVERFLOW_NAME, strlen(OVERFLOW_NAME), e);
		p->overflow_str = e ? e->id : intern_new(p, OVERFLOW_NAME, strlen(OVERFLOW_NAME));
	}
	return p->overflow_str;
}

const char *profile__str(const struct profile *view, uint32_t id)
{
	const struct profile *p = view->sym;
	return id < p->n_strs ? p->str_by_id[id]->s : "";
}

/* Find or add key in *h; *added tells the caller to fill its array. */
static uint32_t id_lookup(struct id_entry **h, const uint32_t key[ID_KEY], uint32_t next_id,
			  int *added)
{
	struct id_entry *e;

	*added = 0;
	HASH_FIND(hh, *h, key, sizeof(e->key), e);
	if (e)
		return e->id;
	e = calloc(1, sizeof(*e));
	if (!e)
		return UINT32_MAX;
	memcpy(e->key, key, sizeof(e->key));
	e->id = next_id;
	HASH_ADD(hh, *h, key, sizeof(e->key), e);
	*added = 1;
	return e->id;
}

/*
 * The id of key in the table h over arr (n entries, cap allocated): found,
 * or arr's next entry, set to value (built only then); UINT32_MAX without
 * memory.  A macro, so that arr's element type is the caller's.
 */
#define ID_FIND_OR_ADD(h, key, arr, n, cap, value)                  \
	({                                                          \
		uint32_t id_ = UINT32_MAX;                          \
		int added_ = 0;                                     \
		if (!ARRAY_ROOM(arr, (n) + 1, cap, 64))             \
			id_ = id_lookup(&(h), (key), (n), &added_); \
		if (added_) {                                       \
			(arr)[id_] = (value);                       \
			(n)++;                                      \
		}                                                   \
		id_;                                                \
	})

static bool id_known(struct id_entry *h, const uint32_t key[ID_KEY])
{
	struct id_entry *e;

	HASH_FIND(hh, h, key, sizeof(e->key), e);
	return e != NULL;
}

static uint32_t add_function(struct profile *p, const uint32_t key[ID_KEY])
{
	return ID_FIND_OR_ADD(
		p->funcs_h, key, p->funcs, p->n_funcs, p->cap_funcs,
		((struct profile_function){ key[0], key[1], (int)key[2], (uint8_t)key[3] }));
}

uint32_t profile__function(struct profile *view, const char *name, const char *file, int start_line)
{
	return profile__function_of(view, PROFILE_FN_PYTHON, name, file, start_line);
}

uint32_t profile__function_of(struct profile *view, enum profile_fn_kind kind, const char *name,
			      const char *file, int start_line)
{
	struct profile *p = view->sym;
	uint32_t key[ID_KEY];

	key[0] = profile__intern(p, name);
	key[1] = profile__intern(p, file);
	key[2] = (uint32_t)start_line;
	key[3] = kind;
	if (key[0] == UINT32_MAX || key[1] == UINT32_MAX)
		return UINT32_MAX;
	if (id_known(p->funcs_h, key) ||
	    !over_budget(p, sizeof(struct id_entry) + sizeof(*p->funcs)))
		return add_function(p, key);
	if (p->overflow_fn == UINT32_MAX) {
		uint32_t o[ID_KEY] = { profile__intern(p, OVERFLOW_NAME), 0, 0, 0 };

		p->overflow_fn = o[0] == UINT32_MAX ? UINT32_MAX : add_function(p, o);
	}
	return p->overflow_fn;
}

static uint32_t add_location(struct profile *p, const uint32_t key[ID_KEY], uint32_t mapping,
			     uint64_t address)
{
	return ID_FIND_OR_ADD(p->locs_h, key, p->locs, p->n_locs, p->cap_locs,
			      ((struct profile_location){ key[0], (int)key[1], mapping, address }));
}

const struct profile_function *profile__location_function(const struct profile *p, uint32_t loc_id,
							  int *line)
{
	const struct profile_location *loc = profile__get_location(p, loc_id);

	*line = loc ? loc->line : -1;
	return loc ? profile__get_function(p, loc->function) : NULL;
}

bool profile__is_task(const struct profile *p, const struct profile_function *fn)
{
	const char *file, *name;

	if (!fn)
		return false;
	if (fn->kind == PROFILE_FN_TASK)
		return true;
	if (fn->kind != PROFILE_FN_PYTHON)
		return false;
	file = profile__str(p, fn->file);
	name = profile__str(p, fn->name);
	return (!file || !file[0]) && name && !strncmp(name, "task ", 5) && name[5];
}

uint32_t profile__location(struct profile *view, uint32_t function, int line)
{
	return profile__location_at(view, function, line, 0, 0);
}

uint32_t profile__location_at(struct profile *view, uint32_t function, int line, uint32_t mapping,
			      uint64_t address)
{
	struct profile *p = view->sym;
	uint32_t key[ID_KEY] = { function, (uint32_t)line, 0, 0 };

	if (id_known(p->locs_h, key) || !over_budget(p, sizeof(struct id_entry) + sizeof(*p->locs)))
		return add_location(p, key, mapping, address);
	if (p->overflow_loc == UINT32_MAX) {
		uint32_t fn = profile__function(p, OVERFLOW_NAME, "", 0);
		uint32_t o[ID_KEY] = { fn, (uint32_t)-1, 0, 0 };

		p->overflow_loc = fn == UINT32_MAX ? UINT32_MAX : add_location(p, o, 0, 0);
	}
	return p->overflow_loc;
}

uint32_t profile__mapping(struct profile *view, const char *file, const char *build_id,
			  uint64_t start, uint64_t limit, uint64_t offset)
{
	struct profile *p = view->sym;
	uint32_t f = profile__intern(p, file), b = profile__intern(p, build_id);

	if (f == UINT32_MAX || b == UINT32_MAX)
		return 0;
	for (uint32_t i = 0; i < p->n_maps; i++)
		if (p->maps[i].file == f && p->maps[i].build_id == b)
			return i + 1;
	if (ARRAY_ROOM(p->maps, p->n_maps + 1, p->cap_maps, 64))
		return 0;
	p->maps[p->n_maps] = (struct profile_mapping){ f, b, start, limit, offset };
	return ++p->n_maps;
}

uint32_t profile__n_mappings(const struct profile *view)
{
	return view->sym->n_maps;
}

const struct profile_mapping *profile__get_mapping(const struct profile *view, uint32_t id)
{
	const struct profile *p = view->sym;

	return id && id <= p->n_maps ? &p->maps[id - 1] : NULL;
}

const struct profile_function *profile__get_function(const struct profile *view, uint32_t id)
{
	const struct profile *p = view->sym;
	return id < p->n_funcs ? &p->funcs[id] : NULL;
}

const struct profile_location *profile__get_location(const struct profile *view, uint32_t id)
{
	const struct profile *p = view->sym;
	return id < p->n_locs ? &p->locs[id] : NULL;
}

void profile__put_frame(FILE *f, const struct profile *p, const struct profile_function *fn,
			int line, void (*put)(FILE *f, const char *s))
{
	if (!fn) {
		fputs("[unknown]", f);
		return;
	}
	put(f, profile__str(p, fn->name));
	if (profile_frame__is_marker(fn, line))
		return;
	fputs(" (", f);
	put(f, profile__str(p, fn->file));
	if (line >= 0)
		fprintf(f, ":%d", line);
	fputc(')', f);
}

uint32_t profile__n_functions(const struct profile *view)
{
	const struct profile *p = view->sym;
	return p->n_funcs;
}

uint32_t profile__n_locations(const struct profile *view)
{
	const struct profile *p = view->sym;
	return p->n_locs;
}

/* Stacks this deep are keyed on the stack; deeper ones (diff's input) in the heap. */
#define KEY_ON_STACK (4 + 2048)

int profile__add(struct profile *p, uint32_t pid, uint32_t tid, uint32_t flags,
		 const uint32_t *locs, uint32_t n, uint64_t weight)
{
	uint32_t keylen = (4 + n) * sizeof(uint32_t);
	uint32_t local[KEY_ON_STACK], *key = local;
	struct stack_entry *e;
	int err = 0;

	if (!weight)
		return 0;
	if (n > KEY_ON_STACK - 4 && !(key = malloc(keylen)))
		return -ENOMEM;
	key[0] = pid;
	key[1] = tid;
	key[2] = flags;
	key[3] = n;
	memcpy(&key[4], locs, n * sizeof(uint32_t));
	HASH_FIND(hh, p->stacks, key, keylen, e);
	if (!e) {
		if (p->n_stacks >= p->max_stacks) {
			p->dropped += weight;
			err = -ENOSPC;
			goto out;
		}
		e = malloc(sizeof(*e) + keylen);
		if (!e) {
			err = -ENOMEM;
			goto out;
		}
		e->weight = 0;
		e->keylen = keylen;
		memcpy(e->key, key, keylen);
		HASH_ADD(hh, p->stacks, key[0], keylen, e);
		p->n_stacks++;
	}
	e->weight += weight;
	p->total += weight;
out:
	if (key != local)
		free(key);
	return err;
}

static void set_name(struct profile *view, uint64_t key, const char *name)
{
	struct profile *p = view->sym;
	struct name_entry *e;
	uint32_t id = profile__intern(p, name);

	if (id == UINT32_MAX)
		return;
	HASH_FIND(hh, p->names, &key, sizeof(key), e);
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return;
		e->key = key;
		HASH_ADD(hh, p->names, key, sizeof(key), e);
	}
	e->name = id;
}

static const char *get_name(const struct profile *view, uint64_t key)
{
	const struct profile *p = view->sym;
	struct name_entry *e;

	HASH_FIND(hh, p->names, &key, sizeof(key), e);
	return e ? profile__str(p, e->name) : NULL;
}

void profile__set_process_name(struct profile *p, uint32_t pid, const char *comm)
{
	set_name(p, (uint64_t)pid << 32, comm);
}

void profile__set_thread_name(struct profile *p, uint32_t pid, uint32_t tid, const char *name)
{
	/* tid 0 never names a thread, so it can key the process. */
	if (tid)
		set_name(p, (uint64_t)pid << 32 | tid, name);
}

const char *profile__process_name(const struct profile *p, uint32_t pid)
{
	return get_name(p, (uint64_t)pid << 32);
}

const char *profile__thread_name(const struct profile *p, uint32_t pid, uint32_t tid)
{
	return tid ? get_name(p, (uint64_t)pid << 32 | tid) : NULL;
}

/* Labels live with the names, in the base: every view sees them. */
void profile__set_process_label(struct profile *view, uint32_t pid, const char *key,
				const char *value)
{
	struct profile *p = view->sym;
	uint32_t k[2] = { pid, profile__intern(p, key) };
	uint32_t v = value && *value ? profile__intern(p, value) : 0;
	struct label_entry *e;

	if (k[1] == UINT32_MAX || v == UINT32_MAX)
		return;
	HASH_FIND(hh, p->labels, k, sizeof(k), e);
	if (!e && !v)
		return;
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return;
		memcpy(e->key, k, sizeof(k));
		HASH_ADD(hh, p->labels, key, sizeof(e->key), e);
	}
	e->value = v;
}

const char *profile__process_label(const struct profile *view, uint32_t pid, const char *key)
{
	const struct profile *p = view->sym;
	struct str_entry *s;
	struct label_entry *e;
	uint32_t k[2];

	/* Look the key up without interning it: readers hold a const profile. */
	HASH_FIND(hh, p->strs, key, strlen(key), s);
	if (!s)
		return NULL;
	k[0] = pid;
	k[1] = s->id;
	HASH_FIND(hh, p->labels, k, sizeof(k), e);
	return e && e->value ? profile__str(p, e->value) : NULL;
}

/* --- compaction: the symbols still in use, with new dense ids ---------------- */

#define UNUSED_ID UINT32_MAX

struct profile_remap {
	struct profile *p;
	bool rewrite;		     /* second visit: hand out new ids */
	uint32_t n_str, n_fn, n_loc; /* counts before */
	uint32_t *str, *fn, *loc;    /* old id -> new id, or UNUSED_ID */
	uint32_t old_overflow_fn, old_overflow_loc;
};

/* Marking: id, one of the n of map, is used (false: it is past them). */
static bool mark_used(uint32_t *map, uint32_t n, uint32_t id)
{
	if (id >= n)
		return false;
	map[id] = 0;
	return true;
}

static void use_str(struct profile_remap *m, uint32_t id)
{
	mark_used(m->str, m->n_str, id);
}

static uint32_t map_id(const uint32_t *map, uint32_t n, uint32_t id)
{
	/* Every id a holder has was marked on the first visit. */
	return id < n && map[id] != UNUSED_ID ? map[id] : id;
}

uint32_t profile_remap__function(struct profile_remap *m, uint32_t fn)
{
	if (m->rewrite)
		return map_id(m->fn, m->n_fn, fn);
	if (mark_used(m->fn, m->n_fn, fn)) {
		use_str(m, m->p->funcs[fn].name);
		use_str(m, m->p->funcs[fn].file);
	}
	return fn;
}

/*
 * A weakly held id's new id: UINT32_MAX if no one else used it, or if it
 * was the budget's overflow entry (a name dropped past the budget is worth
 * asking again after it).
 */
static uint32_t weak_id(const struct profile_remap *m, const uint32_t *map, uint32_t n,
			uint32_t old_overflow, uint32_t id)
{
	if (!m->rewrite)
		return id;
	if (id == old_overflow)
		return UINT32_MAX;
	return id < n ? map[id] : UINT32_MAX;
}

uint32_t profile_remap__weak_function(struct profile_remap *m, uint32_t fn)
{
	return weak_id(m, m->fn, m->n_fn, m->old_overflow_fn, fn);
}

uint32_t profile_remap__weak_location(struct profile_remap *m, uint32_t loc)
{
	return weak_id(m, m->loc, m->n_loc, m->old_overflow_loc, loc);
}

uint32_t profile_remap__location(struct profile_remap *m, uint32_t loc)
{
	if (m->rewrite)
		return map_id(m->loc, m->n_loc, loc);
	if (mark_used(m->loc, m->n_loc, loc))
		profile_remap__function(m, m->p->locs[loc].function);
	return loc;
}

void profile_remap__view(struct profile_remap *m, struct profile *view)
{
	struct stack_entry *old = view->stacks, *e, *tmp;

	if (!m->rewrite) {
		for (e = view->stacks; e; e = e->hh.next)
			for (uint32_t i = 0; i < e->key[3]; i++)
				profile_remap__location(m, e->key[4 + i]);
		return;
	}
	/* New ids make new keys: hash every stack again (no allocation). */
	view->stacks = NULL;
	HASH_ITER (hh, old, e, tmp) {
		HASH_DEL(old, e);
		for (uint32_t i = 0; i < e->key[3]; i++)
			e->key[4 + i] = profile_remap__location(m, e->key[4 + i]);
		HASH_ADD(hh, view->stacks, key[0], e->keylen, e);
	}
}

/* Dense new ids, in the old order, for what was marked. */
static uint32_t number(uint32_t *map, uint32_t n)
{
	uint32_t next = 0;

	for (uint32_t i = 0; i < n; i++)
		if (map[i] != UNUSED_ID)
			map[i] = next++;
	return next;
}

/* Each kept element i of arr (map[i], from number()) to its new place map[i] <= i. */
static void move_kept(void *arr, size_t size, const uint32_t *map, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (map[i] != UNUSED_ID && map[i] != i)
			memcpy((char *)arr + (size_t)map[i] * size, (char *)arr + (size_t)i * size,
			       size);
}

static void compact_strings(struct profile *p, const struct profile_remap *m)
{
	for (uint32_t i = 0; i < m->n_str; i++) {
		struct str_entry *e = p->str_by_id[i];

		if (m->str[i] == UNUSED_ID) {
			HASH_DEL(p->strs, e);
			free(e);
			continue;
		}
		e->id = m->str[i];
		p->str_by_id[e->id] = e; /* new ids only go down: nothing is overwritten unread */
	}
}

/* Re-key a function or location hash in place: no entry is allocated. */
static void rekey(struct id_entry **h, const uint32_t *map, uint32_t n,
		  void (*key_of)(const struct profile *p, uint32_t id, uint32_t key[ID_KEY]),
		  const struct profile *p)
{
	struct id_entry *nh = NULL, *e, *tmp;

	HASH_ITER (hh, *h, e, tmp) {
		HASH_DEL(*h, e);
		if (e->id >= n || map[e->id] == UNUSED_ID) {
			free(e);
			continue;
		}
		e->id = map[e->id];
		key_of(p, e->id, e->key);
		HASH_ADD(hh, nh, key, sizeof(e->key), e);
	}
	*h = nh;
}

static void fn_key(const struct profile *p, uint32_t id, uint32_t key[ID_KEY])
{
	key[0] = p->funcs[id].name;
	key[1] = p->funcs[id].file;
	key[2] = (uint32_t)p->funcs[id].start_line;
	key[3] = p->funcs[id].kind;
}

static void loc_key(const struct profile *p, uint32_t id, uint32_t key[ID_KEY])
{
	key[0] = p->locs[id].function;
	key[1] = (uint32_t)p->locs[id].line;
	key[2] = key[3] = 0;
}

static void compact_names(struct profile *p, const struct profile_remap *m)
{
	struct label_entry *nl = NULL, *l, *ltmp;
	struct name_entry *n;

	for (n = p->names; n; n = n->hh.next)
		n->name = map_id(m->str, m->n_str, n->name);
	HASH_ITER (hh, p->labels, l, ltmp) {
		HASH_DEL(p->labels, l);
		l->key[1] = map_id(m->str, m->n_str, l->key[1]);
		l->value = map_id(m->str, m->n_str, l->value);
		HASH_ADD(hh, nl, key, sizeof(l->key), l);
	}
	p->labels = nl;
}

/* What the symbols hold now, in over_budget()'s terms. */
static size_t symbol_bytes(const struct profile *p)
{
	size_t b = (size_t)p->n_funcs * (sizeof(struct id_entry) + sizeof(*p->funcs)) +
		   (size_t)p->n_locs * (sizeof(struct id_entry) + sizeof(*p->locs));

	for (uint32_t i = 0; i < p->n_strs; i++)
		b += sizeof(struct str_entry) + strlen(p->str_by_id[i]->s) + 1 +
		     sizeof(*p->str_by_id);
	return b;
}

struct profile_remap *profile__compact_begin(struct profile *base)
{
	struct profile *p = base->sym;
	struct profile_remap *m = calloc(1, sizeof(*m));
	struct name_entry *n;
	struct label_entry *l;

	if (!m)
		return NULL;
	*m = (struct profile_remap){
		.p = p,
		.n_str = p->n_strs,
		.n_fn = p->n_funcs,
		.n_loc = p->n_locs,
		.old_overflow_fn = p->overflow_fn,
		.old_overflow_loc = p->overflow_loc,
	};
	m->str = malloc(((size_t)m->n_str + 1) * sizeof(uint32_t));
	m->fn = malloc(((size_t)m->n_fn + 1) * sizeof(uint32_t));
	m->loc = malloc(((size_t)m->n_loc + 1) * sizeof(uint32_t));
	if (!m->str || !m->fn || !m->loc) {
		profile_remap__end(m);
		return NULL;
	}
	memset(m->str, 0xff, (size_t)m->n_str * sizeof(uint32_t));
	memset(m->fn, 0xff, (size_t)m->n_fn * sizeof(uint32_t));
	memset(m->loc, 0xff, (size_t)m->n_loc * sizeof(uint32_t));

	/* What is in use: "", the overflow entries, the base's own; then the holders'. */
	use_str(m, 0);
	use_str(m, p->overflow_str);
	if (p->overflow_fn != UINT32_MAX)
		profile_remap__function(m, p->overflow_fn);
	if (p->overflow_loc != UINT32_MAX)
		profile_remap__location(m, p->overflow_loc);
	for (n = p->names; n; n = n->hh.next)
		use_str(m, n->name);
	for (l = p->labels; l; l = l->hh.next) {
		use_str(m, l->key[1]);
		use_str(m, l->value);
	}
	for (uint32_t i = 0; i < p->n_maps; i++) {
		use_str(m, p->maps[i].file);
		use_str(m, p->maps[i].build_id);
	}
	profile_remap__view(m, p);
	return m;
}

void profile_remap__rewrite(struct profile_remap *m)
{
	struct profile *p = m->p;
	uint32_t n_str, n_fn, n_loc;

	n_str = number(m->str, m->n_str);
	n_fn = number(m->fn, m->n_fn);
	n_loc = number(m->loc, m->n_loc);
	compact_strings(p, m);
	p->n_strs = n_str;
	/* Arrays first, then the hashes from them. */
	move_kept(p->funcs, sizeof(*p->funcs), m->fn, m->n_fn);
	p->n_funcs = n_fn;
	for (uint32_t i = 0; i < n_fn; i++) {
		p->funcs[i].name = map_id(m->str, m->n_str, p->funcs[i].name);
		p->funcs[i].file = map_id(m->str, m->n_str, p->funcs[i].file);
	}
	move_kept(p->locs, sizeof(*p->locs), m->loc, m->n_loc);
	p->n_locs = n_loc;
	for (uint32_t i = 0; i < n_loc; i++)
		p->locs[i].function = map_id(m->fn, m->n_fn, p->locs[i].function);
	rekey(&p->funcs_h, m->fn, m->n_fn, fn_key, p);
	rekey(&p->locs_h, m->loc, m->n_loc, loc_key, p);
	compact_names(p, m);
	for (uint32_t i = 0; i < p->n_maps; i++) {
		p->maps[i].file = map_id(m->str, m->n_str, p->maps[i].file);
		p->maps[i].build_id = map_id(m->str, m->n_str, p->maps[i].build_id);
	}
	/* map_id keeps UINT32_MAX (no overflow entry yet) as it is. */
	p->overflow_str = map_id(m->str, m->n_str, p->overflow_str);
	p->overflow_fn = map_id(m->fn, m->n_fn, p->overflow_fn);
	p->overflow_loc = map_id(m->loc, m->n_loc, p->overflow_loc);

	m->rewrite = true;
	profile_remap__view(m, p);
}

void profile_remap__end(struct profile_remap *m)
{
	if (!m)
		return;
	if (m->rewrite)
		m->p->sym_bytes = symbol_bytes(m->p);
	free(m->str);
	free(m->fn);
	free(m->loc);
	free(m);
}

struct profile_stack_iter profile__stacks(const struct profile *p)
{
	return (struct profile_stack_iter){ .next = p->stacks };
}

bool profile_stack_iter__next(struct profile_stack_iter *it, struct profile_stack *s)
{
	const struct stack_entry *e = it->next;

	if (!e)
		return false;
	*s = (struct profile_stack){
		.pid = e->key[0],
		.tid = e->key[1],
		.flags = e->key[2],
		.n = e->key[3],
		.weight = e->weight,
		.locs = &e->key[4],
	};
	it->next = e->hh.next;
	return true;
}

uint64_t profile__total_weight(const struct profile *p)
{
	return p->total;
}

uint32_t profile__n_stacks(const struct profile *p)
{
	return p->n_stacks;
}

uint64_t profile__dropped(const struct profile *p)
{
	return p->dropped;
}
