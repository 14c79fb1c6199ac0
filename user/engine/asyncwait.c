// SPDX-License-Identifier: MIT
/*
 * asyncwait.c - suspended tasks charged the time they wait (--async --mode wall).
 *
 * A sampler of its own, beside the BPF one, so it lives in the engine;
 * what it finds flows down to the sampler as data (async_wait__next), as
 * a record does: nothing here calls back into whoever charges the waits.
 *
 * Cost: per tick, one read per task the walk passes (a task's bytes give
 * the next one), then its coroutines level by level in one batch of reads
 * per level for all the tick's tasks, their names' fingerprints in one
 * more, and the code objects of frames that changed since the task was
 * last read in one more.  A name is read only when its fingerprint is new.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "symbolize/base/hash.h" /* before uthash.h: its HASH_FUNCTION */
#include <uthash.h>

#include "asyncwait.h"
#include "symbolize/cpython/pytasks.h"
#include "symbolize/cpython/unwind.h"
#include "symbolize/cpython/walk.h"
#include "symbolize/proc/procmem.h"
#include "symbolize/base/freeall.h"
#include "symbolize/base/log.h"

/* Thread lists followed (a thread state's, and the interpreter's). */
#define MAX_LISTS 64
/* Tasks remembered; past it, new ones are not read (and counted). */
#define MAX_ENTRIES PY_ASYNC_MAX_TASKS
/* Coroutines read per task in the batched walk. */
#define MAX_LEVELS 64
/* A single wait charged at most: a task unseen for longer was not known to wait. */
#define MAX_WAIT_NS (60 * 1000000000ull)
/*
 * How long a task's wait may gather before it goes to the profile.  A
 * profile read sooner (serve's /debug/pprof/profile, top's refresh, the
 * end) settles first, which hands over all there is.
 */
#define FLUSH_NS (10 * 1000000000ull)

struct wait_entry {
	UT_hash_handle hh;
	uint64_t task;
	uint64_t last_ns;   /* charged up to here */
	uint64_t cycle;	    /* the cycle it was last read in */
	uint64_t awaiter;   /* a task awaiting it, 0: none */
	uint64_t next_node; /* the node after its own in its list, as last read */
	/* The entry of that next task, as the walk last met them in a row:
	 * the read-ahead follows these instead of a hash lookup per task
	 * (cold lookups were most of a read's cost).  Checked against
	 * next_node before use; never left pointing at a freed entry. */
	struct wait_entry *next_e;
	bool dead;
	uint32_t tid;
	uint8_t state;
	uint32_t name_loc;
	uint64_t name_fp; /* what name_loc was found for */
	/* Its coroutines as last read, outermost first, and their locations
	 * innermost first; the same frames again reuse the locations. */
	uint32_t n_frames;
	struct pyspy_frame frames[MAX_LEVELS];
	uint32_t locs[MAX_LEVELS];
	/* What it awaits, from the cycle before: the one task (awaits) or
	 * how many (n_awaits), counted again during this one. */
	uint64_t awaits, next_awaits;
	uint32_t n_awaits, next_n_awaits;
	uint32_t reason_loc; /* UINT32_MAX: to make */
	uint64_t reason_for; /* the task reason_loc names, 0: "[await]" */
	/* Wait charged but not yet given to the profile: while a task waits
	 * where it waited, its visits add up here, and go out as one sample
	 * when its stack changes, past FLUSH_NS, or at a settle (a profile
	 * is about to be read). */
	uint64_t pending_ns;
	uint8_t pending_state;
};

struct list {
	uint64_t head; /* address of its llist_node head */
	uint64_t tstate;
	uint32_t tid;
};

/* One task being read this tick. */
struct visit {
	uint8_t *tb; /* its bytes (a slot of task_buf) */
	uint64_t task, coro, name, awaiter, gen, next_node;
	__u64 type0; /* the type of its own coroutine (pc_gen_decode) */
	uint64_t yf_at, yf, name_fp;
	uint8_t gen_buf[512]; /* GEN_READ_MAX */
	uint32_t gen_len;
	bool yf_read;
	uint64_t name_w[PYSPY_NAME_FP_BUF / 8];
	struct py_async_task t; /* frames and state */
	uint32_t tid;
	bool active;
	struct wait_entry *e; /* its entry, once found */
	/* What its entry is to take (visit_begin): its state, its name's location */
	uint8_t state;
	uint32_t name_loc;
};

