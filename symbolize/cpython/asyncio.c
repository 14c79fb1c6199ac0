// SPDX-License-Identifier: MIT
/* asyncio.c - 3.14+ asyncio tasks: their layout, their names, and every task read from outside. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asyncio.h"
#include "code.h"
#include "walk.h"
#include "symbolize/base/freeall.h"
#include "symbolize/base/search.h"

/*
 * The section is struct _Py_AsyncioModuleDebugOffsets (Modules/_asynciomodule.c):
 * the task object's size and six fields, the interpreter state's size and
 * task list, the thread state's size and three fields, all u64.
 */
enum {
	AD_TASK_SIZE,
	AD_TASK_NAME,
	AD_TASK_AWAITED_BY,
	AD_TASK_IS_TASK,
	AD_TASK_AWAITED_BY_IS_SET,
	AD_TASK_CORO,
	AD_TASK_NODE,
	AD_INTERP_SIZE,
	AD_INTERP_TASKS_HEAD,
	AD_TS_SIZE,
	AD_TS_RUNNING_LOOP,
	AD_TS_RUNNING_TASK,
	AD_TS_TASKS_HEAD,
	AD__COUNT,
};

/* The section's fields by name, in order (a saved image keeps them so: dump --save-image). */
static const char *const ad_names[AD__COUNT] = {
	"task_size",
	"task_name",
	"task_awaited_by",
	"task_is_task",
	"task_awaited_by_is_set",
	"task_coro",
	"task_node",
	"interp_size",
	"interp_tasks_head",
	"ts_size",
	"ts_running_loop",
	"ts_running_task",
	"ts_tasks_head",
};

const char *py_async__debug_field(unsigned i)
{
	return i < AD__COUNT ? ad_names[i] : NULL;
}

/* What a thread state and an interpreter state may be, at most (3.14: 936 and 226 KB). */
#define TS_SIZE_MAX	65535
#define INTERP_SIZE_MAX (16u << 20)

/* off + width <= size, for any off (no wrap past 2^64) */
static bool fits(uint64_t off, uint64_t width, uint64_t size)
{
	return off <= size && size - off >= width;
}

static bool offset_known(uint16_t v)
{
	return v != PY_OFF_NONE;
}

/* The span of a task the BPF side reads: the five fields it uses. */
static void task_span(const struct py_async_layout *a, uint16_t *lo_out, uint16_t *hi_out)
{
	uint16_t lo = a->task_awaited_by, hi = a->task_awaited_by + 8;
	const uint16_t f[] = { a->task_awaited_by, a->task_is_task, a->task_awaited_by_is_set,
			       a->task_coro, a->task_name };
	const uint16_t ends[] = { 8, 1, 1, 8, 8 };

	for (int i = 0; i < 5; i++) {
		if (f[i] < lo)
			lo = f[i];
		if (f[i] + ends[i] > hi)
			hi = f[i] + ends[i];
	}
	*lo_out = lo;
	*hi_out = hi;
}

int py_async__layout(const void *sec, size_t len, const struct py_layout *l, unsigned minor,
		     struct py_async_layout *a, char *why, size_t why_len)
{
	static const char *const task_names[] = { "task_name",	  "task_awaited_by",
						  "task_is_task", "task_awaited_by_is_set",
						  "task_coro",	  "task_node" };
	static const uint8_t task_width[] = { 8, 8, 1, 1, 8, 16 };
	uint64_t v[AD__COUNT];
	uint16_t *task_fields[] = { &a->task_name,    &a->task_awaited_by,
				    &a->task_is_task, &a->task_awaited_by_is_set,
				    &a->task_coro,    &a->task_node };

