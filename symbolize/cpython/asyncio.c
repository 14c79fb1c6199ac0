// SPDX-License-Identifier: MIT
/* asyncio.c - 3.14+ asyncio tasks: their layout, their names, and every task read from outside. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asyncio.h"
#include "code.h"
#include "symbolize/proc/procmem.h"
#include "user/base/hash.h"

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

/* What a thread state and an interpreter state may be, at most (3.14: 936 and 226 KB). */
#define TS_SIZE_MAX	65535
#define INTERP_SIZE_MAX (16u << 20)

/* off + width <= size, for any off (no wrap past 2^64) */
static bool fits(uint64_t off, uint64_t width, uint64_t size)
{
	return off <= size && size - off >= width;
}

static bool set(uint16_t v)
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

	if (!set(l->gen_iframe) || !set(l->gen_frame_state) || !set(l->frame_stackpointer) ||
	    !set(l->set_table) || !set(l->set_mask) || !set(l->type_flags) || !set(l->long_tag) ||
	    !set(l->long_digit) || !l->gen_iframe)
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
	return 0;
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

/* --- every task, read from outside ---------------------------------------- */

/* Addresses seen, to tell a loop in a list or a chain (open addressing). */
struct seen {
	uint64_t *slot;
	uint32_t mask;
};

static int seen_init(struct seen *s, uint32_t max)
{
	uint32_t n = 64;

	while (n < max * 2)
		n <<= 1;
	s->slot = calloc(n, sizeof(*s->slot));
	s->mask = n - 1;
	return s->slot ? 0 : -ENOMEM;
}

/* true if addr was there already; the target chose addr: the keyed hash places it */
static bool seen_add(struct seen *s, uint64_t addr)
{
	uint32_t i = (uint32_t)hash_bytes(&addr, sizeof(addr)) & s->mask;

	while (s->slot[i]) {
		if (s->slot[i] == addr)
			return true;
		i = (i + 1) & s->mask;
	}
	s->slot[i] = addr;
	return false;
}

struct walk {
	pid_t pid;
	const struct py_layout *l;
	const struct py_async_layout *a;
	struct py_async_tasks *out;
	uint32_t cap;
	struct seen seen;
	uint8_t *buf; /* a task's bytes */
};

/* Who awaits the task whose bytes are in tb: one task, or a set of them. */
static void read_awaiters(pid_t pid, const struct py_async_layout *a, const uint8_t *tb,
			  struct py_async_task *t)
{
	uint64_t ab = rd64(tb, a->task_awaited_by), table, mask;
	uint8_t ent[16 * 16];
	unsigned n;

	if (!ptr_ok(ab))
		return;
	if (!tb[a->task_awaited_by_is_set]) {
		t->awaiters[t->n_awaiters++] = ab;
		return;
	}
	if (procmem_read_u64(pid, ab + a->set_table, &table) ||
	    procmem_read_u64(pid, ab + a->set_mask, &mask) || !ptr_ok(table)) {
		t->chain_partial = true;
		return;
	}
	/* The table has mask + 1 entries; a few awaiters fit the first 16. */
	n = mask + 1 < 16 ? (unsigned)mask + 1 : 16;
	if (procmem_read(pid, table, ent, n * 16)) {
		t->chain_partial = true;
		return;
	}
	for (unsigned i = 0; i < n && t->n_awaiters < PY_ASYNC_MAX_AWAITERS; i++) {
		uint64_t key = rd64(ent, i * 16);
		int64_t hash = (int64_t)rd64(ent, i * 16 + 8);

		if (ptr_ok(key) && hash != -1)
			t->awaiters[t->n_awaiters++] = key;
	}
}

/* The coroutines the task is suspended in, from its own (coro) inwards. */
static void read_chain(pid_t pid, const struct py_async_layout *a, uint64_t coro,
		       struct py_async_task *t)
{
	uint8_t g[PYSPY_GEN_BUF];
	uint64_t type0 = 0, code, instr, sp, yf, chain[PY_ASYNC_MAX_DEPTH];
	size_t glen = a->gen_iframe + a->frame_stackpointer + 8;
	int8_t state;

