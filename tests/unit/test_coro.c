// SPDX-License-Identifier: MIT
/*
 * test_coro.c - the one coroutine step (bpf/pycoro.h, the BPF side's own
 * code) replayed over saved memory of real asyncio targets: no process, no
 * root, no BPF.
 *
 * tests/corpus/ID-async.img holds every byte a `dump --async --save-image`
 * read of tests/corpus/target_async.py on each 3.14+ interpreter: an event
 * loop parked while the task `runner` runs, under an await chain (waiter,
 * top, Task-1), beside tasks suspended two coroutines deep, awaited by a
 * set of tasks, or never started.  ID-async.expected is what the target
 * said of itself: the loop thread's stack, and each task's state, awaiters
 * and coroutines.  Here, from the image alone:
 *   - the record the sampler sends with a sample of the running task (the
 *     thread's frames down to the task's coroutine, then each task of the
 *     chain with the coroutines it is suspended in), made by the walk and
 *     the chain step as the BPF program runs them;
 *   - every task as dump --async reads it (py_async__tasks);
 * and every frame, name, state and awaiter must be the target's own.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpus.h"
#include "interpreters.h"
#include "symbolize/codecache.h"
#include "symbolize/codestore.h"
#include "symbolize/cpython/asyncio.h"
#include "symbolize/cpython/code.h"
#include "symbolize/cpython/discover.h"
#include "symbolize/cpython/unwind.h"
#include "symbolize/cpython/walk.h"
#include "symbolize/proc/procimage.h"
#include "unit.h"
#include "symbolize/model/profile.h"

#define MAX_TASKS  16
#define MAX_FRAMES 64

struct frame {
	char name[128], file[256];
	int line;
};

struct want_task {
	char name[64], state[16];
	char awaits[4][64]; /* the tasks awaiting it */
	unsigned n_awaits, n;
	struct frame f[MAX_FRAMES]; /* its coroutines, outermost first */
};

struct want {
	uint64_t loop;
	unsigned n_loop;
	struct frame loop_f[MAX_FRAMES]; /* the loop thread, innermost first */
	unsigned n_tasks;
	struct want_task t[MAX_TASKS];
};

/* "qualname<TAB>file<TAB>line" into f: 0, or -1 if the line is not one. */
static int parse_frame(char *line, struct frame *f)
{
	char *tab1 = strchr(line, '\t'), *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;

	if (!tab2)
		return -1;
	*tab1 = *tab2 = 0;
	snprintf(f->name, sizeof(f->name), "%.127s", line);
	snprintf(f->file, sizeof(f->file), "%.255s", tab1 + 1);
	f->line = atoi(tab2 + 1);
	return 0;
}

static int load_expected(const char *path, struct want *w)
{
	char line[1024];
	struct want_task *t = NULL;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	memset(w, 0, sizeof(*w));
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (!strncmp(line, "loop ", 5)) {
			w->loop = strtoull(line + 5, NULL, 10);
		} else if (!strncmp(line, "task ", 5) && w->n_tasks < MAX_TASKS) {
			t = &w->t[w->n_tasks++];
			if (sscanf(line + 5, "%63s %15s", t->name, t->state) != 2)
				break;
		} else if (!strncmp(line, "await ", 6) && t && t->n_awaits < 4) {
			snprintf(t->awaits[t->n_awaits++], sizeof(t->awaits[0]), "%.63s", line + 6);
		} else if (t && t->n < MAX_FRAMES) {
			t->n += !parse_frame(line, &t->f[t->n]);
		} else if (!t && w->n_loop < MAX_FRAMES) {
			w->n_loop += !parse_frame(line, &w->loop_f[w->n_loop]);
		}
	}
	fclose(f);
	return 0;
}

static const struct want_task *want_task(const struct want *w, const char *name)
{
	for (unsigned i = 0; i < w->n_tasks; i++)
		if (!strcmp(w->t[i].name, name))
			return &w->t[i];
	return NULL;
}

/* What a replay needs besides the image. */
struct replay {
	const char *id;
	struct py_target t;
	struct py_async_layout a;
	struct code_cache *cache;
	struct profile *prof;
};

