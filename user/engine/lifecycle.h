/* SPDX-License-Identifier: MIT */
/*
 * lifecycle.h - the sampler's processes coming and going.
 *
 * Owns: the --pid targets discovered before the BPF side loads (one line
 * per failure, and --async's version floor); registering a process the
 * watch found ready (its container, and its threads already off the CPU,
 * blocked.h, whose waits it opens as data in the off-CPU table); what the
 * BPF side's process events mean (exec: looked at again; a new or evicted
 * process: looked at, or its entry written again); following a launched
 * command's children; dropping targets that exited, and telling when none
 * is left; and naming each thread the first time it is seen.  The sampler
 * holds one and drives it; it calls nothing of the sampler.
 */
#ifndef PYSPY_LIFECYCLE_H
#define PYSPY_LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "launch.h"
#include "offcpu.h"
#include "options.h"
#include "session.h"
#include "targets.h"
#include "watch.h"
#include "symbolize/container.h"
#include "symbolize/cpython/discover.h"
#include "symbolize/model/profile.h"

struct lifecycle {
	const struct options *o;
	struct profile *prof;
	struct session *s;
	struct targets *tg;
	struct watch *watch;	    /* its ctx is this lifecycle */
	struct container_cache *cc; /* which container each target runs in */
	struct offcpu_table *off;   /* waits of threads found blocked (offcpu, wall) */
	struct launch launch;	    /* -- COMMAND */
	bool launched;
	uint64_t threads; /* named so far */
};

/*
 * Discover o->pids into pys (o->n_pids of them), waiting up to
 * o->init_wait_s for each to initialise: 0, or the first failure's
 * -errno (logged), -ENOTSUP for --async on a Python before 3.14.
 */
int lifecycle__discover(const struct options *o, struct py_target *pys);

/*
 * Make py a target (the watch's add(), ctx the lifecycle; also for the
 * --pid ones): 0, -ENOTSUP when it will not be (said once), or -errno.
 */
int lifecycle__register(void *ctx, const struct py_target *py);

/* A process event from the BPF side (PYSPY_EVENT_NEW_PROCESS or _EXEC). */
void lifecycle__event(struct lifecycle *l, const struct pyspy_sample *ev);

/* Drop targets that exited, follow a launched command: true once nothing is left to sample. */
bool lifecycle__housekeep(struct lifecycle *l, double now);

/* Name (pid, tid) in the profile if it has no name yet (counted in threads). */
void lifecycle__name_thread(struct lifecycle *l, pid_t pid, pid_t tid);

#endif /* PYSPY_LIFECYCLE_H */