	if (glen < (size_t)a->gen_iframe + a->frame_code + 8)
		glen = a->gen_iframe + a->frame_code + 8;
	if (glen < (size_t)a->gen_iframe + a->frame_instr + 8)
		glen = a->gen_iframe + a->frame_instr + 8;
	while (ptr_ok(coro) && t->n_frames < PY_ASYNC_MAX_DEPTH) {
		if (procmem_read(pid, coro, g, glen)) {
			t->chain_partial = t->n_frames == 0;
			return;
		}
		if (type0 && rd64(g, a->object_type) != type0)
			return; /* not a coroutine: what the last one awaits */
		type0 = rd64(g, a->object_type);
		state = (int8_t)g[a->gen_frame_state];
		if (t->n_frames == 0) {
			if (state == a->st_created)
				t->state = PY_TASK_PENDING;
			else if (state == a->st_executing)
				t->state = PY_TASK_RUNNING;
			else if (state > a->st_executing || (a->minor >= 15 && state == 5))
				t->state = PY_TASK_DONE;
		}
		if (state == a->st_executing && t->n_frames)
			return;
		code = rd64(g, a->gen_iframe + a->frame_code) & ~3ull;
		instr = rd64(g, a->gen_iframe + a->frame_instr);
		t->frames[t->n_frames].code = code;
		t->frames[t->n_frames].lasti = (int32_t)(instr - code - a->code_adaptive);
		t->frames[t->n_frames].code_fp = 0;
		t->n_frames++;
		if (state < a->st_yf_lo || state > a->st_yf_hi)
			return;
		sp = rd64(g, a->gen_iframe + a->frame_stackpointer);
		if (sp < 8u * a->yf_slot || procmem_read_u64(pid, sp - 8u * a->yf_slot, &yf))
			return;
		chain[t->n_frames - 1] = coro;
		coro = yf & ~3ull;
		for (uint32_t i = 0; i < t->n_frames; i++) {
			if (chain[i] == coro) {
				t->chain_partial = true; /* a coroutine awaiting itself */
				return;
			}
		}
	}
}

void py_async__task_from(pid_t pid, const struct py_layout *l, const struct py_async_layout *a,
			 uint64_t task, const uint8_t *tb, struct py_async_task *t)
{
	memset(t, 0, offsetof(struct py_async_task, frames));
	t->addr = task;
	t->state = PY_TASK_SUSPENDED;
	if (l && py_async__name(pid, l, a, rd64(tb, a->task_name), t->name, sizeof(t->name)))
		snprintf(t->name, sizeof(t->name), "0x%llx", (unsigned long long)task);
	read_awaiters(pid, a, tb, t);
	read_chain(pid, a, rd64(tb, a->task_coro), t);
}

uint64_t py_async__task_next(const struct py_async_layout *a, const uint8_t *tb, uint64_t *prev)
{
	*prev = rd64(tb, a->task_node + 8);
	return rd64(tb, a->task_node);
}

static int add_task(struct walk *w, uint64_t task, uint64_t tstate)
{
	struct py_async_task *t;

	if (w->out->n == w->cap) {
		uint32_t cap = w->cap ? w->cap * 2 : 64;
		struct py_async_task *nt = realloc(w->out->t, (size_t)cap * sizeof(*nt));

		if (!nt)
			return -ENOMEM;
		w->out->t = nt;
		w->cap = cap;
	}
	t = &w->out->t[w->out->n++];
	py_async__task_from(w->pid, w->l, w->a, task, w->buf, t);
	t->tstate = tstate;
	return 0;
}

/*
 * One list: a circular doubly-linked list of the tasks' task_node, its
 * head inside a thread (or interpreter) state at head.
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
		if (!ptr_ok(node) || node < a->task_node || seen_add(&w->seen, task) ||
		    procmem_read(w->pid, task, w->buf, a->task_size)) {
			w->out->errors++; /* a loop, or a node that is not there */
			return 0;
		}
		/* prev must be where this node says it came from. */
		if (rd64(w->buf, a->task_node + 8) != prev) {
			w->out->errors++;
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

int py_async__tasks(pid_t pid, const struct py_layout *l, const struct py_async_layout *a,
		    const uint64_t *tstates, uint32_t n, uint64_t interp,
		    struct py_async_tasks *out)
{
	struct walk w = { .pid = pid, .l = l, .a = a, .out = out };
	int err;

	memset(out, 0, sizeof(*out));
	w.buf = malloc(a->task_size);
	err = w.buf ? seen_init(&w.seen, PY_ASYNC_MAX_TASKS) : -ENOMEM;
	for (uint32_t i = 0; !err && i < n; i++)
		if (walk_list(&w, tstates[i] + a->ts_tasks_head, tstates[i]))
			out->errors++;
	if (!err && interp && walk_list(&w, interp + a->interp_tasks_head, 0))
		out->errors++;
	/* Which is running: each thread's running task. */
	for (uint32_t i = 0; !err && i < n; i++) {
		uint64_t running;

		if (procmem_read_u64(pid, tstates[i] + a->ts_running_task, &running) || !running)
			continue;
		for (uint32_t k = 0; k < out->n; k++)
			if (out->t[k].addr == running) {
				out->t[k].state = PY_TASK_RUNNING;
				out->t[k].running_on = tstates[i];
			}
	}
	free(w.buf);
	free(w.seen.slot);
	return err;
}

void py_async_tasks__free(struct py_async_tasks *t)
{
	if (!t)
		return;
	free(t->t);
	t->t = NULL;
	t->n = 0;
}
