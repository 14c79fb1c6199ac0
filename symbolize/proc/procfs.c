// SPDX-License-Identifier: MIT
/* procfs.c - small /proc files, read whole and parsed with their own rules. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "procfs.h"
#include "symbolize/base/fdread.h"
#include "symbolize/base/fileopen.h"

/* stat is one line well under this; status is about 1.5 KiB, unless a
 * process is in very many groups (Groups: comes before NSpid:). */
#define STAT_BUF   2048
#define STATUS_BUF 16384

int procfs_read(const char *path, char *buf, size_t len)
{
	size_t got = 0;
	int fd, err;

	if (!len)
		return -EINVAL;
	fd = fileopen_kernel(path);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	err = fd_read_upto(fd, buf, len - 1, &got);
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
 * host's file.  Magic links (/proc/self/...) are refused too, and so is
 * anything but a regular file, before it is opened (fileopen.h).
 */
int procfs_open_in_root(pid_t pid, const char *path)
{
	char root[64];
	int dfd, fd, err;

	snprintf(root, sizeof(root), "/proc/%d/root", pid);
	dfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	fd = fileopen_regular_at(dfd, path, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
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

int procfs_parse_map(char *line, struct procfs_map *m)
{
	static const char del[] = " (deleted)";
	unsigned maj, min;
	size_t len;
	int pos = -1;

	*m = (struct procfs_map){ 0 };
	if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %x:%x %" SCNu64 " %n", &m->start,
		   &m->end, m->perms, &m->off, &maj, &min, &m->ino, &pos) < 7 ||
	    pos < 0)
		return -EINVAL;
	m->dev_major = maj;
	m->dev_minor = min;
	m->path = line + pos;
	len = strcspn(m->path, "\n");
	m->path[len] = '\0';
	if (len > sizeof(del) - 1 && !strcmp(m->path + len - (sizeof(del) - 1), del)) {
		m->deleted = 1;
		m->path[len - (sizeof(del) - 1)] = '\0';
	}
	return 0;
}

/* fd if it is a regular file and, with m, the one mapped there; else closed. */
static int keep_if(int fd, const struct procfs_map *m)
{
	struct stat st;
	int err = 0;

	if (fstat(fd, &st))
		err = errno;
	else if (!S_ISREG(st.st_mode))
		err = EINVAL;
	else if (m && (major(st.st_dev) != m->dev_major || minor(st.st_dev) != m->dev_minor ||
		       st.st_ino != m->ino))
		err = ESTALE;
	if (!err)
		return fd;
	close(fd);
	errno = err;
	return -1;
}

/*
 * maps names a file from the root of the target's mount namespace, which
 * for a chroot (no pivot_root) is above its root: there the path starts
 * with the root's own, and what follows is the path inside it.
 */
static const char *path_in_root(pid_t pid, const char *path, char *buf, size_t len)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/root", pid);
	n = readlink(link, buf, len - 1);
	if (n <= 1 || buf[0] != '/')
		return path;
	buf[n] = '\0';
	return !strncmp(path, buf, (size_t)n) && path[n] == '/' ? path + n : path;
}

/*
 * Without map_files (a non-root user with CAP_SYS_PTRACE alone, as the
 * DaemonSet runs), the path is all there is, and a target can make it lead
 * anywhere in its root: a file is taken only if it is the one mapped.
 * While mapped, its inode cannot be another file's.
 */
int procfs_open_mapped(pid_t pid, const struct procfs_map *m)
{
	char path[96], root[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, pid, m->start,
		 m->end);
	/* Opened only if a regular file: a mapped device or FIFO never is. */
	fd = fileopen_regular(path);
	if (fd >= 0)
		return keep_if(fd, NULL);
	if (errno == FILEOPEN_NOT_REGULAR)
		return -1;
	if (errno != EPERM && errno != EACCES)
		return -1;
	/* A deleted file has no other name. */
	if (m->deleted || m->path[0] != '/') {
		errno = ESTALE;
		return -1;
	}
	fd = procfs_open_in_root(pid, path_in_root(pid, m->path, root, sizeof(root)));
	return fd < 0 ? -1 : keep_if(fd, m);
}