	if (minor < 14)
		return -ENOTSUP;
	if (!sec || len != PY_ASYNC_DEBUG_SIZE)
		return -ENOTSUP;
	memcpy(v, sec, sizeof(v));
	memset(a, 0, sizeof(*a));
	a->minor = minor;
	if (!v[AD_TASK_SIZE] || v[AD_TASK_SIZE] > PY_ASYNC_TASK_MAX)
		return py_layout__refuse(why, why_len, "sizeof(TaskObj) = %llu is not in 1..%u",
					 (unsigned long long)v[AD_TASK_SIZE], PY_ASYNC_TASK_MAX);
	a->task_size = (uint16_t)v[AD_TASK_SIZE];
	for (int i = 0; i < 6; i++) {
		uint64_t off = v[AD_TASK_NAME + i];

		if (!fits(off, task_width[i], a->task_size))
			return py_layout__refuse(
				why, why_len, "TaskObj.%s = %llu is past its %u bytes",
				task_names[i], (unsigned long long)off, a->task_size);
		*task_fields[i] = (uint16_t)off;
	}
	if (v[AD_TS_SIZE] > TS_SIZE_MAX || v[AD_INTERP_SIZE] > INTERP_SIZE_MAX)
		return py_layout__refuse(why, why_len,
					 "thread or interpreter state size is implausible");
	for (int i = AD_TS_RUNNING_LOOP; i <= AD_TS_TASKS_HEAD; i++)
		if (!fits(v[i], i == AD_TS_TASKS_HEAD ? 16 : 8, v[AD_TS_SIZE]))
			return py_layout__refuse(
				why, why_len, "thread state field %llu is past its %llu bytes",
				(unsigned long long)v[i], (unsigned long long)v[AD_TS_SIZE]);
	if (!fits(v[AD_INTERP_TASKS_HEAD], 16, v[AD_INTERP_SIZE]))
		return py_layout__refuse(why, why_len,
					 "interpreter asyncio_tasks_head is past its size");
	{
		uint16_t lo, hi;

		task_span(a, &lo, &hi);
		if (hi - lo > PYSPY_TASK_BUF)
			return py_layout__refuse(
				why, why_len,
				"a task's fields span %u bytes, more than the %u read at once",
				hi - lo, PYSPY_TASK_BUF);
	}
	a->ts_running_loop = (uint16_t)v[AD_TS_RUNNING_LOOP];
	a->ts_running_task = (uint16_t)v[AD_TS_RUNNING_TASK];
	a->ts_tasks_head = (uint16_t)v[AD_TS_TASKS_HEAD];
	a->interp_tasks_head = (uint32_t)v[AD_INTERP_TASKS_HEAD];

