// SPDX-License-Identifier: MIT
/* procfs.c - small /proc files, read whole and parsed with their own rules. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "procfs.h"

/* stat is one line well under this; status is about 1.5 KiB, unless a
 * process is in very many groups (Groups: comes before NSpid:). */
#define STAT_BUF   2048
#define STATUS_BUF 16384

int procfs_read(const char *path, char *buf, size_t len)
{
	size_t got = 0;
	int fd, err = 0;

	if (!len)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	while (got < len - 1) {
		ssize_t n = read(fd, buf + got, len - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			err = -errno;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	return err;
}

/* /proc/PID/NAME, or /proc/PID/task/TID/NAME for a thread. */
static void path_of(char *path, size_t len, pid_t pid, pid_t tid, const char *name)
{
	if (tid)
		snprintf(path, len, "/proc/%d/task/%d/%s", pid, tid, name);
	else
		snprintf(path, len, "/proc/%d/%s", pid, name);
}

int procfs_comm(pid_t pid, pid_t tid, char *buf, size_t len)
{
	char path[64];
	int err;

	path_of(path, sizeof(path), pid, tid, "comm");
	err = procfs_read(path, buf, len);
	if (err)
		snprintf(buf, len, "?");
	buf[strcspn(buf, "\n")] = '\0';
	return err;
}

int procfs_stat(pid_t pid, pid_t tid, struct procfs_stat *st)
{
	char path[64], buf[STAT_BUF], *l, *r, *p;
	size_t n;
	int err;

	path_of(path, sizeof(path), pid, tid, "stat");
	err = procfs_read(path, buf, sizeof(buf));
	if (err)
		return err;
	l = strchr(buf, '(');
	r = strrchr(buf, ')');
	if (!l || !r || r < l || r[1] != ' ' || !r[2])
		return -EIO;
	n = (size_t)(r - l - 1);
	n = n < sizeof(st->comm) - 1 ? n : sizeof(st->comm) - 1;
	memcpy(st->comm, l + 1, n);
	st->comm[n] = '\0';
	st->state = r[2];
	p = r + 2; /* field 3 */
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -EIO;
		p++;
	}
	st->start_time = strtoull(p, NULL, 10);
	return 0;
}

int procfs_runs(pid_t pid, pid_t tid, uint64_t *runs)
{
	char path[64], buf[128];
	unsigned long long run, wait, n;
	int err;

	path_of(path, sizeof(path), pid, tid, "schedstat");
	err = procfs_read(path, buf, sizeof(buf));
	if (err)
		return err;
	if (sscanf(buf, "%llu %llu %llu", &run, &wait, &n) != 3)
		return -EIO;
	*runs = n;
	return 0;
}

int procfs_ids(pid_t pid, pid_t tid, pid_t *tgid, pid_t *nsid)
{
	char path[64], *buf, *p;
	int err;

	buf = malloc(STATUS_BUF);
	if (!buf)
		return -ENOMEM;
	path_of(path, sizeof(path), pid, tid, "status");
	err = procfs_read(path, buf, STATUS_BUF);
	if (err)
		goto out;
	if (tgid) {
		p = strstr(buf, "\nTgid:");
		*tgid = p ? (pid_t)strtol(p + 6, NULL, 10) : pid;
	}
	*nsid = tid ? tid : pid; /* kernels before 4.1 have no NSpid */
	p = strstr(buf, "\nNSpid:");
	if (p) {
		char *end = strchr(p + 1, '\n');

		if (end)
			*end = '\0'; /* strtol must not run into the next line */
		p += 7;
		for (;;) {
			long v = strtol(p, &end, 10);

			if (end == p)
				break;
			if (v > 0 && v <= INT_MAX)
				*nsid = (pid_t)v;
			p = end;
		}
	}
out:
	free(buf);
	return err;
}

void procfs_exe(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, buf, len - 1);
	buf[n > 0 ? n : 0] = '\0';
}

double procfs_age_s(pid_t pid)
{
	struct procfs_stat st;
	char buf[64];
	double up;

	if (procfs_stat(pid, 0, &st) || procfs_read("/proc/uptime", buf, sizeof(buf)) ||
	    sscanf(buf, "%lf", &up) != 1)
		return 1e9;
	return up - (double)st.start_time / sysconf(_SC_CLK_TCK);
}

/*
 * path as the target sees it, resolved inside its root: `..` and symlinks,
 * absolute ones included, never leave it (RESOLVE_IN_ROOT), so a container
 * that plants `lib/libpython3.12.so -> /etc/shadow` gets ENOENT, not the
 * host's file.  Magic links (/proc/self/...) are refused too.
 */
int procfs_open_in_root(pid_t pid, const char *path)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	char root[64];
	int dfd, fd, err;

	snprintf(root, sizeof(root), "/proc/%d/root", pid);
	dfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	fd = (int)syscall(SYS_openat2, dfd, path, &how, sizeof(how));
	err = errno;
	close(dfd);
	errno = err;
	return fd;
}

int procfs_kernel_stack(pid_t pid, pid_t tid, char (*names)[PROCFS_KSYM_LEN], int max)
{
	char path[96], buf[8192], *line, *save = NULL;
	int n = 0, err;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stack", pid, tid);
	err = procfs_read(path, buf, sizeof(buf));
	if (err)
		return err;
	/* "[<0>] pipe_read+0x2f1/0x400" */
	for (line = strtok_r(buf, "\n", &save); line && n < max;
	     line = strtok_r(NULL, "\n", &save)) {
		char *s = strchr(line, ']');
		size_t len;

		if (!s)
			continue;
		s += strspn(s + 1, " ") + 1;
		len = strcspn(s, "+ ");
		if (!len || len >= PROCFS_KSYM_LEN)
			continue;
		memcpy(names[n], s, len);
		names[n++][len] = '\0';
	}
	return n;
}
