// SPDX-License-Identifier: MIT
/*
 * asyncstack.c - --async records as logical task stacks, and task names.
 *
 * Cost: a sample's tasks are named from a cache keyed by (task, name
 * fingerprint); the BPF side computed the fingerprint at sample time from
 * the name as it was, so a hit needs no target memory, and a miss reads
 * the name once and checks it is still the one the sample saw.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "symbolize/base/hash.h" /* before uthash.h: its HASH_FUNCTION */
#include <uthash.h>

#include "asyncstack.h"
#include "symbolize/base/clock.h"
#include "symbolize/base/log.h"

/* Task names cached per process at most; past it the cache starts over. */
#define NAME_CACHE_MAX 8192
/*
 * How often the offsets are looked for while asyncio is not mapped yet:
 * soon after the start (a program imports it early), then less and less
 * often, since each look reads the process's maps.
 */
#define POLL_MIN_NS (500 * 1000 * 1000ull)
#define POLL_MAX_NS (5 * 1000 * 1000 * 1000ull)

struct name_key {
	uint64_t task, fp;
};

struct name_entry {
	UT_hash_handle hh;
	struct name_key key;
	uint32_t loc;
};

struct async_proc {
	const struct py_target *py;
	struct profile *prof;
	bool ready, never;
	uint64_t next_poll_ns, poll_ns;
	struct py_async_layout a;
	struct name_entry *names; /* at most NAME_CACHE_MAX */
	uint32_t lost_loc;	  /* `task ?`, UINT32_MAX: not made yet */
	struct async_stats st;
};

struct async_proc *async_proc__new(const struct py_target *py, struct profile *prof)
{
	struct async_proc *ap = calloc(1, sizeof(*ap));

	if (ap)
		*ap = (struct async_proc){ .py = py,
					   .prof = prof,
					   .lost_loc = UINT32_MAX,
					   .never = (py->version_hex >> 16) < 0x030e };
	return ap;
}

void async_proc__free(struct async_proc *ap)
{
	if (!ap)
		return;
	HASH_CLEAR_FREE(hh, ap->names, free);
	free(ap);
}

int async_proc__poll(struct async_proc *ap, uint64_t now_ns)
{
	uint8_t sec[PY_ASYNC_DEBUG_SIZE + 8];
	char why[128] = "";
	size_t len = 0;
	int err;

	if (ap->ready || ap->never || now_ns < ap->next_poll_ns)
		return 0;
	ap->poll_ns = ap->poll_ns ? ap->poll_ns + ap->poll_ns / 2 : POLL_MIN_NS;
	if (ap->poll_ns > POLL_MAX_NS)
		ap->poll_ns = POLL_MAX_NS;
	ap->next_poll_ns = now_ns + ap->poll_ns;
	err = py_target__asyncio_debug(ap->py, sec, sizeof(sec), &len);
	if (err == -ENOENT)
		return 0; /* asyncio not imported (yet) */
	if (!err)
		err = py_async__layout(sec, len, &ap->py->layout, ap->py->layout.minor, &ap->a, why,
				       sizeof(why));
	if (err) {
		log_warn("PID %d: its asyncio state cannot be read (%s): --async does not apply "
			 "to it",
			 ap->py->pid, why[0] ? why : strerror(-err));
		ap->never = true;
		return 0;
	}
	log_debug("PID %d: asyncio found; the running task at +%u of a thread state", ap->py->pid,
		  ap->a.ts_running_task);
	ap->ready = true;
	return 1;
}

const struct py_async_layout *async_proc__layout(const struct async_proc *ap)
{
	return ap && ap->ready ? &ap->a : NULL;
}

void async_proc__to_bpf(const struct async_proc *ap, struct pyspy_proc *out)
{
	if (!ap || !ap->ready)
		return;
	py_async__to_bpf(&ap->a, out);
	out->str_type = ap->py->str_type_addr;
	out->long_type = ap->py->long_type_addr;
}

void async_proc__remap(struct async_proc *ap, struct profile_remap *m)
{
	struct name_entry *e;

	if (ap->lost_loc != UINT32_MAX)
		ap->lost_loc = profile_remap__weak_location(m, ap->lost_loc);
	/* Names are held weakly: one whose location is gone is forgotten. */
	for (e = ap->names; e; e = e->hh.next)
		e->loc = profile_remap__weak_location(m, e->loc);
	HASH_FREE_IF(hh, ap->names, gone, gone->loc == UINT32_MAX, free);
}

const struct async_stats *async_proc__stats(const struct async_proc *ap)
{
	return &ap->st;
}

static bool is_task(const struct pyspy_frame *f)
{
	return (f->code & (PYSPY_FRAME_TASK | PYSPY_FRAME_SHIM)) == PYSPY_FRAME_TASK;
}

