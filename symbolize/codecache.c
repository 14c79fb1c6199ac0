// SPDX-License-Identifier: MIT
/*
 * codecache.c - code objects of one process, cached by address and
 * checked against the time each sample was taken.
 *
 * CPython frees code objects (exec'd or generated functions, reloaded
 * modules) and malloc hands the same address to the next one, and samples
 * are symbolized some milliseconds after they were taken.  So each address
 * remembers its current and previous occupant, and which one a frame saw
 * is told by the code_fp the BPF side read at sample time
 * (PYSPY_MODE_VERIFY, on while a process is new or churns code objects),
 * or else by time: the span each occupant was seen at the address, from
 * the read that found it to the latest read that found it still there.  A
 * sample inside that span needs no read; one newer than the latest look
 * gets its headers read again (procmem's span reader: one call for the
 * sample, nearby headers in one range), which then vouches for every sample taken before
 * it: the sampler holds records back a little (its batch) so
 * that one read serves many.  When neither can tell, the frame is
 * "[unknown]" (counted as ambiguous) rather than possibly wrong.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "symbolize/base/hash.h" /* before uthash.h: its HASH_FUNCTION */
#include <uthash.h>
#include <utlist.h>

#include "codecache.h"
#include "symbolize/cpython/code.h"
#include "symbolize/base/clock.h"

/*
 * At most this many code objects per process, and at most the store's
 * per-target bytes: past either, the least recently used are forgotten.
 */
#define MAX_ENTRIES 65536

/* Locations already found for a code object: hot frames sit at few offsets. */
#define MEMO_SLOTS 4

struct line_memo {
	int32_t lasti;
	uint32_t loc; /* profile location of (func_id, line of lasti) */
};

/*
 * One occupant of an address, and the span of time it is known to have
 * been there: from first_ns, the read that found it, to last_ns, the
 * start of its latest observation.  Its names are in the
 * profile (func_id); code.linetable is the store's copy, or NULL once the
 * budget took it back, when the memo still answers for the offsets seen.
 */
struct code_gen {
	bool valid;
	struct py_code code;
	uint32_t func_id;
	uint64_t first_ns, last_ns;
	struct line_memo memo[MEMO_SLOTS];
	uint8_t n_memo, next_memo;
};

struct code_entry {
	UT_hash_handle hh;
	uint64_t addr;
	struct code_gen cur, prev;
	/* Most recently used first: every entry, and those holding a table. */
	struct code_entry *lru_prev, *lru_next;
	struct code_entry *tlru_prev, *tlru_next;
	bool in_tlru;
};

/*
 * Whole stacks already resolved, direct-mapped by a hash of their raw
 * frames: in steady state a repeated stack costs one hash and one compare.
 * A stack holds while no occupant it used changed hands (epoch: bumped by
 * every replace, forget and remap) and, for a sample told by time, while
 * the sample falls in [from_ns, until_ns], where every occupant it used is
 * known to have been at its address.  Its bytes are charged like entries.
 */
#define STACK_SLOTS	 64
#define STACK_MAX_FRAMES 128

struct stack_memo {
	uint64_t hash, epoch, from_ns, until_ns;
	uint32_t n; /* 0: empty */
	bool verified;
	struct pyspy_frame frames[STACK_MAX_FRAMES];
	uint32_t locs[STACK_MAX_FRAMES];
};

/* What an entry costs besides its line tables (hash bucket share included). */
#define ENTRY_COST ((long)sizeof(struct code_entry) + 16)

/* A line table of the store this cache uses, and by how many generations. */
struct table_ref {
	UT_hash_handle hh;
	const uint8_t *table;
	size_t len;
	uint32_t refs;
};

struct code_cache {
	pid_t pid;
	struct py_layout l;
	uint64_t code_type;
	struct profile *prof;
	struct code_store *store;
	struct code_entry *entries, *lru, *tlru;
	struct table_ref *tables;
	uint32_t n_entries;
	size_t bytes; /* charged to this target: entries, and each table once */
	uint32_t unknown_loc;
	/* While a sample is resolved: the store's room for its frames (codestore.h). */
	struct code_scratch *sc;
	struct stack_memo **stacks; /* STACK_SLOTS, made on first use */
	uint64_t epoch;
	struct code_cache_stats st;
};

