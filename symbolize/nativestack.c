// SPDX-License-Identifier: MIT
/*
 * nativestack.c - native and kernel frames, and the merge with Python's.
 *
 * Cost: a sample's walk is a mapping lookup and a cached rule per frame;
 * each (object, address) is named once, and the location id is cached,
 * so steady state reads no file and no target memory.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "symbolize/base/hash.h" /* before uthash.h: its HASH_FUNCTION */
#include <uthash.h>

#include "nativestack.h"
#include "symbolize/cpython/pytasks.h"
#include "symbolize/native/kallsyms.h"
#include "symbolize/native/procmaps.h"
#include "symbolize/proc/procmem.h"
#include "symbolize/base/log.h"

/* Cached (object, address) names at most; past it the cache starts over. */
#define PC_CACHE_MAX (1u << 20)

struct pc_key {
	const struct native_object *obj; /* NULL: a kernel address */
	uint64_t addr;			 /* link-time vaddr, or kernel address */
};

struct pc_entry {
	UT_hash_handle hh;
	struct pc_key key;
	uint32_t loc;
	uint8_t kind; /* enum native_frame_kind */
};

struct native_ctx {
	struct profile *prof;
	bool all, kernel;
	struct native_objects *objs;
	struct kallsyms *ksyms;
	struct pc_entry *pcs; /* at most PC_CACHE_MAX */
	/* Bumped whenever a pc_entry is freed: the procs' slots check it. */
	uint32_t epoch;
	/* Marker locations by stop, then the unmatched one; UINT32_MAX: none yet. */
	uint32_t stop_loc[SW_STOP__COUNT + 1];
	struct native_stats st;
};

/*
 * What one return address (as looked up: minus one for callers) of one
 * process came to last time: its object, rule and name.  Valid while the
 * process's mappings and the ctx's entries are what they were (gen).
 */
struct pc_slot {
	uint64_t pc, gen;
	struct native_object *obj;
	uint64_t vaddr;
	struct pc_entry *e; /* NULL: not named yet */
	struct sw_rule rule;
	uint8_t stop;
	uint8_t flags;
};

/* Slots per process, made on its first native sample. */
#define PC_SLOTS 512

struct native_proc {
	struct native_ctx *c;
	struct pc_slot *slots;
	struct native_maps *maps;
	bool frame_per_call; /* 3.8-3.10: every Python frame is one evaluation call */
	/* The copy's size, learnt: what walks needed in this window of samples. */
	uint32_t hint, need, window;
	bool short_copy; /* ... and whether one of them needed more than it got */
};

/*
 * Samples per window of the copy's size, the room added to what they
 * needed, and the least copied (a few frames of libc and the interpreter
 * above the Python ones vary from sample to sample).
 */
#define HINT_WINDOW 256
#define HINT_ROOM   2048
#define HINT_MIN    4096

/*
 * The objects the table let go of during a walk, freed once nothing names
 * them: no entry is keyed by an object that is gone, nor by a new one made
 * at its address.
 */
static void free_retired(struct native_ctx *c)
{
	struct native_object *o;

	while ((o = native_objects__take_retired(c->objs))) {
		c->epoch++;
		HASH_FREE_IF(hh, c->pcs, e, e->key.obj == o, free);
		native_object__free(o);
	}
}

struct native_ctx *native_ctx__new(struct profile *prof, bool native, bool all, bool kernel)
{
	struct native_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->prof = prof;
	c->all = all;
	memset(c->stop_loc, 0xff, sizeof(c->stop_loc));
	if (native) {
		c->objs = native_objects__new(0);
		if (!c->objs) {
			free(c);
			return NULL;
		}
	}
	if (kernel) {
		c->ksyms = kallsyms__load(NULL);
		if (!c->ksyms)
			log_error("%s: recording without kernel frames",
				  errno == EACCES ? "the kernel hides its addresses (kptr_restrict)"
						  : "cannot read /proc/kallsyms");
		c->kernel = c->ksyms != NULL;
	}
	return c;
}

static void pcs_clear(struct native_ctx *c)
{
	c->epoch++;
	HASH_CLEAR_FREE(hh, c->pcs, free);
}

void native_ctx__free(struct native_ctx *c)
{
	if (!c)
		return;
	pcs_clear(c);
	native_objects__free(c->objs);
	kallsyms__free(c->ksyms);
	free(c);
}

