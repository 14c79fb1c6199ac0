/* SPDX-License-Identifier: MIT */
/*
 * caps.h - this process's capabilities, read and written with capget(2)
 * and capset(2) directly rather than through libcap: a few bits do not
 * justify a dependency.
 *
 * Owns: the capability numbers older kernel headers lack, and the one
 * reader and writer of the sets (64 bits each, bit n for capability n).
 */
#ifndef PYSPY_CAPS_H
#define PYSPY_CAPS_H

#include <linux/capability.h>
#include <stdint.h>

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif
#ifndef CAP_CHECKPOINT_RESTORE
#define CAP_CHECKPOINT_RESTORE 40
#endif

/* The calling thread's sets. */
struct caps {
	uint64_t eff, prm, inh;
};

/* 0 or -errno. */
int caps_get(struct caps *c);
/* capset changes the calling thread's credentials alone; 0 or -errno. */
int caps_set(const struct caps *c);

#endif /* PYSPY_CAPS_H */
