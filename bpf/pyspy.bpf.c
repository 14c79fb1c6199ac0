// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * pyspy.bpf.c - the sampler: on each cpu-clock tick, walk the CPython frame
 * chain of the thread that was running, in kernel context.
 *
 * The target is never stopped.  Everything read here comes from user memory
 * with bpf_probe_read_user and is untrusted: offsets come from the `procs`
 * map and are masked into the scratch buffers, loops are bounded, and a
 * faulting pointer ends the walk with a named error.  No strings are read:
 * a frame is a (code object pointer, instruction offset) pair, and
 * userspace turns it into `qualname (file:line)`.
 *
 * This file keeps the programs, the maps and the sample path; each topic
 * has a header of its own, included after the maps: the walk of the
 * frames, shared with userspace (pywalk.h), the thread state
 * (tstate.bpf.h), --async's await chain (asyncio.bpf.h), --native's copy
 * (native.bpf.h), off-CPU's reasons (offcpu.bpf.h).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "core_fixes.bpf.h"
#include "pyspy.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/*
 * Waking the ring-buffer reader costs more than walking a 32-frame stack
 * (an irq_work self-IPI; a VM exit on virtual machines).  So records are
 * sent without a wakeup and userspace polls on a short timer, except when
 * the buffer is filling up, or for a process in PYSPY_MODE_EAGER.
 */
const volatile __u64 wakeup_bytes = 1 << 20;

/* --all: report tgids not seen before so userspace can look at them. */
const volatile bool discover_all = false;

/*
 * --native: each sample also carries the thread's user registers and a copy
 * of its user stack (up to ustack_max bytes), and its Python frames mark
 * where each evaluation call began (PYSPY_FRAME_ENTRY).  --kernel: and its
 * kernel stack.  Off, a sample costs nothing more.
 */
const volatile bool native_stacks = false;
const volatile bool kernel_stacks = false;
const volatile __u32 ustack_max = PYSPY_USTACK_MAX;

/*
 * --async: a sample taken while a task runs is sent as that task's frames
 * and then the await chain above it (see PYSPY_FRAME_TASK); off, nothing
 * more is read.
 */
const volatile bool async_tasks = false;

/*
 * Bumped after every change to `procs` (userspace after its updates, the
 * exec and exit hooks after their deletes), so a CPU's cached copy of an
 * entry is never used past a change.
 */
__u64 procs_gen = 0;

/* A map keyed by a __u32: an index, or a process's or thread's id. */
#define U32_MAP(name, kind, entries, value_type) \
	struct {                                 \
		__uint(type, kind);              \
		__uint(max_entries, (entries));  \
		__type(key, __u32);              \
		__type(value, value_type);       \
	} name SEC(".maps")

/*
 * What we remember of a process or thread, by its id: LRU, so that with
 * --all (non-Python ones remembered too) an evicted entry is only looked
 * at again.
 */
#define TASK_ENTRIES 16384

U32_MAP(errors, BPF_MAP_TYPE_PERCPU_ARRAY, PYSPY_ERR__COUNT, __u64);
U32_MAP(stats, BPF_MAP_TYPE_PERCPU_ARRAY, PYSPY_STAT__COUNT, __u64);

static __always_inline void count(void *map, __u32 key)
{
	__u64 *v = bpf_map_lookup_elem(map, &key);

	if (v)
		(*v)++;
}

/*
 * The one walk and coroutine step (bpf/pywalk.h, bpf/pycoro.h): their
 * reads are probe reads of the current task; a task of the await chain is
 * read by a global function (asyncio.bpf.h), checked once.
 */
int chain_read_task(__u64 task);
#define PW_READ(b, dst, len, addr)   bpf_probe_read_user((dst), (len), (void *)(addr))
#define PW_MARKS(w)		     native_stacks
#define PW_COUNT(err)		     count(&errors, (err))
#define PW_ON_TSTATE(c)		     0
#define PC_READ_TASK(cb, c, p, task) chain_read_task(task)
#include "pycoro.h"

