// SPDX-License-Identifier: MIT
/*
 * svg.c - flame graph SVG (see svg.h): merge stacks into a call tree,
 * lay it out root at the bottom, and write one <g> per frame wide enough
 * to see, plus the embedded script from svg_js.h.
 *
 * Frames are keyed by content (name, file, line), not by profile ids, so
 * two profiles build one tree for the differential mode.  Stacks start
 * with the grouping frames of group.h (container, pod, process, thread)
 * and a `[truncated]`/`[partial]` marker, as in the folded output.  Siblings
 * narrower than SVG_MIN_FRAME_W are merged into one grey box and their
 * subtrees are not drawn: the element count is then bounded by the image
 * width per level, whatever the number of distinct stacks.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "group.h"
#include "svg.h"
#include "svg_js.h"
#include "symbolize/base/escape.h"
#include "symbolize/base/grow.h"
#include "symbolize/base/hash.h"

#define XPAD	   10
#define FRAMES_W   (SVG_WIDTH - 2 * XPAD)
#define FRAME_H	   16
#define FONT_SIZE  12
#define CHAR_W	   (FONT_SIZE * 0.59) /* average glyph width, as the script assumes */
#define TEXT_DY	   11.5		      /* baseline below a frame's top */
#define TOP_H	   56		      /* title, subtitle, buttons */
#define BOTTOM_H   34		      /* status line */
#define MATCH_FILL "rgb(230,0,230)"
#define NONE	   UINT32_MAX

enum fkind {
	FK_ALL,
	FK_LOC,	   /* Python code (and markers, which have no file and line) */
	FK_NATIVE, /* --native: machine code in user space */
	FK_KERNEL, /* --kernel */
	FK_TASK,   /* --async: `task NAME` */
	FK_GROUP,
	FK_PROCESS,
	FK_THREAD,
	FK_MARK
};

/* A distinct frame: what a box shows and what its colour is hashed from. */
struct frame {
	const char *name; /* into a profile, or owned */
	const char *file; /* "" for frames that are not Python code */
	int line, start_line;
	uint32_t kind, hash;
	char *owned;
};

struct node {
	uint32_t parent, frame;
	uint32_t first_kid, n_kids; /* into svg.kids */
	uint64_t w[2];		    /* samples: [0] drawn profile, [1] diff baseline */
};

/* Open addressing: slots hold ids + 1, 0 is empty. */
struct table {
	uint32_t *slots;
	uint32_t mask;
};

struct box {
	uint32_t node;	 /* for a merged box: the parent of the merged frames */
	uint32_t depth;	 /* 0 = the root, drawn at the bottom */
	uint32_t merged; /* frames merged into this box; 0 = a real frame */
	double x, w;
	uint64_t weight;
};

struct svg {
	struct frame *frames;
	uint32_t n_frames, cap_frames;
	struct table frame_tab;
	struct node *nodes;
	uint32_t n_nodes, cap_nodes;
	struct table node_tab;
	uint32_t *kids, *rank;
	struct box *boxes;
	size_t n_boxes, cap_boxes;
	uint32_t max_depth;
	double scale;
	bool diff;
	double delta_norm; /* the share change drawn at full colour */
	const struct output_opts *o;
};

/*
 * --- hashing -------------------------------------------------------------
 * The tables (frames, tree nodes) are keyed by names a target chose: they
 * hash with the run's key (hash.h).  A colour is not a table, and must be
 * the same in every run: it comes from an unkeyed hash of the name.
 */

static uint32_t mix32(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	return h ^ (h >> 16);
}

