/* SPDX-License-Identifier: MIT */
/* test_discover.c - symbolize/cpython/discover.c against live interpreters reporting their own ground truth. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "interpreters.h"
#include "child.h"
#include "unit.h"
#include "symbolize/cpython/discover.h"
#include "symbolize/proc/elf.h"

#define LINE_TIMEOUT_MS 20000

/* Prints its own ground truth, then waits for stdin to close. */
static const char script[] =
	"import sys, ctypes\n"
	"def f(): pass\n"
	"rt = ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, '_PyRuntime'))\n"
	"print(hex(rt), hex(id(type(f.__code__))), sys.hexversion, flush=True)\n"
	"sys.stdin.read()\n";

/* Pythons we cannot sample: just enough to start and block. */
static const char old_script[] = "import sys; sys.stdout.write('0 0 %d\\n' % sys.hexversion); "
				 "sys.stdout.flush(); sys.stdin.read()";

struct truth {
	uint64_t runtime, code_type;
	unsigned long hexversion;
};

static bool allow_missing(void)
{
	const char *s = getenv("PYSPY_ALLOW_MISSING_PYTHON");

	return s && !strcmp(s, "1");
}

static void missing(const char *what)
{
	if (allow_missing()) {
		printf("  skip: %s not installed\n", what);
		return;
	}
	CHECK(0, "%s not installed (set PYSPY_ALLOW_MISSING_PYTHON=1 to skip)", what);
}

static int spawn(char *const argv[], struct child *c)
{
	return child_spawn(argv, false, c);
}

/* Read the child's one line of ground truth, bounded in time and size. */
static int read_truth(struct child *c, struct truth *t)
{
	struct pollfd pfd = { .fd = c->out, .events = POLLIN };
	char buf[256];
	size_t got = 0;

	while (got < sizeof(buf) - 1 && !memchr(buf, '\n', got)) {
		ssize_t n;

		if (poll(&pfd, 1, LINE_TIMEOUT_MS) != 1)
			return -ETIMEDOUT;
		n = read(c->out, buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			return -EIO;
		got += (size_t)n;
	}
	buf[got] = '\0';
	if (sscanf(buf, "%" SCNx64 " %" SCNx64 " %lu", &t->runtime, &t->code_type,
		   &t->hexversion) != 3)
		return -EIO;
	return 0;
}

/* Close its stdin; it exits.  Leaves it a zombie: the caller reaps. */
static void finish(struct child *c)
{
	siginfo_t si;

	int i;

	close(c->in);
	close(c->out);
	/* A child stuck elsewhere must not hang the test run: 10 s, then kill. */
	for (i = 0; i < 1000; i++) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOWAIT | WNOHANG) || si.si_pid)
			return;
		usleep(10000);
	}
	kill(c->pid, SIGKILL);
	waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOWAIT);
}

static void reap(struct child *c)
{
	int st;

	waitpid(c->pid, &st, 0);
}

/* The only child of pid (unshare -f forks the interpreter). */
static pid_t only_child(pid_t pid)
{
	char path[64];
	FILE *f;
	int child = -1;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%d", &child) != 1)
		child = -1;
	fclose(f);
	return child;
}

