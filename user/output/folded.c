// SPDX-License-Identifier: MIT
/*
 * folded.c - folded stacks, the contract other tools and our tests read:
 * one line per distinct stack, frames root first joined by ';', a space,
 * the weight.  Optional leading grouping frames (`container ...`,
 * `pod ...`, `process PID (COMM)`, `thread TID (NAME)`: see group.h); a
 * stack cut at the depth limit starts with `[truncated]`, one whose walk
 * faulted before reaching the root with `[partial]`.
 * Lines are sorted, so equal stacks (e.g. without --threads) merge.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "symbolize/base/escape.h"
#include "symbolize/base/grow.h"

struct line {
	char *text;
	uint64_t weight;
};

struct collect {
	const struct profile *p;
	const struct output_opts *o;
	struct line *lines;
	size_t n, cap;
	int err;
};

static void put_frame(FILE *f, const struct profile *p, uint32_t loc_id)
{
	const struct profile_location *loc = profile__get_location(p, loc_id);

	profile__put_frame(f, p, loc ? profile__get_function(p, loc->function) : NULL,
			   loc ? loc->line : -1, folded_put);
}

static int render(const struct profile_stack *s, const struct collect *c, char **out)
{
	const struct profile *p = c->p;
	uint8_t groups[OUTPUT_MAX_GROUPS];
	int n_groups = output_group__effective(c->o, groups);
	char frame[512];
	size_t len = 0;
	int sep = 0;
	FILE *f = open_memstream(out, &len);

	if (!f)
		return -errno;
	for (int i = 0; i < n_groups; i++) {
		output_group__frame(p, groups[i], s->pid, s->tid, frame, sizeof(frame));
		if (sep)
			fputc(';', f);
		folded_put(f, frame);
		sep = 1;
	}
	if (s->flags & (PROFILE_STACK_TRUNCATED | PROFILE_STACK_PARTIAL)) {
		if (sep)
			fputc(';', f);
		fputs(s->flags & PROFILE_STACK_TRUNCATED ? "[truncated]" : "[partial]", f);
		sep = 1;
	}
	for (uint32_t i = s->n; i-- > 0;) {
		if (sep)
			fputc(';', f);
		put_frame(f, p, s->locs[i]);
		sep = 1;
	}
	if (fclose(f))
		return -errno;
	return 0;
}

static int collect_one(struct collect *c, const struct profile_stack *s)
{
	char *text = NULL;

	if (ARRAY_ROOM(c->lines, c->n + 1, c->cap, 256))
		return c->err = -ENOMEM;
	c->err = render(s, c, &text);
	if (c->err)
		return c->err;
	c->lines[c->n++] = (struct line){ text, s->weight };
	return 0;
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(((const struct line *)a)->text, ((const struct line *)b)->text);
}

static int folded_write(const struct profile *p, const struct output_opts *o, FILE *f)
{
	struct profile_stack_iter it;
	struct profile_stack s;
	struct collect c = { .p = p, .o = o };
	size_t i, j;

	it = profile__stacks(p);
	while (profile_stack_iter__next(&it, &s) && !collect_one(&c, &s))
		;
	if (!c.err) {
		if (c.n) /* no stacks: no array at all */
			qsort(c.lines, c.n, sizeof(*c.lines), cmp_line);
		for (i = 0; i < c.n; i = j) {
			uint64_t w = 0;

			for (j = i; j < c.n && !strcmp(c.lines[j].text, c.lines[i].text); j++)
				w += c.lines[j].weight;
			if (c.lines[i].text[0])
				fprintf(f, "%s %" PRIu64 "\n", c.lines[i].text, w);
		}
		if (ferror(f))
			c.err = -EIO;
	}
	for (i = 0; i < c.n; i++)
		free(c.lines[i].text);
	free(c.lines);
	return c.err;
}

static const char *const folded_exts[] = { ".folded", ".txt", NULL };

const struct output_writer output_folded = {
	.name = "folded",
	.exts = folded_exts,
	.write = folded_write,
};