struct code_cache *code_cache__new(pid_t pid, const struct py_layout *l, uint64_t code_type_addr,
				   struct profile *prof, struct code_store *store)
{
	struct code_cache *c;

	if (l->code_size == 0 || l->code_size > PY_CODE_HDR_MAX) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->pid = pid;
	c->l = *l;
	c->code_type = code_type_addr;
	c->prof = prof;
	c->store = store;
	c->unknown_loc = profile__location(prof, profile__function(prof, "[unknown]", "", 0), -1);
	if (c->unknown_loc == UINT32_MAX) {
		code_cache__free(c);
		errno = ENOMEM;
		return NULL;
	}
	return c;
}

/* --- memory: shared tables, the budget, least recently used first out ------ */

static size_t table_cost(size_t len)
{
	return sizeof(struct table_ref) + len;
}

/*
 * Swap the line table just read for the store's copy, and count it
 * against this target the first time it uses that copy.
 */
static int table_hold(struct code_cache *c, struct py_code *code)
{
	const uint8_t *shared;
	struct table_ref *r;
	int fresh;

	shared = code_store__get_table(c->store, code->linetable, code->linetable_len, &fresh);
	if (!shared)
		return -ENOMEM;
	free(code->linetable);
	code->linetable = (uint8_t *)shared; /* read-only from here on */
	HASH_FIND_PTR(c->tables, &shared, r);
	if (r) {
		r->refs++;
		code_store__put_table(c->store, shared); /* one store reference per cache */
		return 0;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		code_store__put_table(c->store, shared);
		code->linetable = NULL;
		return -ENOMEM;
	}
	r->table = shared;
	r->len = code->linetable_len;
	r->refs = 1;
	HASH_ADD_PTR(c->tables, table, r);
	c->bytes += table_cost(r->len);
	return 0;
}

static void table_drop(struct code_cache *c, struct py_code *code)
{
	struct table_ref *r;

	if (!code->linetable)
		return;
	HASH_FIND_PTR(c->tables, &code->linetable, r);
	code->linetable = NULL; /* the store's, not py_code__clear's to free */
	if (!r || --r->refs)
		return;
	HASH_DEL(c->tables, r);
	c->bytes -= table_cost(r->len);
	code_store__put_table(c->store, r->table);
	free(r);
}

static void gen_clear(struct code_cache *c, struct code_gen *g)
{
	if (g->valid) {
		table_drop(c, &g->code);
		py_code__clear(&g->code);
	}
	memset(g, 0, sizeof(*g));
}

/* Let e's line tables go; its names and memos stay. */
static void entry_drop_tables(struct code_cache *c, struct code_entry *e)
{
	table_drop(c, &e->cur.code);
	table_drop(c, &e->prev.code);
	if (e->in_tlru)
		DL_DELETE2(c->tlru, e, tlru_prev, tlru_next);
	e->in_tlru = false;
}

static void entry_free(struct code_cache *c, struct code_entry *e)
{
	c->epoch++;
	entry_drop_tables(c, e);
	HASH_DEL(c->entries, e);
	DL_DELETE2(c->lru, e, lru_prev, lru_next);
	gen_clear(c, &e->cur);
	gen_clear(c, &e->prev);
	free(e);
	c->n_entries--;
	c->bytes -= ENTRY_COST;
	code_store__charge(c->store, -ENTRY_COST);
}

/* e was just used: it goes last in line for eviction. */
static void entry_touch(struct code_cache *c, struct code_entry *e)
{
	if (c->lru != e) {
		DL_DELETE2(c->lru, e, lru_prev, lru_next);
		DL_PREPEND2(c->lru, e, lru_prev, lru_next);
	}
	if (e->in_tlru && c->tlru != e) {
		DL_DELETE2(c->tlru, e, tlru_prev, tlru_next);
		DL_PREPEND2(c->tlru, e, tlru_prev, tlru_next);
	}
}