/*
 * Threads with no PyThreadState are retried after 1 ms, then twice as long
 * each time up to 50 ms; and at once when the main interpreter's thread
 * list has a new head (a new thread state is put first).  A thread met
 * before its thread state existed or was bound (a process registered as
 * it starts, a thread just started, a C thread that later calls into
 * Python) is thus known by the time it first leaves the CPU, and none of
 * its waits is lost; a thread that never runs Python costs a list walk
 * per 50 ms and two reads per sample.
 */
#define NEG_CACHE_MIN_NS (1000 * 1000ULL)
#define NEG_CACHE_NS	 (50 * 1000 * 1000ULL)

U32_MAP(procs, BPF_MAP_TYPE_LRU_HASH, TASK_ENTRIES, struct pyspy_proc); /* by tgid */

/* What a thread's PyThreadState is, found once by a list walk. */
struct tstate_entry {
	__u64 tstate;	/* 0: none found */
	__u64 retry_ns; /* negative entries: when to look again */
	__u64 head;	/* ... or sooner, once the thread list's head is not this */
	__u32 misses;	/* negative verdicts in a row */
	__u32 pad;
};

U32_MAP(tstates, BPF_MAP_TYPE_LRU_HASH, TASK_ENTRIES, struct tstate_entry); /* by tid */

struct scratch {
	struct pyspy_sample sample;
	struct pw_buf pw; /* the walk's: thread state, frames, fingerprints */
	/* --async: the await chain's walk (see chain_step), and its buffers */
	struct pc_buf pc;
	struct pc_chain ch;
	/* The thread this CPU sampled last and its PyThreadState: a CPU
	 * mostly samples the same thread, and this spares the tstates
	 * lookup.  Checked like any cached tstate (thread_id == fsbase). */
	__u32 last_tid;
	__u64 last_tstate;
	/* A copy of the procs entry of the Python process this CPU sampled
	 * last, valid while procs_gen is what it was when copied: it spares
	 * the procs lookup for the process a CPU is busy with. */
	__u32 pc_tgid;
	__u64 pc_gen;
	struct pyspy_proc pc_proc;
};

U32_MAP(scratch_map, BPF_MAP_TYPE_PERCPU_ARRAY, 1, struct scratch);

/*
 * The native part of a sample, in a map of its own: with the Python frames
 * it would pass the per-CPU value limit.  +4096: a page-sized read at any
 * offset below PYSPY_USTACK_MAX stays inside.
 */
struct native_scratch {
	struct pyspy_native h;
	__u64 kstack[PYSPY_KSTACK_MAX];
	__u8 ustack[PYSPY_USTACK_MAX + 4096];
};

U32_MAP(native_map, BPF_MAP_TYPE_PERCPU_ARRAY, 1, struct native_scratch);

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* resized by userspace */
} events SEC(".maps");

/* When each Python thread that left the CPU left it (ktime, by tid). */
U32_MAP(offcpu_start, BPF_MAP_TYPE_LRU_HASH, TASK_ENTRIES, __u64);

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch_map, &zero);
}