const struct native_stats *native_ctx__stats(const struct native_ctx *c)
{
	return &c->st;
}

void native_ctx__remap(struct native_ctx *c, struct profile_remap *m)
{
	struct pc_entry *e;

	c->epoch++;
	/* Names are held weakly: one whose location is gone is forgotten. */
	for (e = c->pcs; e; e = e->hh.next)
		e->loc = profile_remap__weak_location(m, e->loc);
	HASH_FREE_IF(hh, c->pcs, gone, gone->loc == UINT32_MAX, free);
	for (int i = 0; i <= SW_STOP__COUNT; i++)
		if (c->stop_loc[i] != UINT32_MAX)
			c->stop_loc[i] = profile_remap__weak_location(m, c->stop_loc[i]);
}

struct native_proc *native_proc__new(struct native_ctx *c, pid_t pid, const char *interp,
				     uint32_t version_hex)
{
	struct native_proc *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->c = c;
	p->frame_per_call = version_hex < 0x030b0000;
	if (c->objs) {
		p->maps = native_maps__new(c->objs, pid);
		if (!p->maps) {
			free(p);
			return NULL;
		}
		native_maps__set_interp(p->maps, interp);
	}
	return p;
}

uint32_t native_proc__ustack_hint(const struct native_proc *p)
{
	return p->hint;
}

bool native_proc__kernel(const struct native_proc *p)
{
	return p->c->kernel;
}

/*
 * One walk's evidence: it reached the frame that ran its outermost Python
 * frames, whose stack ends at need bytes above sp (0: it did not reach it,
 * the copy was short).
 */
static void learn(struct native_proc *p, uint32_t need)
{
	if (p->c->all)
		return;
	if (!need) {
		p->short_copy = true;
		p->hint = 0; /* at once: the next samples get the whole copy */
	} else if (need > p->need) {
		p->need = need;
	}
	if (++p->window < HINT_WINDOW)
		return;
	if (!p->short_copy && p->need) {
		uint32_t h = (p->need + HINT_ROOM + 1023) & ~1023u;

		p->hint = h < HINT_MIN ? HINT_MIN : h >= PYSPY_USTACK_MAX ? 0 : h;
	}
	p->need = p->window = 0;
	p->short_copy = false;
}

void native_proc__free(struct native_proc *p)
{
	if (!p)
		return;
	native_maps__free(p->maps);
	free(p->slots);
	free(p);
}

uint32_t native_stack__split(const struct pyspy_frame *frames, uint32_t n,
			     struct pyspy_frame *clean, uint8_t *entry, uint64_t *shim)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < n; i++) {
		if (frames[i].code & PYSPY_FRAME_SHIM) {
			if (k && !shim[k - 1])
				shim[k - 1] =
					frames[i].code & ~(PYSPY_FRAME_SHIM | PYSPY_FRAME_ENTRY);
			continue;
		}
		clean[k] = frames[i];
		clean[k].code &= ~PYSPY_FRAME_ENTRY;
		entry[k] = frames[i].code & PYSPY_FRAME_ENTRY;
		shim[k] = 0;
		k++;
	}
	return k;
}

/* --- naming ---------------------------------------------------------------- */

/* The interpreter's evaluation loop, whose frames Python frames replace. */
static bool is_eval(const char *name)
{
	static const char eval[] = "_PyEval_EvalFrameDefault";

	if (!name)
		return false;
	/* .cold, .part.N, .constprop.N: pieces the compiler split off. */
	if (!strncmp(name, eval, sizeof(eval) - 1) &&
	    (name[sizeof(eval) - 1] == '\0' || name[sizeof(eval) - 1] == '.'))
		return true;
	/* 3.14+ built with tail calls: one function per opcode. */
	return !strncmp(name, "_TAIL_CALL_", 11);
}

/*
 * The interpreter's own ways of calling something, whose frames sit
 * between a caller and what it called and say nothing the two do not:
 * CPython's call protocol (Objects/call.c, vectorcall, method and slot
 * wrappers, 3.8-3.10's call helpers in ceval.c).  A prefix list, not a
 * rule of structure: `list_sort` between a caller and its key function,
 * or `time_sleep` under its caller, is work and stays.
 */