/* e holds a table now (after a load or a re-read). */
static void entry_has_table(struct code_cache *c, struct code_entry *e)
{
	if (!e->in_tlru)
		DL_PREPEND2(c->tlru, e, tlru_prev, tlru_next);
	e->in_tlru = true;
}

static void clear_entries(struct code_cache *c)
{
	struct code_entry *e, *tmp;

	HASH_ITER (hh, c->entries, e, tmp)
		entry_free(c, e);
}

static bool over_budget(const struct code_cache *c)
{
	return c->bytes > code_store__per_target(c->store) || code_store__over_total(c->store) ||
	       c->n_entries > MAX_ENTRIES;
}

static void stacks_free(struct code_cache *c)
{
	if (!c->stacks)
		return;
	for (int i = 0; i < STACK_SLOTS; i++)
		if (c->stacks[i]) {
			free(c->stacks[i]);
			c->bytes -= sizeof(struct stack_memo);
			code_store__charge(c->store, -(long)sizeof(struct stack_memo));
		}
	free(c->stacks);
	c->stacks = NULL;
}

/* The least recently used entry of a list other than keep, or NULL. */
static struct code_entry *lru_victim(struct code_entry *head, struct code_entry *keep, bool tables)
{
	struct code_entry *tail = head ? (tables ? head->tlru_prev : head->lru_prev) : NULL;

	if (tail == keep)
		tail = tail == head ? NULL : (tables ? tail->tlru_prev : tail->lru_prev);
	return tail;
}

/*
 * Get within the budget, keeping `keep` (the entry being served): first
 * the line tables of the least recently used entries go (their names and
 * memos stay, so a hot frame costs no re-read), then whole entries.
 * False when keep's own table still does not fit: the caller lets it go.
 */
static bool fit(struct code_cache *c, struct code_entry *keep)
{
	uint64_t evicted = 0;
	struct code_entry *v;

	/* Kept stacks go first: they cost the least to make again. */
	if (over_budget(c))
		stacks_free(c);
	while (over_budget(c)) {
		if ((v = lru_victim(c->tlru, keep, true)))
			entry_drop_tables(c, v);
		else if ((v = lru_victim(c->lru, keep, false)))
			entry_free(c, v);
		else
			break;
		evicted++;
	}
	if (evicted)
		code_store__count_evicted(c->store, evicted);
	if (!over_budget(c))
		return true;
	code_store__count_refused(c->store);
	return false;
}

/*
 * After e took more memory (a new code object, a table read again): get
 * within the budget; if e's own table is what does not fit, e keeps its
 * names without it.  False when not even that fits (e was freed).
 */
static bool settle(struct code_cache *c, struct code_entry *e)
{
	if (fit(c, e))
		return true;
	entry_drop_tables(c, e);
	if (!over_budget(c))
		return true;
	entry_free(c, e);
	return false;
}

void code_cache__free(struct code_cache *c)
{
	if (!c)
		return;
	clear_entries(c);
	stacks_free(c);
	free(c);
}

/*
 * Read the headers of the frames listed in idx[0..n) (indexes into
 * frames), in as few ranges as procmem's span reader makes of them (code
 * objects made together sit close together, often several on a page);
 * hdr_ok[i] says which arrived.  *t_start is taken before the reads: each
 * code object was at its address at some moment after it.
 */
static void read_headers(struct code_cache *c, const struct pyspy_frame *frames,
			 const uint32_t *idx, uint32_t n, uint64_t *t_start)
{
	struct code_scratch *sc = c->sc;
	size_t sz = c->l.code_size;

	for (uint32_t k = 0; k < n; k++)
		sc->reqs[k] = (struct procmem_req){ frames[idx[k]].code, sc->hdrs + idx[k] * sz,
						    (uint32_t)sz, false };
	*t_start = mono_ns();
	procmem_read_many_in(c->pid, sc->reqs, n, &sc->mem);
	for (uint32_t k = 0; k < n; k++)
		sc->hdr_ok[idx[k]] = sc->reqs[k].ok;
}