static uint32_t fnv(uint32_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static uint32_t colour_hash(const char *s)
{
	return mix32(fnv(2166136261u, s, strlen(s) + 1));
}

/* Rehash into twice the slots; slot_of() gives an id's home slot. */
static int table_grow(struct table *t, uint32_t n, void *ctx,
		      uint32_t (*hash_of)(void *ctx, uint32_t id))
{
	uint32_t size = t->slots ? (t->mask + 1) * 2 : 1024, i, s;
	uint32_t *slots = calloc(size, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		for (s = hash_of(ctx, i) & (size - 1); slots[s]; s = (s + 1) & (size - 1))
			;
		slots[s] = i + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->mask = size - 1;
	return 0;
}

/* --- frames -------------------------------------------------------------- */

static uint32_t frame_hash(const struct frame *f)
{
	int32_t nums[3] = { f->line, f->start_line, (int32_t)f->kind };
	uint64_t h = hash_bytes(f->name, strlen(f->name));

	h = hash_more(h, f->file, strlen(f->file));
	return (uint32_t)hash_more(h, nums, sizeof(nums));
}

static uint32_t frame_hash_of(void *ctx, uint32_t id)
{
	return ((struct svg *)ctx)->frames[id].hash;
}

static bool frame_eq(const struct frame *a, const struct frame *b)
{
	return a->hash == b->hash && a->kind == b->kind && a->line == b->line &&
	       a->start_line == b->start_line && !strcmp(a->name, b->name) &&
	       !strcmp(a->file, b->file);
}

/* The id of a frame equal to *key, added (copying the name if own_name). */
static uint32_t frame_get(struct svg *g, struct frame key, bool own_name)
{
	struct table *t = &g->frame_tab;
	uint32_t s;

	key.hash = frame_hash(&key);
	if (g->n_frames * 2 >= (t->slots ? t->mask + 1 : 0) &&
	    table_grow(t, g->n_frames, g, frame_hash_of))
		return NONE;
	for (s = key.hash & t->mask; t->slots[s]; s = (s + 1) & t->mask)
		if (frame_eq(&g->frames[t->slots[s] - 1], &key))
			return t->slots[s] - 1;
	if (ARRAY_ROOM(g->frames, g->n_frames + 1, g->cap_frames, 256))
		return NONE;
	key.owned = NULL;
	if (own_name) {
		key.owned = strdup(key.name);
		if (!key.owned)
			return NONE;
		key.name = key.owned;
	}
	g->frames[g->n_frames] = key;
	t->slots[s] = ++g->n_frames;
	return g->n_frames - 1;
}

static uint32_t synthetic_frame(struct svg *g, uint32_t kind, const char *label)
{
	return frame_get(g, (struct frame){ .name = label, .file = "", .line = -1, .kind = kind },
			 true);
}

static uint32_t loc_frame(struct svg *g, const struct profile *p, uint32_t loc_id)
{
	const struct profile_location *loc = profile__get_location(p, loc_id);
	const struct profile_function *fn = loc ? profile__get_function(p, loc->function) : NULL;

	if (!fn)
		return synthetic_frame(g, FK_MARK, "[unknown]");
	return frame_get(g,
			 (struct frame){ .name = profile__str(p, fn->name),
					 .file = profile__str(p, fn->file),
					 .line = loc->line,
					 .start_line = fn->start_line,
					 .kind = fn->kind == PROFILE_FN_NATIVE	 ? FK_NATIVE
						 : fn->kind == PROFILE_FN_KERNEL ? FK_KERNEL
						 : profile__is_task(p, fn)	 ? FK_TASK
										 : FK_LOC },
			 false);
}

/* --- the call tree ------------------------------------------------------- */

static uint32_t node_hash(uint32_t parent, uint32_t frame)
{
	uint32_t key[2] = { parent, frame };

	return (uint32_t)hash_bytes(key, sizeof(key));
}

static uint32_t node_hash_of(void *ctx, uint32_t id)
{
	const struct node *n = &((struct svg *)ctx)->nodes[id];

	return node_hash(n->parent, n->frame);
}

static uint32_t node_child(struct svg *g, uint32_t parent, uint32_t frame)
{
	struct table *t = &g->node_tab;
	uint32_t s, id;

	if (g->n_nodes * 2 >= (t->slots ? t->mask + 1 : 0) &&
	    table_grow(t, g->n_nodes, g, node_hash_of))
		return NONE;
	for (s = node_hash(parent, frame) & t->mask; t->slots[s]; s = (s + 1) & t->mask) {
		id = t->slots[s] - 1;
		if (g->nodes[id].parent == parent && g->nodes[id].frame == frame)
			return id;
	}
	if (ARRAY_ROOM(g->nodes, g->n_nodes + 1, g->cap_nodes, 256))
		return NONE;
	g->nodes[g->n_nodes] = (struct node){ .parent = parent, .frame = frame };
	t->slots[s] = ++g->n_nodes;
	return g->n_nodes - 1;
}

struct builder {
	struct svg *g;
	const struct profile *p;
	uint8_t groups[OUTPUT_MAX_GROUPS]; /* leading frames, outermost first */
	int n_groups;
	int k;		/* which weight: 0 drawn, 1 baseline */
	uint32_t *locs; /* location id -> frame, cached */
	uint32_t n_locs;
};

/* Step from *node to its child for frame, adding weight; -ENOMEM on failure. */
static int step(struct builder *b, uint32_t *node, uint32_t frame, uint64_t weight)
{
	if (frame == NONE)
		return -ENOMEM;
	*node = node_child(b->g, *node, frame);
	if (*node == NONE)
		return -ENOMEM;
	b->g->nodes[*node].w[b->k] += weight;
	return 0;
}

static uint32_t group_kind(uint8_t group)
{
	if (group == OUTPUT_GROUP_PROCESS)
		return FK_PROCESS;
	if (group == OUTPUT_GROUP_THREAD)
		return FK_THREAD;
	return FK_GROUP;
}

/* The frames a stack starts with before its Python frames, as in folded. */
static int add_leading(struct builder *b, const struct profile_stack *s, uint32_t *node)
{
	struct svg *g = b->g;
	char label[512];
	int err = 0;

	for (int i = 0; !err && i < b->n_groups; i++) {
		output_group__frame(b->p, b->groups[i], s->pid, s->tid, label, sizeof(label));
		err = step(b, node, synthetic_frame(g, group_kind(b->groups[i]), label), s->weight);
	}
	if (!err && (s->flags & (PROFILE_STACK_TRUNCATED | PROFILE_STACK_PARTIAL)))
		err = step(b, node,
			   synthetic_frame(g, FK_MARK,
					   s->flags & PROFILE_STACK_TRUNCATED ? "[truncated]"
									      : "[partial]"),
			   s->weight);
	return err;
}

static int add_stack(struct builder *b, const struct profile_stack *s)
{
	uint32_t node = 0, loc;
	int err;

	b->g->nodes[0].w[b->k] += s->weight;
	err = add_leading(b, s, &node);
	for (uint32_t i = s->n; !err && i-- > 0;) {
		loc = s->locs[i] < b->n_locs ? s->locs[i] : b->n_locs;
		if (b->locs[loc] == NONE)
			b->locs[loc] = loc_frame(b->g, b->p, loc);
		err = step(b, &node, b->locs[loc], s->weight);
	}
	return err;
}

static int add_profile(struct svg *g, const struct profile *p, const struct output_opts *o, int k)
{
	struct profile_stack_iter it;
	struct profile_stack s;
	struct builder b = { .g = g, .p = p, .k = k };
	int err;

	b.n_groups = output_group__effective(o, b.groups);
	b.n_locs = profile__n_locations(p);
	b.locs = malloc(((size_t)b.n_locs + 1) * sizeof(*b.locs));
	if (!b.locs)
		return -ENOMEM;
	memset(b.locs, 0xff, ((size_t)b.n_locs + 1) * sizeof(*b.locs));
	it = profile__stacks(p);
	err = 0;
	while (!err && profile_stack_iter__next(&it, &s))
		err = add_stack(&b, &s);
	free(b.locs);
	return err;
}

/* --- ordering ------------------------------------------------------------ */

static int cmp_frame(const void *a, const void *b, void *ctx)
{
	const struct frame *fr = ((struct svg *)ctx)->frames;
	const struct frame *x = &fr[*(const uint32_t *)a], *y = &fr[*(const uint32_t *)b];
	int c = strcmp(x->name, y->name);

	if (!c)
		c = strcmp(x->file, y->file);
	if (!c)
		c = (x->line > y->line) - (x->line < y->line);
	if (!c)
		c = (x->start_line > y->start_line) - (x->start_line < y->start_line);
	if (!c)
		c = (x->kind > y->kind) - (x->kind < y->kind);
	return c;
}

static int cmp_kid(const void *a, const void *b, void *ctx)
{
	const struct svg *g = ctx;
	uint32_t x = g->rank[g->nodes[*(const uint32_t *)a].frame];
	uint32_t y = g->rank[g->nodes[*(const uint32_t *)b].frame];

	return (x > y) - (x < y);
}

/* Each node's children, contiguous in g->kids and in name order. */
static int order_kids(struct svg *g)
{
	uint32_t *order = malloc(((size_t)g->n_frames + 1) * sizeof(*order));
	uint32_t i, *fill;

	g->rank = malloc(((size_t)g->n_frames + 1) * sizeof(*g->rank));
	g->kids = malloc(((size_t)g->n_nodes + 1) * sizeof(*g->kids));
	fill = calloc((size_t)g->n_nodes + 1, sizeof(*fill));
	if (!order || !g->rank || !g->kids || !fill) {
		free(order);
		free(fill);
		return -ENOMEM;
	}
	for (i = 0; i < g->n_frames; i++)
		order[i] = i;
	qsort_r(order, g->n_frames, sizeof(*order), cmp_frame, g);
	for (i = 0; i < g->n_frames; i++)
		g->rank[order[i]] = i;
	for (i = 1; i < g->n_nodes; i++)
		g->nodes[g->nodes[i].parent].n_kids++;
	for (i = 0; i + 1 < g->n_nodes; i++)
		g->nodes[i + 1].first_kid = g->nodes[i].first_kid + g->nodes[i].n_kids;
	for (i = 1; i < g->n_nodes; i++) {
		struct node *p = &g->nodes[g->nodes[i].parent];

		g->kids[p->first_kid + fill[g->nodes[i].parent]++] = i;
	}
	for (i = 0; i < g->n_nodes; i++)
		qsort_r(g->kids + g->nodes[i].first_kid, g->nodes[i].n_kids, sizeof(*g->kids),
			cmp_kid, g);
	free(order);
	free(fill);
	return 0;
}

/* --- layout -------------------------------------------------------------- */

static int push_box(struct svg *g, struct box b)
{
	if (ARRAY_ROOM(g->boxes, g->n_boxes + 1, g->cap_boxes, 1024))
		return -ENOMEM;
	g->boxes[g->n_boxes++] = b;
	if (b.depth > g->max_depth)
		g->max_depth = b.depth;
	return 0;
}

/*
 * Lay out id's subtree from x.  Children too narrow to see are merged
 * into one box after the others, so their samples still show as width.
 * Recursion is bounded by the stack depth limit plus the leading frames.
 */
static int layout(struct svg *g, uint32_t id, double x, uint32_t depth)
{
	const struct node *n = &g->nodes[id];
	struct box merged = { .node = id, .depth = depth + 1 };
	double cx = x;
	int err;

	err = push_box(g, (struct box){ .node = id,
					.depth = depth,
					.x = x,
					.w = n->w[0] * g->scale,
					.weight = n->w[0] });
	for (uint32_t i = 0; !err && i < n->n_kids; i++) {
		const struct node *k = &g->nodes[g->kids[n->first_kid + i]];
		double kw = k->w[0] * g->scale;

		if (!k->w[0])
			continue; /* only in the diff baseline */
		if (kw < SVG_MIN_FRAME_W) {
			merged.merged++;
			merged.weight += k->w[0];
			continue;
		}
		err = layout(g, g->kids[n->first_kid + i], cx, depth + 1);
		cx += kw;
	}
	merged.x = cx;
	merged.w = merged.weight * g->scale;
	if (!err && merged.merged && merged.w >= SVG_MIN_FRAME_W)
		err = push_box(g, merged);
	return err;
}

/* --- colours ------------------------------------------------------------- */

struct rgb {
	int r, g, b;
};

/* Warm colours from the name alone, so a function looks the same everywhere. */
static struct rgb warm(const char *name)
{
	uint32_t h = colour_hash(name);

	return (struct rgb){ 205 + (int)(50 * (h >> 16 & 0xff) / 255),
			     (int)(230 * (h & 0xff) / 255), (int)(55 * (h >> 8 & 0xff) / 255) };
}

/* Blues for frames that are not code, such as off-CPU reasons ([sleep], [gil]). */
static struct rgb cold(const char *name)
{
	uint32_t h = colour_hash(name);

	return (struct rgb){ 100 + (int)(60 * (h & 0xff) / 255),
			     150 + (int)(50 * (h >> 8 & 0xff) / 255),
			     225 + (int)(30 * (h >> 16 & 0xff) / 255) };
}

/* Greens for native frames, violets for the kernel's: told from Python's at a glance. */
static struct rgb native(const char *name)
{
	uint32_t h = colour_hash(name);

	return (struct rgb){ 70 + (int)(60 * (h & 0xff) / 255),
			     185 + (int)(45 * (h >> 8 & 0xff) / 255),
			     70 + (int)(50 * (h >> 16 & 0xff) / 255) };
}

static struct rgb kernel(const char *name)
{
	uint32_t h = colour_hash(name);

	return (struct rgb){ 175 + (int)(40 * (h & 0xff) / 255),
			     140 + (int)(40 * (h >> 8 & 0xff) / 255), 230 };
}

static struct rgb kind_colour(const struct frame *f)
{
	switch (f->kind) {
	case FK_LOC:
		return !f->file[0] && f->line < 0 ? cold(f->name) : warm(f->name);
	case FK_NATIVE:
		return native(f->name);
	case FK_KERNEL:
		return kernel(f->name);
	case FK_TASK: /* one colour for every task: where one task begins */
		return (struct rgb){ 236, 128, 180 };
	case FK_GROUP: /* container, pod */
		return (struct rgb){ 160, 210, 190 };
	case FK_PROCESS:
		return (struct rgb){ 150, 190, 230 };
	case FK_THREAD:
		return (struct rgb){ 185, 212, 240 };
	case FK_MARK:
		return (struct rgb){ 200, 200, 200 };
	}
	return (struct rgb){ 225, 225, 215 }; /* all */
}

/* No libm: the binary links without it. */
static double absd(double d)
{
	return d < 0 ? -d : d;
}

/* a..b at t in [0, 1], rounded; both ends are non-negative. */
static int lerp(int a, int b, double t)
{
	return (int)(a + (b - a) * t + 0.5);
}

/* Share of all samples, drawn minus baseline. */
static double share_delta(const struct svg *g, const struct node *n)
{
	const struct node *root = &g->nodes[0];
	double after = root->w[0] ? (double)n->w[0] / root->w[0] : 0;
	double before = root->w[1] ? (double)n->w[1] / root->w[1] : 0;

	return after - before;
}

static struct rgb diff_colour(const struct svg *g, const struct node *n)
{
	double d = share_delta(g, n) / g->delta_norm;
	struct rgb grew = { 225, 30, 30 }, shrank = { 30, 80, 225 }, to;
	const int neutral = 235;

	if (d > 1)
		d = 1;
	if (d < -1)
		d = -1;
	to = d >= 0 ? grew : shrank;
	d = absd(d);
	return (struct rgb){ lerp(neutral, to.r, d), lerp(neutral, to.g, d),
			     lerp(neutral, to.b, d) };
}

/* Full colour for the biggest change drawn, but never for less than a point. */
static void set_delta_norm(struct svg *g)
{
	g->delta_norm = 0.01;
	for (size_t i = 0; i < g->n_boxes; i++) {
		double d = absd(share_delta(g, &g->nodes[g->boxes[i].node]));

		if (!g->boxes[i].merged && d > g->delta_norm)
			g->delta_norm = d;
	}
}

static struct rgb box_colour(const struct svg *g, const struct box *b)
{
	if (b->merged)
		return (struct rgb){ 210, 210, 210 };
	if (g->diff)
		return diff_colour(g, &g->nodes[b->node]);
	return kind_colour(&g->frames[g->nodes[b->node].frame]);
}

/* --- writing ------------------------------------------------------------- */

struct scale {
	uint64_t div;
	const char *name;
};

static const struct scale time_scale[] = {
	{ 1000000000, "s" }, { 1000000, "ms" }, { 1000, "\u00b5s" }, { 1, "ns" }, {}
};
static const struct scale byte_scale[] = {
	{ 1ull << 30, "GiB" }, { 1 << 20, "MiB" }, { 1 << 10, "KiB" }, { 1, "B" }, {}
};

static void put_scaled(FILE *f, uint64_t w, const struct scale *sc)
{
	while (sc[1].div && w < sc->div)
		sc++;
	if (sc->div == 1)
		fprintf(f, "%" PRIu64 " %s", w, sc->name);
	else
		fprintf(f, "%.2f %s", (double)w / sc->div, sc->name);
}

/* A weight in its unit: samples, or time or memory in the other modes. */
static void put_amount(FILE *f, uint64_t w, const struct output_opts *o)
{
	const char *u = o->value_unit;

	if (!u)
		fprintf(f, "%" PRIu64 " sample%s", w, w == 1 ? "" : "s");
	else if (!strcmp(u, "nanoseconds"))
		put_scaled(f, w, time_scale);
	else if (!strcmp(u, "bytes"))
		put_scaled(f, w, byte_scale);
	else
		fprintf(f, "%" PRIu64 " %s", w, u);
}

static double percent(uint64_t w, uint64_t total)
{
	return total ? 100.0 * w / total : 0.0;
}

static void put_title(FILE *f, const struct svg *g, const struct box *b)
{
	const struct node *n = &g->nodes[b->node];
	const struct frame *fr = &g->frames[n->frame];
	const struct node *root = &g->nodes[0];

	if (b->merged) {
		fprintf(f, "%u frames too narrow to draw", b->merged);
	} else {
		xml_put_text(f, fr->name);
		if ((fr->kind == FK_LOC || fr->kind == FK_NATIVE) &&
		    (fr->file[0] || fr->line >= 0)) {
			fputs(" (", f);
			xml_put_text(f, fr->file);
			if (fr->line >= 0)
				fprintf(f, ":%d", fr->line);
			fputc(')', f);
		}
	}
	fputs(" \u2014 ", f);
	put_amount(f, b->weight, g->o);
	fprintf(f, " (%.2f%%)", percent(b->weight, root->w[0]));
	if (g->diff && !b->merged) {
		fputs(", before: ", f);
		put_amount(f, n->w[1], g->o);
		fprintf(f, " (%.2f%%), %+.2f points", percent(n->w[1], root->w[1]),
			100 * share_delta(g, n));
	}
}

static char *merged_label(const struct box *b)
{
	char *s;

	return asprintf(&s, "[%u narrow frames]", b->merged) < 0 ? NULL : s;
}

static double box_y(const struct svg *g, const struct box *b)
{
	return TOP_H + (double)(g->max_depth - b->depth) * FRAME_H;
}

static void put_box(FILE *f, const struct svg *g, const struct box *b)
{
	struct rgb c = box_colour(g, b);
	char *owned = b->merged ? merged_label(b) : NULL;
	const char *label =
		b->merged ? (owned ? owned : "") : g->frames[g->nodes[b->node].frame].name;
	size_t len = utf8_len(label);
	long fit = b->w > 6 ? (long)((b->w - 6) / CHAR_W) : 0; /* characters that fit */
	double y = box_y(g, b);

	fputs("<g", f);
	if (fit < 3 || (size_t)fit < len) {
		fputs(" data-l=\"", f); /* the whole label, for the script after a zoom */
		xml_put_text(f, label);
		fputc('"', f);
	}
	fputs("><title>", f);
	put_title(f, g, b);
	fprintf(f,
		"</title><rect x=\"%.2f\" y=\"%.0f\" width=\"%.2f\" height=\"%d\" "
		"fill=\"rgb(%d,%d,%d)\" rx=\"2\"/>",
		b->x + XPAD, y, b->w, FRAME_H - 1, c.r, c.g, c.b);
	if (fit >= 3) {
		fprintf(f, "<text x=\"%.2f\" y=\"%.1f\">", b->x + XPAD + 3, y + TEXT_DY);
		if ((size_t)fit >= len) {
			xml_put_text(f, label);
		} else {
			xml_put_text_n(f, label, utf8_prefix(label, fit - 1));
			fputs("\u2026", f);
		}
		fputs("</text>", f);
	}
	fputs("</g>\n", f);
	free(owned);
}

static int image_height(const struct svg *g)
{
	return TOP_H + (g->max_depth + 1) * FRAME_H + BOTTOM_H;
}

static void put_subtitle(FILE *f, const struct profile *after, const struct profile *before,
			 const struct output_opts *o)
{
	char when[64] = "";
	time_t t = (time_t)(o->start_unix_ns / 1000000000u);
	struct tm tm;

	if (o->value_type) {
		xml_put_text(f, o->value_type);
		fputs(" profile \u00b7 ", f);
	}
	put_amount(f, profile__total_weight(after), o);
	if (before) {
		fputs(", before: ", f);
		put_amount(f, profile__total_weight(before), o);
		fputs(" \u00b7 red: share grew, blue: share shrank", f);
		return;
	}
	if (o->start_unix_ns && gmtime_r(&t, &tm))
		strftime(when, sizeof(when), " \u00b7 %Y-%m-%d %H:%M:%S UTC", &tm);
	if (!o->value_type)
		fprintf(f, " \u00b7 %u Hz", o->rate_hz);
	fprintf(f, " \u00b7 %.1f s%s", o->duration_s, when);
	if (profile__dropped(after)) {
		fputs(" \u00b7 ", f);
		put_amount(f, profile__dropped(after), o);
		fputs(" dropped at the stack cap", f);
	}
}

static void put_head(FILE *f, const struct svg *g, const struct profile *after,
		     const struct profile *before, const struct output_opts *o)
{
	int h = image_height(g);

	fprintf(f,
		"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
		"<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
		"height=\"%d\" viewBox=\"0 0 %d %d\">\n",
		SVG_WIDTH, h, SVG_WIDTH, h);
	fputs("<!-- pyspy-bpf " PYSPY_VERSION " flame graph: root at the bottom, width = "
	      "weight. Click a frame to zoom, Ctrl-F to search, Esc to reset. -->\n",
	      f);
	fprintf(f,
		"<defs><linearGradient id=\"bg\" x1=\"0\" x2=\"0\" y1=\"0\" y2=\"1\">"
		"<stop offset=\"5%%\" stop-color=\"#f4f4f4\"/>"
		"<stop offset=\"95%%\" stop-color=\"#eeeeb0\"/></linearGradient></defs>\n"
		"<style>\n%s</style>\n"
		"<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"url(#bg)\"/>\n",
		svg_css, SVG_WIDTH, h);
	fprintf(f, "<text id=\"title\" x=\"%d\" y=\"24\">%s</text>\n", SVG_WIDTH / 2,
		before ? "Differential flame graph" : "Flame graph");
	fprintf(f, "<text id=\"subtitle\" x=\"%d\" y=\"42\">", SVG_WIDTH / 2);
	put_subtitle(f, after, before, o);
	fputs("</text>\n", f);
	fprintf(f,
		"<text id=\"unzoom\" class=\"btn h\" x=\"%d\" y=\"24\">Reset Zoom</text>\n"
		"<text id=\"search\" class=\"btn\" x=\"%d\" y=\"24\">Search</text>\n"
		"<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n"
		"<text id=\"matched\" x=\"%d\" y=\"%d\"> </text>\n",
		XPAD, SVG_WIDTH - XPAD, XPAD, h - 12, SVG_WIDTH - XPAD, h - 12);
}

static void put_script(FILE *f)
{
	fprintf(f,
		"<script type=\"text/ecmascript\"><![CDATA[\n"
		"var X0 = %d, FW = %d, CW = %.2f, TY = %.1f, MATCH = '%s';\n",
		XPAD, FRAMES_W, CHAR_W, TEXT_DY, MATCH_FILL);
	fputs(svg_script, f);
	fputs("]]></script>\n", f);
}

static void svg_free(struct svg *g)
{
	for (uint32_t i = 0; i < g->n_frames; i++)
		free(g->frames[i].owned);
	free(g->frames);
	free(g->frame_tab.slots);
	free(g->nodes);
	free(g->node_tab.slots);
	free(g->kids);
	free(g->rank);
	free(g->boxes);
}

static int build(struct svg *g, const struct profile *before, const struct profile *after,
		 const struct output_opts *o)
{
	uint32_t root = synthetic_frame(g, FK_ALL, "all");
	int err;

	if (root == NONE || ARRAY_ROOM(g->nodes, g->n_nodes + 1, g->cap_nodes, 256))
		return -ENOMEM;
	g->nodes[0] = (struct node){ .parent = NONE, .frame = root };
	g->n_nodes = 1;
	err = add_profile(g, after, o, 0);
	if (!err && before)
		err = add_profile(g, before, o, 1);
	if (!err)
		err = order_kids(g);
	if (!err && g->nodes[0].w[0]) {
		g->scale = (double)FRAMES_W / g->nodes[0].w[0];
		err = layout(g, 0, 0, 0);
	}
	return err;
}

static int write_svg(const struct profile *before, const struct profile *after,
		     const struct output_opts *o, FILE *f)
{
	struct svg g = { .diff = before != NULL, .o = o };
	int err = build(&g, before, after, o);

	if (!err) {
		if (g.diff)
			set_delta_norm(&g);
		put_head(f, &g, after, before, o);
		if (!g.n_boxes)
			fprintf(f,
				"<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">No samples</text>\n",
				SVG_WIDTH / 2, TOP_H + FRAME_H);
		fputs("<g id=\"frames\">\n", f);
		for (size_t i = 0; i < g.n_boxes; i++)
			put_box(f, &g, &g.boxes[i]);
		fputs("</g>\n", f);
		put_script(f);
		fputs("</svg>\n", f);
		if (ferror(f))
			err = -EIO;
	}
	svg_free(&g);
	return err;
}

int svg_write_diff(const struct profile *before, const struct profile *after,
		   const struct output_opts *o, FILE *f)
{
	return write_svg(before, after, o, f);
}

static int svg_write(const struct profile *p, const struct output_opts *o, FILE *f)
{
	return write_svg(NULL, p, o, f);
}

static const char *const svg_exts[] = { ".svg", NULL };

const struct output_writer output_svg = {
	.name = "svg",
	.exts = svg_exts,
	.write = svg_write,
};