static bool is_call_machinery(const char *name)
{
	static const char *const prefixes[] = {
		"_PyEval_",
		"PyEval_",
		"_PyObject_Call",
		"PyObject_Call",
		"_PyObject_Vectorcall",
		"PyObject_Vectorcall",
		"_PyObject_MakeTpCall",
		"_PyObject_FastCall",
		"_PyFunction_",
		"PyVectorcall_",
		"_PyVectorcall_",
		"vectorcall_",
		"cfunction_",
		"method_vectorcall",
		"_PyCFunction",
		"PyCFunction_",
		"slot_tp_",
		"wrapper_call",
		"wrapperdescr_call",
		"method_call",
		"call_function",
		"do_call_core",
		"function_code_fastcall",
		"object_vacall",
		"_PyStack_",
		"_Py_CheckFunctionResult",
		"_PyMethodDef_RawFastCall",
		"_PyMethodDescr_",
		"method_get",
		"call_unbound",
	};

	if (!name)
		return false;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(*prefixes); i++)
		if (!strncmp(name, prefixes[i], strlen(prefixes[i])))
			return true;
	return false;
}

enum native_frame_kind native_frame_kind(const char *symbol)
{
	if (!symbol)
		return NATIVE_FRAME_UNNAMED;
	if (is_eval(symbol))
		return NATIVE_FRAME_EVAL;
	return is_call_machinery(symbol) ? NATIVE_FRAME_CALL : NATIVE_FRAME_OTHER;
}

static struct pc_entry *pc_add(struct native_ctx *c, const struct pc_key *k, uint32_t loc,
			       uint8_t kind)
{
	struct pc_entry *e;

	if (loc == UINT32_MAX)
		return NULL;
	if (HASH_COUNT(c->pcs) >= PC_CACHE_MAX)
		pcs_clear(c);
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->key = *k;
	e->loc = loc;
	e->kind = kind;
	HASH_ADD(hh, c->pcs, key, sizeof(e->key), e);
	return e;
}

/* The pprof mapping of o, made on its first frame. */
static uint32_t mapping_of(struct native_ctx *c, struct native_object *o)
{
	uint64_t start = 0, limit = 0, offset = 0;

	if (!native_object__tag(o)) {
		native_object__text(o, &start, &limit, &offset);
		native_object__set_tag(o, profile__mapping(c->prof, native_object__name(o),
							   native_object__build_id(o), start, limit,
							   offset));
	}
	return native_object__tag(o);
}

/* `symbol (file.c:line)`, `symbol (object)`, or `object+0xADDR`. */
static struct pc_entry *user_pc(struct native_ctx *c, struct native_object *o, uint64_t vaddr)
{
	struct pc_key k = { o, vaddr };
	const char *sym, *file;
	struct pc_entry *e;
	char buf[128];
	uint32_t fn;
	int line;

	HASH_FIND(hh, c->pcs, &k, sizeof(k), e);
	if (e)
		return e;
	sym = native_object__symbol(o, vaddr);
	line = -1;
	if (!sym) {
		snprintf(buf, sizeof(buf), "%s+0x%" PRIx64, native_object__name(o), vaddr);
		fn = profile__function_of(c->prof, PROFILE_FN_NATIVE, buf, "", 0);
	} else if (native_object__line(o, vaddr, &file, &line)) {
		fn = profile__function_of(c->prof, PROFILE_FN_NATIVE, sym, file, 0);
	} else {
		line = -1;
		fn = profile__function_of(c->prof, PROFILE_FN_NATIVE, sym, native_object__name(o),
					  0);
	}
	if (fn == UINT32_MAX)
		return NULL;
	return pc_add(c, &k, profile__location_at(c->prof, fn, line, mapping_of(c, o), vaddr),
		      native_frame_kind(sym));
}

/*
 * The location of the kernel function name, ` [k]` appended (dump knows
 * kernel frames by name only: /proc/PID/task/TID/stack).
 */
static uint32_t kernel_named(struct native_ctx *c, const char *name)
{
	char buf[160];
	uint32_t fn;

	snprintf(buf, sizeof(buf), "%s [k]", name);
	fn = profile__function_of(c->prof, PROFILE_FN_KERNEL, buf, "", 0);
	return fn == UINT32_MAX ? UINT32_MAX : profile__location(c->prof, fn, -1);
}