	if (!offset_known(l->gen_iframe) || !offset_known(l->gen_frame_state) ||
	    !offset_known(l->frame_stackpointer) || !offset_known(l->set_table) ||
	    !offset_known(l->set_mask) || !offset_known(l->type_flags) ||
	    !offset_known(l->long_tag) || !offset_known(l->long_digit) || !l->gen_iframe)
		return py_layout__refuse(why, why_len,
					 "the debug offsets lack generator or set fields");
	a->object_type = l->object_type;
	a->gen_iframe = l->gen_iframe;
	a->gen_frame_state = l->gen_frame_state;
	a->frame_stackpointer = l->frame_stackpointer;
	a->frame_code = l->frame_code;
	a->frame_instr = l->frame_instr;
	a->code_adaptive = l->code_adaptive;
	a->set_table = l->set_table;
	a->set_mask = l->set_mask;
	a->type_flags = l->type_flags;
	a->long_tag = l->long_tag;
	a->long_digit = l->long_digit;
	/* What the BPF side reads at once must hold every field it uses. */
	if ((unsigned)a->gen_iframe + a->frame_stackpointer + 8 > PYSPY_GEN_BUF ||
	    (unsigned)a->gen_iframe + a->frame_code + 8 > PYSPY_GEN_BUF ||
	    (unsigned)a->gen_iframe + a->frame_instr + 8 > PYSPY_GEN_BUF ||
	    a->gen_frame_state >= PYSPY_GEN_BUF || a->object_type + 8 > PYSPY_GEN_BUF)
		return py_layout__refuse(why, why_len,
					 "a coroutine's frame (at %u) is past the %u bytes read",
					 a->gen_iframe, PYSPY_GEN_BUF);
	if (a->set_table + 8 > PYSPY_SET_BUF || a->set_mask + 8 > PYSPY_SET_BUF ||
	    (a->set_table | a->set_mask) & 7)
		return py_layout__refuse(why, why_len,
					 "PySetObject.table/mask are past the %u bytes read",
					 PYSPY_SET_BUF);
	if (a->type_flags + 8 > PY_OBJECT_FIELD_MAX || a->long_tag + 8 > PY_OBJECT_FIELD_MAX ||
	    a->long_digit + 8 > PY_OBJECT_FIELD_MAX)
		return py_layout__refuse(why, why_len, "type or int fields are implausible");
	/* Include/internal/pycore_frame.h: enum _framestate */
	if (minor == 14) {
		a->st_created = -3;
		a->st_yf_lo = a->st_yf_hi = -1;
		a->st_executing = 0;
		a->yf_slot = 1;
	} else {
		/* 3.15 counts up, and a locked yield-from is still one */
		a->st_created = 0;
		a->st_yf_lo = 2;
		a->st_yf_hi = 3;
		a->st_executing = 4;
		/* 3.15's await keeps one more value above what it awaits */
		a->yf_slot = 2;
	}
	py_async__to_bpf(a, &a->bpf);
	return 0;
}

uint8_t py_async__task_state(const struct py_async_layout *a, int8_t state)
{
	if (state == a->st_created)
		return PY_TASK_PENDING;
	if (state == a->st_executing)
		return PY_TASK_RUNNING;
	/* Between the two: suspended (in a yield, or in an await); else done. */
	if (state > a->st_created && state < a->st_executing)
		return PY_TASK_SUSPENDED;
	return PY_TASK_DONE;
}

void py_async__to_bpf(const struct py_async_layout *a, struct pyspy_proc *out)
{
	uint16_t lo, hi;

	task_span(a, &lo, &hi);
	out->task_lo = lo;
	out->task_len = hi - lo;
	out->task_awaited_by = a->task_awaited_by - lo;
	out->task_is_task = a->task_is_task - lo;
	out->task_is_set = a->task_awaited_by_is_set - lo;
	out->task_coro = a->task_coro - lo;
	out->task_name = a->task_name - lo;
	out->set_table = a->set_table;
	out->set_mask = a->set_mask;
	out->gen_iframe = a->gen_iframe;
	out->gen_state = a->gen_frame_state;
	out->frame_sp = a->frame_stackpointer;
	out->frame_code = a->frame_code;
	out->frame_instr = a->frame_instr;
	out->code_adaptive = a->code_adaptive;
	out->ob_type = a->object_type;
	out->gen_len = a->gen_iframe + a->frame_stackpointer + 8;
	if (a->gen_iframe + a->frame_code + 8 > out->gen_len)
		out->gen_len = a->gen_iframe + a->frame_code + 8;
	if (a->gen_iframe + a->frame_instr + 8 > out->gen_len)
		out->gen_len = a->gen_iframe + a->frame_instr + 8;
	if (a->gen_frame_state + 1 > out->gen_len)
		out->gen_len = a->gen_frame_state + 1;
	out->yf_back = 8 * a->yf_slot;
	out->yf_lo = a->st_yf_lo;
	out->yf_hi = a->st_yf_hi;
	out->ts_running_task = a->ts_running_task;
}

static bool ptr_ok(uint64_t p)
{
	return p >= 4096 && !(p & 7) && p < (1ull << 57);
}

static uint64_t rd64(const uint8_t *b, unsigned off)
{
	uint64_t v;

	memcpy(&v, b + off, 8);
	return v;
}

