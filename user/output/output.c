// SPDX-License-Identifier: MIT
/* output.c - writer registry and whole-file writing. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output.h"
#include "symbolize/base/fileopen.h"

static const struct output_writer *const writers[] = {
	&output_folded,
	&output_pprof,
	&output_speedscope,
	&output_svg,
};

#define N_WRITERS (sizeof(writers) / sizeof(writers[0]))

const struct output_writer *output__by_name(const char *name)
{
	for (size_t i = 0; i < N_WRITERS; i++)
		if (!strcmp(writers[i]->name, name))
			return writers[i];
	return NULL;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

/* The longest matching suffix wins: x.speedscope.json is not just any .json. */
const struct output_writer *output__by_path(const char *path)
{
	const struct output_writer *best = NULL;
	size_t best_len = 0;

	for (size_t i = 0; i < N_WRITERS; i++)
		for (const char *const *e = writers[i]->exts; *e; e++)
			if (ends_with(path, *e) && strlen(*e) > best_len) {
				best = writers[i];
				best_len = strlen(*e);
			}
	return best;
}

const char *output__names(void)
{
	static char buf[256];
	size_t off = 0;

	buf[0] = 0;
	for (size_t i = 0; i < N_WRITERS && off < sizeof(buf); i++)
		off += snprintf(buf + off, sizeof(buf) - off, "%s%s", i ? ", " : "",
				writers[i]->name);
	return buf;
}

static int write_stream(const struct output_writer *w, const struct profile *p,
			const struct output_opts *o, FILE *f)
{
	int err = w->write(p, o, f);

	if (!err && fflush(f))
		err = -errno;
	return err;
}

int output__check_path(const char *path)
{
	struct stat st;

	if (!strcmp(path, "-"))
		return 0;
	/*
	 * Nothing there (or a dangling symlink), or a regular file: the new
	 * one is renamed over the name.  Anything else, a symlink to it too,
	 * is refused, never opened: writing into a FIFO waits for its reader
	 * and hands it the profile, a device may act, and renaming over it
	 * (/dev/null) would replace it.  stat opens nothing.
	 */
	if (stat(path, &st))
		return 0;
	return S_ISREG(st.st_mode) ? 0 : -FILEOPEN_NOT_REGULAR;
}

int output__write_file(const struct output_writer *w, const struct profile *p,
		       const struct output_opts *o, const char *path)
{
	char tmp[PATH_MAX];
	FILE *f;
	int err, fd;

	if (!strcmp(path, "-"))
		return write_stream(w, p, o, stdout);
	err = output__check_path(path);
	if (err)
		return err;
	/*
	 * A fresh name no one could have planted a symlink at: mkostemp
	 * creates it O_CREAT|O_EXCL (never through a symlink), mode 0600, so
	 * a profile (names and paths of other people's code) is root's alone.
	 */
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		err = -errno;
		close(fd);
		unlink(tmp);
		return err;
	}
	err = w->write(p, o, f);
	if (fflush(f) && !err)
		err = -errno;
	if (fsync(fileno(f)) && !err && errno != EINVAL)
		err = -errno;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}