static int is_code(const struct code_cache *c, const uint8_t *hdr)
{
	uint64_t type;

	if (!c->code_type)
		return 1;
	memcpy(&type, hdr + c->l.object_type, sizeof(type));
	return type == c->code_type;
}

static int gen_load(struct code_cache *c, uint64_t addr, struct code_gen *g)
{
	memset(g, 0, sizeof(*g));
	if (py_code__read(c->pid, &c->l, addr, &g->code))
		return -EINVAL;
	g->func_id =
		profile__function(c->prof, g->code.qualname, g->code.filename, g->code.firstlineno);
	/* The profile has the names now: only the line table is needed. */
	free(g->code.qualname);
	free(g->code.filename);
	g->code.qualname = g->code.filename = NULL;
	if (g->func_id == UINT32_MAX || table_hold(c, &g->code)) {
		py_code__clear(&g->code);
		return -ENOMEM;
	}
	g->valid = true;
	return 0;
}

static struct code_entry *new_entry(struct code_cache *c, uint64_t addr, uint64_t t_start)
{
	struct code_entry *e;

	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->addr = addr;
	if (gen_load(c, addr, &e->cur)) {
		free(e);
		return NULL;
	}
	/*
	 * Known from this read on, not before: a sample older than it may have
	 * seen a code object that lived here and died unseen (what a process
	 * trusted to be quiet does when it starts making code), which only the
	 * BPF side's fingerprint can tell.
	 */
	e->cur.first_ns = e->cur.last_ns = t_start;
	HASH_ADD(hh, c->entries, addr, sizeof(addr), e);
	DL_PREPEND2(c->lru, e, lru_prev, lru_next);
	entry_has_table(c, e);
	c->n_entries++;
	c->bytes += ENTRY_COST;
	code_store__charge(c->store, ENTRY_COST);
	return settle(c, e) ? e : NULL;
}

/* Record what is at e->addr now (fingerprint fp, seen after t_start). */
static int observe(struct code_cache *c, struct code_entry *e, const struct py_code_fp *fp,
		   uint64_t t_start)
{
	struct code_gen g;

	if (e->cur.valid && py_code_fp__equal(&e->cur.code.fp, fp)) {
		c->st.hits++;
		if (t_start > e->cur.last_ns)
			e->cur.last_ns = t_start;
		return 0;
	}
	/* Same address, different code object: the old one was freed. */
	c->st.replaced++;
	c->epoch++;
	c->st.last_change_ns = c->st.last_replace_ns = t_start;
	if (gen_load(c, e->addr, &g))
		return -EINVAL;
	g.first_ns = mono_ns();
	g.last_ns = t_start;
	gen_clear(c, &e->prev);
	e->prev = e->cur;
	e->cur = g;
	entry_has_table(c, e);
	return settle(c, e) ? 0 : -ENOMEM;
}

static bool gen_covers(const struct code_gen *g, uint64_t t)
{
	return g->valid && g->first_ns <= t && t <= g->last_ns;
}

static bool gen_matches(const struct code_gen *g, uint32_t code_fp)
{
	return g->valid && pyspy_code_fp(g->code.fp.name, g->code.fp.firstlineno) == code_fp;
}

/* The occupant a frame saw: by its BPF fingerprint, else by time. */
static struct code_gen *pick(struct code_entry *e, const struct pyspy_frame *f, uint64_t t_sample,
			     bool verified)
{
	if (verified) {
		if (gen_matches(&e->cur, f->code_fp))
			return &e->cur;
		if (gen_matches(&e->prev, f->code_fp))
			return &e->prev;
		return NULL;
	}
	if (gen_covers(&e->cur, t_sample))
		return &e->cur;
	if (gen_covers(&e->prev, t_sample))
		return &e->prev;
	return NULL;
}