int py_async__task_name_ptr(pid_t pid, const struct py_async_layout *a, uint64_t task,
			    uint64_t *name)
{
	if (!ptr_ok(task))
		return -EFAULT;
	return procmem_read_u64(pid, task + a->task_name, name);
}

int py_async__name_fp(pid_t pid, uint64_t name, uint64_t str_type, uint64_t long_type, uint64_t *fp)
{
	uint64_t w[PYSPY_NAME_FP_BUF / 8];
	int err;

	if (!ptr_ok(name))
		return -EFAULT;
	err = procmem_read(pid, name + 8, w, sizeof(w));
	if (err)
		return err;
	*fp = pyspy_name_fp(name, (const __u64 *)w, str_type, long_type);
	return 0;
}

/* Py_TPFLAGS_LONG_SUBCLASS, Py_TPFLAGS_UNICODE_SUBCLASS */
#define TPF_LONG (1ul << 24)
#define TPF_STR	 (1ul << 28)

int py_async__name(pid_t pid, const struct py_layout *l, const struct py_async_layout *a,
		   uint64_t name, char *buf, size_t len)
{
	uint64_t type, flags, tag, v = 0;
	uint32_t digits[2] = { 0, 0 };
	unsigned nd;
	int err;

	if (!len)
		return -EINVAL;
	buf[0] = 0;
	if (!ptr_ok(name))
		return -EFAULT;
	err = procmem_read_u64(pid, name + a->object_type, &type);
	if (!err)
		err = ptr_ok(type) ? procmem_read_u64(pid, type + a->type_flags, &flags) : -EFAULT;
	if (err)
		return err;
	if (flags & TPF_STR)
		return py_str__read(pid, l, name, buf, len);
	if (!(flags & TPF_LONG))
		return -EINVAL;
	/* 3.12+ ints: lv_tag = digits << 3 | sign; 30-bit digits. A default
	 * task name is the task counter, shown as Task-N. */
	err = procmem_read_u64(pid, name + a->long_tag, &tag);
	if (err)
		return err;
	nd = (unsigned)(tag >> 3);
	if ((tag & 3) == 2 || nd > 2)
		return -EINVAL;
	if (nd) {
		err = procmem_read(pid, name + a->long_digit, digits, nd * 4);
		if (err)
			return err;
		v = (uint64_t)(digits[0] & 0x3fffffff) | (uint64_t)(digits[1] & 0x3fffffff) << 30;
	}
	snprintf(buf, len, "Task-%llu", (unsigned long long)v);
	return 0;
}

const char *py_async_task__state_name(unsigned state)
{
	static const char *const names[] = { "running", "suspended", "pending", "done" };

	return state < 4 ? names[state] : "?";
}

/* --- a task, read from outside ----------------------------------------------- */

/* Slots of an awaiters set read at most, and at once (16 bytes each). */
#define AWAITER_SLOTS_MAX  1024
#define AWAITER_SLOTS_READ 64

/* Add an awaiter once (a table may be corrupt): at most 64 compares. */
static void add_awaiter(struct py_async_task *t, uint64_t key)
{
	for (uint32_t i = 0; i < t->n_awaiters; i++)
		if (t->awaiters[i] == key)
			return;
	t->awaiters[t->n_awaiters++] = key;
}

/* Who awaits the task whose fields are tf: one task, or a set of them. */
static void read_awaiters(pid_t pid, const struct py_async_layout *a, const struct pc_task *tf,
			  struct py_async_task *t)
{
	struct pc_buf cb = { .pid = pid };
	__u64 table, mask;
	uint64_t slots;
	uint8_t ent[AWAITER_SLOTS_READ * 16];