/* nested: argv runs the interpreter as its child, in a new pid namespace. */
static void check_live(const char *python, const char *lib_suffix, char *const argv[], bool nested)
{
	struct py_target t;
	struct truth tr = { 0 };
	struct child c;
	pid_t pid;
	int err;

	if (spawn(argv, &c)) {
		CHECK(0, "%s: cannot spawn", python);
		return;
	}
	err = read_truth(&c, &tr);
	CHECK(!err, "%s: no ground truth (%d)", python, err);
	pid = nested ? only_child(c.pid) : c.pid;
	err = py_target__discover(pid, &t);
	CHECK(!err, "%s: discover: %d %s", python, err, py_target__strerror(err));
	CHECK(t.version_hex == tr.hexversion, "%s: version %#x, sys.hexversion %#lx", python,
	      t.version_hex, tr.hexversion);
	CHECK(t.runtime_addr == tr.runtime, "%s: _PyRuntime %#" PRIx64 ", real %#" PRIx64, python,
	      t.runtime_addr, tr.runtime);
	CHECK(t.code_type_addr == tr.code_type, "%s: PyCode_Type %#" PRIx64 ", real %#" PRIx64,
	      python, t.code_type_addr, tr.code_type);
	CHECK(t.layout.major == 3 && t.layout.minor == ((tr.hexversion >> 16) & 0xff),
	      "%s: layout 3.%u", python, t.layout.minor);
	CHECK(py_target__initialised(&t) == 1, "%s", python);
	CHECK(py_target__alive(&t) == 1, "%s", python);
	CHECK(t.pid == pid && t.nspid == (nested ? 1 : pid) && t.start_time, "%s: nspid %d", python,
	      t.nspid);
	CHECK(!strncmp(t.comm, "python3", 7), "%s: comm '%s'", python, t.comm);
	CHECK(strlen(t.elf_path) >= strlen(lib_suffix) &&
		      !strcmp(t.elf_path + strlen(t.elf_path) - strlen(lib_suffix), lib_suffix),
	      "%s: elf_path %s", python, t.elf_path);
	/* 3.13+ describe themselves, and must agree with our table. */
	CHECK(!!(t.flags & PY_TARGET_DEBUG_OFFSETS) == (tr.hexversion >= 0x030d0000),
	      "%s: flags %#x", python, t.flags);
	CHECK(!(t.flags & (PY_TARGET_TABLE_MISMATCH | PY_TARGET_VERSION_GUESSED)), "%s: flags %#x",
	      python, t.flags);
	printf("  %s: pid %d version %#x _PyRuntime %#" PRIx64 " PyCode_Type %#" PRIx64
	       " in %s (flags %#x)\n",
	       python, pid, t.version_hex, t.runtime_addr, t.code_type_addr, t.elf_path, t.flags);

	finish(&c);
	if (!nested) {
		err = py_target__discover(pid, &t);
		CHECK(err == -ESRCH, "%s: zombie: %d", python, err);
	}
	reap(&c);
	CHECK(py_target__alive(&t) == 0, "%s: alive after exit", python);
	err = py_target__discover(pid, &t);
	CHECK(err == -ESRCH, "%s: dead: %d", python, err);
}

/* A pyenv build: a shared libpython holds _PyRuntime. */
static void check_pyenv(const struct interp *it)
{
	char python[PATH_MAX], suffix[64];
	char *argv[] = { python, "-c", (char *)script, NULL };

	snprintf(python, sizeof(python), "%s", it->host_path);
	if (access(python, X_OK)) {
		missing(python);
		return;
	}
	snprintf(suffix, sizeof(suffix), "/libpython%u.%u.so.1.0", it->major, it->minor);
	check_live(python, suffix, argv, false);
}

/*
 * Private mount and pid namespaces, the interpreter at a path that is an
 * empty directory on the host: discovery must look through /proc/PID/root
 * (or map_files) and report the namespaced pid, as for a container.
 */
static void check_mount_ns(const struct interp *py312)
{
	char dir[] = "/tmp/pyspy-ns-XXXXXX", cmd[2 * PATH_MAX], src[PATH_MAX];
	char *argv[] = { "/usr/bin/unshare", "-m",	"-p", "-f", "--propagation",
			 "private",	     "/bin/sh", "-c", cmd,  NULL };

	if (geteuid()) {
		printf("  skip: namespaces need root\n");
		return;
	}
	if (!py312 || access(py312->host_path, X_OK)) {
		missing("pyenv 3.12, for the mount namespace test");
		return;
	}
	snprintf(src, sizeof(src), "%s", py312->prefix);
	if (access(argv[0], X_OK) || !mkdtemp(dir)) {
		printf("  skip: no unshare\n");
		return;
	}
	snprintf(cmd, sizeof(cmd),
		 "mount --bind '%s' %s && LD_LIBRARY_PATH=%s/lib exec %s/bin/python3.12 -c \"%s\"",
		 src, dir, dir, dir, script);
	check_live("python3.12 in mount+pid namespaces", "/libpython3.12.so.1.0", argv, true);
	rmdir(dir);
}

