// SPDX-License-Identifier: MIT
/* test_linetable.c - line decoders vs PyCode_Addr2Line of real interpreters; malformed tables. */
#include <linux/types.h> /* pyspy.h (via pyoffsets.h) needs __u32 and friends */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interpreters.h"
#include "hex.h"
#include "unit.h"
#include "symbolize/cpython/linetable.h"

#define DUMPER "tests/unit/dump_linetables.py"

/* One "C" record of the dump: what the decoder gets, and its name. */
struct code_rec {
	int firstlineno;
	int nbytes;
	uint8_t *table;
	size_t len;
	char name[128];
};

static int parse_hex(const char *s, uint8_t **out, size_t *len)
{
	size_t n = strlen(s);
	uint8_t *b;

	*out = NULL;
	*len = 0;
	if (!strcmp(s, "-"))
		return 0;
	if (n % 2)
		return -EINVAL;
	b = malloc(n / 2 + 1);
	if (!b)
		return -ENOMEM;
	if (hex_decode(s, b, n / 2)) {
		free(b);
		return -EINVAL;
	}
	*out = b;
	*len = n / 2;
	return 0;
}

/* "C <first> <nbytes> <hex> <name>"; the hex is the long part, split by hand. */
static int parse_code(char *line, struct code_rec *r)
{
	char *save, *first, *nbytes, *hex, *name;

	strtok_r(line, " \n", &save);
	first = strtok_r(NULL, " \n", &save);
	nbytes = strtok_r(NULL, " \n", &save);
	hex = strtok_r(NULL, " \n", &save);
	name = strtok_r(NULL, " \n", &save);
	if (!first || !nbytes || !hex || !name)
		return -EINVAL;
	r->firstlineno = atoi(first);
	r->nbytes = atoi(nbytes);
	snprintf(r->name, sizeof(r->name), "%s", name);
	return parse_hex(hex, &r->table, &r->len);
}

/*
 * "L <line>..." for offsets 0, 2, ...: one CHECK for the whole code object,
 * reporting only its first mismatch.  Returns the offsets compared.
 */
static int check_lines(const char *py, int kind, const struct code_rec *r, char *line)
{
	char *p = line + 1, *end;
	int off, n = 0, bad = -1, want_bad = 0, got_bad = 0;

	for (off = 0; off < r->nbytes; off += 2, n++) {
		long want = strtol(p, &end, 10);
		int got;

		if (end == p)
			break;
		p = end;
		got = py_linetable_line(kind, r->table, r->len, r->firstlineno, off);
		if (got != want && bad < 0) {
			bad = off;
			want_bad = (int)want;
			got_bad = got;
		}
	}
	CHECK(bad < 0 && off >= r->nbytes,
	      "%s: %s (first line %d, %zu table bytes): offset %d: got %d, want %d%s", py, r->name,
	      r->firstlineno, r->len, bad, got_bad, want_bad,
	      off < r->nbytes ? " (short L record)" : "");
	/* A frame that has not started reports its first line. */
	CHECK(py_linetable_line(kind, r->table, r->len, r->firstlineno, -2) == r->firstlineno,
	      "%s: %s: negative offset", py, r->name);
	return n;
}

static int kind_for(int major, int minor)
{
	if (major != 3 || minor < 8)
		return -1;
	if (minor <= 9)
		return PY_LT_LNOTAB;
	if (minor == 10)
		return PY_LT_LINETABLE;
	return PY_LT_LOCATIONS;
}

static int allow_missing(void)
{
	const char *e = getenv("PYSPY_ALLOW_MISSING_PYTHON");

	return e && !strcmp(e, "1");
}