	if (!ptr_ok(tf->awaited_by))
		return;
	if (!tf->by_set) {
		t->awaiters[t->n_awaiters++] = tf->awaited_by;
		return;
	}
	if (pc_set_head(&cb, &a->bpf, tf->awaited_by, &table, &mask) || !ptr_ok(table)) {
		t->chain_partial = true;
		return;
	}
	/* The table has mask + 1 slots (a power of two; a set of 16 has 32 or 64). */
	slots = mask < AWAITER_SLOTS_MAX ? mask + 1 : AWAITER_SLOTS_MAX;
	for (uint64_t at = 0; at < slots && t->n_awaiters < PY_ASYNC_MAX_AWAITERS;
	     at += AWAITER_SLOTS_READ) {
		unsigned n = slots - at < AWAITER_SLOTS_READ ? (unsigned)(slots - at)
							     : AWAITER_SLOTS_READ;

		if (procmem_read(pid, table + at * 16, ent, n * 16)) {
			t->chain_partial = true;
			return;
		}
		for (unsigned i = 0; i < n && t->n_awaiters < PY_ASYNC_MAX_AWAITERS; i++) {
			uint64_t key = rd64(ent, i * 16);

			if (ptr_ok(key) && pc_set_live(key, rd64(ent, i * 16 + 8)))
				add_awaiter(t, key);
		}
	}
}

/*
 * The coroutines the task is suspended in, from its own (coro) inwards;
 * at most max of them (a longer chain is partial).  The step is the BPF
 * side's (bpf/pycoro.h); a coroutine seen running inside a chain ends it
 * (the task ran on between two reads), and so does one met twice.
 */
static void read_chain(pid_t pid, const struct py_async_layout *a, uint64_t coro, uint32_t max,
		       struct py_async_task *t)
{
	struct pc_buf cb = { .pid = pid };
	__u64 type0 = 0;
	uint64_t chain[PY_ASYNC_MAX_DEPTH];
	struct pc_gen g;
	int err;

	while (ptr_ok(coro)) {
		if (t->n_frames >= max) {
			t->chain_partial = true;
			return;
		}
		err = pc_gen_read(&cb, &a->bpf, coro, &type0, &g);
		if (err < 0)
			t->chain_partial = t->n_frames == 0;
		if (err)
			return; /* unreadable, or not a coroutine: what the last one awaits */
		if (t->n_frames == 0)
			t->state = py_async__task_state(a, g.state);
		if (g.state == a->st_executing && t->n_frames)
			return;
		t->frames[t->n_frames].code = g.code;
		t->frames[t->n_frames].lasti = g.lasti;
		t->frames[t->n_frames].code_fp = 0;
		t->n_frames++;
		chain[t->n_frames - 1] = coro;
		coro = pc_gen_awaits(&cb, &g);
		for (uint32_t i = 0; coro && i < t->n_frames; i++) {
			if (chain[i] == coro) {
				t->chain_partial = true; /* a coroutine awaiting itself */
				return;
			}
		}
	}
}

/* py_async__task_from, its chain at most max_frames long. */
static void task_from(pid_t pid, const struct py_layout *l, const struct py_async_layout *a,
		      uint64_t task, const uint8_t *tb, uint32_t max_frames,
		      struct py_async_task *t)
{
	struct pc_task tf;

	memset(t, 0, offsetof(struct py_async_task, frames));
	t->addr = task;
	t->state = PY_TASK_SUSPENDED;
	pc_task_fields(&a->bpf, tb + a->bpf.task_lo, &tf);
	if (l && py_async__name(pid, l, a, tf.name, t->name, sizeof(t->name)))
		snprintf(t->name, sizeof(t->name), "0x%llx", (unsigned long long)task);
	read_awaiters(pid, a, &tf, t);
	read_chain(pid, a, tf.coro, max_frames, t);
}

void py_async__task_from(pid_t pid, const struct py_layout *l, const struct py_async_layout *a,
			 uint64_t task, const uint8_t *tb, struct py_async_task *t)
{
	task_from(pid, l, a, task, tb, PY_ASYNC_MAX_DEPTH, t);
}