/* Debian's static, non-PIE, stripped 3.11. */
static void check_debian(void)
{
	char *argv[] = { "/usr/bin/python3.11", "-c", (char *)script, NULL };

	if (access(argv[0], X_OK)) {
		missing(argv[0]);
		return;
	}
	check_live(argv[0], "/usr/bin/python3.11", argv, false);
}

/*
 * A deleted executable (an upgrade replaced it while running): the path
 * leads nowhere, so discovery must open the mapping through map_files.
 */
static void check_deleted(void)
{
	char path[] = "/tmp/pyspy-deleted-XXXXXX", cmd[256];
	char *argv[] = { path, "-I", "-c", (char *)script, NULL };
	struct py_target t;
	struct truth tr = { 0 };
	struct child c;
	int fd, err;

	if (geteuid()) {
		printf("  skip: map_files needs root\n");
		return;
	}
	if (access("/usr/bin/python3.11", X_OK)) {
		missing("/usr/bin/python3.11");
		return;
	}
	fd = mkstemp(path);
	CHECK(fd >= 0, "mkstemp");
	if (fd < 0)
		return;
	close(fd);
	snprintf(cmd, sizeof(cmd), "cp /usr/bin/python3.11 %s && chmod 755 %s", path, path);
	CHECK(!system(cmd), "%s", cmd);
	if (spawn(argv, &c)) {
		CHECK(0, "cannot spawn %s", path);
		unlink(path);
		return;
	}
	err = read_truth(&c, &tr);
	CHECK(!err, "%s: no ground truth (%d)", path, err);
	unlink(path);
	err = py_target__discover(c.pid, &t);
	CHECK(!err, "deleted: discover: %d %s", err, py_target__strerror(err));
	CHECK(t.runtime_addr == tr.runtime && t.version_hex == tr.hexversion &&
		      t.code_type_addr == tr.code_type,
	      "deleted: _PyRuntime %#" PRIx64 " (real %#" PRIx64 "), version %#x", t.runtime_addr,
	      tr.runtime, t.version_hex);
	CHECK(!strcmp(t.elf_path, path), "deleted: elf_path %s", t.elf_path);
	finish(&c);
	reap(&c);
}

/*
 * Stopped at exec, before any of its code ran: the static Debian 3.11 has
 * _PyRuntime in the executable, but no interpreter yet.
 */
static void check_uninitialised(void)
{
	char *argv[] = { "/usr/bin/python3.11", "-c", (char *)script, NULL };
	struct py_target t;
	struct truth tr = { 0 };
	struct child c;
	int st, err;

	if (access(argv[0], X_OK)) {
		missing(argv[0]);
		return;
	}
	if (child_spawn(argv, true, &c)) {
		CHECK(0, "cannot spawn %s", argv[0]);
		return;
	}
	CHECK(waitpid(c.pid, &st, 0) == c.pid && WIFSTOPPED(st), "exec stop");
	err = py_target__discover(c.pid, &t);
	CHECK(err == -EAGAIN, "at exec: %d %s", err, py_target__strerror(err));
	CHECK(py_target__initialised(&t) == 0, "at exec");
	ptrace(PTRACE_DETACH, c.pid, NULL, NULL);
	CHECK(!read_truth(&c, &tr), "after exec stop");
	CHECK(t.runtime_addr == tr.runtime && t.version_hex == tr.hexversion,
	      "at exec: _PyRuntime %#" PRIx64 " (real %#" PRIx64 ") version %#x", t.runtime_addr,
	      tr.runtime, t.version_hex);
	CHECK(py_target__initialised(&t) == 1, "after start");
	finish(&c);
	reap(&c);
}