static void check_python(const struct interp *it)
{
	const char *py = it->host_path;
	char cmd[3 * PATH_MAX], *line = NULL;
	size_t cap = 0;
	struct code_rec r = { 0 };
	int kind = -1, ncode = 0, noffs = 0, expected = -1, have_rec = 0, major = 0, minor = 0;
	FILE *f;

	if (access(py, X_OK)) {
		CHECK(allow_missing(), "%s: interpreter missing", py);
		return;
	}
	if (it->root[0]) /* the dumper on stdin: the root need not see the work tree */
		snprintf(cmd, sizeof(cmd), "chroot '%s' '%s' - < %s", it->root, it->path, DUMPER);
	else
		snprintf(cmd, sizeof(cmd), "'%s' %s", py, DUMPER);
	f = popen(cmd, "r");
	CHECK(f, "popen %s", cmd);
	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		if (line[0] == 'V' && sscanf(line, "V %d %d", &major, &minor) == 2) {
			kind = kind_for(major, minor);
		} else if (line[0] == 'C') {
			free(r.table);
			r.table = NULL;
			have_rec = !parse_code(line, &r);
			CHECK(have_rec, "%s: bad C record", py);
		} else if (line[0] == 'L' && have_rec && kind > 0) {
			noffs += check_lines(py, kind, &r, line);
			ncode++;
			have_rec = 0;
		} else if (line[0] == 'E') {
			expected = atoi(line + 2);
		}
	}
	free(r.table);
	free(line);
	CHECK(pclose(f) == 0, "%s: dumper failed", py);
	CHECK(kind > 0, "%s: no version line", py);
	CHECK(expected > 0 && ncode == expected, "%s: %d code objects checked, %d dumped", py,
	      ncode, expected);
	printf("linetable: %s %d.%d: %d code objects, %d offsets\n", py, major, minor, ncode,
	       noffs);
}

/* Line at addr of a table in a heap buffer of exactly len bytes (ASan sees overruns). */
static int line_of(int kind, const void *t, size_t len, int first, int addr)
{
	uint8_t *b = malloc(len ? len : 1);
	int r;

	if (!b)
		return INT_MIN;
	memcpy(b, t, len);
	r = py_linetable_line(kind, len ? b : NULL, len, first, addr);
	free(b);
	return r;
}

/* Compare one hand-made case, printing what came back. */
#define CHECK_LINE(kind, t, len, first, addr, want, what)                                      \
	do {                                                                                   \
		int got_ = line_of(kind, t, len, first, addr);                                 \
		CHECK(got_ == (want), "%s: addr %d: got %d, want %d", what, (int)(addr), got_, \
		      (int)(want));                                                            \
	} while (0)

static void check_empty(void)
{
	/* No entries: 3.8/3.9 stay at the first line, later formats know no line. */
	CHECK_LINE(PY_LT_LNOTAB, "", 0, 7, 0, 7, "empty");
	CHECK_LINE(PY_LT_LNOTAB, "", 0, 7, 1000, 7, "empty");
	CHECK_LINE(PY_LT_LINETABLE, "", 0, 7, 0, -1, "empty");
	CHECK_LINE(PY_LT_LOCATIONS, "", 0, 7, 0, -1, "empty");
	CHECK(py_linetable_line(PY_LT_LOCATIONS, NULL, 100, 7, 0) == -1, "NULL table");
	CHECK(py_linetable_line(PY_LT_LNOTAB, NULL, 100, 7, 4) == 7, "NULL table");
	CHECK_LINE(PY_LT_LOCATIONS, "", 0, 7, -1, 7, "empty");
	CHECK_LINE(0, "\x80", 1, 7, 0, -1, "unknown kind");
	CHECK_LINE(99, "\x80", 1, 7, -4, 7, "negative addr wins over kind");
}

static void check_lnotab(void)
{
	/* (+6 bytes, +1 line), (+4 bytes, -2 lines), odd trailing byte ignored. */
	static const uint8_t t[] = { 6, 1, 4, 0xfe, 9 };

	CHECK_LINE(PY_LT_LNOTAB, t, sizeof(t), 10, 0, 10, "lnotab");
	CHECK_LINE(PY_LT_LNOTAB, t, sizeof(t), 10, 6, 11, "lnotab");
	CHECK_LINE(PY_LT_LNOTAB, t, sizeof(t), 10, 9, 11, "lnotab");
	CHECK_LINE(PY_LT_LNOTAB, t, sizeof(t), 10, 10, 9, "lnotab");
	CHECK_LINE(PY_LT_LNOTAB, t, sizeof(t), 10, INT_MAX, 9, "past the end");
	CHECK_LINE(PY_LT_LNOTAB, t, 1, 10, 100, 10, "lone byte");
}

