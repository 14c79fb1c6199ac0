/* SPDX-License-Identifier: MIT */
/*
 * interpreters.h - the interpreters of tests/interpreters.txt, for the C
 * unit tests: the one list, resolved on this machine by
 * tests/interpreters.py (run from the repository's top, as make does).
 */
#ifndef PYSPY_UNIT_INTERPRETERS_H
#define PYSPY_UNIT_INTERPRETERS_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INTERPS_MAX 32

struct interp {
	char id[32], kind[8], tags[64];
	unsigned major, minor;
	char path[PATH_MAX];	  /* as the target sees it */
	char root[PATH_MAX];	  /* the sid root, "" on the host */
	char host_path[PATH_MAX]; /* on this machine */
	char prefix[PATH_MAX];	  /* its lib/ and include/ are below it, on this machine */
};

/* The next tab-separated field of *s, "" if none. */
static inline const char *interps_field(char **s)
{
	const char *f = strsep(s, "\t\n");

	return f ? f : "";
}

/*
 * Those interpreters.py lists with args (e.g. "--kind pyenv", "--all
 * --tag unsupported"), at most max: the count, or -1.
 */
static inline int interps_load(const char *args, struct interp *out, int max)
{
	char cmd[512], line[5 * PATH_MAX];
	int n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 "python3 tests/interpreters.py %s --format "
		 "'{id}\t{kind}\t{tags}\t{major}\t{minor}\t{path}\t{root}\t{host_path}\t{prefix}'",
		 args);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (n < max && fgets(line, sizeof(line), p)) {
		struct interp *it = &out[n];
		char *s = line;

		snprintf(it->id, sizeof(it->id), "%s", interps_field(&s));
		snprintf(it->kind, sizeof(it->kind), "%s", interps_field(&s));
		snprintf(it->tags, sizeof(it->tags), "%s", interps_field(&s));
		it->major = (unsigned)atoi(interps_field(&s));
		it->minor = (unsigned)atoi(interps_field(&s));
		snprintf(it->path, sizeof(it->path), "%s", interps_field(&s));
		snprintf(it->root, sizeof(it->root), "%s", interps_field(&s));
		snprintf(it->host_path, sizeof(it->host_path), "%s", interps_field(&s));
		snprintf(it->prefix, sizeof(it->prefix), "%s", interps_field(&s));
		n++;
	}
	return pclose(p) ? -1 : n;
}

/* The one with that id, or NULL. */
static inline const struct interp *interps_find(const struct interp *all, int n, const char *id)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(all[i].id, id))
			return &all[i];
	return NULL;
}

static inline bool interp_has_tag(const struct interp *it, const char *tag)
{
	size_t len = strlen(tag);

	for (const char *p = it->tags; (p = strstr(p, tag)); p += len)
		if ((p == it->tags || p[-1] == ',') && (p[len] == ',' || !p[len]))
			return true;
	return false;
}

#endif /* PYSPY_UNIT_INTERPRETERS_H */