/* Python frames (innermost first) against want (innermost first, or outermost first if rev). */
static void check_frames(struct replay *r, const char *what, const struct pyspy_frame *fr,
			 unsigned n, const struct frame *want, unsigned n_want, bool rev)
{
	uint32_t locs[MAX_FRAMES];
	struct pyspy_frame in[MAX_FRAMES];

	CHECK(n == n_want, "%s: %s: %u frames, the target says %u", r->id, what, n, n_want);
	if (n != n_want || n > MAX_FRAMES || !n)
		return;
	/* Fingerprinted now, as dump does: the cache then knows which code object each is. */
	for (unsigned i = 0; i < n; i++) {
		struct py_code_fp fp;

		in[i] = fr[rev ? n - 1 - i : i];
		in[i].code_fp = 0;
		if (!py_code__fingerprint(NO_PID, &r->t.layout, in[i].code, &fp))
			in[i].code_fp = pyspy_code_fp(fp.name, fp.firstlineno);
	}
	code_cache__resolve(r->cache, in, n, 0, true, locs);
	for (unsigned i = 0; i < n; i++) {
		const struct frame *wf = &want[rev ? n - 1 - i : i];
		int line = -1;
		const struct profile_function *fn =
			profile__location_function(r->prof, locs[i], &line);
		const char *name = fn ? profile__str(r->prof, fn->name) : "?";
		const char *file = fn ? profile__str(r->prof, fn->file) : "?";

		CHECK(fn && !strcmp(name, wf->name) && !strcmp(file, wf->file) && line == wf->line,
		      "%s: %s: frame %u: %s (%s:%d), the target says %s (%s:%d)", r->id, what, i,
		      name, file, line, wf->name, wf->file, wf->line);
	}
}

/* The name of the task at task, as dump shows it. */
static void task_name(struct replay *r, uint64_t task, char *buf, size_t len)
{
	uint64_t name = 0;

	buf[0] = 0;
	if (py_async__task_name_ptr(NO_PID, &r->a, task, &name) ||
	    py_async__name(NO_PID, &r->t.layout, &r->a, name, buf, len))
		snprintf(buf, len, "?");
}

/*
 * The record of a sample of the loop thread, made by the BPF side's walk
 * and chain step, against the target's stack and its chain of awaiters.
 */
static void check_chain(struct replay *r, const struct want *w, uint64_t tstate)
{
	struct pyspy_proc p;
	struct pw_buf *wb = calloc(1, sizeof(*wb));
	struct pc_buf cb = { .pid = NO_PID };
	struct pc_chain c = { 0 };
	struct pw_walk pw = { 0 };
	struct pyspy_frame *fr = calloc(PYSPY_MAX_FRAMES, sizeof(*fr));
	const struct want_task *t = NULL;
	unsigned at, n_py = 0, tasks = 0;

	if (!wb || !fr)
		goto out;
	py_layout__to_bpf(&r->t.layout, r->t.runtime_addr, r->t.version_hex, &p);
	py_async__to_bpf(&r->a, &p);
	wb->pid = NO_PID;
	CHECK(!pw_read_tstate(wb, &p, tstate), "%s: the loop's thread state", r->id);
	pw_walk_start(&pw, wb, &p, fr);
	pw.task_root = pc_running_task(&cb, &c, &p, tstate);
	CHECK(pw.task_root, "%s: no running task", r->id);
	for (uint32_t i = 0; i < PW_STEPS && !pw_walk_one(i, &pw); i++)
		;
	pw_walk_end(&pw);
	CHECK(pw.root_at && !pw.err, "%s: the walk met the task's coroutine at %u (error %u)",
	      r->id, pw.root_at, pw.err);
	if (!pw.root_at)
		goto out;
	c.n = pw.root_at;
	for (uint32_t i = 0; i < PYSPY_ASYNC_STEPS && !pc_chain_step(wb, &cb, &c, &p, fr); i++)
		;
	CHECK(!c.err && !c.truncated, "%s: chain error %u", r->id, c.err);
	/* The thread's own frames, down to the running task's coroutine. */
	while (n_py < w->n_loop && strcmp(w->loop_f[n_py].name, "runner"))
		n_py++;
	check_frames(r, "the running task's frames", fr, pw.root_at, w->loop_f, n_py + 1, false);
	/* Then each task: its marker, the coroutines of the one awaiting it, ... */
	t = want_task(w, "runner");
	at = pw.root_at;
	while (t && at < c.n) {
		char name[PY_ASYNC_NAME_MAX], what[128];
		unsigned k = at;

		CHECK(fr[at].code & PYSPY_FRAME_TASK, "%s: frame %u is no task marker", r->id, at);
		task_name(r, fr[at].code & ~(PYSPY_FRAME_TASK | 3ull), name, sizeof(name));
		CHECK(!strcmp(name, t->name), "%s: task %u of the chain is %s, the target says %s",
		      r->id, tasks, name, t->name);
		tasks++;
		at++;
		/* Who awaits it is the chain's next: the target says there is one, or none. */
		t = t->n_awaits == 1 ? want_task(w, t->awaits[0]) : NULL;
		if (!t)
			break;
		while (k + 1 < c.n && !((fr[k + 1].code) & PYSPY_FRAME_TASK))
			k++;
		snprintf(what, sizeof(what), "the coroutines of %s", t->name);
		check_frames(r, what, fr + at, k + 1 - at, t->f, t->n, true);
		at = k + 1;
	}
	CHECK(at == c.n && tasks == 4, "%s: the chain: %u tasks, %u of %u frames", r->id, tasks, at,
	      c.n);
	printf("  %s: a sample of the running task: %u frames, %u tasks, %u reads\n", r->id, c.n,
	       tasks, c.reads);
out:
	free(fr);
	free(wb);
}

