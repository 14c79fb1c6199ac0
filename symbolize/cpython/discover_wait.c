// SPDX-License-Identifier: MIT
/*
 * discover_wait.c - discovery as every verb uses it: a bounded wait for
 * the interpreter to initialise, and one line for each way it fails.
 */
#include <errno.h>
#include <stdbool.h>
#include <time.h>

#include "discover.h"
#include "discover_wait.h"
#include "symbolize/proc/procfs.h"
#include "symbolize/base/clock.h"
#include "symbolize/base/log.h"

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };

	nanosleep(&ts, NULL);
}

void py_target__report(pid_t pid, int err, const struct py_target *py, double wait_s)
{
	char comm[32], ver[32];
	unsigned v = py->version_hex;

	procfs_comm(pid, 0, comm, sizeof(comm));
	py_version_str(v, false, ver, sizeof(ver));
	switch (err) {
	case -ESRCH:
		log_error("no such process: PID %d", pid);
		break;
	case -ENOEXEC:
		log_error("PID %d (%s) is not a Python process (no libpython or _PyRuntime found)",
			  pid, comm);
		break;
	case -ENOTSUP:
		if (py->flags & PY_TARGET_LAYOUT_REFUSED)
			log_error("PID %d (%s): refusing its _Py_DebugOffsets: %s", pid, comm,
				  py->refused);
		else if (py->flags & PY_TARGET_FREE_THREADED)
			log_error("PID %d (%s): CPython %s is a free-threaded (no-GIL) build, "
				  "which is not supported (its objects and bytecode are laid out "
				  "differently)",
				  pid, comm, ver);
		else if (v)
			log_error("PID %d (%s): unsupported Python version %s "
				  "(supported: CPython 3.8 and newer)",
				  pid, comm, ver);
		else
			log_error("PID %d (%s): unsupported Python version (supported: CPython 3.8 "
				  "and newer)",
				  pid, comm);
		break;
	case -E2BIG:
		log_error("PID %d (%s): refusing %s", pid, comm, py->refused);
		break;
	case -EAGAIN:
		log_error("PID %d (%s): Python is not initialised yet (waited %.1f s; see "
			  "--init-wait)",
			  pid, comm, wait_s);
		break;
	case -EACCES:
	case -EPERM:
		log_error("PID %d (%s): permission denied reading its memory "
			  "(needs CAP_SYS_PTRACE, or the same user)",
			  pid, comm);
		break;
	default:
		log_error("PID %d (%s): %s", pid, comm, py_target__strerror(err));
	}
}

static int discover_wait(pid_t pid, double wait_s, struct py_target *py)
{
	double deadline = mono_s() + wait_s;
	int err = py_target__discover(pid, py);

	while (err == -EAGAIN && mono_s() < deadline) {
		sleep_s(0.05);
		if (py_target__initialised(py) > 0)
			return 0;
		if (py_target__alive(py) == 0)
			return -ESRCH;
	}
	return err;
}

int py_target__discover_wait(pid_t pid, double wait_s, struct py_target *py)
{
	int err = discover_wait(pid, wait_s, py);

	if (err)
		py_target__report(pid, err, py, wait_s);
	return err;
}
