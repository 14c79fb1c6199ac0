/* SPDX-License-Identifier: MIT */
/*
 * pyspy.h - the contract between the BPF sampler and userspace.
 *
 * Owns: the per-process description userspace writes into the `procs` map
 * (where the interpreter lives and how its frames are laid out), the sample
 * record the BPF side emits through the ring buffer, and the unwinding error
 * kinds counted per CPU.  Included by both sides, so it uses only __u32-style
 * types.  The BPF side knows no CPython version: every
 * version difference is data in struct pyspy_proc.
 */
#ifndef PYSPY_H
#define PYSPY_H

/* The BPF side gets __u32 & co. from vmlinux.h; userspace from here. */
#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Deepest Python stack walked whole; deeper stacks are flagged truncated. */
#define PYSPY_MAX_FRAMES 1024
/* Bytes of a frame struct read in one bpf_probe_read_user call. */
#define PYSPY_FRAME_BUF 128
/* Bytes of a PyThreadState read in one call (frame, thread_id, data stack). */
#define PYSPY_TSTATE_BUF 512
/*
 * 3.11+ data stack: the most bytes read at once below a frame (its callers
 * come along), and the size every chunk has at least (DATA_STACK_CHUNK_SIZE),
 * so [chunk, chunk + PYSPY_CHUNK_MIN) is always mapped.
 */
#define PYSPY_WIN	4096
#define PYSPY_CHUNK_MIN 16384
/* Threads scanned per interpreter when looking for the sampled thread. */
#define PYSPY_MAX_THREADS 256
/* Interpreters scanned (main + subinterpreters). */
#define PYSPY_MAX_INTERPS 4

/* How the thread's current frame is reached; the only branch on layout. */
enum pyspy_frame_model {
	PYSPY_FM_NONE = 0,
	PYSPY_FM_FRAMEOBJECT = 1, /* 3.8-3.10: tstate->frame, PyFrameObject */
	PYSPY_FM_CFRAME = 2,	  /* 3.11-3.12: tstate->cframe->current_frame */
	PYSPY_FM_CURRENT = 3,	  /* 3.13+: tstate->current_frame */
};

/* Per-process layout, keyed by tgid in the `procs` map. Offsets in bytes. */
struct pyspy_proc {
	__u64 runtime_addr;	   /* &_PyRuntime in the target */
	__u32 version_hex;	   /* PY_VERSION_HEX of the target */
	__u32 frame_model;	   /* enum pyspy_frame_model */
	__u16 runtime_interp_head; /* _PyRuntime.interpreters.head */
	__u16 interp_next;	   /* PyInterpreterState.next */
	__u16 interp_threads_head; /* tstate_head / threads.head */
	__u16 tstate_next;	   /* PyThreadState.next */
	__u16 tstate_thread_id;	   /* pthread_t == fsbase on x86_64 */
	__u16 tstate_frame;	   /* frame / cframe / current_frame */
	__u16 cframe_current;	   /* _PyCFrame.current_frame (FM_CFRAME) */
	__u16 frame_back;	   /* f_back / previous */
	__u16 frame_code;	   /* f_code / f_executable */
	__u16 frame_instr;	   /* f_lasti (int) or prev_instr/instr_ptr */
	__u16 frame_owner;	   /* owner byte, valid if owner_skip_min */
	__u16 code_adaptive;	   /* offsetof(PyCodeObject, co_code_adaptive) */
	__u8 instr_is_ptr;	   /* 1: frame_instr is a pointer into code */
	__u8 lasti_mult;	   /* bytes per f_lasti unit (1 or 2) */
	__u8 owner_skip_min;	   /* skip frames whose owner >= this; 0: none */
	__u8 mode;		   /* PYSPY_MODE_* */
	/* Code-object fingerprint read in PYSPY_MODE_VERIFY: one read of
	 * code_fp_len bytes at code + code_fp_lo, holding co_name (a pointer)
	 * at +code_fp_name and co_firstlineno (an int) at +code_fp_line. */
	__u16 code_fp_lo;
	__u8 code_fp_len;
	__u8 code_fp_name;
	__u8 code_fp_line;
	__u8 state;	    /* PYSPY_PROC_*: only PYTHON is sampled */
	__u16 tstate_chunk; /* datastack_chunk (3.11+); 0: no data stack */
	/* The GIL: one read per sample tells whether the sampled thread
	 * holds it (last_holder == its tstate and locked).  0: unknown. */
	__u64 gil_addr;
	__u16 gil_holder;  /* offset of last_holder in the GIL struct */
	__u16 gil_locked;  /* offset of locked (an int) */
	__u16 frame_entry; /* 3.11: is_entry (a bool) in the frame; 0: none */
	/* --native: bytes of user stack to copy, as userspace learnt this
	 * process needs (up to its outermost Python frame); 0: the most. */
	__u16 ustack_bytes;
	/*
	 * --async (3.14+): how the running task's await chain is read (see
	 * PYSPY_FRAME_TASK).  ts_running_task 0: not for this process.
	 * Task fields are offsets into the task_len bytes read at task +
	 * task_lo; a coroutine is read as gen_len bytes from its start, its
	 * frame at gen_iframe in them.
	 */
	__u16 ts_running_task; /* _PyThreadStateImpl.asyncio_running_task */
	__u16 task_lo;
	__u8 task_len;
	__u8 task_awaited_by, task_is_set, task_is_task, task_coro, task_name;
	__u8 set_table, set_mask; /* PySetObject */
	__u16 gen_iframe, gen_len, gen_state;
	__u16 frame_sp;	   /* _PyInterpreterFrame.stackpointer */
	__s8 yf_lo, yf_hi; /* gi_frame_state: suspended in an await */
	__u16 yf_back;	   /* ...awaiting what is this many bytes below stackpointer */
	__u16 ob_type;
	__u64 str_type;	 /* &PyUnicode_Type: a name's fingerprint covers its text */
	__u64 long_type; /* &PyLong_Type: ... or its value (a default name) */
	/* A thread state's interpreter (a freed and reused one points
	 * elsewhere) and its kernel TID (3.11+); 0: not read. */
	__u16 tstate_interp;
	__u16 tstate_native_tid;
};

