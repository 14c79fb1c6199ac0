// SPDX-License-Identifier: MIT
/* output.c - writer registry and whole-file writing. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output.h"

static const struct output_writer *const writers[] = {
	&output_folded,
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

const struct output_writer *output__by_path(const char *path)
{
	for (size_t i = 0; i < N_WRITERS; i++)
		for (const char *const *e = writers[i]->exts; *e; e++)
			if (ends_with(path, *e))
				return writers[i];
	return NULL;
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

int output__write_file(const struct output_writer *w, const struct profile *p,
		       const struct output_opts *o, const char *path)
{
	char tmp[PATH_MAX];
	FILE *f;
	int err;

	if (!strcmp(path, "-")) {
		err = w->write(p, o, stdout);
		if (!err && fflush(stdout))
			err = -errno;
		return err;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
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
