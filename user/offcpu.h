/* SPDX-License-Identifier: MIT */
/*
 * offcpu.h - the modes beyond CPU: what a sample weighs, and off-CPU
 * stacks waiting for their thread to run again.
 *
 * Owns: the weight of a sample in each --mode (count, ns, bytes), the
 * --gil filter, the reason frame of an off-CPU stack (from the syscall the
 * thread blocked in: [sleep], [io: read], [poll/select/epoll],
 * [lock: futex], [gil], [preempted], ...), and the table of stacks of
 * threads that are off the CPU right now.
 */
#ifndef PYSPY_OFFCPU_H
#define PYSPY_OFFCPU_H

#include <stdbool.h>
#include <stdint.h>

#include "../bpf/pyspy.h"
#include "options.h"

/* The reason a thread left the CPU; gil_* locate its process's GIL. */
const char *offcpu_reason(const struct pyspy_sample *smp, uint64_t gil_addr, uint32_t gil_size);

/*
 * Weight of an on-CPU (or page-fault) sample in this mode, or 0 to drop it
 * (--gil and the thread did not hold the GIL).
 */
uint64_t mode_sample_weight(const struct options *o, const struct pyspy_sample *smp);

/* Stacks of threads now off the CPU, keyed by tid; bounded. */
struct offcpu_table;

struct offcpu_table *offcpu_table__new(void);
void offcpu_table__free(struct offcpu_table *t); /* NULL-safe */

/* Remember tid's stack (locations innermost first, reason first). */
void offcpu_table__start(struct offcpu_table *t, uint32_t pid, uint32_t tid, uint32_t flags,
			 const uint32_t *locs, uint32_t n);

/*
 * tid runs again: hand its stack to the caller (valid until the next call)
 * and forget it.  false if tid left the CPU before we were looking.
 */
bool offcpu_table__end(struct offcpu_table *t, uint32_t tid, uint32_t *pid, uint32_t *flags,
		       const uint32_t **locs, uint32_t *n);

/* Stacks dropped because the table was full. */
uint64_t offcpu_table__dropped(const struct offcpu_table *t);

#endif /* PYSPY_OFFCPU_H */
