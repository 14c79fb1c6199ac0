// SPDX-License-Identifier: MIT
/* blocked.c - threads already off the CPU when their process is registered. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blocked.h"
#include "symbolize/codecache.h"
#include "symbolize/cpython/pytasks.h"
#include "symbolize/cpython/unwind.h"
#include "user/base/log.h"
#include "user/model/profile.h"

/* Is a task in this /proc state letter off the CPU (not running or runnable)? */
static bool off_cpu(char state)
{
	return state == 'S' || state == 'D' || state == 'I' || state == 't' || state == 'T';
}

/* What it waits in, as the BPF side would have recorded it; -EAGAIN: it runs now. */
static int wait_header(pid_t pid, const struct py_task *task, struct pyspy_sample *hdr)
{
	uint64_t args[4];
	int32_t nr = -1;

	hdr->pid = pid;
	hdr->tid = task->tid;
	hdr->flags = PYSPY_SAMPLE_OFFCPU;
	hdr->syscall = -1;
	hdr->arg = 0;
	if (py_task__syscall(pid, task->tid, &nr, args) == -EAGAIN)
		return -EAGAIN;
	hdr->syscall = nr;
	hdr->arg = args[0];
	if (!args[1] && !args[2] && !args[3])
		hdr->flags |= PYSPY_SAMPLE_ARGS_NULL;
	return 0;
}

int blocked__scan(struct target *tg, uint64_t now_ns,
		  void (*fn)(const struct blocked_thread *b, void *ctx), void *ctx)
{
	pid_t pid = tg->py.pid;
	struct py_threads th = {};
	struct py_tasks tk = {};
	struct pyspy_sample hdr;
	uint32_t *locs = NULL;
	int err, found = 0;

	err = py_unwind__threads(pid, &tg->py.layout, tg->py.runtime_addr, &th);
	if (!err)
		err = py_tasks__read(pid, &tk);
	if (!err) {
		locs = calloc(PYSPY_MAX_FRAMES, sizeof(*locs));
		err = locs ? 0 : -ENOMEM;
	}
	for (uint32_t i = 0; !err && i < th.n; i++) {
		const struct py_thread_stack *st = &th.t[i];
		const struct py_task *task = py_tasks__of_thread(pid, &tk, st);
		struct blocked_thread b = { .hdr = &hdr, .locs = locs };

		if (!task || !off_cpu(task->state) || !st->n_frames) {
			log_debug("PID %d: thread state %d not off the CPU (%s, %u frames)", pid,
				  (int)i,
				  !task		       ? "no task"
				  : task->state == 'R' ? "running"
						       : "state",
				  st->n_frames);
			continue;
		}
		memset(&hdr, 0, sizeof(hdr));
		if (wait_header(pid, task, &hdr)) {
			log_debug("PID %d TID %d: woke during the scan", pid, task->tid);
			continue; /* it woke: the BPF side sees its next wait */
		}
		b.n = st->n_frames < PYSPY_MAX_FRAMES ? st->n_frames : PYSPY_MAX_FRAMES;
		/* The walk read each code object's fingerprint along with its frame. */
		code_cache__resolve(tg->cache, st->frames, b.n, now_ns, true, locs);
		if (st->flags & PY_STACK_TRUNCATED)
			b.flags |= PROFILE_STACK_TRUNCATED;
		else if (st->flags & PY_STACK_PARTIAL)
			b.flags |= PROFILE_STACK_PARTIAL;
		fn(&b, ctx);
		found++;
	}
	free(locs);
	py_tasks__free(&tk);
	py_threads__free(&th);
	return err ? err : found;
}