/* The ring buffer's wakeup policy for a sample of p (see wakeup_bytes). */
static __always_inline __u64 wakeup_flags(const struct pyspy_proc *p)
{
	if ((p->mode & PYSPY_MODE_EAGER) ||
	    bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* Why the thread is leaving the CPU, for OFFCPU samples. */
struct switch_info {
	__u16 flags;
	__s32 syscall;
	__u64 arg;
};

/* The wakeup policy for an event about tgid (see wakeup_bytes). */
static __always_inline __u64 wakeup_flags_for(__u32 tgid)
{
	struct pyspy_proc *p = bpf_map_lookup_elem(&procs, &tgid);

	if (p)
		return wakeup_flags(p);
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									     : BPF_RB_NO_WAKEUP;
}

#include "tstate.bpf.h"
#include "asyncio.bpf.h"
#include "native.bpf.h"
#include "offcpu.bpf.h"

static __always_inline int sample_python(void *ctx, struct scratch *s, const struct pyspy_proc *p,
					 __u32 tgid, __u32 tid, const struct switch_info *si)
{
	struct pw_walk w = {};
	__u64 ts, size;

	s->sample.flags = (p->mode & PYSPY_MODE_VERIFY) ? PYSPY_SAMPLE_VERIFIED : 0;
	s->sample.syscall = si ? si->syscall : -1;
	s->sample.arg = si ? si->arg : 0;
	if (si)
		s->sample.flags |= si->flags;
	s->sample.ktime_ns = bpf_ktime_get_ns();
	ts = find_tstate(s, p, tid, s->sample.ktime_ns, &w.err);
	s->last_tid = tid;
	s->last_tstate = ts;
	if (!ts) {
		count(&errors, w.err);
		return 0;
	}
	/* The tstate read, the GIL read and the _PyCFrame hop. */
	w.reads = 1 + !!p->gil_addr + (p->frame_model == PYSPY_FM_CFRAME);
	if (holds_gil(p, ts))
		s->sample.flags |= PYSPY_SAMPLE_GIL;
	pw_walk_start(&w, &s->pw, p, s->sample.frames);
	if (!w.frame) {
		if (w.err)
			count(&errors, w.err);
		else
			count(&stats, PYSPY_STAT_IDLE);
		return 0;
	}
	if (async_tasks && p->ts_running_task)
		running_task(s, p, ts, &w);
	bpf_loop(PW_STEPS, pw_walk_one, &w, 0);
	if (async_tasks && p->ts_running_task) {
		/* The rest of the record: the running task and those awaiting it. */
		w.n = chain_walk(w.root_at, w.n);
		w.reads += s->ch.reads;
		if (s->ch.err && !w.err)
			w.err = s->ch.err;
	}
	pw_walk_end(&w);
	if (w.truncated)
		s->sample.flags |= PYSPY_SAMPLE_TRUNCATED;
	if (w.err)
		count(&errors, w.err);

	s->sample.pid = tgid;
	s->sample.tid = tid;
	s->sample.cgroup_id = bpf_get_current_cgroup_id();
	s->sample.cpu = bpf_get_smp_processor_id();
	s->sample.reads = w.reads;
	s->sample.error = w.err;
	s->sample.n_frames = w.n;
	size = PYSPY_SAMPLE_HDR_SIZE + (__u64)w.n * sizeof(struct pyspy_frame);
	if (size > sizeof(s->sample))
		size = sizeof(s->sample);
	if (native_stacks || kernel_stacks)
		return emit_native(ctx, s, p, size, wakeup_flags(p));
	if (bpf_ringbuf_output(&events, &s->sample, size, wakeup_flags(p)))
		count(&errors, PYSPY_ERR_RINGBUF_FULL);
	return 0;
}

/* A header-only record telling userspace about a process. */
static __always_inline void emit_event(__u32 tgid, __u32 tid, __u16 flags)
{
	struct pyspy_event ev = {};

	ev.pid = tgid;
	ev.tid = tid;
	ev.flags = flags;
	ev.ktime_ns = bpf_ktime_get_ns();
	if (bpf_ringbuf_output(&events, &ev, sizeof(ev), BPF_RB_FORCE_WAKEUP))
		count(&errors, PYSPY_ERR_RINGBUF_FULL);
}

static __always_inline void note_new_process(__u32 tgid, __u32 tid)
{
	struct pyspy_proc pending;

	__builtin_memset(&pending, 0, sizeof(pending));
	pending.state = PYSPY_PROC_PENDING;

	/* NOEXIST: only the first tick of a process reports it. */
	if (!bpf_map_update_elem(&procs, &tgid, &pending, BPF_NOEXIST))
		emit_event(tgid, tid, PYSPY_EVENT_NEW_PROCESS);
}

/*
 * The procs entry of tgid if it is a Python process we sample, from this
 * CPU's copy when nothing changed since it was made.  *seen: an entry
 * exists (of any state).
 */
static __always_inline const struct pyspy_proc *python_proc(struct scratch *s, __u32 tgid,
							    bool *seen, __u8 *state)
{
	__u64 gen = *(volatile __u64 *)&procs_gen;
	struct pyspy_proc *p;

	*seen = true;
	*state = PYSPY_PROC_PYTHON;
	if (tgid && s->pc_tgid == tgid && s->pc_gen == gen)
		return &s->pc_proc;
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p) {
		*seen = false;
		return NULL;
	}
	*state = p->state;
	if (p->state != PYSPY_PROC_PYTHON)
		return NULL;
	s->pc_proc = *p;
	s->pc_tgid = tgid;
	s->pc_gen = gen;
	return &s->pc_proc;
}

SEC("perf_event")
int pyspy_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct scratch *s = get_scratch();
	const struct pyspy_proc *p;
	bool seen;
	__u8 state;

	if (!s)
		return 0;
	/* The only cost for processes we do not profile: one lookup. */
	p = python_proc(s, tgid, &seen, &state);
	if (!p) {
		if (!seen && discover_all && tgid)
			note_new_process(tgid, tid);
		return 0;
	}
	return sample_python(ctx, s, p, tgid, tid, NULL);
}

