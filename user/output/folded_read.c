// SPDX-License-Identifier: MIT
/* folded_read.c - folded stack lines into the profile model, every line checked and bounded. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "folded_read.h"

/* Summed counts stay below this, so totals and shares never overflow later. */
#define MAX_TOTAL (UINT64_C(1) << 63)

struct span {
	const char *s;
	size_t n;
};

struct reader {
	struct profile *into;
	struct folded_read_error *err;
	unsigned long line_no;
	uint64_t total;
	uint32_t *stack; /* one line's location ids, innermost first */
	char *scratch;	 /* NUL-terminated copies of spans, for interning */
	size_t scratch_cap;
};

/* What the leading frames of one line said. */
struct lead {
	uint32_t pid, tid, flags;
	unsigned seen; /* LEAD_* kinds consumed: each may appear once */
	struct span comm, thread;
};

enum {
	LEAD_PROCESS = 1,
	LEAD_THREAD = 2,
	LEAD_CONTAINER = 4,
	LEAD_POD = 8,
	LEAD_MARK = 16
};

static int bad(struct reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct reader *r, const char *fmt, ...)
{
	va_list ap;

	if (r->err) {
		r->err->line = r->line_no;
		va_start(ap, fmt);
		vsnprintf(r->err->why, sizeof(r->err->why), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Copy a and b into scratch as two C strings; NULL on ENOMEM. */
static char *cstrs(struct reader *r, struct span a, struct span b, char **b_out)
{
	size_t need = a.n + b.n + 2;

	if (need > r->scratch_cap) {
		size_t cap = need < 4096 ? 4096 : need * 2;
		char *s = realloc(r->scratch, cap);

		if (!s)
			return NULL;
		r->scratch = s;
		r->scratch_cap = cap;
	}
	memcpy(r->scratch, a.s, a.n);
	r->scratch[a.n] = 0;
	if (b_out) {
		*b_out = r->scratch + a.n + 1;
		memcpy(*b_out, b.s, b.n);
		(*b_out)[b.n] = 0;
	}
	return r->scratch;
}

static bool span_is(struct span f, const char *s)
{
	return f.n == strlen(s) && !memcmp(f.s, s, f.n);
}

static bool span_starts(struct span f, const char *prefix)
{
	size_t n = strlen(prefix);

	return f.n > n && !memcmp(f.s, prefix, n);
}

/* "PREFIX N (TEXT)" with N a 32-bit number: N and the TEXT span. */
static bool id_frame(struct span f, const char *prefix, uint32_t *id, struct span *text)
{
	size_t pl = strlen(prefix), i = pl;
	uint64_t v = 0;

	if (!span_starts(f, prefix) || f.s[f.n - 1] != ')')
		return false;
	while (i < f.n && f.s[i] >= '0' && f.s[i] <= '9' && i - pl < 10)
		v = v * 10 + (uint64_t)(f.s[i++] - '0');
	if (i == pl || v > UINT32_MAX || i + 2 > f.n - 1 || f.s[i] != ' ' || f.s[i + 1] != '(')
		return false;
	*id = (uint32_t)v;
	*text = (struct span){ f.s + i + 2, f.n - 1 - (i + 2) };
	return true;
}

/* A grouping or marker frame at the root: note what it says and return true. */
static bool leading(struct span f, struct lead *l)
{
	if (!(l->seen & LEAD_PROCESS) && id_frame(f, "process ", &l->pid, &l->comm)) {
		l->seen |= LEAD_PROCESS;
	} else if (!(l->seen & LEAD_THREAD) && id_frame(f, "thread ", &l->tid, &l->thread)) {
		l->seen |= LEAD_THREAD;
	} else if (!(l->seen & LEAD_CONTAINER) && span_starts(f, "container ")) {
		l->seen |= LEAD_CONTAINER;
	} else if (!(l->seen & LEAD_POD) && span_starts(f, "pod ")) {
		l->seen |= LEAD_POD;
	} else if (!(l->seen & LEAD_MARK) && span_is(f, "[truncated]")) {
		l->seen |= LEAD_MARK;
		l->flags |= PROFILE_STACK_TRUNCATED;
	} else if (!(l->seen & LEAD_MARK) && span_is(f, "[partial]")) {
		l->seen |= LEAD_MARK;
		l->flags |= PROFILE_STACK_PARTIAL;
	} else {
		return false;
	}
	return true;
}

/*
 * `name (file:line)`, `name (file)` or a bare marker -> a location id.
 * The first " (" splits: Python names hold no spaces, paths may.
 */
static int code_location(struct reader *r, struct span f, uint32_t *out)
{
	struct span name = f, file = { "", 0 };
	const char *open = NULL, *colon;
	char *cname, *cfile;
	int line = -1;
	uint32_t fn;

	if (f.n >= 4 && f.s[f.n - 1] == ')')
		open = memmem(f.s, f.n - 1, " (", 2);
	if (open) {
		name.n = (size_t)(open - f.s);
		file = (struct span){ open + 2, (size_t)(f.s + f.n - 1 - (open + 2)) };
		colon = memrchr(file.s, ':', file.n);
		if (colon) {
			const char *d = colon + 1, *end = file.s + file.n;
			long v = 0;

			while (d < end && *d >= '0' && *d <= '9' && v <= INT_MAX)
				v = v * 10 + (*d++ - '0');
			if (d == end && d > colon + 1 && v <= INT_MAX) {
				line = (int)v;
				file.n = (size_t)(colon - file.s);
			}
		}
	}
	if (!name.n)
		return bad(r, "frame '%.*s' has no function name", (int)(f.n > 40 ? 40 : f.n), f.s);
	cname = cstrs(r, name, file, &cfile);
	if (!cname)
		return -ENOMEM;
	fn = profile__function(r->into, cname, cfile, 0);
	*out = fn == UINT32_MAX ? fn : profile__location(r->into, fn, line);
	return *out == UINT32_MAX ? -ENOMEM : 0;
}

/* Frames of one line, left to right; done once the last one was taken. */
struct cursor {
	const char *p, *end;
	bool done;
};

static struct span next_frame(struct cursor *c)
{
	const char *semi = memchr(c->p, ';', (size_t)(c->end - c->p));
	struct span f = { c->p, (size_t)((semi ? semi : c->end) - c->p) };

	if (semi)
		c->p = semi + 1;
	else
		c->done = true;
	return f;
}

/* "?" is what the writer shows for an unknown name: it stays unknown. */
static int set_names(struct reader *r, const struct lead *l)
{
	char *s;

	if ((l->seen & LEAD_PROCESS) && !span_is(l->comm, "?")) {
		s = cstrs(r, l->comm, l->comm, NULL);
		if (!s)
			return -ENOMEM;
		profile__set_process_name(r->into, l->pid, s);
	}
	if ((l->seen & LEAD_THREAD) && !span_is(l->thread, "?")) {
		s = cstrs(r, l->thread, l->thread, NULL);
		if (!s)
			return -ENOMEM;
		profile__set_thread_name(r->into, l->pid, l->tid, s);
	}
	return 0;
}

/* The frames s[0..n) (root first) with weight w. */
static int add_stack(struct reader *r, const char *s, size_t n, uint64_t w)
{
	struct cursor c = { s, s + n, false }, peek;
	struct lead l = { 0 };
	uint32_t n_code = 0, skip, keep, j;
	struct span f;
	int err;

	/* Leading frames: at most one of each kind, so at most five. */
	while (!c.done) {
		peek = c;
		f = next_frame(&peek);
		if (!f.n)
			return bad(r, "empty frame");
		if (!leading(f, &l))
			break;
		c = peek;
	}
	if (!c.done) {
		/* Count first, so a too-deep stack keeps its innermost frames. */
		n_code = 1;
		for (const char *q = c.p; (q = memchr(q, ';', (size_t)(c.end - q))); q++)
			n_code++;
	}
	skip = n_code > FOLDED_READ_MAX_FRAMES ? n_code - FOLDED_READ_MAX_FRAMES : 0;
	keep = n_code - skip;
	if (skip)
		l.flags |= PROFILE_STACK_TRUNCATED;
	for (j = 0; j < n_code; j++) {
		f = next_frame(&c);
		if (!f.n)
			return bad(r, "empty frame");
		if (j < skip)
			continue;
		err = code_location(r, f, &r->stack[keep - 1 - (j - skip)]);
		if (err)
			return err;
	}
	err = set_names(r, &l);
	if (err || !w)
		return err;
	err = profile__add(r->into, l.pid, l.tid, l.flags, r->stack, keep, w);
	if (err && err != -ENOSPC) /* -ENOSPC: over the cap, counted as dropped */
		return err;
	r->total += w;
	return 0;
}

static int read_line(struct reader *r, const char *s, size_t n)
{
	const char *sp;
	uint64_t w = 0;

	while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (!n)
		return 0;
	/* Names end up in terminals and SVG: no control bytes, NUL included. */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return bad(r, "control character 0x%02x at column %zu", c, i + 1);
	}
	sp = memrchr(s, ' ', n);
	if (!sp)
		return bad(r, "no count: want 'FRAME;FRAME;... COUNT'");
	for (const char *c = sp + 1; c < s + n; c++) {
		if (*c < '0' || *c > '9')
			return bad(r, "count '%.*s' is not a whole number",
				   (int)(s + n - sp - 1 > 20 ? 20 : s + n - sp - 1), sp + 1);
		if (__builtin_mul_overflow(w, 10, &w) ||
		    __builtin_add_overflow(w, (uint64_t)(*c - '0'), &w))
			return bad(r, "count too large");
	}
	if (w > MAX_TOTAL - r->total)
		return bad(r, "counts add up to more than 2^63");
	if (sp == s)
		return bad(r, "no frames before the count");
	return add_stack(r, s, (size_t)(sp - s), w);
}

int folded_read_mem(const char *buf, size_t len, struct profile *into,
		    struct folded_read_error *err)
{
	struct reader r = { .into = into, .err = err };
	const char *p = buf, *end = buf + len, *nl;
	int ret = 0;
	size_t n;

	if (err)
		*err = (struct folded_read_error){ 0 };
	r.stack = malloc(FOLDED_READ_MAX_FRAMES * sizeof(*r.stack));
	if (!r.stack)
		return -ENOMEM;
	while (!ret && p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)((nl ? nl : end) - p);
		r.line_no++;
		if (n > FOLDED_READ_MAX_LINE)
			ret = bad(&r, "line longer than %u bytes", FOLDED_READ_MAX_LINE);
		else
			ret = read_line(&r, p, n);
		p = nl ? nl + 1 : end;
	}
	free(r.stack);
	free(r.scratch);
	return ret;
}
