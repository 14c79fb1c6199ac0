/* SPDX-License-Identifier: MIT */
/*
 * asyncio.h - CPython 3.14+'s asyncio state, as --async and dump --async read it.
 *
 * Owns: the layout of tasks and of the per-thread asyncio state, taken from
 * the target's own AsyncioDebug section (no table) and checked against the
 * buffers that read it; its conversion for the BPF side (the await chain
 * of the running task, bpf/pyspy.h); the fingerprint that tells whether a
 * task's name is still the one the BPF side saw; what a coroutine's state
 * says of its task; and the userspace reader of every task of every
 * thread: name, state, the coroutine stack it is suspended in (the BPF
 * side's own step, bpf/pycoro.h) and who awaits it.  All of it is target memory: lists and
 * chains are walked with bounds on length and depth, cycles are detected,
 * and a corrupt list ends the walk with a counted error.
 */
#ifndef PYSPY_ASYNCIO_H
#define PYSPY_ASYNCIO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/types.h>

#include "pyoffsets.h"
#include "bpf/pyspy.h"

/* The AsyncioDebug section of 3.14 and 3.15: 13 u64s. */
#define PY_ASYNC_DEBUG_SIZE 104
/* Bounds on what a target makes us read (userspace). */
#define PY_ASYNC_TASK_MAX     1024  /* sizeof(TaskObj) read at once */
#define PY_ASYNC_MAX_TASKS    65536 /* tasks listed per process */
#define PY_ASYNC_MAX_DEPTH    256   /* coroutines in one task's await chain */
#define PY_ASYNC_MAX_AWAITERS 64    /* tasks awaiting one task */
#define PY_ASYNC_NAME_MAX     128

struct py_async_index;

struct py_async_layout {
	uint8_t minor;
	/* TaskObj */
	uint16_t task_size, task_name, task_awaited_by, task_is_task, task_awaited_by_is_set;
	uint16_t task_coro, task_node;
	/* PyInterpreterState.asyncio_tasks_head, _PyThreadStateImpl's three */
	uint32_t interp_tasks_head;
	uint16_t ts_running_loop, ts_running_task, ts_tasks_head;
	/* From _Py_DebugOffsets (py_layout) */
	uint16_t object_type, gen_iframe, gen_frame_state, frame_stackpointer;
	uint16_t frame_code, frame_instr, code_adaptive;
	uint16_t set_table, set_mask, type_flags, long_tag, long_digit;
	/* gi_frame_state values (they change between versions): created, and
	 * the range meaning "suspended in an await (yield from)" */
	int8_t st_created, st_yf_lo, st_yf_hi, st_executing;
	/* How many value-stack slots below the top the awaited object sits
	 * when suspended in an await: 1 in 3.14, 2 in 3.15 */
	uint8_t yf_slot;
	/* The same, as the BPF side's entry has it (py_async__to_bpf): what
	 * the one coroutine step (bpf/pycoro.h) reads tasks and coroutines by */
	struct pyspy_proc bpf;
};

/*
 * Fill *a from the AsyncioDebug bytes (len of them) and the target's layout
 * l, of CPython 3.minor.  0; -ENOTSUP before 3.14 or for a section of a
 * shape we do not know; -EINVAL with why when an offset does not fit what
 * reads it.
 */
int py_async__layout(const void *sec, size_t len, const struct py_layout *l, unsigned minor,
		     struct py_async_layout *a, char *why, size_t why_len);

/* The name of the AsyncioDebug section's i-th u64 ("task_size", ...), NULL past its last. */
const char *py_async__debug_field(unsigned i);

/* The --async fields of the BPF side's entry (the rest is py_layout__to_bpf's). */
void py_async__to_bpf(const struct py_async_layout *a, struct pyspy_proc *out);

/*
 * The fingerprint of a task's name as the BPF side computes it, from
 * PYSPY_NAME_FP_BUF bytes read at name + 8, with the process's str and
 * int types: 0 or -errno.
 */
int py_async__name_fp(pid_t pid, uint64_t name, uint64_t str_type, uint64_t long_type,
		      uint64_t *fp);
/* Read task's name pointer: 0 or -errno. */
int py_async__task_name_ptr(pid_t pid, const struct py_async_layout *a, uint64_t task,
			    uint64_t *name);
/*
 * A task name object (a str, or the int a default "Task-N" name is kept
 * as) into buf: 0 or -errno.
 */
int py_async__name(pid_t pid, const struct py_layout *l, const struct py_async_layout *a,
		   uint64_t name, char *buf, size_t len);