static uint32_t kernel_pc(struct native_ctx *c, uint64_t addr, const char **name)
{
	struct pc_key k = { NULL, addr };
	struct pc_entry *e;

	*name = kallsyms__name(c->ksyms, addr);
	HASH_FIND(hh, c->pcs, &k, sizeof(k), e);
	if (e)
		return e->loc;
	e = pc_add(c, &k, kernel_named(c, *name ? *name : "[unknown]"), NATIVE_FRAME_OTHER);
	return e ? e->loc : UINT32_MAX;
}

/*
 * The marker that ends a native part cut short (s == SW_STOP__COUNT: the
 * walk ended, but above some of the Python frames' evaluation calls).
 */
static uint32_t stop_marker(struct native_ctx *c, unsigned s)
{
	char buf[96];
	uint32_t fn;

	if (c->stop_loc[s] != UINT32_MAX)
		return c->stop_loc[s];
	snprintf(buf, sizeof(buf), "[native: %s]",
		 s < SW_STOP__COUNT ? sw_stop_name(s) : "evaluation frames not found");
	fn = profile__function(c->prof, buf, "", 0);
	c->stop_loc[s] = fn == UINT32_MAX ? UINT32_MAX : profile__location(c->prof, fn, -1);
	return c->stop_loc[s];
}

/* --- the walk -------------------------------------------------------------- */

struct frame_info {
	struct native_object *obj; /* NULL: the lookup failed */
	uint64_t vaddr;
	unsigned flags;	      /* NATIVE_MAP_* */
	struct pc_slot *slot; /* where its name is cached, or NULL */
	uint64_t pc;	      /* as looked up: the slot is this frame's while it holds pc */
};

struct walk {
	struct native_proc *p;
	struct frame_info fi[SW_MAX_FRAMES];
	uint32_t n;
};

static uint64_t slot_gen(const struct native_proc *p)
{
	return (uint64_t)p->c->epoch << 32 | native_maps__generation(p->maps);
}

/*
 * The rule for pc, and where the frame is: from the process's slot for it
 * when nothing changed since (one compare, where a lookup is a search of
 * the mappings, of the object's rules and of the names).
 */
static enum sw_stop rule_of(struct walk *w, uint64_t pc, struct sw_rule *r)
{
	struct native_proc *p = w->p;
	struct frame_info *f = &w->fi[w->n < SW_MAX_FRAMES ? w->n : SW_MAX_FRAMES - 1];
	struct pc_slot *sl = p->slots ? &p->slots[(pc ^ pc >> 9) & (PC_SLOTS - 1)] : NULL;
	uint64_t gen = slot_gen(p);
	enum sw_stop stop;
	int err;

	w->n++;
	f->slot = sl;
	f->pc = pc;
	if (sl && sl->pc == pc && sl->gen == gen && sl->obj) {
		f->obj = sl->obj;
		f->vaddr = sl->vaddr;
		f->flags = sl->flags;
		*r = sl->rule;
		return sl->stop;
	}
	f->obj = NULL;
	err = native_maps__find(p->maps, pc, &f->obj, &f->vaddr, &f->flags);
	if (err) {
		f->obj = NULL;
		f->slot = NULL;
		return SW_STOP_NO_MAP;
	}
	stop = native_object__rule(f->obj, f->vaddr, r);
	if (sl)
		*sl = (struct pc_slot){ pc,   gen, f->obj,	  f->vaddr,
					NULL, *r,  (uint8_t)stop, (uint8_t)f->flags };
	return stop;
}

/* Kernel frames, innermost first, without the tracing machinery on top. */
static uint32_t kernel_frames(struct native_ctx *c, const uint64_t *ks, uint32_t n, uint32_t *out,
			      uint32_t cap)
{
	static const char *const tracing[] = { "bpf_",	       "__bpf_",      "__traceiter_",
					       "__probestub_", "perf_trace_", "trace_call_bpf" };
	uint32_t k = 0;
	bool top = true;

	for (uint32_t i = 0; i < n && k < cap; i++) {
		const char *name;
		uint32_t loc = kernel_pc(c, ks[i], &name);
		bool skip = false;

		if (top && name)
			for (size_t t = 0; t < sizeof(tracing) / sizeof(*tracing); t++)
				skip |= !strncmp(name, tracing[t], strlen(tracing[t]));
		if (skip)
			continue;
		top = false;
		if (loc != UINT32_MAX)
			out[k++] = loc;
	}
	return k;
}