/*
 * Where a tick's (or a settle's) work stands: what is left of it is done
 * as async_wait__next reads the waits it makes, one at a time.
 */
enum pass_step {
	STEP_DONE,   /* nothing left */
	STEP_VISIT,  /* entries take the tasks read (visit_begin, visit_end) */
	STEP_CHARGE, /* each task read charged the time since it was last */
	STEP_CYCLE,  /* the cycle ended: the entries it did not meet, their waits out */
	STEP_FORGET, /* ... then they go, and the others take their new awaiters */
	STEP_SETTLE, /* every entry charged up to now, its wait out */
};

struct pass {
	enum pass_step step;
	uint64_t now_ns;
	uint32_t i, n;		   /* visit i of the tick's n */
	bool flushed;		   /* visit i's old wait went out (or had none) */
	bool cycle_end;		   /* the tick reached the end of the lists */
	uint32_t n_changed;	   /* entries whose frames changed (their locations to make) */
	struct wait_entry *next_e; /* STEP_CYCLE, _FORGET, _SETTLE: the entry to do next */
};

struct async_wait {
	const struct py_target *py;
	const struct py_async_layout *a;
	struct async_proc *ap;
	struct code_cache *cache;
	struct profile *prof;
	struct pyspy_proc bpf; /* for the code fingerprint's span */
	struct wait_entry *entries;
	uint32_t n_entries;
	struct list lists[MAX_LISTS];
	uint32_t n_lists;
	/* where the walk is: list li, at node (0: its start), which came after prev */
	uint32_t li;
	uint64_t node, prev;
	struct wait_entry *last_e; /* the entry of the task read last, before node */
	uint64_t cycle, cycle_start_ns, started_ns;
	uint64_t running[MAX_LISTS];
	uint8_t *task_buf; /* max tasks' bytes */
	uint64_t *ahead;   /* nodes expected next, read together */
	struct visit *v;
	struct procmem_req *req;
	uint32_t await_loc, pending_loc; /* "[await]", "[not started]"; UINT32_MAX: to make */
	unsigned cap;			 /* tasks read per tick at most, what the scratch holds */
	uint32_t locs[MAX_LEVELS * (PYSPY_ASYNC_MAX_TASKS + 1) + 1];
	struct wait_entry **changed; /* max of them: the pass's */
	struct pass pass;
	struct async_wait_stats st;
};

struct async_wait *async_wait__new(const struct py_target *py, struct async_proc *ap,
				   struct code_cache *cache, struct profile *prof, uint64_t now_ns,
				   unsigned max)
{
	struct async_wait *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->cap = max ? max : 1;
	w->py = py;
	w->ap = ap;
	w->a = async_proc__layout(ap);
	w->cache = cache;
	w->prof = prof;
	w->started_ns = w->cycle_start_ns = now_ns;
	w->cycle = 1;
	w->await_loc = w->pending_loc = UINT32_MAX;
	/* The BPF side's entry: the code fingerprint's span, a coroutine's read */
	py_layout__to_bpf(&py->layout, py->runtime_addr, py->version_hex, &w->bpf);
	if (w->a)
		py_async__to_bpf(w->a, &w->bpf);
	if (!w->a) {
		free(w);
		errno = EINVAL;
		return NULL;
	}
	return w;
}

static void free_entries(struct async_wait *w)
{
	HASH_CLEAR_FREE(hh, w->entries, free);
	w->n_entries = 0;
}

static void free_scratch(struct async_wait *w)
{
	FREE_ALL(w->task_buf, w->ahead, w->changed, w->v, w->req);
	w->task_buf = NULL;
	w->ahead = NULL;
	w->changed = NULL;
	w->v = NULL;
	w->req = NULL;
}

void async_wait__free(struct async_wait *w)
{
	if (!w)
		return;
	free_entries(w);
	free_scratch(w);
	free(w);
}

const struct async_wait_stats *async_wait__stats(const struct async_wait *w)
{
	return &w->st;
}

static uint64_t rd64(const uint8_t *b, unsigned off)
{
	uint64_t v;

	memcpy(&v, b + off, 8);
	return v;
}

/* --- the lists ------------------------------------------------------------ */