/* Copy src to dst with every \0_PyRuntime\0 renamed, as if stripped of it. */
static int copy_renamed(const char *src, const char *dst)
{
	static const char from[] = "\0_PyRuntime", to[] = "\0_PyRuntimX";
	size_t len = 0, cap = 64 << 20;
	char *buf, *p;
	FILE *in, *out;
	int err = -EIO;

	buf = malloc(cap);
	in = fopen(src, "rb");
	out = fopen(dst, "wb");
	if (buf && in && out) {
		len = fread(buf, 1, cap, in);
		for (p = buf; (p = memmem(p, len - (size_t)(p - buf), from, sizeof(from))); p++)
			memcpy(p, to, sizeof(to) - 1);
		if (len && len < cap && fwrite(buf, 1, len, out) == len)
			err = 0;
	}
	if (in)
		fclose(in);
	if (out && fclose(out))
		err = -EIO;
	free(buf);
	return err ? err : chmod(dst, 0755) ? -errno : 0;
}

/*
 * No _PyRuntime symbol (3.10+ stripped of it): the .PyRuntime section
 * still tells where it is.  Ground truth: the ET_EXEC symbol address.
 */
static void check_section_fallback(void)
{
	static const char script2[] =
		"import sys\n"
		"def f(): pass\n"
		"print(0, hex(id(type(f.__code__))), sys.hexversion, flush=True)\n"
		"sys.stdin.read()\n";
	char path[] = "/tmp/pyspy-nosym-XXXXXX";
	char *argv[] = { path, "-I", "-c", (char *)script2, NULL };
	struct py_target t;
	struct truth tr = { 0 };
	struct elf_file *ef;
	uint64_t rt = 0, size;
	struct child c;
	int fd, err;

	ef = elf_file__open("/usr/bin/python3.11");
	if (!ef) {
		missing("/usr/bin/python3.11");
		return;
	}
	CHECK(!elf_file__find_symbol(ef, "_PyRuntime", &rt, &size), "debian _PyRuntime");
	elf_file__close(ef);
	fd = mkstemp(path);
	CHECK(fd >= 0, "mkstemp");
	if (fd < 0)
		return;
	close(fd);
	CHECK(!copy_renamed("/usr/bin/python3.11", path), "copy to %s", path);
	if (spawn(argv, &c)) {
		CHECK(0, "cannot spawn %s", path);
		unlink(path);
		return;
	}
	CHECK(!read_truth(&c, &tr), "%s: no ground truth", path);
	err = py_target__discover(c.pid, &t);
	CHECK(!err, "no symbol: discover: %d %s", err, py_target__strerror(err));
	CHECK(t.flags & PY_TARGET_RUNTIME_SECTION, "no symbol: flags %#x", t.flags);
	CHECK(t.runtime_addr == rt && t.version_hex == tr.hexversion &&
		      t.code_type_addr == tr.code_type,
	      "no symbol: _PyRuntime %#" PRIx64 " (real %#" PRIx64 "), version %#x", t.runtime_addr,
	      rt, t.version_hex);
	printf("  python3.11 without _PyRuntime symbol: %#" PRIx64 " from .PyRuntime\n",
	       t.runtime_addr);
	finish(&c);
	reap(&c);
	unlink(path);
}

