// SPDX-License-Identifier: MIT
/*
 * test_watch.c - processes that may become targets (user/engine/watch.h),
 * as root, over a real BPF session and targets, with live processes that
 * become Python or never do.  The watch's clock is the caller's: the
 * looks are driven at chosen times, so the bounds are met exactly.
 *
 *   - a shell that execs an interpreter of the behaviour list (a sid one
 *     through its root, as a container starts) is looked at while it is
 *     not Python, and becomes a target, once, when its interpreter is up:
 *     the one the interpreter says it is;
 *   - give-up: a process that is not Python once its image is 3 s old,
 *     an interpreter that does not initialise (stopped at its exec) at
 *     the --init-wait bound, not before; given up, it is not looked at
 *     again until it execs (fresh, or its executable changed);
 *   - a Python that cannot be sampled is said once and counted, or only
 *     warned of under --all; add() refusing is counted, add() failing is
 *     tried again; a process gone is forgotten;
 *   - a launched command (user/engine/launch.h) followed by the
 *     lifecycle's housekeeping: its Python child, and a command that
 *     execs into Python itself, become targets; once the command exits,
 *     nothing is left.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "livetarget.h"
#include "logcap.h"
#include "unit.h"
#include "symbolize/codestore.h"
#include "symbolize/container.h"
#include "symbolize/proc/procfs.h"
#include "symbolize/base/clock.h"
#include "user/engine/lifecycle.h"
#include "user/engine/watch.h"

static struct profile *prof;
static struct code_store *store;
static struct session *sess;

/* The session's records are not read here. */
static int no_records(const struct pyspy_sample *smp, size_t len, void *ctx)
{
	(void)smp;
	(void)len;
	(void)ctx;
	return 0;
}

/* The watch's add(): what it was handed, and what it answers. */
struct adds {
	struct targets *tg;
	int calls;
	struct py_target last;
	int answer; /* 0: make it a target; else return this (once, if once) */
	bool once;
};

static int add(void *ctx, const struct py_target *py)
{
	struct adds *a = ctx;
	int answer = a->answer;

	a->calls++;
	a->last = *py;
	if (a->once)
		a->answer = 0;
	return answer ? answer : targets__add(a->tg, py);
}

/* A fresh set of targets on the session. */
static struct targets *targets(void)
{
	struct targets *tg = targets__new(sess, prof, store, false);

	CHECK(tg, "targets__new");
	return tg;
}

/* argv (NULL-ended) behind /bin/sh -c 'read x; exec "$@"': a shell that execs it when told. */
static int start_shell(struct pychild *p, char *const argv[])
{
	char *sh[40] = { "/bin/sh", "-c", "read x; exec \"$@\"", "sh" };
	int n = 4;

	memset(p, 0, sizeof(*p));
	for (int i = 0; argv[i] && n < 39; i++)
		sh[n++] = argv[i];
	sh[n] = NULL;
	return child_spawn(sh, false, &p->c);
}

/* The argv that runs the engine's workload on it (pychild.h's, without starting it). */
static int python_argv(const struct interp *it, char **argv, char (*bufs)[PATH_MAX])
{
	int n = 0;

	if (it->root[0]) {
		argv[n++] = (char *)repo_path("tests/helpers/inroot.sh", bufs[0], PATH_MAX);
		argv[n++] = (char *)it->root;
	}
	argv[n++] = (char *)(it->root[0] ? it->path : it->host_path);
	argv[n++] = "-u";
	argv[n++] = (char *)repo_path(ENGINE_WORKLOAD, bufs[1], PATH_MAX);
	argv[n] = NULL;
	return n;
}

/* A shell looked at before it is Python, a target once its interpreter is up. */
static void test_found(const struct interp *it)
{
	static char bufs[2][PATH_MAX];
	char *argv[8];
	struct adds a = { .tg = targets() };
	struct watch *w = a.tg ? watch__new(a.tg, false, 5.0, add, &a) : NULL;
	struct pychild p;
	double t = mono_s();

	python_argv(it, argv, bufs);
	if (!w || start_shell(&p, argv)) {
		CHECK(0, "%s: set-up", it->id);
		goto out;
	}
	watch__consider(w, p.c.pid, t, true);
	CHECK(watch__active(w) && !a.calls, "%s: not Python yet, looked at again", it->id);
	watch__retry(w, t + 0.2);
	CHECK(watch__active(w) && !a.calls, "%s: still not Python", it->id);
	CHECK(!pychild_say(&p, "go") && !pychild_until(&p, "ready"), "%s: its interpreter", it->id);
	watch__retry(w, t + 0.4);
	CHECK(a.calls == 1 && a.last.pid == p.c.pid && p.pid == p.c.pid &&
		      a.last.version_hex == p.hex && targets__has(a.tg, p.c.pid) &&
		      !watch__active(w),
	      "%s: %d calls, PID %d version %#x, the interpreter says PID %d version %#lx", it->id,
	      a.calls, a.last.pid, a.last.version_hex, p.pid, p.hex);
	/* A target already: not looked at again. */
	watch__consider(w, p.c.pid, t + 0.5, true);
	watch__retry(w, t + 1);
	CHECK(a.calls == 1 && !watch__active(w) && !watch__refused(w), "%s: %d calls", it->id,
	      a.calls);
out:
	pychild_end(&p, true);
	watch__free(w);
	targets__free(a.tg);
}

