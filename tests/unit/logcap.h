/* SPDX-License-Identifier: MIT */
/*
 * logcap.h - what the agent says on stderr (symbolize/base/log.h) while a test
 * runs one call: captured, counted by line, and shown again, so that
 * "errors are reported once, where they happen" can be held to.
 */
#ifndef PYSPY_TEST_LOGCAP_H
#define PYSPY_TEST_LOGCAP_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct logcap {
	FILE *f;
	int saved; /* the real stderr */
	char text[8192];
};

/* From now on stderr goes to a file of its own. */
static inline void logcap_begin(struct logcap *l)
{
	fflush(stderr);
	l->text[0] = 0;
	l->f = tmpfile();
	l->saved = l->f ? dup(2) : -1;
	if (l->saved >= 0)
		dup2(fileno(l->f), 2);
}

/* stderr back; what was said in l->text (shown again); how many lines name what. */
static inline int logcap_end(struct logcap *l, const char *what)
{
	size_t n = 0;
	int lines = 0;

	fflush(stderr);
	if (l->saved < 0)
		return -1;
	dup2(l->saved, 2);
	close(l->saved);
	rewind(l->f);
	n = fread(l->text, 1, sizeof(l->text) - 1, l->f);
	l->text[n] = 0;
	fclose(l->f);
	fputs(l->text, stderr);
	for (const char *p = l->text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (memmem(p, len, what, strlen(what)))
			lines++;
	}
	return lines;
}

/* Lines in all. */
static inline int logcap_lines(const struct logcap *l)
{
	int lines = 0;

	for (const char *p = l->text; *p; p++)
		lines += *p == '\n';
	return lines;
}

#endif /* PYSPY_TEST_LOGCAP_H */
