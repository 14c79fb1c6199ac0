// SPDX-License-Identifier: MIT
/*
 * test_fileopen.c - only regular files are ever opened: a FIFO, a char
 * device (/dev/null, a pty), a socket and a directory, and a symlink to
 * each, are refused without blocking and without being opened (a FIFO's
 * blocked writer stays blocked; a session leader gets no controlling
 * terminal from a pty); inside a root, symlinks stay in it; the append
 * open makes a new file, appends to a regular one and refuses the rest.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"
#include "symbolize/base/fileopen.h"

static char dir[] = "/tmp/pyspy-fileopen-XXXXXX";

static const char *at(const char *name)
{
	static char path[8][256]; /* each valid for the next 7 calls */
	static int i;

	i = (i + 1) % 8;
	snprintf(path[i], sizeof(path[i]), "%s/%s", dir, name);
	return path[i];
}

/* fileopen_regular(path) refuses with FILEOPEN_NOT_REGULAR. */
static void refused(const char *path)
{
	int fd;

	errno = 0;
	fd = fileopen_regular(path);
	CHECK(fd < 0 && errno == FILEOPEN_NOT_REGULAR, "%s: fd %d, %s", path, fd, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static void test_regular(void)
{
	char buf[16] = "";
	int fd, fl;
	FILE *f = fopen(at("reg"), "w");

	fputs("hello", f);
	fclose(f);
	CHECK(!symlink(at("reg"), at("link-reg")));
	for (int i = 0; i < 2; i++) {
		fd = fileopen_regular(at(i ? "link-reg" : "reg"));
		CHECK(fd >= 0, "%s", strerror(errno));
		if (fd < 0)
			continue;
		fl = fcntl(fd, F_GETFL);
		CHECK((fl & O_ACCMODE) == O_RDONLY && (fl & O_NONBLOCK), "flags %#x", fl);
		CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
		CHECK(read(fd, buf, sizeof(buf) - 1) == 5 && !strcmp(buf, "hello"), "%s", buf);
		close(fd);
	}
	errno = 0;
	CHECK(fileopen_regular(at("missing")) < 0 && errno == ENOENT);
}

struct writer {
	const char *path;
	volatile pid_t tid;
	volatile bool opened;
};

/* Blocks in open(O_WRONLY) until someone opens the FIFO for reading. */
static void *fifo_writer(void *arg)
{
	struct writer *w = arg;
	int fd;

	w->tid = gettid();
	fd = open(w->path, O_WRONLY);

	w->opened = true;
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* Is the writer blocked in openat(2) (so that any reader now wakes it)? */
static bool in_openat(struct writer *w)
{
	struct timespec ms = { 0, 1000000 };
	char path[64], buf[32];

	for (int i = 0; i < 5000; i++, nanosleep(&ms, NULL)) {
		FILE *f;

		if (!w->tid)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", w->tid);
		f = fopen(path, "r");
		if (!f)
			continue;
		buf[0] = 0;
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = 0;
		fclose(f);
		if (atoi(buf) == SYS_openat && strchr(buf, ' '))
			return true;
	}
	return false;
}

static void test_fifo(void)
{
	struct writer w = { .path = at("fifo") };
	struct timespec ms = { 0, 1000000 };
	pthread_t t;
	int fd;

	CHECK(!mkfifo(w.path, 0600));
	CHECK(!symlink(w.path, at("link-fifo")));
	CHECK(!pthread_create(&t, NULL, fifo_writer, &w));
	CHECK(in_openat(&w), "the writer never blocked in open");
	refused(w.path);
	refused(at("link-fifo"));
	/* Had either opened it for reading, the writer would be on its way now. */
	for (int i = 0; i < 200 && !w.opened; i++)
		nanosleep(&ms, NULL);
	CHECK(!w.opened, "the FIFO was opened");
	/* Release the writer (O_NONBLOCK: it may be gone already). */
	fd = open(w.path, O_RDONLY | O_NONBLOCK);
	pthread_join(t, NULL);
	CHECK(w.opened);
	if (fd >= 0)
		close(fd);
}

static void test_devices_sockets_dirs(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", at("sock"));
	CHECK(s >= 0 && !bind(s, (struct sockaddr *)&sa, sizeof(sa)), "%s", strerror(errno));
	CHECK(!symlink("/dev/null", at("link-null")));
	CHECK(!symlink(at("sock"), at("link-sock")));
	CHECK(!mkdir(at("sub"), 0700));
	CHECK(!symlink(at("sub"), at("link-sub")));
	refused("/dev/null");
	refused(at("link-null"));
	refused(at("sock"));
	refused(at("link-sock"));
	refused(at("sub"));
	refused(at("link-sub"));
	if (s >= 0)
		close(s);
}

/*
 * In a new session (no controlling terminal), a pty slave is refused and
 * the session still has no terminal.  The same open(2) without O_NOCTTY
 * would have made the pty ours: the last check shows the test can tell.
 */
static int pty_child(const char *slave, const char *link)
{
	int fd;

	if (setsid() < 0)
		return 10;
	fd = fileopen_regular(slave);
	if (fd >= 0 || errno != FILEOPEN_NOT_REGULAR)
		return 11;
	fd = fileopen_regular(link);
	if (fd >= 0 || errno != FILEOPEN_NOT_REGULAR)
		return 12;
	if (open("/dev/tty", O_RDONLY | O_NOCTTY) >= 0 || errno != ENXIO)
		return 13;			 /* we have a controlling terminal */
	fd = open(slave, O_RDONLY | O_NONBLOCK); /* what the agent used to do */
	if (fd < 0)
		return 14;
	if (open("/dev/tty", O_RDONLY | O_NOCTTY) < 0)
		return 15; /* the plain open did not take it: this test would prove nothing */
	return 0;
}

static void test_pty(void)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY), st = -1;
	const char *slave;
	pid_t pid;

	CHECK(m >= 0 && !grantpt(m) && !unlockpt(m), "%s", strerror(errno));
	slave = m >= 0 ? ptsname(m) : NULL;
	CHECK(slave && !symlink(slave, at("link-pty")));
	if (!slave)
		return;
	fflush(NULL);
	pid = fork();
	if (!pid)
		_exit(pty_child(slave, at("link-pty")));
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
	close(m);
}

/* Inside a root, an absolute symlink stays in it: /fifo is root/fifo. */
static void test_in_root(void)
{
	int root, fd;
	FILE *f;

	CHECK(!mkdir(at("root"), 0700) && !mkdir(at("root/lib"), 0700));
	CHECK(!mkfifo(at("root/fifo"), 0600));
	CHECK(!symlink("/fifo", at("root/lib/a")));
	CHECK(!symlink("/etc/hostname", at("root/lib/b")));
	CHECK(!symlink("../../../../../ok", at("root/lib/c")));
	f = fopen(at("root/ok"), "w");
	if (f)
		fclose(f);
	root = open(at("root"), O_PATH | O_DIRECTORY | O_CLOEXEC);
	CHECK(root >= 0);
	errno = 0;
	fd = fileopen_regular_at(root, "lib/a", RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
	CHECK(fd < 0 && errno == FILEOPEN_NOT_REGULAR, "%d %s", fd, strerror(errno));
	errno = 0;
	fd = fileopen_regular_at(root, "/lib/b", RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
	CHECK(fd < 0 && errno == ENOENT, "%d %s", fd, strerror(errno));
	fd = fileopen_regular_at(root, "lib/c", RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
	CHECK(fd >= 0, "%s", strerror(errno));
	if (fd >= 0)
		close(fd);
	errno = 0;
	fd = fileopen_regular_at(root, "/proc/self/exe", RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
	CHECK(fd < 0 && errno == ENOENT, "%d %s", fd, strerror(errno));
	close(root);
}

static void test_append(void)
{
	struct stat st;
	char buf[16] = "";
	int fd;

	fd = fileopen_append(at("log"), 0640);
	CHECK(fd >= 0 && !fstat(fd, &st) && (st.st_mode & 07777) == 0640, "%s", strerror(errno));
	CHECK(write(fd, "ab", 2) == 2);
	close(fd);
	fd = fileopen_append(at("log"), 0600);
	CHECK(fd >= 0 && write(fd, "cd", 2) == 2);
	close(fd);
	fd = open(at("log"), O_RDONLY);
	CHECK(read(fd, buf, sizeof(buf) - 1) == 4 && !strcmp(buf, "abcd"), "%s", buf);
	close(fd);
	CHECK(!symlink(at("log"), at("link-log")));
	errno = 0;
	CHECK(fileopen_append(at("link-log"), 0640) < 0 && errno == ELOOP);
	errno = 0;
	CHECK(fileopen_append("/dev/null", 0640) < 0 && errno == FILEOPEN_NOT_REGULAR);
	errno = 0;
	CHECK(fileopen_append(at("sub"), 0640) < 0 && errno == FILEOPEN_NOT_REGULAR);
	/* A FIFO without a reader: an open for writing would wait forever (alarm). */
	errno = 0;
	CHECK(fileopen_append(at("fifo"), 0640) < 0 && errno == FILEOPEN_NOT_REGULAR);
	CHECK(!strcmp(fileopen_strerror(FILEOPEN_NOT_REGULAR), "not a regular file"));
}

static void test_kernel(void)
{
	FILE *f = fileopen_kernel_stream("/proc/self/stat");
	char line[64] = "";
	int fd = fileopen_kernel("/proc/self/comm");

	CHECK(f && fgets(line, sizeof(line), f) && atoi(line) == getpid(), "%s", line);
	CHECK(f && (fcntl(fileno(f), F_GETFD) & FD_CLOEXEC));
	if (f)
		fclose(f);
	CHECK(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC));
	if (fd >= 0)
		close(fd);
}

int main(void)
{
	char cmd[64];

	/* Nothing here may block: a hang is a failure, not a stuck test run. */
	alarm(20);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_regular();
	test_fifo();
	test_devices_sockets_dirs();
	test_pty();
	test_in_root();
	test_append();
	test_kernel();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", dir);
	return unit_done("fileopen");
}