/*
 * Not Python: waited for while its image is young, up to --init-wait; an
 * image 3 s old that is not Python is given up at once.  Given up, it is
 * looked at again only when it execs (fresh, or its executable changed).
 */
static void test_not_python(pid_t old)
{
	char *argv[] = { "/bin/sleep", "60", NULL };
	struct adds a = { .tg = targets() };
	struct watch *w = a.tg ? watch__new(a.tg, false, 30.0, add, &a) : NULL;
	struct pychild p;
	double t = mono_s();

	if (!w || start_shell(&p, argv) || pychild_say(&p, "go")) {
		CHECK(0, "set-up");
		goto out;
	}
	watch__consider(w, p.c.pid, t, true);
	watch__retry(w, t + 10);
	/* Young for real too (the machine did not stall for seconds): still waited for. */
	if (procfs_age_s(p.c.pid) < 3)
		CHECK(watch__active(w), "a young process given up before --init-wait");
	else
		printf("  skip: sleep is %.1f s old already\n", procfs_age_s(p.c.pid));
	watch__retry(w, t + 30.1);
	CHECK(!watch__active(w) && !a.calls && !watch__refused(w), "not given up at --init-wait");
	watch__consider(w, p.c.pid, t + 31, false);
	CHECK(!watch__active(w), "looked at again, the same image");
	watch__consider(w, p.c.pid, t + 32, true);
	CHECK(watch__active(w), "not looked at again after an exec");

	/* An image over 3 s old: given up at the first look, whatever --init-wait says. */
	watch__free(w);
	w = watch__new(a.tg, false, 30.0, add, &a);
	while (w && procfs_age_s(old) <= 3.05)
		usleep(50000);
	if (w)
		watch__consider(w, old, mono_s(), false);
	CHECK(w && !watch__active(w) && !a.calls && !watch__refused(w),
	      "a process 3 s into its image, not Python, still waited for");
out:
	pychild_end(&p, true);
	watch__free(w);
	targets__free(a.tg);
}

/*
 * An interpreter stopped at its exec (static: _PyRuntime is there, its
 * interpreter not yet): waited for up to --init-wait, not 3 s; given up,
 * then found when it runs and execs... here, when told it is fresh.
 */
static void test_not_initialised(const struct interp *it)
{
	struct adds a = { .tg = targets() };
	struct watch *w = a.tg ? watch__new(a.tg, false, 5.0, add, &a) : NULL;
	struct pychild p = { .c.pid = -1 };
	double t = mono_s();
	int st;

	if (!w || !it || pychild_start_traced(&p, it, ENGINE_WORKLOAD, NULL, true) ||
	    waitpid(p.c.pid, &st, 0) != p.c.pid || !WIFSTOPPED(st)) {
		CHECK(0, "set-up");
		goto out;
	}
	watch__consider(w, p.c.pid, t, true);
	watch__retry(w, t + 4.9);
	CHECK(watch__active(w) && !a.calls, "%s: given up before --init-wait", it->id);
	watch__retry(w, t + 5.1);
	CHECK(!watch__active(w) && !a.calls && !watch__refused(w),
	      "%s: not given up at --init-wait", it->id);
	ptrace(PTRACE_DETACH, p.c.pid, NULL, NULL);
	CHECK(!pychild_until(&p, "ready"), "%s: it runs", it->id);
	watch__consider(w, p.c.pid, t + 6, false);
	CHECK(!a.calls && !watch__active(w), "%s: looked at again, the same image", it->id);
	watch__consider(w, p.c.pid, t + 7, true);
	CHECK(a.calls == 1 && a.last.version_hex == p.hex && targets__has(a.tg, p.c.pid),
	      "%s: not found once fresh", it->id);
out:
	pychild_end(&p, true);
	watch__free(w);
	targets__free(a.tg);
}