/*
 * What the cache already tells about a frame, with no read of the target:
 * the occupant it saw, or NULL.  Reading the address again can only tell
 * more (*need_read) when it is new to us, when the frame's fingerprint
 * matched no occupant we know, or when the sample is newer than our last
 * look: an occupant seen at its address both before and after the sample
 * was there when it was taken, which is what a read would prove again.
 */
static struct code_gen *known(struct code_cache *c, const struct pyspy_frame *f, uint64_t t_sample,
			      bool verified, struct code_entry **ep, bool *need_read)
{
	struct code_gen *g;
	struct code_entry *e;

	HASH_FIND(hh, c->entries, &f->code, sizeof(f->code), e);
	*ep = e;
	*need_read = !e;
	if (!e)
		return NULL;
	entry_touch(c, e);
	g = pick(e, f, t_sample, verified);
	if (g) {
		c->st.hits++;
		return g;
	}
	*need_read = verified || t_sample > e->cur.last_ns;
	if (!*need_read)
		c->st.ambiguous++; /* before cur, and not prev's: no read can tell */
	return NULL;
}

/*
 * The frame again, from its header read just now (after the sample):
 * which occupant it saw, if that can be told; *ep: its entry.
 */
static struct code_gen *lookup(struct code_cache *c, const struct pyspy_frame *f,
			       const uint8_t *hdr, uint64_t t_sample, bool verified,
			       uint64_t t_start, struct code_entry **ep)
{
	uint64_t addr = f->code;
	struct py_code_fp fp;
	struct code_gen *g;
	struct code_entry *e;

	if (!is_code(c, hdr) || py_code__fingerprint_from(&c->l, hdr, c->l.code_size, &fp))
		return NULL;
	HASH_FIND(hh, c->entries, &addr, sizeof(addr), e);
	if (!e) {
		c->st.misses++;
		c->st.last_change_ns = t_start;
		e = new_entry(c, addr, t_start);
		if (!e)
			return NULL;
	} else if (observe(c, e, &fp, t_start)) {
		return NULL;
	}
	g = pick(e, f, t_sample, verified);
	if (!g)
		c->st.ambiguous++;
	*ep = e;
	return g;
}

/*
 * The line of byte offset lasti in g, an occupant of e: from the line
 * table, read again if the budget took it and g is still what lives at
 * the address (observe made e->cur just that).  -1: not known.
 */
static int gen_line(struct code_cache *c, struct code_entry *e, struct code_gen *g, int lasti)
{
	if (!g->code.linetable) {
		if (g != &e->cur || py_code__reread_linetable(c->pid, &c->l, e->addr, &g->code))
			return -1;
		if (table_hold(c, &g->code)) {
			free(g->code.linetable);
			g->code.linetable = NULL;
			return -1;
		}
		c->st.rereads++;
		entry_has_table(c, e);
		/* e stays (fit keeps it); only its table may go again. */
		if (!fit(c, e))
			entry_drop_tables(c, e);
		if (!g->code.linetable)
			return -1;
	}
	return py_code__line(&g->code, lasti);
}

/*
 * The profile location of a frame at lasti in g: the memo's, else found
 * and kept.  *final: it is what the line table says (a location made
 * without the table, the budget's, may become another later).
 */
static uint32_t gen_location(struct code_cache *c, struct code_entry *e, struct code_gen *g,
			     int lasti, bool *final)
{
	uint32_t loc;
	int line;

	*final = true;
	for (int i = 0; i < g->n_memo; i++)
		if (g->memo[i].lasti == lasti)
			return g->memo[i].loc;
	line = gen_line(c, e, g, lasti);
	loc = profile__location(c->prof, g->func_id, line);
	if (loc == UINT32_MAX || !g->code.linetable) {
		*final = false;
		return loc;
	}
	g->memo[g->next_memo] = (struct line_memo){ lasti, loc };
	g->next_memo = (g->next_memo + 1) % MEMO_SLOTS;
	if (g->n_memo < MEMO_SLOTS)
		g->n_memo++;
	return loc;
}