/*
 * The Python frames of each evaluation call: seg_end[k] is one past the
 * last, seg_shim[k] its entry frame's address (0: not known).
 */
static uint32_t segments(const struct native_proc *p, const struct native_py *py, uint32_t *seg_end,
			 uint64_t *seg_shim)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < py->n; i++)
		if (p->frame_per_call || py->entry[i] || py->shim[i] || i == py->n - 1) {
			seg_shim[k] = py->shim[i];
			seg_end[k++] = i + 1;
		}
	return k;
}

/*
 * Is native frame i the evaluation call of segment si?  Where the entry
 * frame's address is known, it is if that address is inside frame i's
 * stack: true of a stripped interpreter, or of one whose hot/cold split
 * left the call in a part no symbol names.  Else, by name.
 */
static bool runs_segment(const struct pc_entry *e, uint64_t shim, const uint64_t *sps, uint32_t i)
{
	if (shim)
		return sps[i + 1] && shim >= sps[i] && shim < sps[i + 1];
	return e->kind == NATIVE_FRAME_EVAL;
}

uint32_t native_stack__merge(struct native_proc *p, const struct native_in *in,
			     const struct native_py *py, uint32_t *out, uint32_t cap)
{
	struct native_ctx *c = p->c;
	uint32_t seg_end[PYSPY_MAX_FRAMES], n_seg = 0, si = 0, k = 0, n_pcs = 0, py_at = 0;
	uint64_t seg_shim[PYSPY_MAX_FRAMES];
	uint64_t pcs[SW_MAX_FRAMES], sps[SW_MAX_FRAMES + 1];
	struct walk w = { .p = p };
	struct sw_walk sw;
	struct sw_rule rule;
	enum sw_stop stop = SW_STOP_END;
	uint32_t need = 0;

	c->st.samples++;
	if (c->kernel)
		k = kernel_frames(c, in->kstack, in->kstack_n, out, cap);
	for (uint32_t i = 0; i < in->n_kernel_names && k < cap; i++) {
		uint32_t loc = kernel_named(c, in->kernel_names[i]);

		if (loc != UINT32_MAX)
			out[k++] = loc;
	}
	n_seg = py->n ? segments(p, py, seg_end, seg_shim) : 0;
	if (!p->maps)
		goto rest;
	if (!in->have_regs) {
		stop = SW_STOP_RUNNING;
		goto rest;
	}
	native_maps__sync(p->maps, in->mm_seq);
	if (!p->slots)
		p->slots = calloc(PC_SLOTS, sizeof(*p->slots));
	sw_walk__init(&sw, &in->regs, &in->stack, pcs, sps, SW_MAX_FRAMES);
	while (sw_walk__next(&sw))
		sw_walk__step(&sw, rule_of(&w, sw.pc, &rule), &rule);
	stop = sw.stop;
	n_pcs = sw.n;
	for (uint32_t i = 0; i < n_pcs && k < cap; i++) {
		const struct frame_info *f = &w.fi[i];
		/*
		 * The slot is this frame's if it still holds its pc (another
		 * frame of the walk may have taken it) and nothing was freed
		 * since (naming a frame before this one may clear the entries).
		 */
		struct pc_slot *sl = f->slot && f->slot->pc == f->pc && f->slot->gen == slot_gen(p)
					     ? f->slot
					     : NULL;
		struct pc_entry *e = sl ? sl->e : NULL;
		bool interp = f->flags & NATIVE_MAP_INTERP;

		if (!e && f->obj) {
			e = user_pc(c, f->obj, f->vaddr);
			if (sl && sl->gen == slot_gen(p))
				sl->e = e;
		}
		if (!e)
			continue; /* the frame the walk stopped at: in no object */
		if (si < n_seg && runs_segment(e, seg_shim[si], sps, i)) {
			while (py_at < seg_end[si] && k < cap)
				out[k++] = py->locs[py_at++];
			if (++si == n_seg && sps[i + 1])
				need = (uint32_t)(sps[i + 1] - in->regs.sp);
			if (c->all && k < cap)
				out[k++] = e->loc;
			continue;
		}
		if (!c->all) {
			/*
			 * The interpreter's call machinery; and what a stripped
			 * interpreter does not name, mostly static call helpers:
			 * a frame without a name says nothing.
			 */
			if (interp && e->kind != NATIVE_FRAME_OTHER)
				continue;
			/* Below the outermost Python frame: the runtime's start-up. */
			if (n_seg && si == n_seg)
				continue;
		}
		out[k++] = e->loc;
	}
	/* The walk's frames are named: the objects let go of during it can go. */
	free_retired(c);
	/*
	 * A copy that ends below every Python frame lost nothing shown by
	 * default: counted apart from the walks it cut short.
	 */
	if (stop == SW_STOP_STACK && n_seg && si == n_seg && !c->all)
		c->st.trimmed++;
	else
		c->st.stops[stop]++;
	if (n_seg && in->stack.len && si == n_seg && need)
		learn(p, need);
	else if (n_seg && si < n_seg && stop == SW_STOP_STACK)
		learn(p, 0);
rest:
	if (si < n_seg) {
		/* The walk ended above some evaluation frames: say so, then what it missed. */
		uint32_t m = stop_marker(c, stop == SW_STOP_END ? SW_STOP__COUNT : stop);

		if (p->maps) {
			c->st.unmatched++;
			if (m != UINT32_MAX && k < cap)
				out[k++] = m;
		}
		while (py_at < py->n && k < cap)
			out[k++] = py->locs[py_at++];
	} else if (stop != SW_STOP_END && c->all && k < cap) {
		uint32_t m = stop_marker(c, stop);

		if (m != UINT32_MAX)
			out[k++] = m;
	}
	return k;
}