static void check_lnotab_overflow(void)
{
	/* 64k pairs of +127 lines starting near INT_MAX: malformed, not UB. */
	size_t n = 1u << 17, i;
	uint8_t *t = malloc(n);

	if (!t)
		return;
	for (i = 0; i < n; i += 2) {
		t[i] = 0;
		t[i + 1] = 127;
	}
	CHECK_LINE(PY_LT_LNOTAB, t, n, INT_MAX - 5, 0, -1, "lnotab_overflow");
	CHECK_LINE(PY_LT_LINETABLE, t, n, INT_MAX - 5, 0, -1, "lnotab_overflow");
	free(t);
}

static void check_linetable310(void)
{
	/* 4 bytes line+0, zero-length +3 (folds into next), 6 bytes +1, 2 no-line. */
	static const uint8_t t[] = { 4, 0, 0, 3, 6, 1, 2, 0x80 };

	CHECK_LINE(PY_LT_LINETABLE, t, sizeof(t), 5, 0, 5, "linetable310");
	CHECK_LINE(PY_LT_LINETABLE, t, sizeof(t), 5, 3, 5, "linetable310");
	CHECK_LINE(PY_LT_LINETABLE, t, sizeof(t), 5, 4, 9, "linetable310");
	CHECK_LINE(PY_LT_LINETABLE, t, sizeof(t), 5, 9, 9, "linetable310");
	CHECK_LINE(PY_LT_LINETABLE, t, sizeof(t), 5, 10, -1, "no-line range");
	CHECK_LINE(PY_LT_LINETABLE, t, sizeof(t), 5, 12, -1, "past the end");
	CHECK_LINE(PY_LT_LINETABLE, t, 3, 5, 4, -1, "truncated pair");
	/* Table ending in zero-length entries. */
	CHECK_LINE(PY_LT_LINETABLE, "\0\x05\0\x05", 4, 5, 0, -1, "linetable310");
	/* Huge lengths: 255 bytes per entry, many entries. */
	{
		uint8_t big[512];
		int i;

		for (i = 0; i < 512; i += 2) {
			big[i] = 255;
			big[i + 1] = 1;
		}
		CHECK_LINE(PY_LT_LINETABLE, big, sizeof(big), 0, 255 * 256 - 1, 256,
			   "linetable310");
		CHECK_LINE(PY_LT_LINETABLE, big, sizeof(big), 0, 255 * 256, -1, "linetable310");
	}
}

/* Entry header byte: code c, length n code units. */
#define E(c, n) ((uint8_t)(0x80 | (c) << 3 | ((n)-1)))