/*
 * What a `procs` entry says about a process.  With --all, the BPF side
 * inserts PENDING for a tgid it has not seen and tells userspace, which
 * answers PYTHON (with the layout) or IGNORE, so a non-Python process costs
 * one map lookup per tick.
 */
#define PYSPY_PROC_PYTHON  0
#define PYSPY_PROC_PENDING 1
#define PYSPY_PROC_IGNORE  2
/*
 * A launched command before it is Python (set before its exec): not
 * sampled, but in offcpu/wall mode the times its threads leave the CPU are
 * kept, so a wait that began before registration is charged from its start,
 * and its exec is reported at once.  Survives the exec.
 */
#define PYSPY_PROC_WATCH 3

/*
 * Per-process modes, set by userspace.  VERIFY: besides the frame, read a
 * fingerprint of each frame's code object at sample time (a second read
 * per frame), so that a code object freed and reused before userspace
 * looks at it is never shown under the new occupant's name.  Userspace
 * keeps it on while a process is new or creates and frees code objects.
 * EAGER: wake userspace on every sample of this process.
 */
#define PYSPY_MODE_VERIFY 0x1
#define PYSPY_MODE_EAGER  0x2
/* Largest fingerprint read. */
#define PYSPY_CODE_FP_BUF 128

/* Why a sample's stack is incomplete; indexes the per-CPU `errors` map. */
/*
 * The one list of them: X(NAME, "what the summary and /metrics call it"),
 * in enum order.  Userspace builds its names from it (summary__error_name).
 */
#define PYSPY_ERRORS(X)                                                              \
	X(NONE, "none")                                                              \
	X(NO_TSTATE, "no thread state")	      /* not (yet) a Python thread */        \
	X(READ_RUNTIME, "runtime unreadable") /* _PyRuntime / interpreter list */    \
	X(READ_TSTATE, "thread state unreadable")                                    \
	X(READ_FRAME, "frame unreadable")      /* a frame pointer faulted */         \
	X(BAD_LAYOUT, "bad layout")	       /* offsets out of the read buffers */ \
	X(TRUNCATED, "truncated (too deep)")   /* deeper than PYSPY_MAX_FRAMES */    \
	X(RINGBUF_FULL, "ring buffer full")    /* sample dropped */                  \
	X(READ_CODE, "code object unreadable") /* VERIFY: a code object faulted */   \
	X(READ_TASK, "await chain unreadable") /* --async: a task or coroutine faulted */