/* Host TIDs of the thread states, by their native_thread_id (the target's namespace). */
static void list_tids(struct async_wait *w)
{
	const struct py_layout *l = &w->py->layout;
	struct py_tasks tk = {};

	if (l->tstate_native_thread_id == PY_OFF_NONE || py_tasks__read(w->py->pid, &tk))
		goto out;
	for (uint32_t i = 0; i < w->n_lists; i++) {
		uint64_t nt = 0;

		if (!w->lists[i].tstate ||
		    procmem_read_u64(w->py->pid, w->lists[i].tstate + l->tstate_native_thread_id,
				     &nt))
			continue;
		for (uint32_t k = 0; k < tk.n; k++)
			if ((uint64_t)tk.v[k].nstid == nt)
				w->lists[i].tid = (uint32_t)tk.v[k].tid;
	}
out:
	py_tasks__free(&tk);
}

/* At the start of a cycle: every thread's list, then the interpreter's. */
static void read_lists(struct async_wait *w)
{
	const struct py_layout *l = &w->py->layout;
	uint64_t ts[MAX_LISTS - 1], interp = 0;
	uint32_t n = 0;
	bool same;

	if (py_unwind__thread_states(w->py->pid, l, w->py->runtime_addr, ts, MAX_LISTS - 1, &n))
		w->st.list_errors++;
	same = n + 1 == w->n_lists;
	for (uint32_t i = 0; same && i < n; i++)
		same = w->lists[i].tstate == ts[i];
	if (same)
		return;
	for (uint32_t i = 0; i < n; i++)
		w->lists[i] = (struct list){ ts[i] + w->a->ts_tasks_head, ts[i], 0 };
	w->n_lists = n;
	if (!procmem_read_u64(w->py->pid, w->py->runtime_addr + l->runtime_interp_head, &interp) &&
	    interp)
		w->lists[w->n_lists++] = (struct list){ interp + w->a->interp_tasks_head, 0, 0 };
	list_tids(w);
}

/*
 * Requests for each thread's running task (not waiting: its time is in
 * the CPU samples), put first in r; how many.
 */
static uint32_t running_reqs(struct async_wait *w, struct procmem_req *r)
{
	for (uint32_t i = 0; i < w->n_lists; i++) {
		w->running[i] = 0;
		r[i] = (struct procmem_req){ w->lists[i].tstate + w->a->ts_running_task,
					     &w->running[i], 8, false };
		if (!w->lists[i].tstate)
			r[i].len = 0;
	}
	return w->n_lists;
}

static bool is_running(const struct async_wait *w, uint64_t task)
{
	for (uint32_t i = 0; i < w->n_lists; i++)
		if (w->running[i] == task)
			return true;
	return false;
}

/*
 * The next task of the walk into v (its bytes read), or false when this
 * tick's walk is over: the cycle ended (after the last list).
 */
static bool next_task(struct async_wait *w, struct visit *v, bool *cycle_end)
{
	const struct py_async_layout *a = w->a;
	uint64_t prev_seen, next;

	while (w->li < w->n_lists) {
		struct list *l = &w->lists[w->li];

		if (!w->node) {
			w->prev = l->head;
			if (procmem_read_u64(w->py->pid, l->head, &w->node) || !w->node) {
				w->st.list_errors++;
				w->node = l->head;
			}
		}
		if (w->node == l->head || w->node < a->task_node || (w->node & 7)) {
			w->li++;
			w->node = 0;
			w->last_e = NULL;
			continue;
		}
		v->task = w->node - a->task_node;
		if (procmem_read(w->py->pid, v->task, v->tb, a->task_size)) {
			w->st.list_errors++;
			w->li++;
			w->node = 0;
			w->last_e = NULL;
			continue;
		}
		next = py_async__task_next(a, v->tb, &prev_seen);
		/* It must say it follows the node we came from: else the list
		 * changed under us (or is not a list), and this one is done. */
		if (prev_seen != w->prev) {
			w->st.list_errors++;
			w->li++;
			w->node = 0;
			w->last_e = NULL;
			continue;
		}
		w->prev = w->node;
		w->node = next;
		v->next_node = next;
		v->tid = l->tid;
		return true;
	}
	*cycle_end = true;
	return false;
}

/* --- one tick -------------------------------------------------------------- */