uint32_t native_stack__build(struct native_proc *p, const struct pyspy_sample *smp, size_t len,
			     const struct native_py *py, uint32_t *out, uint32_t cap)
{
	size_t at = PYSPY_SAMPLE_HDR_SIZE + (size_t)smp->n_frames * sizeof(struct pyspy_frame);
	const uint8_t *rec = (const uint8_t *)smp;
	const struct pyspy_native *nh;
	struct native_in in = { 0 };

	if (len < at + sizeof(*nh))
		goto bad;
	nh = (const void *)(rec + at);
	at += sizeof(*nh);
	if (nh->kstack_n > PYSPY_KSTACK_MAX || nh->ustack_len > PYSPY_USTACK_MAX ||
	    len - at < (size_t)nh->kstack_n * 8 + nh->ustack_len)
		goto bad;
	in.have_regs = true;
	in.regs = (struct sw_regs){ nh->ip, nh->sp, nh->bp };
	in.kstack = (const uint64_t *)(rec + at);
	in.kstack_n = nh->kstack_n;
	at += (size_t)nh->kstack_n * 8;
	in.stack = (struct sw_stack){ rec + at, nh->sp, nh->ustack_len };
	in.mm_seq = nh->mm_seq;
	return native_stack__merge(p, &in, py, out, cap);

bad:
	p->c->st.bad_records++;
	for (uint32_t i = 0; i < py->n && i < cap; i++)
		out[i] = py->locs[i];
	return py->n < cap ? py->n : cap;
}

uint32_t native_stack__from_proc(struct native_proc *p, pid_t pid, pid_t tid, bool kernel,
				 int tries, const struct native_py *py,
				 struct native_proc_scratch *s, uint32_t *out, uint32_t cap)
{
	struct native_in in = { 0 };
	uint64_t sp, pc;
	int err = -EAGAIN, k;
	ssize_t got;

	for (int i = 0; i < tries && err == -EAGAIN; i++) {
		if (i)
			nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
		err = py_task__user_regs(pid, tid, &sp, &pc);
	}
	if (!err) {
		got = procmem_read_upto(pid, sp, s->stack, sizeof(s->stack));
		in.have_regs = got > 0;
		in.regs = (struct sw_regs){ pc, sp, 0 };
		in.stack = (struct sw_stack){ s->stack, sp, got > 0 ? (size_t)got : 0 };
	}
	if (kernel) {
		k = procfs_kernel_stack(pid, tid, s->knames, NATIVE_PROC_KSTACK_MAX);
		for (int i = 0; i < k; i++)
			s->kptrs[i] = s->knames[i];
		in.kernel_names = s->kptrs;
		in.n_kernel_names = k > 0 ? (uint32_t)k : 0;
	}
	return native_stack__merge(p, &in, py, out, cap);
}