#define PYSPY_ERR_ENUM(name, text) PYSPY_ERR_##name,
enum pyspy_error {
	PYSPY_ERRORS(PYSPY_ERR_ENUM) PYSPY_ERR__COUNT,
};
#undef PYSPY_ERR_ENUM

/*
 * Counters kept by the BPF side besides errors (per-CPU `stats` map).  Only
 * off the common path: a counter costs a map lookup per sample.
 */
enum pyspy_stat {
	PYSPY_STAT_TSTATE_SCAN = 0, /* thread list walks (tid cache misses) */
	PYSPY_STAT_IDLE,	    /* Python thread with no frame */
	PYSPY_STAT_UNSEEN_RUN,	    /* a wait whose end (switch in) was not seen */
	PYSPY_STAT__COUNT,
};

/* One Python frame as sampled: the code object and where it was. */
struct pyspy_frame {
	__u64 code;    /* PyCodeObject * in the target, | PYSPY_FRAME_ENTRY */
	__s32 lasti;   /* byte offset of the instruction in the bytecode */
	__u32 code_fp; /* pyspy_code_fp() of the code object, VERIFY mode */
};

/*
 * Set in code's low bit (code objects are aligned) on the outermost frame
 * one native evaluation call ran: 3.11+ run Python-to-Python calls in the
 * same C call, and this is where --native puts the Python frames of each
 * _PyEval_EvalFrameDefault it unwinds.  3.8-3.10 run one frame per call
 * and set no bit.
 */
#define PYSPY_FRAME_ENTRY 0x1ull
/*
 * --native, 3.12+: not a Python frame but the address of an entry (shim)
 * frame, which is a local of the evaluation call that pushed it, so it lies
 * inside that call's native stack frame.  lasti is -1.
 */
#define PYSPY_FRAME_SHIM 0x2ull
/*
 * --async: not a frame but a task, at the task's address; the frames
 * before it in the record are that task's.  The first task is the
 * running one, and its frames are the thread's own, innermost first,
 * down to the task's coroutine (the event loop's below it are not sent).
 * Each task after it awaits the one before, and its frames are the
 * coroutines it is suspended in, outermost first, as they are found.
 * lasti and code_fp hold the 64-bit pyspy_name_fp() of its name.
 */
#define PYSPY_FRAME_TASK 0x4ull
/* Bytes of a task, a coroutine and a set read at once; a name's fingerprint read. */
#define PYSPY_TASK_BUF	  128
#define PYSPY_GEN_BUF	  256
#define PYSPY_SET_BUF	  64
#define PYSPY_NAME_FP_BUF 64
/* Tasks in one await chain, and steps (coroutines + tasks) of its walk. */
#define PYSPY_ASYNC_MAX_TASKS 64
#define PYSPY_ASYNC_STEPS     512

/* The fingerprint both sides compute from co_name and co_firstlineno. */
static inline __u32 pyspy_code_fp(__u64 name, __s32 firstlineno)
{
	return (__u32)name ^ (__u32)(name >> 32) ^ ((__u32)firstlineno * 0x9E3779B1u);
}

/*
 * A task's name as it is now: its address, its type and, for a str, its
 * length and its first 32 characters (compact ASCII); for an int (the
 * default "Task-N"), its value; w: PYSPY_NAME_FP_BUF bytes read at
 * name + 8 (ob_type, then length/lv_tag, hash/digit, state, data).  A
 * name freed and another allocated in its place differs in them.
 */