/* Task bytes -> what the batched walk starts from. */
static void take_task(struct async_wait *w, struct visit *v)
{
	const struct py_async_layout *a = w->a;
	struct pc_task tf;

	/* Only what the walk fills: the task's name and awaiters stay unread. */
	v->t.n_frames = 0;
	v->t.n_awaiters = 0;
	v->t.chain_partial = false;
	v->t.addr = v->task;
	v->t.state = PY_TASK_SUSPENDED;
	pc_task_fields(&w->bpf, v->tb + w->bpf.task_lo, &tf);
	v->coro = tf.coro;
	v->name = tf.name;
	/* several: looked up in the set below */
	v->awaiter = tf.by_set ? 1 : tf.awaited_by;
	v->gen = v->coro;
	v->type0 = 0;
	v->active = v->gen != 0;
	v->name_fp = 0;
	if (v->awaiter == 1) {
		/* Rare (a task awaited by several): the whole task, read alone. */
		py_async__task_from(w->py->pid, NULL, a, v->task, v->tb, &v->t);
		v->awaiter = v->t.n_awaiters ? v->t.awaiters[0] : 0;
		v->active = false;
	}
}

/*
 * The walk's next tasks as the last pass found them, read in one batch:
 * each task read says which node follows it, so while the list is as it
 * was (every task's prev is the node before it, and its next the node we
 * expected) the walk needs no read per task.  Where it changed, the walk
 * goes on one task at a time (next_task).  Returns how many were taken.
 * The threads' running tasks come in the same batch.
 */
static uint32_t read_ahead(struct async_wait *w, unsigned max)
{
	const struct py_async_layout *a = w->a;
	uint32_t n = 0, took = 0, r0 = running_reqs(w, w->req);

	if (w->li >= w->n_lists || !w->node || w->node == w->lists[w->li].head) {
		procmem_read_many(w->py->pid, w->req, r0);
		return 0;
	}
	w->ahead[n++] = w->node;
	{
		struct wait_entry *e = w->last_e ? w->last_e->next_e : NULL;
		uint64_t task = w->node - a->task_node;

		if (!e || e->task != task)
			HASH_FIND(hh, w->entries, &task, sizeof(task), e);
		while (n < max && e && e->next_node && e->next_node != w->lists[w->li].head) {
			struct wait_entry *f = e->next_e;

			w->ahead[n++] = e->next_node;
			task = e->next_node - a->task_node;
			if (!f || f->task != task)
				HASH_FIND(hh, w->entries, &task, sizeof(task), f);
			e = f;
		}
	}
	for (uint32_t i = 0; i < n; i++)
		w->req[r0 + i] = (struct procmem_req){ w->ahead[i] - a->task_node, w->v[i].tb,
						       a->task_size, false };
	procmem_read_many(w->py->pid, w->req, r0 + n);
	for (uint32_t i = 0; i < n; i++) {
		struct visit *v = &w->v[i];
		uint64_t prev, next;

		if (!w->req[r0 + i].ok)
			break;
		next = py_async__task_next(a, v->tb, &prev);
		if (prev != w->prev || (i + 1 < n && next != w->ahead[i + 1]))
			break;
		v->task = w->ahead[i] - a->task_node;
		v->next_node = next;
		v->tid = w->lists[w->li].tid;
		w->prev = w->ahead[i];
		w->node = next;
		took++;
		take_task(w, v);
	}
	return took;
}

/*
 * Bytes of a coroutine read: what the layout needs, and more up to
 * GEN_READ_MAX as long as it stays in the page the needed bytes end in
 * (so it cannot fault where a read of the needed bytes would not): the
 * frame's value stack lies inside the object, and the slot naming what it
 * awaits mostly comes along, sparing a read per level.
 */
#define GEN_READ_MAX 512

static uint32_t gen_read_len(uint64_t gen, uint32_t need)
{
	uint64_t end = gen + need, page_end = (end + 4095) & ~4095ull;
	uint64_t want = gen + GEN_READ_MAX;

	if (end < gen || need >= GEN_READ_MAX)
		return need;
	return (uint32_t)((want < page_end ? want : page_end) - gen);
}

/*
 * All tasks' coroutines, one level per batch of reads; the first batch
 * also brings each task's name fingerprint, the second only what a level
 * awaits where its read did not already hold it.
 */