static void check_locations(void)
{
	static const uint8_t t[] = {
		E(13, 2), 0x04,		       /* +2 lines, 2 units (bytes 0-3) */
		E(5, 1),  0x12,		       /* short form, same line (4-5) */
		E(11, 3), 1,	5,	       /* one-line +1 (6-11) */
		E(15, 1),		       /* no location (12-13) */
		E(14, 8), 0x43, 0x01, 0, 1, 2, /* long: svarint 0x43,0x01 = 67 -> -33 (14-29) */
		E(12, 1), 0,	0,	       /* one-line +2 (30-31) */
	};
	size_t n = sizeof(t);

	CHECK_LINE(PY_LT_LOCATIONS, t, n, 100, 0, 102, "locations");
	CHECK_LINE(PY_LT_LOCATIONS, t, n, 100, 3, 102, "locations");
	CHECK_LINE(PY_LT_LOCATIONS, t, n, 100, 4, 102, "locations");
	CHECK_LINE(PY_LT_LOCATIONS, t, n, 100, 6, 103, "locations");
	CHECK_LINE(PY_LT_LOCATIONS, t, n, 100, 12, -1, "locations");
	CHECK_LINE(PY_LT_LOCATIONS, t, n, 100, 14, 70, "locations");
	CHECK_LINE(PY_LT_LOCATIONS, t, n, 100, 29, 70, "locations");
	CHECK_LINE(PY_LT_LOCATIONS, t, n, 100, 30, 72, "locations");
	CHECK_LINE(PY_LT_LOCATIONS, t, n, 100, 32, -1, "past the end");
	CHECK_LINE(PY_LT_LOCATIONS, t, n, 100, INT_MAX, -1, "far past the end");
	/* Truncated varint: continuation bit on the last byte. */
	CHECK_LINE(PY_LT_LOCATIONS, t, 9, 100, 14, -1, "cut before varint");
	CHECK_LINE(PY_LT_LOCATIONS, t, 10, 100, 14, -1, "cut inside varint");
	CHECK_LINE(PY_LT_LOCATIONS, "\xe8\x40", 2, 1, 0, -1, "trailing continuation");
	CHECK_LINE(PY_LT_LOCATIONS, "\xe8", 1, 1, 0, -1, "no-columns without varint");
	/* Header cut short still decodes what is there. */
	CHECK_LINE(PY_LT_LOCATIONS, t, 3, 100, 4, 102, "short-form entry cut");
	/* Varint too long for 32 bits. */
	CHECK_LINE(PY_LT_LOCATIONS, "\xe8\x7f\x7f\x7f\x7f\x7f\x7f\x01", 8, 1, 0, -1, "locations");
	/* A table not starting at an entry. */
	CHECK_LINE(PY_LT_LOCATIONS, "\x10\x80", 2, 1, 0, -1, "locations");
}

static void check_locations_huge(void)
{
	/* Max-length entries with max line deltas: no overflow, bounded walk. */
	size_t n = 1u << 20, i;
	uint8_t *t = malloc(n);

	if (!t)
		return;
	for (i = 0; i + 6 <= n; i += 6) {
		t[i] = E(13, 8);
		t[i + 1] = 0x7e; /* 0x3e | cont */
		t[i + 2] = 0x7f;
		t[i + 3] = 0x7f;
		t[i + 4] = 0x7f;
		t[i + 5] = 0x0f; /* ~2^30 -> +2^29 lines */
	}
	for (; i < n; i++)
		t[i] = E(0, 8);
	/* Each entry adds 134217727 lines; the 17th passes INT_MAX. */
	CHECK_LINE(PY_LT_LOCATIONS, t, n, 0, 16, 2 * 134217727, "locations_huge");
	CHECK_LINE(PY_LT_LOCATIONS, t, n, 0, 15 * 16, 16 * 134217727, "locations_huge");
	CHECK_LINE(PY_LT_LOCATIONS, t, n, 0, 16 * 16, -1, "line beyond int");
	CHECK_LINE(PY_LT_LOCATIONS, t, n, 0, INT_MAX, -1, "locations_huge");
	free(t);
}

/* The dumper lives in the source tree: cwd, or three levels above build/san/tests/. */
static int find_srcdir(void)
{
	char exe[PATH_MAX];
	ssize_t n;
	char *slash;

	if (!access(DUMPER, R_OK))
		return 0;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 16);
	if (n <= 0)
		return -ENOENT;
	exe[n] = 0;
	slash = strrchr(exe, '/');
	if (!slash)
		return -ENOENT;
	strcpy(slash, "/../../..");
	if (chdir(exe) || access(DUMPER, R_OK))
		return -ENOENT;
	return 0;
}

int main(void)
{
	static struct interp all[INTERPS_MAX];
	int n;

	if (find_srcdir())
		CHECK(0, "cannot find %s", DUMPER);
	n = interps_load("", all, INTERPS_MAX);
	CHECK(n > 0, "tests/interpreters.py: %d", n);
	for (int i = 0; i < n; i++)
		check_python(&all[i]);
	check_empty();
	check_lnotab();
	check_lnotab_overflow();
	check_linetable310();
	check_locations();
	check_locations_huge();
	return unit_done("linetable");
}