/* A Python that cannot be sampled: said once and counted (not --all), or warned of (--all). */
static void test_unsupported(const struct interp *it, bool all)
{
	struct adds a = { .tg = targets() };
	struct watch *w = a.tg ? watch__new(a.tg, all, 5.0, add, &a) : NULL;
	const char *what = all ? "skipping PID" : "unsupported Python version";
	struct pychild p;
	struct logcap l;
	double t = mono_s();
	int lines;

	char *argv[] = { it ? (char *)it->host_path : NULL, "-c",
			 "import sys; print('ready', flush=True); sys.stdin.read()", NULL };

	memset(&p, 0, sizeof(p));
	p.c.pid = -1;
	if (!w || !it || child_spawn(argv, false, &p.c) || pychild_until(&p, "ready")) {
		CHECK(0, "set-up");
		goto out;
	}
	logcap_begin(&l);
	watch__consider(w, p.c.pid, t, true);
	watch__consider(w, p.c.pid, t + 1, false);
	watch__retry(w, t + 20);
	lines = logcap_end(&l, what);
	CHECK(lines == 1 && logcap_lines(&l) == 1 && !a.calls && !watch__active(w) &&
		      watch__refused(w) == (all ? 0u : 1u),
	      "%s%s: %d lines, %u refused", it->id, all ? " (--all)" : "", logcap_lines(&l),
	      watch__refused(w));
out:
	pychild_end(&p, true);
	watch__free(w);
	targets__free(a.tg);
}

/* add() refusing (-ENOTSUP, having said why) is counted; add() failing is tried again. */
static void test_add_answers(const struct interp *it)
{
	struct adds a = { .tg = targets(), .answer = -ENOTSUP };
	struct watch *w = a.tg ? watch__new(a.tg, false, 5.0, add, &a) : NULL;
	struct pychild p;
	double t = mono_s();

	if (!w || pychild_start(&p, it, ENGINE_WORKLOAD, NULL) || pychild_until(&p, "ready")) {
		CHECK(0, "set-up");
		goto out;
	}
	watch__consider(w, p.c.pid, t, true);
	watch__consider(w, p.c.pid, t + 1, false);
	watch__retry(w, t + 2);
	CHECK(a.calls == 1 && watch__refused(w) == 1 && !watch__active(w) &&
		      !targets__has(a.tg, p.c.pid),
	      "%s: refused by add(): %d calls, %u refused", it->id, a.calls, watch__refused(w));

	/* Another watch: add() fails once (-EAGAIN), then takes it. */
	watch__free(w);
	a = (struct adds){ .tg = a.tg, .answer = -EAGAIN, .once = true };
	w = watch__new(a.tg, false, 5.0, add, &a);
	if (!w)
		goto out;
	watch__consider(w, p.c.pid, t, true);
	CHECK(a.calls == 1 && watch__active(w) && !targets__has(a.tg, p.c.pid),
	      "%s: add() failed: still waited for", it->id);
	watch__retry(w, t + 0.01);
	CHECK(a.calls == 2 && !watch__active(w) && targets__has(a.tg, p.c.pid) &&
		      !watch__refused(w),
	      "%s: tried again: %d calls", it->id, a.calls);
out:
	pychild_end(&p, true);
	watch__free(w);
	targets__free(a.tg);
}

/* A process gone before it became Python is forgotten at the next look. */
static void test_gone(void)
{
	char *argv[] = { "/bin/sleep", "60", NULL };
	struct adds a = { .tg = targets() };
	struct watch *w = a.tg ? watch__new(a.tg, false, 30.0, add, &a) : NULL;
	struct pychild p;
	double t = mono_s();

	if (!w || start_shell(&p, argv)) {
		CHECK(0, "set-up");
		goto out;
	}
	watch__consider(w, p.c.pid, t, true);
	CHECK(watch__active(w));
	pychild_end(&p, true);
	watch__retry(w, t + 0.2);
	CHECK(!watch__active(w) && !a.calls, "a process gone still waited for");
out:
	pychild_end(&p, true);
	watch__free(w);
	targets__free(a.tg);
}

/* A pipe whose read (in = 0) or write end only is passed on exec: 0 or -1. */
static int pipe_for_child(int fds[2], int keep)
{
	if (pipe(fds))
		return -1;
	return fcntl(fds[!keep], F_SETFD, FD_CLOEXEC);
}

/*
 * record -- COMMAND: the lifecycle's housekeeping follows the launched
 * command (shell) to the Python it starts, as a child (fork) or itself
 * (exec); when the command is over, nothing is left to sample.  Its
 * stdin and stdout are pipes of ours (fds it inherits), so the Python
 * says who it is.
 */