static void walk_levels(struct async_wait *w, uint32_t n)
{
	const struct py_async_layout *a = w->a;
	uint32_t need = w->bpf.gen_len;

	for (int level = 0; level < MAX_LEVELS; level++) {
		uint32_t k = 0, names = 0;

		for (uint32_t i = 0; i < n; i++) {
			struct visit *v = &w->v[i];

			if (v->active) {
				v->gen_len = gen_read_len(v->gen, need);
				w->req[k++] = (struct procmem_req){ v->gen, v->gen_buf, v->gen_len,
								    false };
			}
		}
		if (level == 0) {
			names = k;
			for (uint32_t i = 0; i < n; i++)
				w->req[k++] =
					(struct procmem_req){ w->v[i].name + 8, w->v[i].name_w,
							      sizeof(w->v[i].name_w), false };
		}
		if (!k)
			return;
		procmem_read_many(w->py->pid, w->req, k);
		if (level == 0) {
			for (uint32_t i = 0; i < n; i++) {
				struct visit *v = &w->v[i];

				v->name_fp = 0;
				if (w->req[names + i].ok && v->name)
					v->name_fp = pyspy_name_fp(
						v->name, (const __u64 *)v->name_w,
						w->py->str_type_addr, w->py->long_type_addr);
			}
		}
		k = 0;
		for (uint32_t i = 0; i < n; i++) {
			struct visit *v = &w->v[i];
			struct pc_gen g;

			if (!v->active)
				continue;
			v->active = false;
			v->yf_read = false;
			/* The step is the BPF side's (bpf/pycoro.h), over the bytes read. */
			if (!w->req[k++].ok || pc_gen_decode(&w->bpf, v->gen_buf, &v->type0, &g))
				continue; /* unreadable, or what it awaits is no coroutine */
			if (!v->t.n_frames)
				v->t.state = py_async__task_state(a, g.state);
			v->t.frames[v->t.n_frames].code = g.code;
			v->t.frames[v->t.n_frames].lasti = g.lasti;
			v->t.frames[v->t.n_frames].code_fp = 0;
			v->t.n_frames++;
			if (!g.yf_at || level + 1 == MAX_LEVELS)
				continue;
			v->active = true;
			v->yf_at = g.yf_at;
			/* In what was read already: no read for it. */
			if (g.yf_at >= v->gen && g.yf_at - v->gen + 8 <= v->gen_len) {
				v->yf = rd64(v->gen_buf, (unsigned)(g.yf_at - v->gen));
				v->yf_read = true;
			}
		}
		/* What the others await, from the top of their value stacks. */
		k = 0;
		for (uint32_t i = 0; i < n; i++)
			if (w->v[i].active && !w->v[i].yf_read)
				w->req[k++] = (struct procmem_req){ w->v[i].yf_at, &w->v[i].yf, 8,
								    false };
		if (k)
			procmem_read_many(w->py->pid, w->req, k);
		k = 0;
		for (uint32_t i = 0; i < n; i++) {
			struct visit *v = &w->v[i];
			bool ok;

			if (!v->active)
				continue;
			ok = v->yf_read || w->req[k++].ok;
			v->active = ok && pc_awaited(v->yf) && pc_awaited(v->yf) != v->gen;
			v->gen = pc_awaited(v->yf);
		}
	}
}

static bool same_frames(const struct wait_entry *e, const struct py_async_task *t)
{
	if (e->n_frames != t->n_frames)
		return false;
	for (uint32_t i = 0; i < t->n_frames; i++)
		if (e->frames[i].code != t->frames[i].code ||
		    e->frames[i].lasti != t->frames[i].lasti)
			return false;
	return true;
}

/*
 * The locations of each changed task's frames: its code objects'
 * fingerprints read now in one batch, so the code cache knows which
 * occupant of each address the frame saw (as a verified sample).
 */
static void resolve_changed(struct async_wait *w, struct wait_entry **es, uint32_t n,
			    uint64_t now_ns)
{
	struct pyspy_frame fr[MAX_LEVELS];
	uint8_t(*fpb)[PYSPY_CODE_FP_BUF];
	uint32_t k = 0;
	const struct pyspy_proc *p = &w->bpf;

	fpb = calloc((size_t)n * MAX_LEVELS, sizeof(*fpb));
	if (!fpb)
		return;
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t j = 0; j < es[i]->n_frames; j++)
			w->req[k] = (struct procmem_req){ es[i]->frames[j].code + p->code_fp_lo,
							  fpb[k], p->code_fp_len, false },
			k++;
	procmem_read_many(w->py->pid, w->req, k);
	k = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct wait_entry *e = es[i];
		uint32_t m = e->n_frames;

		/* innermost first, as the cache takes them */
		for (uint32_t j = 0; j < m; j++, k++) {
			uint64_t name;
			int32_t line;

			fr[m - 1 - j] = e->frames[j];
			memcpy(&name, fpb[k] + p->code_fp_name, 8);
			memcpy(&line, fpb[k] + p->code_fp_line, 4);
			fr[m - 1 - j].code_fp = w->req[k].ok ? pyspy_code_fp(name, line) : 0;
		}
		if (m)
			code_cache__resolve(w->cache, fr, m, now_ns, true, e->locs);
	}
	free(fpb);
}

