// SPDX-License-Identifier: MIT
/* load.c - a profile file of either format into the profile model, told apart by content. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "load.h"
#include "pprof_read.h"

/* Bytes looked at to tell text from protobuf. */
#define SNIFF_BYTES 4096
/* Sample types looked at in a pprof header; ours have one or two. */
#define MAX_SAMPLE_TYPES 64

/* Folded files are text; a protobuf has control bytes in its first few tags and lengths. */
static bool looks_like_text(const uint8_t *b, size_t len)
{
	for (size_t i = 0; i < len && i < SNIFF_BYTES; i++)
		if ((b[i] < 0x20 && b[i] != '\t' && b[i] != '\n' && b[i] != '\r') || b[i] == 0x7f)
			return false;
	return true;
}

/* --- the pprof header ---------------------------------------------------------- */

/*
 * pprof_read fills the profile but keeps the header to itself, so the few
 * header fields needed are read here straight from the wire format: the
 * message has already been accepted by then, and any doubt leaves them "".
 */
struct wire {
	const uint8_t *p, *end;
};

struct field {
	uint32_t num, type;
	uint64_t v;	 /* varint fields */
	struct wire sub; /* length-delimited fields */
};

static int varint(struct wire *w, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		uint8_t c;

		if (w->p == w->end)
			return -EINVAL;
		c = *w->p++;
		*v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return 0;
	}
	return -EINVAL;
}