uint64_t py_async__task_next(const struct py_async_layout *a, const uint8_t *tb, uint64_t *prev)
{
	*prev = rd64(tb, a->task_node + 8);
	return rd64(tb, a->task_node);
}

/* --- every task of a process, read whole --------------------------------------- */

struct py_async_index {
	uint64_t addr;
	uint32_t i;
};

struct walk {
	pid_t pid;
	const struct py_layout *l;
	const struct py_async_layout *a;
	struct py_async_tasks *out;
	const uint64_t *running; /* each thread's running task, as read once */
	uint32_t n_threads;
	uint8_t *buf, *again;	  /* a task's bytes: the list's, and a second read */
	struct py_async_task *tk; /* the task being read */
};

/*
 * Room in the array whose pointer is at pool_ptr (*cap items of size bytes)
 * for want items: 0 or -ENOMEM (the array is kept as it was).
 */
static int room(void *pool_ptr, uint32_t *cap, uint64_t want, size_t size)
{
	uint64_t cap2 = *cap ? *cap : 64;
	void *pool, *p;

	if (want <= *cap)
		return 0;
	while (cap2 < want)
		cap2 *= 2;
	if (cap2 > UINT32_MAX)
		return -ENOMEM;
	memcpy(&pool, pool_ptr, sizeof(pool));
	p = realloc(pool, cap2 * size);
	if (!p)
		return -ENOMEM;
	memcpy(pool_ptr, &p, sizeof(p));
	*cap = (uint32_t)cap2;
	return 0;
}

static bool runs_on_a_thread(const struct walk *w, uint64_t task)
{
	for (uint32_t i = 0; i < w->n_threads; i++)
		if (w->running[i] == task)
			return true;
	return false;
}

/*
 * Read the task at task (its bytes in w->buf) into w->tk.  Its coroutine
 * seen running while it is no thread's running task means the two reads
 * were moments apart (it ran, or runs, a step since): it is read again,
 * twice at most, and then shown as suspended where it was seen, partial.
 */
static void read_task(struct walk *w, uint64_t task, uint32_t max_frames)
{
	task_from(w->pid, w->l, w->a, task, w->buf, max_frames, w->tk);
	for (int k = 0; k < 2 && w->tk->state == PY_TASK_RUNNING && !runs_on_a_thread(w, task);
	     k++) {
		if (procmem_read(w->pid, task, w->again, w->a->task_size))
			break;
		task_from(w->pid, w->l, w->a, task, w->again, max_frames, w->tk);
	}
	/* Running or not is the thread's to say (mark_running). */
	if (w->tk->state == PY_TASK_RUNNING) {
		w->tk->state = PY_TASK_SUSPENDED;
		if (!runs_on_a_thread(w, task))
			w->tk->chain_partial = true;
	}
}

static int add_task(struct walk *w, uint64_t task, uint64_t tstate)
{
	struct py_async_tasks *o = w->out;
	uint32_t budget = o->n_fr < PY_ASYNC_FRAMES_TOTAL ? PY_ASYNC_FRAMES_TOTAL - o->n_fr : 0;
	const struct py_async_task *t = w->tk;
	struct py_async_entry *e;

	read_task(w, task, budget < PY_ASYNC_MAX_DEPTH ? budget : PY_ASYNC_MAX_DEPTH);
	if (room(&o->t, &o->cap_t, o->n + 1ull, sizeof(*o->t)) ||
	    room(&o->awaiters, &o->cap_aw, (uint64_t)o->n_aw + t->n_awaiters, sizeof(uint64_t)) ||
	    room(&o->frames, &o->cap_fr, (uint64_t)o->n_fr + t->n_frames, sizeof(*o->frames)))
		return -ENOMEM;
	e = &o->t[o->n++];
	memset(e, 0, sizeof(*e));
	e->addr = task;
	e->tstate = tstate;
	memcpy(e->name, t->name, sizeof(e->name));
	e->state = t->state;
	e->chain_partial = t->chain_partial;
	e->n_awaiters = t->n_awaiters;
	e->awaiters_at = o->n_aw;
	if (t->n_awaiters)
		memcpy(o->awaiters + o->n_aw, t->awaiters, t->n_awaiters * sizeof(uint64_t));
	o->n_aw += t->n_awaiters;
	e->n_frames = t->n_frames;
	e->frames_at = o->n_fr;
	if (t->n_frames)
		memcpy(o->frames + o->n_fr, t->frames, t->n_frames * sizeof(*o->frames));
	o->n_fr += t->n_frames;
	return 0;
}

