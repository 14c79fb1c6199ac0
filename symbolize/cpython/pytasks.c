// SPDX-License-Identifier: MIT
/* pytasks.c - a target's /proc threads, matched to its Python thread states. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pytasks.h"
#include "symbolize/proc/procfs.h"
#include "symbolize/base/grow.h"

static void read_task(pid_t pid, struct py_task *t)
{
	struct procfs_stat st;

	if (procfs_ids(pid, t->tid, NULL, &t->nstid))
		t->nstid = t->tid;
	procfs_comm(pid, t->tid, t->comm, sizeof(t->comm));
	t->state = procfs_stat(pid, t->tid, &st) ? '?' : st.state;
}

static int cmp_nstid(const void *a, const void *b)
{
	const struct py_task *x = a, *y = b;

	return (x->nstid > y->nstid) - (x->nstid < y->nstid);
}

/* A /proc/PID/task entry name as a TID; 0 for anything else. */
static pid_t tid_name(const char *s)
{
	char *end;
	long v;

	if (*s < '1' || *s > '9')
		return 0;
	errno = 0;
	v = strtol(s, &end, 10);
	return !errno && !*end && v <= INT_MAX ? (pid_t)v : 0;
}

int py_tasks__read(pid_t pid, struct py_tasks *tk)
{
	char path[64];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d)) && tk->n < PY_TASKS_MAX) {
		pid_t tid = tid_name(de->d_name);

		if (!tid)
			continue;
		if (ARRAY_ROOM(tk->v, tk->n + 1, tk->cap, 64)) {
			closedir(d);
			return -ENOMEM;
		}
		tk->v[tk->n].tid = tid;
		read_task(pid, &tk->v[tk->n++]);
	}
	closedir(d);
	if (tk->n) /* none: it exited while we read, and there is no array */
		qsort(tk->v, tk->n, sizeof(*tk->v), cmp_nstid);
	return 0;
}

void py_tasks__free(struct py_tasks *tk)
{
	if (!tk)
		return;
	free(tk->v);
	tk->v = NULL;
	tk->n = tk->cap = 0;
}

static const struct py_task *find_task(const struct py_tasks *tk, pid_t nstid)
{
	struct py_task key = { .nstid = nstid };

	return tk->n ? bsearch(&key, tk->v, tk->n, sizeof(*tk->v), cmp_nstid) : NULL;
}

static bool is_tid(pid_t nstid, void *ctx)
{
	return find_task(ctx, nstid) != NULL;
}

const struct py_task *py_tasks__of_thread(pid_t pid, const struct py_tasks *tk,
					  const struct py_thread_stack *st)
{
	pid_t nstid = -1;

	if (st->native_tid > 0 && st->native_tid <= INT_MAX)
		nstid = (pid_t)st->native_tid;
	else
		nstid = py_unwind__libc_tid(pid, st->pthread_id, is_tid, (void *)tk);
	return nstid > 0 ? find_task(tk, nstid) : NULL;
}

/*
 * /proc/PID/task/TID/syscall into buf: "NR ARG1..ARG6 SP PC" in hex, or
 * "-1 SP PC" outside a syscall; -EAGAIN while the thread runs.
 */
static int read_syscall(pid_t pid, pid_t tid, char *buf, size_t len)
{
	char path[96];
	int err;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", pid, tid);
	err = procfs_read(path, buf, len);
	if (err)
		return err;
	return strncmp(buf, "running", 7) ? 0 : -EAGAIN;
}

int py_task__syscall(pid_t pid, pid_t tid, int32_t *nr, uint64_t args[4])
{
	char buf[512];
	long long n;
	int err = read_syscall(pid, tid, buf, sizeof(buf));

	if (err)
		return err;
	if (sscanf(buf, "%lld", &n) != 1 || n < -1 || n > INT32_MAX)
		return -EINVAL;
	*nr = (int32_t)n;
	memset(args, 0, 4 * sizeof(*args));
	if (n >= 0 && sscanf(buf, "%*d %" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64, &args[0],
			     &args[1], &args[2], &args[3]) != 4)
		return -EINVAL;
	return 0;
}

int py_task__user_regs(pid_t pid, pid_t tid, uint64_t *sp, uint64_t *pc)
{
	char buf[512], *tok[9], *save = NULL, *t;
	int n = 0, err = read_syscall(pid, tid, buf, sizeof(buf));

	if (err)
		return err;
	/* The last two fields, after NR and its six arguments or after -1. */
	for (t = strtok_r(buf, " \n", &save); t && n < 9; t = strtok_r(NULL, " \n", &save))
		tok[n++] = t;
	if ((n != 9 && n != 3) || sscanf(tok[n - 2], "%" SCNx64, sp) != 1 ||
	    sscanf(tok[n - 1], "%" SCNx64, pc) != 1)
		return -EINVAL;
	return 0;
}
