// SPDX-License-Identifier: MIT
/*
 * test_procfs.c - a mapped file opened as the very file mapped
 * (procfs_open_mapped), with and without /proc/PID/map_files.
 *
 * A child maps files and then makes their paths lie: another file mounted
 * over one (in its own mount namespace, as a container could), another
 * deleted.  Without map_files (the capabilities that open it dropped, as
 * under the DaemonSet's grant) the path must still find an honest file and
 * must never hand over the one now at a lying path.  Needs root.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "symbolize/proc/procfs.h"
#include "unit.h"

#ifndef CAP_CHECKPOINT_RESTORE
#define CAP_CHECKPOINT_RESTORE 40
#endif

static char dir[64];
static char honest[128], liar[128], secret[128], gone[128];

static void write_file(const char *path, const char *text, mode_t mode)
{
	char page[4096];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	memset(page, 0, sizeof(page));
	snprintf(page, sizeof(page), "%s", text);
	CHECK(fd >= 0 && write(fd, page, sizeof(page)) == (ssize_t)sizeof(page), "%s", path);
	if (fd >= 0)
		close(fd);
}

static void map_exec(const char *path)
{
	int fd = open(path, O_RDONLY);

	if (fd < 0 || mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0) == MAP_FAILED)
		_exit(2);
	close(fd);
}

/* The child: maps the three files, then makes two paths lie; says "r". */
static pid_t start_child(int *ready)
{
	int p[2];
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid)
		goto parent;
	close(p[0]);
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		_exit(3);
	map_exec(honest);
	map_exec(liar);
	map_exec(gone);
	if (mount(secret, liar, NULL, MS_BIND, NULL) || unlink(gone))
		_exit(4);
	if (write(p[1], "r", 1) != 1)
		_exit(5);
	for (;;)
		pause();
parent:
	close(p[1]);
	*ready = p[0];
	return pid;
}

/* Its mapping of path, as /proc/PID/maps shows it. */
static int find_map(pid_t pid, const char *path, struct procfs_map *m, char *line, size_t len)
{
	char maps[64];
	FILE *f;
	int err = -ENOENT;

	snprintf(maps, sizeof(maps), "/proc/%d/maps", pid);
	f = fopen(maps, "re");
	if (!f)
		return -errno;
	while (fgets(line, (int)len, f))
		if (!procfs_parse_map(line, m) && !strcmp(m->path, path)) {
			err = 0;
			break;
		}
	fclose(f);
	return err;
}

/* The first bytes of what procfs_open_mapped opens, or the errno. */
static int open_and_read(pid_t pid, const char *path, char *buf, size_t len)
{
	struct procfs_map m;
	char line[512];
	int fd;
	ssize_t n;

	if (find_map(pid, path, &m, line, sizeof(line)))
		return -ENOENT;
	fd = procfs_open_mapped(pid, &m);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return 0;
}

static void drop_map_files_caps(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		_exit(6);
	d[0].effective &= ~(1u << CAP_SYS_ADMIN);
	d[0].permitted &= ~(1u << CAP_SYS_ADMIN);
	d[1].effective &= ~(1u << (CAP_CHECKPOINT_RESTORE - 32));
	d[1].permitted &= ~(1u << (CAP_CHECKPOINT_RESTORE - 32));
	if (syscall(SYS_capset, &h, d))
		_exit(7);
}

/* 0 if each file comes out as expected, else the number of the first that did not. */
static int check_all(pid_t pid, int with_map_files)
{
	char buf[64];

	/* An honest path: the file, either way. */
	if (open_and_read(pid, honest, buf, sizeof(buf)) || strcmp(buf, "honest"))
		return 1;
	/* A path another file was mounted over: map_files still finds the
	 * file mapped; without it, nothing (never the secret). */
	if (with_map_files) {
		if (open_and_read(pid, liar, buf, sizeof(buf)) || strcmp(buf, "liar"))
			return 2;
	} else if (open_and_read(pid, liar, buf, sizeof(buf)) != -ESTALE) {
		return 3;
	}
	/* Deleted: only map_files has it. */
	if (with_map_files) {
		if (open_and_read(pid, gone, buf, sizeof(buf)) || strcmp(buf, "gone"))
			return 4;
	} else if (open_and_read(pid, gone, buf, sizeof(buf)) != -ESTALE) {
		return 5;
	}
	return 0;
}

static void test_open_mapped(void)
{
	int ready = -1, st;
	char c;
	pid_t pid, sub;

	snprintf(honest, sizeof(honest), "%s/honest.so", dir);
	snprintf(liar, sizeof(liar), "%s/liar.so", dir);
	snprintf(secret, sizeof(secret), "%s/secret", dir);
	snprintf(gone, sizeof(gone), "%s/gone.so", dir);
	write_file(honest, "honest", 0644);
	write_file(liar, "liar", 0644);
	write_file(gone, "gone", 0644);
	write_file(secret, "secret", 0600);

	pid = start_child(&ready);
	CHECK(pid > 0);
	if (pid <= 0)
		return;
	CHECK(read(ready, &c, 1) == 1 && c == 'r', "the child did not get ready");
	close(ready);

	st = check_all(pid, 1);
	CHECK(st == 0, "with map_files: case %d", st);
	/* Without map_files, in a process of its own (the caps do not come back). */
	sub = fork();
	if (!sub) {
		drop_map_files_caps();
		_exit(check_all(pid, 0));
	}
	st = -1;
	if (sub > 0)
		waitpid(sub, &st, 0);
	CHECK(sub > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "without map_files: case %d",
	      WIFEXITED(st) ? WEXITSTATUS(st) : -1);

	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	unlink(honest);
	unlink(liar);
	unlink(secret);
}

static void test_parse_map(void)
{
	char a[] = "7f00-7f10 r-xp 00001000 fe:01 1234   /usr/lib/libx.so\n";
	char b[] = "1000-2000 r-xp 00000000 00:29 99 /tmp/a b (deleted)\n";
	char c[] = "1000-2000 rw-p 00000000 00:00 0 \n";
	char d[] = "garbage\n";
	struct procfs_map m;

	CHECK(!procfs_parse_map(a, &m));
	CHECK(m.start == 0x7f00 && m.end == 0x7f10 && m.off == 0x1000 && m.dev_major == 0xfe &&
	      m.dev_minor == 1 && m.ino == 1234 && !m.deleted && !strcmp(m.perms, "r-xp") &&
	      !strcmp(m.path, "/usr/lib/libx.so"));
	CHECK(!procfs_parse_map(b, &m));
	CHECK(m.deleted && m.dev_minor == 0x29 && !strcmp(m.path, "/tmp/a b"), "%s", m.path);
	CHECK(!procfs_parse_map(c, &m) && !m.path[0] && !m.deleted);
	CHECK(procfs_parse_map(d, &m) == -EINVAL);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/pyspy-unit-procfs-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_parse_map();
	if (geteuid() == 0)
		test_open_mapped();
	else
		fprintf(stderr, "test_procfs: not root, procfs_open_mapped not tested\n");
	rmdir(dir);
	return unit_done("test_procfs");
}
