// SPDX-License-Identifier: MIT
/*
 * launch.c - fork/exec the profiled command behind a pipe "gate".
 *
 * Why a gate: the BPF sampler must be attached before the command runs its
 * first line, or a short program is over before we look.  The child blocks
 * on a read; if we die first it sees EOF and exits instead of running
 * unprofiled.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch.h"
#include "symbolize/base/fileopen.h"
#include "symbolize/base/log.h"

/* Under sudo, run the command as the user who ran sudo, not as root. */
static int drop_to_sudo_user(void)
{
	const char *uid_s = getenv("SUDO_UID"), *gid_s = getenv("SUDO_GID");
	const char *user = getenv("SUDO_USER");
	uid_t uid;
	gid_t gid;

	if (!uid_s || !gid_s || geteuid() != 0)
		return 0;
	uid = strtoul(uid_s, NULL, 10);
	gid = strtoul(gid_s, NULL, 10);
	if (uid == 0)
		return 0;
	if ((user && initgroups(user, gid)) || (!user && setgroups(0, NULL)))
		return -errno;
	if (setgid(gid) || setuid(uid))
		return -errno;
	return 0;
}

static void child(char **cmd, int gate)
{
	char c;
	int err;

	/* Die with the profiler only while still at the gate. */
	if (read(gate, &c, 1) != 1)
		_exit(127);
	close(gate);
	err = drop_to_sudo_user();
	if (err) {
		fprintf(stderr, "pyspy-bpf: cannot switch to SUDO_UID: %s\n", strerror(-err));
		_exit(126);
	}
	execvp(cmd[0], cmd);
	fprintf(stderr, "pyspy-bpf: cannot run %s: %s\n", cmd[0], strerror(errno));
	_exit(127);
}

int launch__start(char **cmd, struct launch *l)
{
	int fds[2];

	memset(l, 0, sizeof(*l));
	if (pipe2(fds, O_CLOEXEC)) {
		log_error("cannot create a pipe: %m");
		return -errno;
	}
	l->pid = fork();
	if (l->pid < 0) {
		log_error("cannot fork: %m");
		close(fds[0]);
		close(fds[1]);
		return -errno;
	}
	if (l->pid == 0) {
		close(fds[1]);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		child(cmd, fds[0]);
	}
	close(fds[0]);
	l->gate_fd = fds[1];
	return 0;
}

void launch__release(struct launch *l)
{
	if (l->gate_fd > 0) {
		if (write(l->gate_fd, "x", 1) != 1)
			log_warn("cannot release the launched command: %m");
		close(l->gate_fd);
		l->gate_fd = -1;
	}
}

bool launch__poll(struct launch *l)
{
	int status;

	if (l->exited)
		return true;
	if (waitpid(l->pid, &status, WNOHANG) == l->pid) {
		l->exited = true;
		l->status = status;
	}
	return l->exited;
}

void launch__stop(struct launch *l)
{
	if (launch__poll(l))
		return;
	log_info("stopping the launched command (PID %d)", l->pid);
	kill(l->pid, SIGTERM);
	for (int i = 0; i < 40 && !launch__poll(l); i++)
		usleep(50 * 1000);
	if (!launch__poll(l)) {
		kill(l->pid, SIGKILL);
		waitpid(l->pid, &l->status, 0);
		l->exited = true;
	}
}

int launch__exit_code(const struct launch *l)
{
	if (!l->exited)
		return 0;
	if (WIFEXITED(l->status))
		return WEXITSTATUS(l->status);
	if (WIFSIGNALED(l->status))
		return 128 + WTERMSIG(l->status);
	return 1;
}

static pid_t read_ppid(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int ppid = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fileopen_kernel_stream(path);
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f)) {
		/* comm may hold spaces and parens: parse after the last ')' */
		p = strrchr(buf, ')');
		if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
			ppid = -1;
	}
	fclose(f);
	return ppid;
}

int launch__descendants(pid_t root, pid_t *out, int max)
{
	enum {
		MAXP = 32768
	};
	static pid_t pids[MAXP], ppids[MAXP];
	int n = 0, found = 0;
	struct dirent *d;
	DIR *dir = opendir("/proc");

	if (!dir)
		return 0;
	while ((d = readdir(dir)) && n < MAXP) {
		pid_t pid = atoi(d->d_name);

		if (pid <= 0)
			continue;
		pids[n] = pid;
		ppids[n++] = read_ppid(pid);
	}
	closedir(dir);
	/* Breadth-first over the parent links; out[] doubles as the queue. */
	for (int head = -1; head < found; head++) {
		pid_t parent = head < 0 ? root : out[head];

		for (int i = 0; i < n && found < max; i++)
			if (ppids[i] == parent && pids[i] != root)
				out[found++] = pids[i];
	}
	return found;
}