/* --- whole stacks ------------------------------------------------------------ */

/*
 * The slot of a stack, on every sample: keyed like every hash of a
 * target's bytes, over a word per frame (half the bytes of the frames:
 * its code pointer, with its offset and fingerprint spread over the
 * bits).  Two stacks of one slot only take turns in it: a kept stack
 * is compared whole before it is used.
 */
static uint64_t frame_word(const struct pyspy_frame *f)
{
	uint64_t rest = (uint64_t)(uint32_t)f->lasti << 32 | f->code_fp;

	return f->code ^ rest * 0x9E3779B97F4A7C15ull;
}

static uint64_t stack_hash(const struct pyspy_frame *frames, uint32_t n, bool verified)
{
	struct hash_state h;

	hash_words_start(&h);
	for (uint32_t i = 0; i < n; i++)
		hash_word(&h, frame_word(&frames[i]));
	return hash_words_end(&h, n) ^ verified;
}

static const struct stack_memo *stack_find(const struct code_cache *c,
					   const struct pyspy_frame *frames, uint32_t n,
					   uint64_t t_sample, bool verified, uint64_t hash)
{
	const struct stack_memo *m;

	if (!c->stacks || n > STACK_MAX_FRAMES)
		return NULL;
	m = c->stacks[hash % STACK_SLOTS];
	if (!m || m->n != n || m->hash != hash || m->epoch != c->epoch || m->verified != verified)
		return NULL;
	if (!verified && (t_sample < m->from_ns || t_sample > m->until_ns))
		return NULL;
	return memcmp(m->frames, frames, n * sizeof(*frames)) ? NULL : m;
}

/* Keep a stack just resolved whole, if the budget has room for it. */
static void stack_keep(struct code_cache *c, const struct pyspy_frame *frames, uint32_t n,
		       bool verified, uint64_t hash, uint64_t from_ns, uint64_t until_ns,
		       const uint32_t *locs)
{
	struct stack_memo **slot, *m;

	if (n > STACK_MAX_FRAMES || (!verified && from_ns > until_ns))
		return;
	if (!c->stacks && !(c->stacks = calloc(STACK_SLOTS, sizeof(*c->stacks))))
		return;
	slot = &c->stacks[hash % STACK_SLOTS];
	if (!*slot) {
		c->bytes += sizeof(**slot);
		code_store__charge(c->store, sizeof(**slot));
		if (over_budget(c) || !(*slot = malloc(sizeof(**slot)))) {
			c->bytes -= sizeof(**slot);
			code_store__charge(c->store, -(long)sizeof(**slot));
			return;
		}
	}
	m = *slot;
	m->hash = hash;
	m->epoch = c->epoch;
	m->from_ns = from_ns;
	m->until_ns = until_ns;
	m->n = n;
	m->verified = verified;
	memcpy(m->frames, frames, n * sizeof(*frames));
	memcpy(m->locs, locs, n * sizeof(*locs));
}

/* --- a sample's frames ---------------------------------------------------------- */

/* What one resolve learns: can its stack be kept, and over which span. */
struct resolve_span {
	bool whole;
	uint64_t from_ns, until_ns;
};

/* g was picked for a frame: the frame's location, and the span narrowed to g's. */
static uint32_t resolve_frame(struct code_cache *c, struct code_entry *e, struct code_gen *g,
			      int lasti, struct resolve_span *sp)
{
	bool final;
	uint32_t loc = gen_location(c, e, g, lasti, &final);

	sp->whole &= final;
	if (g->first_ns > sp->from_ns)
		sp->from_ns = g->first_ns;
	if (g->last_ns < sp->until_ns)
		sp->until_ns = g->last_ns;
	return loc;
}