static const char *state_name(unsigned s)
{
	return s == PY_TASK_RUNNING	? "running"
	       : s == PY_TASK_PENDING	? "pending"
	       : s == PY_TASK_SUSPENDED ? "suspended"
					: "done";
}

/* Every task as dump --async reads it, against what the target says of each. */
static void check_tasks(struct replay *r, const struct want *w, const struct py_threads *th)
{
	struct py_async_tasks tk;
	uint64_t ts[64], interp = 0;
	uint32_t n = 0;
	int err;

	for (uint32_t i = 0; i < th->n && n < 64; i++)
		ts[n++] = th->t[i].tstate;
	procmem_read_u64(NO_PID, r->t.runtime_addr + r->t.layout.runtime_interp_head, &interp);
	err = py_async__tasks(NO_PID, &r->t.layout, &r->a, ts, n, interp, &tk);
	CHECK(!err && !tk.errors && !tk.truncated, "%s: tasks: %d, %u errors", r->id, err,
	      tk.errors);
	CHECK(tk.n == w->n_tasks, "%s: %u tasks, the target says %u", r->id, tk.n, w->n_tasks);
	for (uint32_t i = 0; !err && i < tk.n; i++) {
		const struct py_async_entry *e = &tk.t[i];
		const struct want_task *t = want_task(w, e->name);
		char what[128];

		CHECK(t, "%s: task %s is not the target's", r->id, e->name);
		if (!t)
			continue;
		CHECK(!strcmp(state_name(e->state), t->state) && !e->chain_partial,
		      "%s: task %s is %s%s, the target says %s", r->id, t->name,
		      state_name(e->state), e->chain_partial ? " (partial)" : "", t->state);
		CHECK(e->n_awaiters == t->n_awaits, "%s: task %s: %u awaiters, the target says %u",
		      r->id, t->name, e->n_awaiters, t->n_awaits);
		for (uint32_t k = 0; k < e->n_awaiters; k++) {
			int64_t j = py_async_tasks__find(&tk, tk.awaiters[e->awaiters_at + k]);
			bool known = false;

			for (unsigned m = 0; j >= 0 && m < t->n_awaits; m++)
				known |= !strcmp(tk.t[j].name, t->awaits[m]);
			CHECK(known, "%s: task %s: an awaiter the target does not name", r->id,
			      t->name);
		}
		snprintf(what, sizeof(what), "task %s", t->name);
		check_frames(r, what, tk.frames + e->frames_at, e->n_frames, t->f, t->n, true);
	}
	printf("  %s: %u tasks as dump --async reads them\n", r->id, tk.n);
	py_async_tasks__free(&tk);
}

/* The AsyncioDebug section, from the image's header (dump --save-image keeps it there). */
static int section(struct procimage *img, uint64_t *sec)
{
	char key[64];
	unsigned i;

	for (i = 0; py_async__debug_field(i); i++) {
		snprintf(key, sizeof(key), "asyncio_%s", py_async__debug_field(i));
		if (procimage__get(img, key, &sec[i]))
			return -ENOENT;
	}
	return i * 8 == PY_ASYNC_DEBUG_SIZE ? 0 : -EINVAL;
}