bool async_stack__has_tasks(const struct pyspy_frame *f, uint32_t n)
{
	/* The running task's marker closes the thread's frames, so look from the end. */
	for (uint32_t i = n; i-- > 0;)
		if (is_task(&f[i]))
			return true;
	return false;
}

void async_stack__split(struct async_proc *ap, const struct pyspy_frame *in, uint32_t n,
			struct pyspy_frame *py, struct async_split *sp)
{
	uint32_t seg = 0, k = 0;

	sp->n_py = 0;
	sp->n_tasks = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t task = in[i].code & ~(PYSPY_FRAME_TASK | 3ull);

		if (!is_task(&in[i]))
			continue;
		for (uint32_t t = 0; t < sp->n_tasks; t++) {
			if (sp->task[t] == task) {
				if (ap)
					ap->st.cycles++;
				return;
			}
		}
		if (sp->n_tasks == PYSPY_ASYNC_MAX_TASKS)
			return;
		/* The running task's frames come innermost first, the others outermost first. */
		for (uint32_t j = k; j < i; j++) {
			const struct pyspy_frame *f = seg ? &in[i - 1 - (j - k)] : &in[j];

			py[sp->n_py] = *f;
			py[sp->n_py].code &= ~(uint64_t)(PYSPY_FRAME_ENTRY);
			sp->n_py++;
		}
		sp->at[sp->n_tasks] = sp->n_py;
		sp->task[sp->n_tasks] = task;
		sp->fp[sp->n_tasks] = (uint32_t)in[i].lasti | (uint64_t)in[i].code_fp << 32;
		sp->n_tasks++;
		k = i + 1;
		seg++;
	}
	/* Frames after the last task (a chain cut by the frame limit) have no task: dropped. */
}

static uint32_t lost_location(struct async_proc *ap)
{
	if (ap->lost_loc == UINT32_MAX)
		ap->lost_loc = profile__location(
			ap->prof, profile__function_of(ap->prof, PROFILE_FN_TASK, "task ?", "", 0),
			-1);
	return ap->lost_loc;
}

/* Read the task's name now; is it still the one whose fingerprint is fp? */
static int name_now(struct async_proc *ap, uint64_t task, uint64_t fp, bool check_fp, char *buf,
		    size_t len)
{
	uint64_t name, now;
	int err;

	err = py_async__task_name_ptr(ap->py->pid, &ap->a, task, &name);
	if (!err && check_fp) {
		err = py_async__name_fp(ap->py->pid, name, ap->py->str_type_addr,
					ap->py->long_type_addr, &now);
		if (!err && now != fp)
			err = -ESTALE;
	}
	if (!err)
		err = py_async__name(ap->py->pid, &ap->py->layout, &ap->a, name, buf, len);
	return err;
}

uint32_t async_proc__task_location(struct async_proc *ap, uint64_t task, uint64_t fp, bool check_fp)
{
	struct name_key key = { task, fp };
	char name[PY_ASYNC_NAME_MAX], label[PY_ASYNC_NAME_MAX + 8];
	struct name_entry *e;

	HASH_FIND(hh, ap->names, &key, sizeof(key), e);
	if (e)
		return e->loc;
	if (!ap->ready || name_now(ap, task, fp, check_fp, name, sizeof(name))) {
		ap->st.names_lost++;
		return lost_location(ap);
	}
	if (HASH_COUNT(ap->names) >= NAME_CACHE_MAX)
		HASH_CLEAR_FREE(hh, ap->names, free);
	e = calloc(1, sizeof(*e));
	snprintf(label, sizeof(label), "task %s", name);
	/* Names are the target's bytes: profile__function keeps them as data. */
	if (!e)
		return profile__location(
			ap->prof, profile__function_of(ap->prof, PROFILE_FN_TASK, label, "", 0),
			-1);
	e->key = key;
	e->loc = profile__location(
		ap->prof, profile__function_of(ap->prof, PROFILE_FN_TASK, label, "", 0), -1);
	HASH_ADD(hh, ap->names, key, sizeof(e->key), e);
	return e->loc;
}

uint32_t async_stack__merge(struct async_proc *ap, const struct async_split *sp,
			    const uint32_t *py_locs, uint32_t *locs, uint32_t max)
{
	uint32_t n = 0, from = 0;

	for (uint32_t t = 0; t < sp->n_tasks; t++) {
		for (uint32_t i = from; i < sp->at[t] && n < max; i++)
			locs[n++] = py_locs[i];
		from = sp->at[t];
		if (n < max)
			locs[n++] = async_proc__task_location(ap, sp->task[t], sp->fp[t], true);
	}
	ap->st.samples++;
	return n;
}