static inline __u64 pyspy_name_fp(__u64 name, const __u64 *w, __u64 str_type, __u64 long_type)
{
	__u64 h = (name ^ w[0]) * 0x9E3779B97F4A7C15ull;

	if (str_type && w[0] == str_type) {
		__u64 len = w[1];
		__u32 state = (__u32)w[3];
		/* Bytes of text in the 4 words, 0 unless compact ASCII (state bits 5, 6):
		 * computed without a branch per word, which the verifier would follow. */
		__u64 n = (state & 0x60) == 0x60 ? (len < 32 ? len : 32) : 0;

		h = (h ^ len) * 0x100000001B3ull;
		for (int i = 0; i < 4; i++) {
			__u64 have = n > (__u64)i * 8 ? n - (__u64)i * 8 : 0;
			__u64 bits = (have < 8 ? have : 8) * 8;
			/* bits 0..64; a shift by 64 is undefined, hence the two halves */
			__u64 mask = ((1ull << (bits / 2)) << (bits - bits / 2)) - 1;

			if (bits == 64)
				mask = ~0ull;
			h = (h ^ (w[4 + i] & mask)) * 0x100000001B3ull;
		}
	} else if (long_type && w[0] == long_type) {
		h = (h ^ w[1]) * 0x100000001B3ull;
		h = (h ^ (__u32)w[2]) * 0x100000001B3ull;
	}
	return h ? h : 1;
}

#define PYSPY_SAMPLE_TRUNCATED 0x1  /* more frames than PYSPY_MAX_FRAMES */
#define PYSPY_SAMPLE_VERIFIED  0x2  /* frames carry code_fp */
#define PYSPY_SAMPLE_GIL       0x4  /* the sampled thread held the GIL */
#define PYSPY_SAMPLE_OFFCPU    0x8  /* stack of a thread leaving the CPU */
#define PYSPY_SAMPLE_PREEMPTED 0x10 /* ... still runnable (preempted/yield) */
#define PYSPY_SAMPLE_ARGS_NULL 0x20 /* ... syscall args 2-4 were all 0 */
#define PYSPY_SAMPLE_NATIVE    0x40 /* a struct pyspy_native follows the frames */
/* Not samples but events, with no frames: */
#define PYSPY_EVENT_NEW_PROCESS 0x100 /* --all: a tgid not seen before ran */
#define PYSPY_EVENT_EXEC	0x200 /* a sampled process called exec */
#define PYSPY_EVENT_OFFCPU_END	0x400 /* tid runs again; arg = ns it was off */

/*
 * Ring buffer record; only the first n_frames frames are sent.  Events
 * (PYSPY_EVENT_*) are the header alone, so it is spelled once, here.
 */
#define PYSPY_SAMPLE_HEADER                                             \
	__u32 pid; /* tgid, host namespace */                           \
	__u32 tid; /* host namespace */                                 \
	__u64 cgroup_id;                                                \
	__u64 ktime_ns;                                                 \
	__u16 cpu;                                                      \
	__u16 reads; /* user-memory reads this sample took */           \
	__u16 flags; /* PYSPY_SAMPLE_*, PYSPY_EVENT_* */                \
	__u16 error; /* enum pyspy_error, first one hit */              \
	__u32 n_frames;                                                 \
	__s32 syscall; /* OFFCPU: the syscall it blocked in, -1 none */ \
	__u64 arg      /* OFFCPU: its first argument; OFFCPU_END: ns off CPU */

struct pyspy_event {
	PYSPY_SAMPLE_HEADER;
};

struct pyspy_sample {
	PYSPY_SAMPLE_HEADER;
	struct pyspy_frame frames[PYSPY_MAX_FRAMES]; /* innermost first */
};

/*
 * --native / --kernel: what follows the frames of a PYSPY_SAMPLE_NATIVE
 * record: the thread's user registers, the kernel stack (kstack_n return
 * addresses, innermost first) and ustack_len bytes of its user stack from
 * sp up, for userspace to unwind with the objects' CFI.  The copy stops at
 * the first unmapped page, and at PYSPY_USTACK_MAX.
 */
#define PYSPY_USTACK_MAX 16384
#define PYSPY_KSTACK_MAX 64
struct pyspy_native {
	__u64 ip, sp, bp; /* user mode, from the task's saved registers */
	__u32 ustack_len;
	__u16 kstack_n;
	__u16 pad;
	/* mm->mm_lock_seq: changes with every mmap/munmap/mprotect, so
	 * userspace knows when its copy of the process's mappings is old.
	 * 0: the kernel has none. */
	__u32 mm_seq;
	__u32 pad2;
	/* __u64 kstack[kstack_n]; __u8 ustack[ustack_len]; */
};

#define PYSPY_SAMPLE_HDR_SIZE ((unsigned long)&((struct pyspy_sample *)0)->frames)

#endif /* PYSPY_H */
