/* SPDX-License-Identifier: MIT */
/*
 * options.h - what the command line asked for, shared by the verbs.
 */
#ifndef PYSPY_OPTIONS_H
#define PYSPY_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define OPT_MAX_PIDS 64

struct options {
	pid_t pids[OPT_MAX_PIDS];
	int n_pids;
	double duration_s;     /* 0: until Ctrl-C or the targets exit */
	unsigned rate_hz;      /* per CPU */
	const char *format;    /* NULL: from -o, else folded */
	const char *output;    /* NULL: a generated name */
	bool threads;	       /* leading thread frame */
	bool pids_frames;      /* leading process frame (forced) */
	bool no_pids_frames;   /* never a process frame */
	uint8_t group_by[4];   /* --group-by: enum output_group list, 0-ended */
	double init_wait_s;    /* how long to wait for an interpreter to start */
	char **cmd;	       /* after `--`, NULL-terminated, or NULL */
	bool quiet;	       /* no progress line or summary */
	bool all;	       /* every Python process on the host */
	int mode;	       /* enum profile_mode */
	bool gil_only;	       /* --gil: only samples whose thread held the GIL */
	unsigned fault_period; /* memory mode: sample every Nth page fault */
	/* Memory budgets in bytes, 0 for the defaults (cli_limits_argp). */
	size_t cache_per_target; /* one target's code cache */
	size_t cache_total;	 /* all code caches */
	size_t symbol_bytes;	 /* the profile's names, functions, locations */
	unsigned max_threads;	 /* the BPF side's process and thread maps; 0: default */
	bool frames_one_by_one;	 /* PYSPY_NO_WINDOWS: 3.11+ frames read as before 3.11 */
	bool native;		 /* --native: C frames between the Python frames */
	bool native_all;	 /* --native-all: and the interpreter's own */
	bool kernel;		 /* --kernel: the kernel stack on top */
	unsigned ustack_bytes;	 /* --native-stack; 0: the most */
	bool async;		 /* --async: stacks by asyncio task (3.14+) */
	bool sandbox;		 /* least privilege once the BPF side is loaded (sandbox.h) */
	bool measure_bpf;	 /* the BPF side's run time, for /metrics */
	unsigned async_tasks;	 /* --async-tasks: suspended tasks read per tick; 0: default */
};

/* Every verb's defaults: `struct options o = { OPTIONS_DEFAULTS, ... }`. */
#define OPTIONS_DEFAULTS .rate_hz = 99, .init_wait_s = 5.0, .fault_period = 16

/* What a profile measures (--mode) and so what its weights are. */
enum profile_mode {
	MODE_CPU = 0, /* on-CPU samples, weight 1 */
	MODE_OFFCPU,  /* time off the CPU, ns, with the reason as leaf frame */
	MODE_WALL,    /* both, in ns: on-CPU samples count 1/rate each */
	MODE_MEMORY,  /* page faults, in bytes of newly touched pages */
};

/* "cpu", "offcpu", "wall", "memory" -> enum profile_mode, or -1. */
int profile_mode_parse(const char *s);
const char *profile_mode_name(int mode);
/*
 * What a weight is in this mode, for profile formats that say so (pprof's
 * sample type): "wall"/"nanoseconds", "memory"/"bytes", ...; both NULL for
 * cpu, whose weights are sample counts.
 */
void profile_mode_units(int mode, const char **type, const char **unit);

int cmd_record(struct options *o);

#endif /* PYSPY_OPTIONS_H */