static void replay(const struct interp *it)
{
	static struct want w;
	struct replay r = { .id = it->id };
	struct py_threads th = { 0 };
	struct procimage *img = NULL;
	struct code_store *store = NULL;
	uint64_t sec[PY_ASYNC_DEBUG_SIZE / 8 + 1];
	const struct py_thread_stack *loop = NULL;
	char path[256], why[128] = "";
	int err;

	snprintf(path, sizeof(path), "tests/corpus/%s-async.expected", it->id);
	CHECK(!load_expected(path, &w) && w.loop && w.n_tasks >= 8 && w.n_loop > 6,
	      "%s: %u tasks expected", path, w.n_tasks);
	err = corpus_open(it, "-async", &r.t, &img);
	if (err)
		goto out;
	err = section(img, sec);
	CHECK(!err, "%s: the image has no AsyncioDebug section", it->id);
	if (!err)
		err = py_async__layout(sec, PY_ASYNC_DEBUG_SIZE, &r.t.layout, it->minor, &r.a, why,
				       sizeof(why));
	CHECK(!err, "%s: asyncio layout: %s", it->id, why);
	if (!err)
		err = py_unwind__threads(NO_PID, &r.t.layout, r.t.runtime_addr, &th);
	CHECK(!err && !th.list_partial, "%s: threads: %d", it->id, err);
	for (uint32_t k = 0; !err && k < th.n; k++)
		if (th.t[k].pthread_id == w.loop)
			loop = &th.t[k];
	CHECK(err || loop, "%s: the loop thread is not found", it->id);
	r.prof = profile__new(0);
	store = code_store__new(0, 0);
	r.cache = r.prof && store
			  ? code_cache__new(NO_PID, &r.t.layout, r.t.code_type_addr, r.prof, store)
			  : NULL;
	CHECK(r.cache, "%s: code cache", it->id);
	if (err || !loop || !r.cache)
		goto out;
	check_chain(&r, &w, loop->tstate);
	check_tasks(&r, &w, &th);
out:
	code_cache__free(r.cache);
	code_store__free(store);
	profile__free(r.prof);
	py_threads__free(&th);
	corpus_close(img);
}

/*
 * The step over crafted bytes, where no interpreter goes: what a
 * coroutine awaits is only followed while it is one of the chain's type,
 * an awaited slot below the stack is none, and a set's deleted and empty
 * slots are skipped.
 */
static void check_crafted(void)
{
	struct pyspy_proc p = { 0 };
	uint8_t g[PYSPY_GEN_BUF + 8] = { 0 };
	__u64 type0 = 0, sb[PYSPY_SET_BUF / 8 + 1] = { 0 };
	struct pc_gen out;
	uint64_t v;

	p.ob_type = 8;
	p.gen_iframe = 64;
	p.frame_code = 0;
	p.frame_instr = 56;
	p.frame_sp = 64;
	p.gen_state = 40;
	p.code_adaptive = 200;
	p.yf_lo = p.yf_hi = -1;
	p.yf_back = 8;
	v = 0x5000;
	memcpy(g + 8, &v, 8); /* ob_type */
	v = 0x9001;	      /* tag bits on the code reference */
	memcpy(g + 64, &v, 8);
	v = 0x9000 + 200 + 6;
	memcpy(g + 64 + 56, &v, 8);
	v = 0x7010;
	memcpy(g + 64 + 64, &v, 8);
	g[40] = (uint8_t)-1;
	CHECK(!pc_gen_decode(&p, g, &type0, &out) && type0 == 0x5000 && out.code == 0x9000 &&
	      out.lasti == 6 && out.state == -1 && out.yf_at == 0x7008);
	g[40] = 0; /* running: it awaits nothing */
	CHECK(!pc_gen_decode(&p, g, &type0, &out) && out.yf_at == 0);
	g[40] = (uint8_t)-1;
	v = 4; /* a stack pointer below the slot */
	memcpy(g + 64 + 64, &v, 8);
	CHECK(!pc_gen_decode(&p, g, &type0, &out) && out.yf_at == 0);
	type0 = 0x6000; /* another type: the chain ends */
	CHECK(pc_gen_decode(&p, g, &type0, &out) == 1);
	CHECK(pc_awaited(0x7003) == 0x7000);
	/* slots: (key, hash): empty, deleted, live */
	sb[0] = 0;
	sb[2] = 0x1000;
	sb[3] = (uint64_t)-1;
	sb[4] = 0x2000;
	sb[5] = 42;
	CHECK(pc_set_first(sb, 7) == 0x2000 && pc_set_first(sb, 1) == 0);
}

int main(void)
{
	static struct interp all[INTERPS_MAX];
	int n = interps_load("", all, INTERPS_MAX), async = 0;

	check_crafted();
	CHECK(n >= 11, "tests/interpreters.py: %d", n);
	for (int i = 0; i < n; i++) {
		if (all[i].major == 3 && all[i].minor < 14)
			continue;
		replay(&all[i]);
		async++;
	}
	CHECK(async >= 2, "%d interpreters with asyncio's debug offsets", async);
	return unit_done("coro");
}