static uint32_t marker(struct async_wait *w, uint32_t *slot, const char *what)
{
	if (*slot == UINT32_MAX)
		*slot = profile__location(w->prof, profile__function(w->prof, what, "", 0), -1);
	return *slot;
}

/* "[await task NAME]" when it awaits one task we know, else "[await]". */
static uint32_t reason_loc(struct async_wait *w, struct wait_entry *e)
{
	struct wait_entry *o = NULL;
	uint64_t want = e->n_awaits == 1 ? e->awaits : 0;
	char buf[PY_ASYNC_NAME_MAX + 32];
	const struct profile_location *loc;
	const struct profile_function *fn;

	if (e->state == PY_TASK_PENDING)
		return marker(w, &w->pending_loc, "[not started]");
	if (want)
		HASH_FIND(hh, w->entries, &want, sizeof(want), o);
	if (!o)
		return marker(w, &w->await_loc, "[await]");
	if (e->reason_loc != UINT32_MAX && e->reason_for == want)
		return e->reason_loc;
	loc = profile__get_location(w->prof, o->name_loc);
	fn = loc ? profile__get_function(w->prof, loc->function) : NULL;
	/* o's marker is "task NAME": the reason reuses its text. */
	snprintf(buf, sizeof(buf), "[await %s]", fn ? profile__str(w->prof, fn->name) : "task ?");
	e->reason_loc = profile__location(w->prof, profile__function(w->prof, buf, "", 0), -1);
	e->reason_for = want;
	return e->reason_loc;
}

/* e's logical stack, innermost first: the reason, its frames, its task, those awaiting it. */
static uint32_t stack_of(struct async_wait *w, struct wait_entry *e)
{
	uint64_t seen[PYSPY_ASYNC_MAX_TASKS];
	uint32_t n = 0, depth = 0;

	w->locs[n++] = reason_loc(w, e);
	while (e && depth < PYSPY_ASYNC_MAX_TASKS) {
		for (uint32_t i = 0; i < depth; i++)
			if (seen[i] == e->task)
				return n; /* a cycle of awaiters */
		seen[depth++] = e->task;
		for (uint32_t i = 0; i < e->n_frames; i++)
			if (e->locs[i] != UINT32_MAX)
				w->locs[n++] = e->locs[i];
		if (e->name_loc != UINT32_MAX)
			w->locs[n++] = e->name_loc;
		uint64_t up = e->awaiter;

		if (!up)
			break;
		HASH_FIND(hh, w->entries, &up, sizeof(up), e);
	}
	return n;
}

/* The wait gathered so far, as a wait to charge (*s), at the stack e has now: false if none. */
static bool flush(struct async_wait *w, struct wait_entry *e, struct async_wait_sample *s)
{
	if (!e->pending_ns)
		return false;
	*s = (struct async_wait_sample){ e->tid, w->locs, stack_of(w, e), e->pending_ns };
	e->pending_ns = 0;
	return true;
}

/* e charged the time up to now_ns; true when what it gathered is to go out (FLUSH_NS). */
static bool charge(struct async_wait *w, struct wait_entry *e, uint64_t now_ns)
{
	uint64_t from = e->last_ns ? e->last_ns : w->cycle_start_ns;

	e->last_ns = now_ns;
	if (now_ns <= from || (e->state != PY_TASK_SUSPENDED && e->state != PY_TASK_PENDING))
		return false;
	e->pending_ns += now_ns - from < MAX_WAIT_NS ? now_ns - from : MAX_WAIT_NS;
	e->pending_state = e->state;
	return e->pending_ns >= FLUSH_NS;
}

static struct wait_entry *entry_of(struct async_wait *w, uint64_t task)
{
	struct wait_entry *e;

	HASH_FIND(hh, w->entries, &task, sizeof(task), e);
	if (e || w->n_entries >= MAX_ENTRIES)
		return e;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->task = task;
	e->reason_loc = UINT32_MAX;
	HASH_ADD(hh, w->entries, task, sizeof(e->task), e);
	w->n_entries++;
	return e;
}

/*
 * A cycle through every list is over: the tasks it did not meet are to
 * go (their waits out first, in the pass), and no entry may keep a link
 * to one of them.
 */