/* Pythons too old to sample must say so, not "not Python". */
static void check_old(const struct interp *it)
{
	char python[PATH_MAX];
	char *argv[] = { python, "-c", (char *)old_script, NULL };
	/* 3.x says its version; 2.7 has no _PyRuntime at all to read it from. */
	bool want_version_prefix = it->major == 3;
	struct py_target t;
	struct truth tr;
	struct child c;
	int err;

	snprintf(python, sizeof(python), "%s", it->host_path);
	if (access(python, X_OK)) {
		printf("  skip: %s not installed\n", python);
		return;
	}
	if (spawn(argv, &c)) {
		CHECK(0, "%s: cannot spawn", python);
		return;
	}
	CHECK(!read_truth(&c, &tr), "%s", python);
	err = py_target__discover(c.pid, &t);
	CHECK(err == -ENOTSUP, "%s: %d %s", python, err, py_target__strerror(err));
	CHECK(want_version_prefix ? t.version_hex == tr.hexversion : !t.version_hex,
	      "%s: version %#x, sys.hexversion %#lx", python, t.version_hex, tr.hexversion);
	printf("  %s: %s (version %#x)\n", python, py_target__strerror(err), t.version_hex);
	finish(&c);
	reap(&c);
}

static void check_not_python(void)
{
	char *argv[] = { "/bin/sleep", "60", NULL };
	struct py_target t;
	struct child c;
	int err = 0;

	CHECK(!spawn(argv, &c), "spawn sleep");
	/* The exec may not have happened yet: wait until comm says sleep. */
	for (int i = 0; i < 200; i++) {
		err = py_target__discover(c.pid, &t);
		if (!strcmp(t.comm, "sleep"))
			break;
		usleep(10000);
	}
	CHECK(err == -ENOEXEC, "sleep: %d %s", err, py_target__strerror(err));
	kill(c.pid, SIGKILL);
	close(c.in);
	close(c.out);
	reap(&c);

	err = py_target__discover(getpid(), &t);
	CHECK(err == -ENOEXEC, "self: %d", err);
	CHECK(py_target__discover(0, &t) == -ESRCH, "pid 0");
	CHECK(py_target__discover(-1, &t) == -ESRCH, "pid -1");
	CHECK(py_target__discover(0x3fffffff, &t) == -ESRCH, "pid 0x3fffffff");
}

static pthread_barrier_t barrier;
static pid_t thread_tid;

static void *thread_fn(void *arg)
{
	(void)arg;
	thread_tid = (pid_t)syscall(SYS_gettid);
	pthread_barrier_wait(&barrier);
	pthread_barrier_wait(&barrier);
	return NULL;
}

/* A thread id names no process. */
static void check_thread(void)
{
	struct py_target t;
	pthread_t th;

	pthread_barrier_init(&barrier, NULL, 2);
	if (pthread_create(&th, NULL, thread_fn, NULL)) {
		CHECK(0, "pthread_create");
		return;
	}
	pthread_barrier_wait(&barrier);
	CHECK(py_target__discover(thread_tid, &t) == -ESRCH, "thread %d", thread_tid);
	pthread_barrier_wait(&barrier);
	pthread_join(th, NULL);
	pthread_barrier_destroy(&barrier);
}

static void check_strerror(void)
{
	static const int errs[] = { 0,	     -ESRCH, -ENOEXEC, -ENOTSUP, -EAGAIN,
				    -EACCES, -EPERM, -ENOMEM,  -12345 };
	unsigned i;

	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		const char *s = py_target__strerror(errs[i]);

		CHECK(s && *s && !strchr(s, '\n'), "strerror(%d)", errs[i]);
	}
}

int main(void)
{
	static struct interp all[INTERPS_MAX], old[INTERPS_MAX];
	int n = interps_load("--kind pyenv", all, INTERPS_MAX);
	int n_old = interps_load("--all --tag unsupported", old, INTERPS_MAX);

	/* A child blocked on a closed pipe must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	CHECK(n > 0 && n_old > 0, "tests/interpreters.py: %d, %d", n, n_old);
	for (int i = 0; i < n; i++)
		check_pyenv(&all[i]);
	check_debian();
	check_mount_ns(interps_find(all, n, "3.12"));
	check_deleted();
	check_uninitialised();
	check_section_fallback();
	for (int i = 0; i < n_old; i++)
		check_old(&old[i]);
	check_not_python();
	check_thread();
	check_strerror();
	return unit_done("discover");
}
