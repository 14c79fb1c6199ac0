/* SPDX-License-Identifier: MIT */
/*
 * memlimit.h - the memory limit the agent runs under, and the budgets it
 * derives from it.
 *
 * Owns: finding the limit of the agent's own cgroup (cgroup v2 memory.max
 * or v1 memory.limit_in_bytes, the least of its cgroup's and every
 * ancestor's it can see), and splitting what the base leaves of it into
 * the budgets the command line left unset, so that a container's limit
 * and the budgets cannot disagree (docs/security.md).
 */
#ifndef PYSPY_MEMLIMIT_H
#define PYSPY_MEMLIMIT_H

#include <stdint.h>

#include "options.h"

/*
 * What the agent needs beyond its budgets: code, libraries, the BPF maps
 * (charged to its cgroup), buffers.  Measured: 40-50 MB resident with 30
 * targets, plus the ring buffer.
 */
#define MEMLIMIT_BASE_BYTES ((uint64_t)80 << 20)

/*
 * The limit in bytes (0: none, or none found), from /proc/self/cgroup and
 * /proc/self/mountinfo as this process sees them (a container's own
 * cgroup namespace included).
 */
uint64_t memlimit__own(void);

/*
 * Fill the budgets of o still 0 from limit (bytes; 0 leaves them to their
 * defaults): after the base, half for the code caches, a quarter for the
 * names, the rest for what has no budget of its own (profiles' stacks,
 * allocator slack).  Never above a default.  Says what it chose, once,
 * when the limit made a budget smaller than its default.
 */
void memlimit__budgets(struct options *o, uint64_t limit);

#endif /* PYSPY_MEMLIMIT_H */