static void cycle_over(struct async_wait *w)
{
	struct wait_entry *e, *tmp;

	/* Links to the entries about to go are cut before any goes. */
	HASH_ITER (hh, w->entries, e, tmp)
		e->dead = e->cycle != w->cycle;
	HASH_ITER (hh, w->entries, e, tmp)
		if (e->next_e && e->next_e->dead)
			e->next_e = NULL;
	w->pass.next_e = w->entries;
}

/* ... and the next cycle starts. */
static void cycle_next(struct async_wait *w, uint64_t now_ns)
{
	w->st.cycles++;
	w->cycle++;
	w->cycle_start_ns = now_ns;
	w->li = 0;
	w->node = 0;
	w->last_e = NULL;
}

/* All of the tick's scratch or none of it (a tick after ENOMEM tries again). */
static int ensure_scratch(struct async_wait *w, unsigned max)
{
	if (w->v)
		return 0;
	w->task_buf = calloc(max, w->a->task_size);
	w->ahead = calloc(max, sizeof(*w->ahead));
	w->changed = calloc(max, sizeof(*w->changed));
	w->req = calloc((size_t)max * MAX_LEVELS > 1024 ? (size_t)max * MAX_LEVELS : 1024,
			sizeof(*w->req));
	w->v = calloc(max, sizeof(*w->v));
	if (!w->task_buf || !w->ahead || !w->changed || !w->req || !w->v) {
		free_scratch(w);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < max; i++)
		w->v[i].tb = w->task_buf + (size_t)i * w->a->task_size;
	return 0;
}

/*
 * A visit taken in, first half: its entry (made for a task met first),
 * linked after the one before it, and what its stack is now.  true when
 * the wait it gathered must go out before the entry changes (under the
 * stack it had).
 */
static bool visit_begin(struct async_wait *w, struct visit *v)
{
	struct wait_entry *e = entry_of(w, v->task);

	v->e = e;
	if (!e)
		return false;
	/* In walk order: the entry before it is followed by it. */
	if (w->last_e && w->last_e->next_node == v->task + w->a->task_node)
		w->last_e->next_e = e;
	w->last_e = e;
	v->state = is_running(w, v->task) ? PY_TASK_RUNNING : v->t.state;
	/* The same name as last time: its location, without a lookup. */
	v->name_loc = e->name_fp == v->name_fp && e->name_loc != UINT32_MAX && v->name_fp
			      ? e->name_loc
			      : async_proc__task_location(w->ap, v->task, v->name_fp, false);
	return e->pending_ns &&
	       (!same_frames(e, &v->t) || e->awaiter != v->awaiter || e->name_loc != v->name_loc ||
		e->pending_state != v->state || e->tid != v->tid);
}

/* ... second half: the entry takes what the visit read. */
static void visit_end(struct async_wait *w, struct visit *v)
{
	struct wait_entry *e = v->e;

	if (!e)
		return;
	e->state = v->state;
	e->name_loc = v->name_loc;
	e->name_fp = v->name_fp;
	e->cycle = w->cycle;
	e->tid = v->tid;
	e->awaiter = v->awaiter;
	e->next_node = v->next_node;
	if (!same_frames(e, &v->t)) {
		e->n_frames = v->t.n_frames < MAX_LEVELS ? v->t.n_frames : MAX_LEVELS;
		memcpy(e->frames, v->t.frames, e->n_frames * sizeof(e->frames[0]));
		w->changed[w->pass.n_changed++] = e;
	}
}

/*
 * Who awaits whom, once every task of the tick has its entry (a task's
 * awaiter may be visited after it).
 */
static void count_awaiters(struct async_wait *w, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct visit *v = &w->v[i];
		struct wait_entry *aw = NULL;

		if (v->e && v->awaiter)
			HASH_FIND(hh, w->entries, &v->awaiter, sizeof(v->awaiter), aw);
		if (aw) {
			aw->next_awaits = v->task;
			aw->next_n_awaits++;
		}
	}
}

/* A pass left unread: run to its end, its waits dropped (see asyncwait.h). */
static void pass_finish(struct async_wait *w)
{
	struct async_wait_sample s;

	while (async_wait__next(w, &s))
		;
}