uint32_t code_cache__resolve(struct code_cache *c, const struct pyspy_frame *frames, uint32_t n,
			     uint64_t t_sample, bool verified, uint32_t *locs)
{
	struct resolve_span sp = { true, 0, UINT64_MAX };
	uint64_t t_start = 0, hash, epoch = c->epoch;
	const struct stack_memo *m;
	uint32_t bad = 0, n_read = 0;

	if (n > PYSPY_MAX_FRAMES)
		n = PYSPY_MAX_FRAMES;
	hash = stack_hash(frames, n, verified);
	m = stack_find(c, frames, n, t_sample, verified, hash);
	if (m) {
		memcpy(locs, m->locs, n * sizeof(*locs));
		c->st.hits += n;
		return 0;
	}
	/* First what the cache knows; a location is taken at once, as an
	 * entry may go when the next frame's memory is settled. */
	for (uint32_t i = 0; i < n; i++) {
		struct code_entry *e;
		struct code_gen *g;
		bool need_read;

		g = known(c, &frames[i], t_sample, verified, &e, &need_read);
		locs[i] = g ? resolve_frame(c, e, g, frames[i].lasti, &sp) : UINT32_MAX;
		if (!need_read)
			continue;
		/* The store's room for the headers to read, held to the end (no room: unknown). */
		if (!c->sc && !(c->sc = code_store__scratch(c->store, n, c->l.code_size)))
			continue;
		c->sc->read_idx[n_read++] = i;
	}
	/* Then one batched read for the frames it could not tell. */
	if (n_read)
		read_headers(c, frames, c->sc->read_idx, n_read, &t_start);
	for (uint32_t k = 0; k < n_read; k++) {
		uint32_t i = c->sc->read_idx[k];
		struct code_entry *e = NULL;
		struct code_gen *g = NULL;

		if (c->sc->hdr_ok[i])
			g = lookup(c, &frames[i], c->sc->hdrs + (size_t)i * c->l.code_size,
				   t_sample, verified, t_start, &e);
		if (g)
			locs[i] = resolve_frame(c, e, g, frames[i].lasti, &sp);
	}
	if (c->sc)
		code_store__scratch_done(c->store);
	c->sc = NULL;
	for (uint32_t i = 0; i < n; i++) {
		if (locs[i] != UINT32_MAX)
			continue;
		c->st.bad_code++;
		bad++;
		locs[i] = c->unknown_loc;
	}
	/* Kept only if every frame is told, and nothing changed hands meanwhile. */
	if (!bad && sp.whole && epoch == c->epoch)
		stack_keep(c, frames, n, verified, hash, sp.from_ns, sp.until_ns, locs);
	return bad;
}

const struct code_cache_stats *code_cache__stats(const struct code_cache *c)
{
	return &c->st;
}

/*
 * Weakly: a code object whose function no profile uses any more is
 * forgotten (read again if it is ever sampled), so that the names of code
 * a target made and dropped can go.
 */
/* The memo keeps only the locations some profile still uses. */
static void memo_remap(struct code_gen *g, struct profile_remap *m)
{
	uint8_t n = 0;

	for (uint8_t i = 0; i < g->n_memo; i++) {
		g->memo[n].loc = profile_remap__weak_location(m, g->memo[i].loc);
		g->memo[n].lasti = g->memo[i].lasti;
		if (g->memo[n].loc != UINT32_MAX)
			n++;
	}
	g->n_memo = n;
	g->next_memo = n % MEMO_SLOTS;
}

void code_cache__remap(struct code_cache *c, struct profile_remap *m)
{
	struct code_entry *e, *tmp;

	c->epoch++; /* the stacks kept hold old location ids */
	HASH_ITER (hh, c->entries, e, tmp) {
		if (e->prev.valid) {
			e->prev.func_id = profile_remap__weak_function(m, e->prev.func_id);
			if (e->prev.func_id == UINT32_MAX)
				gen_clear(c, &e->prev);
			else
				memo_remap(&e->prev, m);
		}
		if (e->cur.valid) {
			e->cur.func_id = profile_remap__weak_function(m, e->cur.func_id);
			memo_remap(&e->cur, m);
		}
		if (!e->cur.valid || e->cur.func_id == UINT32_MAX)
			entry_free(c, e);
	}
	c->unknown_loc = profile_remap__location(m, c->unknown_loc);
}