static int next_field(struct wire *w, struct field *f)
{
	uint64_t key, len;

	if (varint(w, &key))
		return -EINVAL;
	f->num = (uint32_t)(key >> 3);
	f->type = key & 7;
	f->v = 0;
	f->sub = (struct wire){ NULL, NULL };
	switch (f->type) {
	case 0:
		return varint(w, &f->v);
	case 1:
	case 5:
		len = f->type == 1 ? 8 : 4;
		break;
	case 2:
		if (varint(w, &len))
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	if (len > (uint64_t)(w->end - w->p))
		return -EINVAL;
	f->sub = (struct wire){ w->p, w->p + len };
	w->p += len;
	return 0;
}

/* ValueType { int64 type = 1; int64 unit = 2; }: string table indexes. */
static void value_type(struct wire w, uint64_t *type, uint64_t *unit)
{
	struct field f;

	*type = *unit = 0;
	while (w.p < w.end && !next_field(&w, &f)) {
		if (f.num == 1 && f.type == 0)
			*type = f.v;
		else if (f.num == 2 && f.type == 0)
			*unit = f.v;
	}
}

struct header {
	uint64_t st_type[MAX_SAMPLE_TYPES], st_unit[MAX_SAMPLE_TYPES];
	size_t n_st;
	uint64_t pt_unit;
	int64_t period;
	struct wire str[2 * MAX_SAMPLE_TYPES + 1]; /* the strings named above, by slot */
};

/* Slot i of h->str holds string index want(h, i). */
static uint64_t want(const struct header *h, size_t i)
{
	if (i < h->n_st)
		return h->st_type[i];
	if (i < 2 * h->n_st)
		return h->st_unit[i - h->n_st];
	return h->pt_unit;
}

static bool wire_is(struct wire s, const char *lit)
{
	size_t n = strlen(lit);

	return s.p && (size_t)(s.end - s.p) == n && !memcmp(s.p, lit, n);
}

/* A header string into dst, with control bytes shown as '?' (it reaches terminals). */
static void copy_str(char *dst, size_t size, struct wire s)
{
	size_t n = s.p ? (size_t)(s.end - s.p) : 0, i;

	if (n >= size)
		n = size - 1;
	for (i = 0; i < n; i++)
		dst[i] = s.p[i] < 0x20 || s.p[i] == 0x7f ? '?' : (char)s.p[i];
	dst[n] = 0;
}

static void read_header(const uint8_t *buf, size_t len, struct profile_load_info *info)
{
	struct header h = { .n_st = 0 };
	struct wire w = { buf, buf + len };
	struct field f;
	uint64_t t, u, idx = 0, max_idx = 0;
	size_t i, n_slots, pick = 0;

	while (w.p < w.end) {
		if (next_field(&w, &f))
			return;
		if (f.num == 1 && f.type == 2 && h.n_st < MAX_SAMPLE_TYPES) {
			value_type(f.sub, &t, &u);
			h.st_type[h.n_st] = t;
			h.st_unit[h.n_st++] = u;
		} else if (f.num == 11 && f.type == 2) {
			value_type(f.sub, &t, &h.pt_unit);
		} else if (f.num == 12 && f.type == 0) {
			h.period = (int64_t)f.v;
		}
	}
	n_slots = 2 * h.n_st + 1;
	for (i = 0; i < n_slots; i++)
		max_idx = want(&h, i) > max_idx ? want(&h, i) : max_idx;
	/* The string table, only as far as the highest index wanted. */
	for (w = (struct wire){ buf, buf + len }; w.p < w.end && idx <= max_idx;) {
		if (next_field(&w, &f))
			return;
		if (f.num != 6 || f.type != 2)
			continue;
		for (i = 0; i < n_slots; i++)
			if (want(&h, i) == idx)
				h.str[i] = f.sub;
		idx++;
	}
	/* Which value pprof_read takes: samples/count, else the first. */
	for (i = 0; i < h.n_st; i++)
		if (wire_is(h.str[i], "samples") && wire_is(h.str[h.n_st + i], "count")) {
			pick = i;
			break;
		}
	if (h.n_st) {
		copy_str(info->value_type, sizeof(info->value_type), h.str[pick]);
		copy_str(info->value_unit, sizeof(info->value_unit), h.str[h.n_st + pick]);
	}
	copy_str(info->period_unit, sizeof(info->period_unit), h.str[2 * h.n_st]);
	info->period = h.period > 0 ? h.period : 0;
}

/* --- entry points --------------------------------------------------------------- */

int profile_load_mem(const void *buf, size_t len, struct profile *into,
		     struct profile_load_info *info)
{
	const uint8_t *b = buf;
	uint8_t *raw = NULL;
	int err;

	*info = (struct profile_load_info){ .format = PROFILE_LOAD_FOLDED };
	if (len > PROFILE_LOAD_MAX_BYTES)
		return -EFBIG;
	if (len >= 2 && b[0] == 0x1f && b[1] == 0x8b) {
		info->gzipped = true; /* also when it fails: the error is then in the gzip layer */
		err = bytes_inflate(b, len, PROFILE_LOAD_MAX_BYTES, &raw, &len);
		if (err)
			return err;
		b = raw;
	}
	if (!len) {
		err = -ENODATA;
	} else if (looks_like_text(b, len)) {
		err = folded_read_mem((const char *)b, len, into, &info->folded);
	} else {
		info->format = PROFILE_LOAD_PPROF;
		err = pprof_read_mem(b, len, into);
		if (!err) {
			read_header(b, len, info);
		} else if (err == -EINVAL) {
			/* Maybe text with a stray control byte: say where, if meant as folded. */
			folded_read_mem((const char *)b, len, into, &info->folded);
		}
	}
	free(raw);
	return err;
}

int profile_load(const char *path, struct profile *into, struct profile_load_info *info)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int err = bytes_read_file(path, PROFILE_LOAD_MAX_BYTES, &buf, &len);

	*info = (struct profile_load_info){ .format = PROFILE_LOAD_FOLDED };
	if (!err)
		err = profile_load_mem(buf, len, into, info);
	free(buf);
	return err;
}

const char *profile_load_format_name(const struct profile_load_info *info)
{
	if (info->format == PROFILE_LOAD_PPROF)
		return info->gzipped ? "gzipped pprof" : "pprof";
	return info->gzipped ? "gzipped folded" : "folded";
}
