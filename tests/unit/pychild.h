/* SPDX-License-Identifier: MIT */
/*
 * pychild.h - an interpreter of tests/interpreters.txt running a workload
 * as the unit tests' live target (a sid one inside its root, as a
 * container would: tests/helpers/inroot.sh), and what it says of itself:
 * lines on its stdout, read with a bound in time, among them its stacks
 * ("F QUALNAME<TAB>FILE<TAB>LINE", innermost first) to hold a profile's
 * stacks to.
 */
#ifndef PYSPY_TEST_PYCHILD_H
#define PYSPY_TEST_PYCHILD_H

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "interpreters.h"
#include "symbolize/model/profile.h"

/* How long a line may take: a sid interpreter starts in its root, on a loaded machine. */
#define PYCHILD_LINE_MS 30000
#define PYCHILD_FRAMES	64

struct pyframe {
	char name[128], file[PATH_MAX];
	int line;
};

struct pychild {
	struct child c;
	char buf[16384];
	size_t have;
	/* From its "pid PID tid TID hex HEX comm COMM" line. */
	pid_t pid, tid;
	unsigned long hex;
	char comm[32];
	/* Its latest stack, innermost first. */
	struct pyframe f[PYCHILD_FRAMES];
	unsigned n;
};

/* Path of a file of the repository (the tests run from its top), absolute. */
static inline const char *repo_path(const char *rel, char *buf, size_t len)
{
	size_t n;

	if (!getcwd(buf, len))
		buf[0] = 0;
	n = strlen(buf);
	snprintf(buf + n, len - n, "/%s", rel);
	return buf;
}

/*
 * Start it running workload (a path under the repository) with args
 * (NULL-ended), stopped at its exec if traced (child.h): 0 or -errno.
 */
static inline int pychild_start_traced(struct pychild *p, const struct interp *it,
				       const char *workload, char *const args[], bool traced)
{
	char inroot[PATH_MAX], script[PATH_MAX];
	char *argv[32];
	int n = 0;

	memset(p, 0, sizeof(*p));
	p->c.pid = -1;
	if (access(it->host_path, X_OK))
		return -ENOENT;
	if (it->root[0]) {
		argv[n++] = (char *)repo_path("tests/helpers/inroot.sh", inroot, sizeof(inroot));
		argv[n++] = (char *)it->root;
	}
	argv[n++] = (char *)(it->root[0] ? it->path : it->host_path);
	argv[n++] = "-u";
	argv[n++] = (char *)repo_path(workload, script, sizeof(script));
	for (int i = 0; args && args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return child_spawn(argv, traced, &p->c);
}

static inline int pychild_start(struct pychild *p, const struct interp *it, const char *workload,
				char *const args[])
{
	return pychild_start_traced(p, it, workload, args, false);
}

/* Its next line, without the newline: 0, -ETIMEDOUT, or -EIO (it closed stdout). */
static inline int pychild_line(struct pychild *p, char *line, size_t len)
{
	struct pollfd pfd = { .fd = p->c.out, .events = POLLIN };

	for (;;) {
		char *nl = memchr(p->buf, '\n', p->have);
		ssize_t got;

		if (nl) {
			size_t n = (size_t)(nl - p->buf);

			snprintf(line, len, "%.*s", (int)n, p->buf);
			p->have -= n + 1;
			memmove(p->buf, nl + 1, p->have);
			return 0;
		}
		if (p->have == sizeof(p->buf))
			return -EIO;
		if (poll(&pfd, 1, PYCHILD_LINE_MS) != 1)
			return -ETIMEDOUT;
		got = read(p->c.out, p->buf + p->have, sizeof(p->buf) - p->have);
		if (got <= 0)
			return -EIO;
		p->have += (size_t)got;
	}
}

/*
 * Read what it says up to a line that is until ("ready", "spinning"): its
 * "pid" line and its stack.  0, or -errno.
 */
static inline int pychild_until(struct pychild *p, const char *until)
{
	char line[PATH_MAX + 256];
	int err;

	p->n = 0;
	while (!(err = pychild_line(p, line, sizeof(line)))) {
		char *tab1, *tab2;

		if (!strcmp(line, until))
			return 0;
		if (!strncmp(line, "pid ", 4)) {
			if (sscanf(line, "pid %d tid %d hex %lu comm %31s", &p->pid, &p->tid,
				   &p->hex, p->comm) != 4)
				return -EIO;
			continue;
		}
		tab1 = strchr(line, '\t');
		tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
		if (strncmp(line, "F ", 2) || !tab2 || p->n == PYCHILD_FRAMES)
			return -EIO;
		*tab1 = *tab2 = 0;
		snprintf(p->f[p->n].name, sizeof(p->f[0].name), "%.*s",
			 (int)sizeof(p->f[0].name) - 1, line + 2);
		snprintf(p->f[p->n].file, sizeof(p->f[0].file), "%.*s",
			 (int)sizeof(p->f[0].file) - 1, tab1 + 1);
		p->f[p->n].line = atoi(tab2 + 1);
		p->n++;
	}
	return err;
}

/* A line to its stdin: 0 or -errno. */
static inline int pychild_say(struct pychild *p, const char *cmd)
{
	size_t len = strlen(cmd);

	return write(p->c.in, cmd, len) == (ssize_t)len && write(p->c.in, "\n", 1) == 1 ? 0 : -EIO;
}

/* Gone and reaped: killed at once (kill) or asked to exit (its stdin closed), 10 s at most. */
static inline void pychild_end(struct pychild *p, bool kill_it)
{
	pid_t got = 0;
	int st;

	if (p->c.pid <= 0)
		return;
	if (kill_it)
		kill(p->c.pid, SIGKILL);
	close(p->c.in);
	close(p->c.out);
	for (int i = 0; i < 1000 && !(got = waitpid(p->c.pid, &st, WNOHANG)); i++)
		usleep(10000);
	/* Still ours (not reaped, so its PID is not anyone else's): killed. */
	if (!got) {
		kill(p->c.pid, SIGKILL);
		waitpid(p->c.pid, &st, 0);
	}
	p->c.pid = -1;
}

/*
 * Do the n locations of a profile stack (innermost first) name the
 * frames f (innermost first)?  If not, why (the first difference).
 */
static inline bool pystack_is(const struct profile *prof, const uint32_t *locs, uint32_t n,
			      const struct pyframe *f, unsigned nf, char *why, size_t len)
{
	if (n != nf) {
		snprintf(why, len, "%u frames, the target says %u", n, nf);
		return false;
	}
	for (uint32_t i = 0; i < n; i++) {
		int line = -1;
		const struct profile_function *fn =
			profile__location_function(prof, locs[i], &line);
		const char *name = fn ? profile__str(prof, fn->name) : "?";
		const char *file = fn ? profile__str(prof, fn->file) : "?";

		if (strcmp(name, f[i].name) || strcmp(file, f[i].file) || line != f[i].line) {
			snprintf(
				why, len,
				"frame %u is %.100s (%.100s:%d), the target says %.100s (%.100s:%d)",
				i, name, file, line, f[i].name, f[i].file, f[i].line);
			return false;
		}
	}
	return true;
}

/* The name of a location's function ("?" if none). */
static inline const char *pyloc_name(const struct profile *prof, uint32_t loc)
{
	int line;
	const struct profile_function *fn = profile__location_function(prof, loc, &line);

	return fn ? profile__str(prof, fn->name) : "?";
}

#endif /* PYSPY_TEST_PYCHILD_H */