/*
 * One list: a circular doubly-linked list of the tasks' task_node, its
 * head inside a thread (or interpreter) state at head.  Each node must
 * say it came from the node before it, so a list that loops back fails
 * that check; a task met twice (in two lists, or a list changed while
 * read) is dropped with the index (index_tasks).
 */
static int walk_list(struct walk *w, uint64_t head, uint64_t tstate)
{
	const struct py_async_layout *a = w->a;
	uint64_t node, prev = head;
	int err;

	if (procmem_read_u64(w->pid, head, &node))
		return -EFAULT;
	while (node != head) {
		uint64_t task = node - a->task_node;

		if (w->out->n >= PY_ASYNC_MAX_TASKS) {
			w->out->truncated = true;
			return 0;
		}
		if (!ptr_ok(node) || node < a->task_node ||
		    procmem_read(w->pid, task, w->buf, a->task_size) ||
		    rd64(w->buf, a->task_node + 8) != prev) {
			w->out->errors++; /* a loop, or a node that is not there */
			return 0;
		}
		err = add_task(w, task, tstate);
		if (err)
			return err;
		prev = node;
		node = rd64(w->buf, a->task_node);
	}
	return 0;
}

static int by_addr(const void *x, const void *y)
{
	const struct py_async_index *a = x, *b = y;

	if (a->addr != b->addr)
		return a->addr < b->addr ? -1 : 1;
	return (a->i > b->i) - (a->i < b->i);
}

int64_t py_async_tasks__find(const struct py_async_tasks *t, uint64_t addr)
{
	/* by_addr holds each address once (drop_repeats): the last at or below is it, or none is. */
	size_t i = upper_bound(t->by_addr, t->n, addr, addr);

	return i && t->by_addr[i - 1].addr == addr ? (int64_t)t->by_addr[i - 1].i : -1;
}

/* Drop the tasks met a second time (their later copies), keeping list order. */
static void drop_repeats(struct py_async_tasks *o, uint32_t *keep)
{
	uint32_t n = 0, k = 0;

	for (uint32_t i = 0; i < o->n; i++)
		keep[i] = UINT32_MAX;
	for (uint32_t i = 0; i < o->n; i++)
		if (!i || o->by_addr[i].addr != o->by_addr[i - 1].addr)
			keep[o->by_addr[i].i] = 0;
		else
			o->errors++;
	for (uint32_t i = 0; i < o->n; i++) {
		if (keep[i])
			continue;
		keep[i] = n;
		o->t[n++] = o->t[i];
	}
	for (uint32_t i = 0; i < o->n; i++)
		if (!i || o->by_addr[i].addr != o->by_addr[i - 1].addr)
			o->by_addr[k++] = (struct py_async_index){ o->by_addr[i].addr,
								   keep[o->by_addr[i].i] };
	o->n = n;
}