void async_wait__tick(struct async_wait *w, uint64_t now_ns, unsigned max)
{
	uint32_t n = 0;
	bool cycle_end = false;

	pass_finish(w);
	if (!w->a || ensure_scratch(w, w->cap))
		return;
	if (max > w->cap)
		max = w->cap;
	if (w->li == 0 && w->node == 0)
		read_lists(w);
	n = read_ahead(w, max);
	while (n < max && next_task(w, &w->v[n], &cycle_end)) {
		take_task(w, &w->v[n]);
		n++;
	}
	if (!cycle_end)
		w->st.deferred += w->n_entries > n ? w->n_entries - n : 0;
	walk_levels(w, n);
	/* What is left (entries taking the visits, waits going out) is the pass's. */
	w->pass = (struct pass){
		.step = STEP_VISIT,
		.now_ns = now_ns,
		.n = n,
		.cycle_end = cycle_end,
	};
}

void async_wait__settle(struct async_wait *w, uint64_t now_ns)
{
	pass_finish(w);
	w->pass = (struct pass){ .step = STEP_SETTLE, .now_ns = now_ns, .next_e = w->entries };
}

/*
 * The pass goes on to its next wait.  Each step is the tick's (or the
 * settle's) own work, done in the order a tick did it whole: a wait is
 * made (stack_of) at the moment it must go out, before the entries it
 * names change or go.
 */
bool async_wait__next(struct async_wait *w, struct async_wait_sample *s)
{
	struct pass *p = &w->pass;
	struct wait_entry *e;

	for (;;) {
		switch (p->step) {
		case STEP_VISIT:
			if (p->i == p->n) {
				count_awaiters(w, p->n);
				if (p->n_changed)
					resolve_changed(w, w->changed, p->n_changed, p->now_ns);
				p->step = STEP_CHARGE;
				p->i = 0;
				continue;
			}
			if (!p->flushed) {
				p->flushed = true;
				if (visit_begin(w, &w->v[p->i]) && flush(w, w->v[p->i].e, s))
					return true;
			}
			visit_end(w, &w->v[p->i]);
			p->i++;
			p->flushed = false;
			continue;
		case STEP_CHARGE:
			if (p->i == p->n) {
				w->st.read += p->n;
				p->step = p->cycle_end ? STEP_CYCLE : STEP_DONE;
				if (p->cycle_end)
					cycle_over(w);
				else
					w->st.tasks = w->n_entries;
				continue;
			}
			e = w->v[p->i++].e;
			if (e && charge(w, e, p->now_ns) && flush(w, e, s))
				return true;
			continue;
		case STEP_CYCLE:
			/*
			 * Gone: what each waited before it went, at its stack,
			 * while the tasks it names (awaiting it, or awaited) are
			 * all still known; none goes before all are out.
			 */
			e = p->next_e;
			if (!e) {
				p->next_e = w->entries;
				p->step = STEP_FORGET;
				continue;
			}
			p->next_e = e->hh.next;
			if (e->dead && flush(w, e, s))
				return true;
			continue;
		case STEP_FORGET:
			e = p->next_e;
			if (!e) {
				cycle_next(w, p->now_ns);
				/* After the cycle's end: the tasks it did not meet are forgotten. */
				w->st.tasks = w->n_entries;
				p->step = STEP_DONE;
				continue;
			}
			p->next_e = e->hh.next;
			if (e->dead) {
				HASH_DEL(w->entries, e);
				free(e);
				w->n_entries--;
				continue;
			}
			e->awaits = e->next_awaits;
			e->n_awaits = e->next_n_awaits;
			e->next_awaits = 0;
			e->next_n_awaits = 0;
			continue;
		case STEP_SETTLE:
			e = p->next_e;
			if (!e) {
				p->step = STEP_DONE;
				continue;
			}
			p->next_e = e->hh.next;
			if (e->last_ns)
				charge(w, e, p->now_ns);
			if (flush(w, e, s))
				return true;
			continue;
		default:
			return false;
		}
	}
}

void async_wait__remap(struct async_wait *w, struct profile_remap *m)
{
	struct wait_entry *e;

	if (w->await_loc != UINT32_MAX)
		w->await_loc = profile_remap__weak_location(m, w->await_loc);
	if (w->pending_loc != UINT32_MAX)
		w->pending_loc = profile_remap__weak_location(m, w->pending_loc);
	/* Locations are made again on the next read: the frames are forgotten. */
	for (e = w->entries; e; e = e->hh.next) {
		e->n_frames = 0;
		e->reason_loc = UINT32_MAX;
		e->name_loc = profile_remap__weak_location(m, e->name_loc);
		e->name_fp = 0;
	}
}