enum py_task_state {
	PY_TASK_RUNNING = 0, /* its thread's running task (read alone: its coroutine runs) */
	PY_TASK_SUSPENDED,   /* waiting in an await */
	PY_TASK_PENDING,     /* created, not started */
	PY_TASK_DONE,	     /* finished (still listed) */
};

/* One task as read (a reader's scratch). */
struct py_async_task {
	uint64_t addr;
	char name[PY_ASYNC_NAME_MAX];
	uint8_t state;	    /* enum py_task_state */
	bool chain_partial; /* its await chain faulted or looped part way */
	uint32_t n_awaiters;
	uint64_t awaiters[PY_ASYNC_MAX_AWAITERS]; /* tasks awaiting it */
	/* The coroutines it is suspended in, outermost first (lasti in bytes). */
	uint32_t n_frames;
	struct pyspy_frame frames[PY_ASYNC_MAX_DEPTH];
};

/* One task of a list read whole (dump --async): its awaiters and frames sit in the list's pools. */
struct py_async_entry {
	uint64_t addr;
	uint64_t tstate;     /* whose list holds it; 0: the interpreter's */
	uint64_t running_on; /* PY_TASK_RUNNING: the thread state running it */
	char name[PY_ASYNC_NAME_MAX];
	uint8_t state; /* enum py_task_state */
	bool chain_partial;
	uint32_t n_awaiters, awaiters_at; /* in py_async_tasks.awaiters */
	uint32_t n_frames, frames_at;	  /* in py_async_tasks.frames, outermost first */
	uint32_t n_kids, kids_at;	  /* the tasks it awaits: in py_async_tasks.kids */
};

/*
 * Frames kept for all the tasks of a process together, 8 MiB (the rest
 * are cut, and say so): 8 a task at the most tasks, read one by one.
 */
#define PY_ASYNC_FRAMES_TOTAL (1u << 19)

struct py_async_tasks {
	uint32_t n;
	uint32_t errors;		/* lists that faulted, looped or were corrupt */
	bool truncated;			/* more than PY_ASYNC_MAX_TASKS */
	struct py_async_entry *t;	/* n of them, in list order, each address once */
	uint64_t *awaiters;		/* every task's awaiters, one run after another */
	struct pyspy_frame *frames;	/* every task's frames, likewise */
	uint32_t *kids;			/* every task's awaited tasks (indexes), likewise */
	uint32_t n_aw, n_fr, n_kids;	/* pool fill */
	uint32_t cap_t, cap_aw, cap_fr; /* pool sizes */
	struct py_async_index *by_addr; /* n of them, sorted by address */
};

/*
 * Every task of every thread in tstates (n of them) and of the
 * interpreter at interp (0: none).  Each thread's running task is read
 * once, before the lists: it is the one task shown running on that
 * thread (a task whose coroutine was seen running while another was the
 * thread's is read again).  Who awaits whom is indexed both ways.  Time
 * and memory are linear in the tasks and bounded (PY_ASYNC_MAX_TASKS,
 * PY_ASYNC_FRAMES_TOTAL).  0 or -errno; free with py_async_tasks__free
 * (also after an error).
 */
int py_async__tasks(pid_t pid, const struct py_layout *l, const struct py_async_layout *a,
		    const uint64_t *tstates, uint32_t n, uint64_t interp,
		    struct py_async_tasks *out);
void py_async_tasks__free(struct py_async_tasks *t);

/* The index of the task at addr in t, or -1. */
int64_t py_async_tasks__find(const struct py_async_tasks *t, uint64_t addr);

/*
 * One task, from its bytes tb (a->task_size of them, read at task): who
 * awaits it, its state and the coroutines it is suspended in; its name
 * too when l is not NULL (else t->name is "").
 */
void py_async__task_from(pid_t pid, const struct py_layout *l, const struct py_async_layout *a,
			 uint64_t task, const uint8_t *tb, struct py_async_task *t);
/* From a task's bytes: the next node of its list, and (*prev) the one before. */
uint64_t py_async__task_next(const struct py_async_layout *a, const uint8_t *tb, uint64_t *prev);

/* What a task's own coroutine's gi_frame_state says of the task: enum py_task_state. */
uint8_t py_async__task_state(const struct py_async_layout *a, int8_t state);

/* "running", "suspended", "pending", "done" */
const char *py_async_task__state_name(unsigned state);

#endif /* PYSPY_ASYNCIO_H */