/* --- off-CPU: where a thread blocks, and for how long --------------------- */

/*
 * sched_switch runs in prev's context, so prev's own Python stack can be
 * walked like a CPU sample; next's wait, if it is one of ours, ends here.
 * A thread of a process we do not sample costs one map lookup each way.
 */
SEC("raw_tracepoint/sched_switch")
int pyspy_switch(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *prev = (void *)ctx->args[1], *next = (void *)ctx->args[2];
	__u64 id = bpf_get_current_pid_tgid(), now, *start;
	__u32 tgid = id >> 32, tid = (__u32)id, ntid;
	struct switch_info si = { .flags = PYSPY_SAMPLE_OFFCPU };
	struct scratch *s = get_scratch();
	const struct pyspy_proc *p;
	bool seen;
	__u8 state;

	if (!s)
		return 0;
	p = python_proc(s, tgid, &seen, &state);
	if (!p && state == PYSPY_PROC_WATCH && tid) {
		/* Not Python yet: only when it left, for registration to find. */
		now = bpf_ktime_get_ns();
		bpf_map_update_elem(&offcpu_start, &tid, &now, BPF_ANY);
	} else if (p && tid) {
		/* Still runnable: preempted (or yielded), waiting for a CPU. */
		if (ctx->args[0] || get_task_state(prev) == 0)
			si.flags |= PYSPY_SAMPLE_PREEMPTED;
		else
			blocked_in(&si);
		unseen_run(prev, tgid, tid);
		sample_python(ctx, s, p, tgid, tid, &si);
		now = bpf_ktime_get_ns();
		bpf_map_update_elem(&offcpu_start, &tid, &now, BPF_ANY);
	}
	ntid = BPF_CORE_READ(next, pid);
	start = bpf_map_lookup_elem(&offcpu_start, &ntid);
	if (!start)
		return 0;
	now = bpf_ktime_get_ns();
	{
		__u64 began = *start;

		bpf_map_delete_elem(&offcpu_start, &ntid);
		wait_ended(BPF_CORE_READ(next, tgid), ntid, began, now);
	}
	return 0;
}

/*
 * exec replaces the image: whatever we knew of this tgid is void.  Raw
 * tracepoints need neither tracefs nor kprobes.
 */
SEC("raw_tracepoint/sched_process_exec")
int pyspy_exec(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct pyspy_proc *p = bpf_map_lookup_elem(&procs, &tgid);

	if (!p)
		return 0;
	if (p->state == PYSPY_PROC_PYTHON || p->state == PYSPY_PROC_WATCH)
		emit_event(tgid, (__u32)id, PYSPY_EVENT_EXEC);
	/* A launched command keeps being watched into the image it became. */
	if (p->state == PYSPY_PROC_WATCH)
		return 0;
	bpf_map_delete_elem(&procs, &tgid);
	__sync_fetch_and_add(&procs_gen, 1);
	return 0;
}

/* The group leader's exit ends the process: forget it (PIDs get reused). */
SEC("raw_tracepoint/sched_process_exit")
int pyspy_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;

	if (tgid == (__u32)id && !bpf_map_delete_elem(&procs, &tgid))
		__sync_fetch_and_add(&procs_gen, 1);
	return 0;
}