static void test_launch(const struct interp *it, bool fork_it)
{
	static char bufs[2][PATH_MAX];
	const struct options o = { OPTIONS_DEFAULTS };
	struct lifecycle life = { .o = &o, .prof = prof, .s = sess };
	int in[2] = { -1, -1 }, out[2] = { -1, -1 };
	char script[128], *argv[8], *cmd[16] = { "/bin/sh", "-c", script, "sh" };
	struct pychild p = { .c.pid = -1 };
	uint64_t end;
	bool done = false;
	int n = 4;

	python_argv(it, argv, bufs);
	for (int i = 0; argv[i]; i++)
		cmd[n++] = argv[i];
	cmd[n] = NULL;
	life.tg = targets();
	life.cc = container_cache__new(NULL, NULL, NULL);
	life.watch = life.tg ? watch__new(life.tg, false, o.init_wait_s, lifecycle__register, &life)
			     : NULL;
	if (!life.cc || !life.watch || pipe_for_child(in, 0) || pipe_for_child(out, 1)) {
		CHECK(0, "set-up");
		goto out;
	}
	/* A shell's last command is exec'd: "; true" keeps the shell, Python its child. */
	snprintf(script, sizeof(script), "%s\"$@\" </proc/self/fd/%d >/proc/self/fd/%d%s",
		 fork_it ? "" : "exec ", in[0], out[1], fork_it ? "; true" : "");
	CHECK(!launch__start(cmd, &life.launch), "%s: launch", it->id);
	life.launched = true;
	close(in[0]);
	close(out[1]);
	in[0] = out[1] = -1;
	p.c = (struct child){ life.launch.pid, in[1], out[0] };
	in[1] = out[0] = -1;
	launch__release(&life.launch);
	CHECK(!pychild_until(&p, "ready"), "%s: the launched interpreter", it->id);
	CHECK(fork_it ? p.pid != life.launch.pid : p.pid == life.launch.pid,
	      "%s: PID %d, launched %d", it->id, p.pid, life.launch.pid);
	end = mono_ns() + 20000000000ull;
	while (!targets__has(life.tg, p.pid) && mono_ns() < end && !done) {
		done = lifecycle__housekeep(&life, mono_s());
		usleep(20000);
	}
	CHECK(!done, "%s: over before it was found", it->id);
	CHECK(targets__has(life.tg, p.pid) && targets__alive(life.tg) == 1,
	      "%s: %s Python not followed (%d targets)", it->id,
	      fork_it ? "the command's" : "the command, exec'd into", targets__alive(life.tg));
	/* Its stdin closed, it exits, and the command with it. */
	close(p.c.in);
	close(p.c.out);
	p.c.pid = -1;
	end = mono_ns() + 20000000000ull;
	while (!(done = lifecycle__housekeep(&life, mono_s())) && mono_ns() < end)
		usleep(20000);
	/* Its Python exited before the command did: gone at the next reap, if not at this one. */
	CHECK(done && launch__poll(&life.launch) && targets__reap(life.tg) == 0,
	      "%s: the command is over, %d targets left", it->id, targets__alive(life.tg));
out:
	if (life.launched)
		launch__stop(&life.launch);
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	watch__free(life.watch);
	targets__free(life.tg);
	container_cache__free(life.cc);
}

int main(void)
{
	static struct interp all[INTERPS_MAX], old[INTERPS_MAX], behaviour[INTERPS_MAX];
	int n = interps_load("", all, INTERPS_MAX);
	int n_old = interps_load("--all --tag unsupported", old, INTERPS_MAX);
	int n_b = interps_load("--tag behaviour", behaviour, INTERPS_MAX);

	char *sleep_argv[] = { "/bin/sleep", "60", NULL };
	struct child sleeper = { .pid = -1 };

	signal(SIGPIPE, SIG_IGN);
	/* Started first: 3 s old by the end. */
	CHECK(!child_spawn(sleep_argv, false, &sleeper), "sleep");
	CHECK(n >= 11 && n_old > 0 && n_b == 3, "tests/interpreters.py: %d, %d, %d", n, n_old, n_b);
	prof = profile__new(0);
	store = code_store__new(0, 0);
	sess = session__open(&(const struct session_opts){ .rate_hz = 0 }, no_records, NULL);
	CHECK(prof && store && sess, "set-up");
	if (!prof || !store || !sess)
		return unit_done("watch");
	for (int i = 0; i < n_b; i++)
		test_found(&behaviour[i]);
	test_not_initialised(interps_find(all, n, "3.11-debian"));
	test_unsupported(interps_find(old, n_old, "3.7"), false);
	test_unsupported(interps_find(old, n_old, "3.7"), true);
	test_add_answers(&behaviour[0]);
	test_gone();
	test_launch(&behaviour[0], true);
	test_launch(&behaviour[n_b - 1], false);
	test_not_python(sleeper.pid);
	if (sleeper.pid > 0) {
		kill(sleeper.pid, SIGKILL);
		waitpid(sleeper.pid, NULL, 0);
		close(sleeper.in);
		close(sleeper.out);
	}
	session__close(sess);
	code_store__free(store);
	profile__free(prof);
	return unit_done("watch");
}