/* Sorted by address (no hash a target could make collide), and who awaits whom both ways. */
static int index_tasks(struct py_async_tasks *o)
{
	uint32_t *keep, *fill;
	int err = -ENOMEM;

	if (!o->n)
		return 0;
	o->by_addr = malloc(o->n * sizeof(*o->by_addr));
	keep = malloc(o->n * sizeof(*keep));
	if (!o->by_addr || !keep)
		goto out;
	for (uint32_t i = 0; i < o->n; i++)
		o->by_addr[i] = (struct py_async_index){ o->t[i].addr, i };
	qsort(o->by_addr, o->n, sizeof(*o->by_addr), by_addr);
	drop_repeats(o, keep);
	/* kids of p: the tasks whose awaiters name p (read_awaiters names each once) */
	for (uint32_t k = 0; k < o->n; k++) {
		const uint64_t *aw = o->awaiters + o->t[k].awaiters_at;

		for (uint32_t j = 0; j < o->t[k].n_awaiters; j++) {
			int64_t p = py_async_tasks__find(o, aw[j]);

			if (p >= 0) {
				o->t[p].n_kids++;
				o->n_kids++;
			}
		}
	}
	o->kids = malloc((o->n_kids ? o->n_kids : 1) * sizeof(*o->kids));
	fill = keep; /* reused: how many kids of each are placed */
	if (!o->kids)
		goto out;
	for (uint32_t p = 0, at = 0; p < o->n; p++) {
		o->t[p].kids_at = at;
		at += o->t[p].n_kids;
		fill[p] = 0;
	}
	for (uint32_t k = 0; k < o->n; k++) {
		const uint64_t *aw = o->awaiters + o->t[k].awaiters_at;

		for (uint32_t j = 0; j < o->t[k].n_awaiters; j++) {
			int64_t p = py_async_tasks__find(o, aw[j]);

			if (p >= 0)
				o->kids[o->t[p].kids_at + fill[p]++] = k;
		}
	}
	err = 0;
out:
	free(keep);
	return err;
}

/* Each thread's running task, read once: the one task shown running on it. */
static void mark_running(struct py_async_tasks *o, const uint64_t *tstates, const uint64_t *running,
			 uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		int64_t k = running[i] ? py_async_tasks__find(o, running[i]) : -1;

		if (k < 0)
			continue;
		o->t[k].state = PY_TASK_RUNNING;
		o->t[k].running_on = tstates[i];
	}
}

int py_async__tasks(pid_t pid, const struct py_layout *l, const struct py_async_layout *a,
		    const uint64_t *tstates, uint32_t n, uint64_t interp,
		    struct py_async_tasks *out)
{
	struct walk w = { .pid = pid, .l = l, .a = a, .out = out, .n_threads = n };
	uint64_t *running = calloc(n ? n : 1, sizeof(*running));
	int err = 0;

	memset(out, 0, sizeof(*out));
	w.buf = malloc(a->task_size);
	w.again = malloc(a->task_size);
	w.tk = malloc(sizeof(*w.tk));
	w.running = running;
	if (!running || !w.buf || !w.again || !w.tk)
		err = -ENOMEM;
	/* First, while the lists are still as they are about to be read. */
	for (uint32_t i = 0; !err && i < n; i++)
		if (procmem_read_u64(pid, tstates[i] + a->ts_running_task, &running[i]))
			running[i] = 0;
	for (uint32_t i = 0; !err && i < n; i++) {
		err = walk_list(&w, tstates[i] + a->ts_tasks_head, tstates[i]);
		if (err == -EFAULT) {
			out->errors++;
			err = 0;
		}
	}
	if (!err && interp) {
		err = walk_list(&w, interp + a->interp_tasks_head, 0);
		if (err == -EFAULT) {
			out->errors++;
			err = 0;
		}
	}
	if (!err)
		err = index_tasks(out);
	if (!err)
		mark_running(out, tstates, running, n);
	free(w.tk);
	free(w.again);
	free(w.buf);
	free(running);
	return err;
}

void py_async_tasks__free(struct py_async_tasks *t)
{
	if (!t)
		return;
	FREE_ALL(t->t, t->awaiters, t->frames, t->kids, t->by_addr);
	memset(t, 0, sizeof(*t));
}
