// SPDX-License-Identifier: MIT
/* test_python.c - code objects and strs read from live interpreters vs what they print. */
#include <linux/types.h> /* pyspy.h (via pyoffsets.h) needs __u32 and friends */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "interpreters.h"
#include "child.h"
#include "unit.h"
#include "symbolize/cpython/code.h"

/*
 * The target: functions named in every str kind (ASCII, latin-1, UCS-2,
 * UCS-4), a nested method for qualnames, names long enough to be cut, and
 * one too long to be accepted.  Strings are printed as UTF-8 hex so that
 * spaces and non-ASCII need no quoting.  Lines:
 *   V <major> <minor>
 *   F <code addr> <firstlineno> <Addr2Line(code, 0)> <name hex> <filename hex>
 *   Z <addr of 4 KiB of zero bytes>
 *   R   (ready; then waits for stdin to close)
 */
static const char script[] =
	"import ctypes, sys\n"
	"a2l = ctypes.pythonapi.PyCode_Addr2Line\n"
	"a2l.restype = ctypes.c_int\n"
	"a2l.argtypes = [ctypes.py_object, ctypes.c_int]\n"
	"def plain_ascii(a):\n"
	"    return a + 1\n"
	"def f\u00fcnf():\n"
	"    return 5\n"
	"\n"
	"def \u51fd\u6570():\n"
	"    return '\u51fd'\n"
	"def \U00020000():\n"
	"    pass\n"
	"class Outer:\n"
	"    class Inner:\n"
	"        def meth(self):\n"
	"            x = 1\n"
	"            return x\n"
	"ns = {}\n"
	"exec('def ' + 'x' * 1500 + '(): pass', ns)\n"
	"exec('def ' + '\u00e9' * 600 + '(): pass', ns)\n"
	"exec('def ' + '\u51fd' * 400 + '(): pass', ns)\n"
	"exec('def ' + '\U00020001' * 300 + '(): pass', ns)\n"
	"funcs = [plain_ascii, f\u00fcnf, \u51fd\u6570, \U00020000, Outer.Inner.meth]\n"
	"funcs += [v for k, v in ns.items() if k != '__builtins__']\n"
	"def h(s):\n"
	"    return s.encode('utf-8', 'surrogatepass').hex()\n"
	"print('V %d %d' % sys.version_info[:2])\n"
	"for f in funcs:\n"
	"    c = f.__code__\n"
	"    print('F %x %d %d %s %s' % (id(c), c.co_firstlineno, a2l(c, 0),\n"
	"          h(getattr(c, 'co_qualname', c.co_name)), h(c.co_filename)))\n"
	"zeros = bytes(4096)\n"
	"print('Z %x' % id(zeros))\n"
	"print('R', flush=True)\n"
	"sys.stdin.read()\n";

/* Defined with this name, the target's code object must be refused. */
static const char too_long_def[] = "exec('def ' + 'y' * 5000 + '(): pass', ns)\n";

struct target {
	struct child c;
	FILE *out;
};

static int allow_missing(void)
{
	const char *e = getenv("PYSPY_ALLOW_MISSING_PYTHON");

	return e && !strcmp(e, "1");
}

/* Script in a directory with a non-ASCII name, so co_filename is UCS-2. */
static int write_script(char *dir, size_t dlen, char *path, size_t plen)
{
	FILE *f;

	snprintf(dir, dlen, "/tmp/pyspy-test-python-XXXXXX");
	if (!mkdtemp(dir))
		return -errno;
	snprintf(path, plen, "%s/mod\u00fcl_\u51fd.py", dir);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fputs(script, f);
	fclose(f);
	return 0;
}

static int start(const char *py, const char *path, struct target *t)
{
	char *argv[] = { (char *)py, "-I", (char *)path, NULL };
	int err = child_spawn(argv, false, &t->c);

	if (err)
		return err;
	t->out = fdopen(t->c.out, "r");
	return t->out ? 0 : -errno;
}

static void stop(struct target *t)
{
	int status;

	close(t->c.in);
	if (t->out)
		fclose(t->out);
	waitpid(t->c.pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "target exit status %#x", status);
}

static int unhex(const char *s, char *out, size_t cap)
{
	size_t n = strlen(s), i;
	unsigned v;

	if (n % 2 || n / 2 >= cap)
		return -EINVAL;
	for (i = 0; i < n / 2; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = (char)v;
	}
	out[n / 2] = 0;
	return 0;
}

/* What py_str__read keeps of s: at most PY_STR_MAX bytes, whole characters. */
static void cut_utf8(char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return;
	while (max && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	s[max] = 0;
}

struct expect {
	uint64_t addr;
	int firstlineno, line0;
	char name[8192], filename[1024];
};

static void check_code(const char *py, pid_t pid, const struct py_layout *l, int minor,
		       struct expect *e)
{
	struct py_code c;
	struct py_code_fp fp;
	int err = py_code__read(pid, l, e->addr, &c);

	cut_utf8(e->name, PY_STR_MAX);
	CHECK(!err, "%s: py_code__read(%#llx): %d", py, (unsigned long long)e->addr, err);
	if (err)
		return;
	CHECK(!strcmp(c.qualname, e->name), "%s: name '%.40s' want '%.40s' (len %zu/%zu)", py,
	      c.qualname, e->name, strlen(c.qualname), strlen(e->name));
	CHECK(!strcmp(c.filename, e->filename), "%s: filename '%s' want '%s'", py, c.filename,
	      e->filename);
	CHECK(c.firstlineno == e->firstlineno, "%s: %.60s: firstlineno %d want %d", py, e->name,
	      c.firstlineno, e->firstlineno);
	CHECK(py_code__line(&c, 0) == e->line0, "%s: %.60s: line at 0: %d want %d", py, e->name,
	      py_code__line(&c, 0), e->line0);
	CHECK(py_code__line(&c, -1) == e->firstlineno, "%s: %.60s: line before start", py, e->name);
	CHECK(c.lt_kind == (minor <= 9	  ? PY_LT_LNOTAB
			    : minor == 10 ? PY_LT_LINETABLE
					  : PY_LT_LOCATIONS),
	      "%s: lt_kind %d", py, c.lt_kind);
	/* One-line functions have an empty co_lnotab in 3.8/3.9; later tables never are. */
	CHECK(c.linetable && (c.linetable_len > 0 || minor <= 9), "%s: %.60s: no line table", py,
	      e->name);
	CHECK(!py_code__fingerprint(pid, l, e->addr, &fp) && !memcmp(&fp, &c.fp, sizeof(fp)),
	      "%s: %.60s: fingerprint differs from read", py, e->name);
	CHECK((minor >= 11) == (c.fp.qualname != 0), "%s: qualname pointer", py);
	if (!strcmp(e->name + (strlen(e->name) > 4 ? strlen(e->name) - 4 : 0), "meth"))
		CHECK(!strcmp(c.qualname, minor >= 11 ? "Outer.Inner.meth" : "meth"),
		      "%s: method qualname %s", py, c.qualname);
	py_code__clear(&c);
}

/* Short buffers cut on character boundaries; the UCS-2 name is "函数" (6 bytes). */
static void check_str_cuts(const char *py, pid_t pid, const struct py_layout *l,
			   const struct expect *e)
{
	struct py_code c;
	char buf[8];
	uint64_t s;

	if (py_code__read(pid, l, e->addr, &c))
		return;
	s = c.fp.qualname ? c.fp.qualname : c.fp.name;
	CHECK(!py_str__read(pid, l, s, buf, 7) && !strcmp(buf, "\u51fd\u6570"), "%s: full", py);
	CHECK(!py_str__read(pid, l, s, buf, 6) && !strcmp(buf, "\u51fd"), "%s: cut 6", py);
	CHECK(!py_str__read(pid, l, s, buf, 4) && !strcmp(buf, "\u51fd"), "%s: cut 4", py);
	CHECK(!py_str__read(pid, l, s, buf, 3) && !strcmp(buf, ""), "%s: cut 3", py);
	CHECK(!py_str__read(pid, l, s, buf, 1) && !strcmp(buf, ""), "%s: cut 1", py);
	CHECK(py_str__read(pid, l, s, buf, 0) == -EINVAL, "%s: zero buffer", py);
	CHECK(py_str__read(pid, l, 0x1000, buf, sizeof(buf)) < 0, "%s: bogus str", py);
	py_code__clear(&c);
}

static void check_bogus(const char *py, pid_t pid, const struct py_layout *l, uint64_t zeros)
{
	struct py_code c;
	struct py_code_fp fp;
	int err;

	err = py_code__read(pid, l, 0x1000, &c);
	CHECK(err < 0 && !c.qualname && !c.linetable, "%s: unmapped address: %d", py, err);
	err = py_code__read(pid, l, 0, &c);
	CHECK(err < 0, "%s: NULL: %d", py, err);
	err = py_code__read(pid, l, zeros + 3, &c);
	CHECK(err < 0, "%s: misaligned: %d", py, err);
	/* Readable memory that is not a code object: all pointers NULL. */
	err = py_code__read(pid, l, zeros + 64, &c);
	CHECK(err == -EINVAL && !c.qualname, "%s: zeros: %d", py, err);
	err = py_code__fingerprint(pid, l, zeros + 64, &fp);
	CHECK(err == -EINVAL, "%s: fingerprint of zeros: %d", py, err);
	err = py_code__read(pid, l, 0x7ffffffff000ull, &c);
	CHECK(err < 0, "%s: top of user space: %d", py, err);
}

static void check_target(const char *py, pid_t pid, FILE *out, const char *want_file)
{
	const struct py_layout *l = NULL;
	static struct expect e;
	char line[32768], name_hex[16384], file_hex[2048];
	int major = 0, minor = 0, nfuncs = 0, ready = 0, ucs2_done = 0;
	unsigned long long zeros = 0;

	while (fgets(line, sizeof(line), out)) {
		if (sscanf(line, "V %d %d", &major, &minor) == 2) {
			l = py_layout__from_table(major, minor);
			CHECK(l, "%s: no layout for %d.%d", py, major, minor);
		} else if (line[0] == 'F' && l) {
			unsigned long long a;

			if (sscanf(line, "F %llx %d %d %16383s %2047s", &a, &e.firstlineno,
				   &e.line0, name_hex, file_hex) != 5 ||
			    unhex(name_hex, e.name, sizeof(e.name)) ||
			    unhex(file_hex, e.filename, sizeof(e.filename))) {
				CHECK(0, "%s: bad F line", py);
				continue;
			}
			e.addr = a;
			/* exec()'d functions are in "<string>", the rest in the script. */
			CHECK(e.filename[0] == '<' || !strcmp(e.filename, want_file),
			      "%s: script filename %s", py, e.filename);
			check_code(py, pid, l, minor, &e);
			if (!ucs2_done && !strcmp(e.name, "\u51fd\u6570")) {
				check_str_cuts(py, pid, l, &e);
				ucs2_done = 1;
			}
			nfuncs++;
		} else if (sscanf(line, "Z %llx", &zeros) == 1 && l) {
			check_bogus(py, pid, l, zeros);
		} else if (!strcmp(line, "R\n")) {
			ready = 1;
			break;
		}
	}
	CHECK(ready && nfuncs == 9 && ucs2_done && zeros, "%s: %d functions read, ready %d", py,
	      nfuncs, ready);
	printf("python: %s %d.%d: %d code objects read\n", py, major, minor, nfuncs);
}

/*
 * src run under py from path: the layout of the version it prints ("V
 * major minor") into *l and the code object it prints ("F hex") into *a.
 * -1 if it did not start; 0 if it gave no address (*l NULL), 1 if it did.
 * Either of those two, stop(t) after.
 */
static int start_src(const char *py, const char *path, const char *src, struct target *t,
		     const struct py_layout **l, unsigned long long *a)
{
	char line[256];
	int major, minor;
	FILE *f = fopen(path, "w");

	*l = NULL;
	if (!f)
		return -1;
	fputs(src, f);
	fclose(f);
	if (start(py, path, t)) {
		CHECK(0, "%s: cannot start", py);
		return -1;
	}
	if (fgets(line, sizeof(line), t->out) && sscanf(line, "V %d %d", &major, &minor) == 2)
		*l = py_layout__from_table(major, minor);
	if (*l && fgets(line, sizeof(line), t->out) && sscanf(line, "F %llx", a) == 1)
		return 1;
	*l = NULL;
	return 0;
}

/* A name longer than PY_STR_MAX*4 characters is refused, not cut. */
static void check_too_long(const char *py, const char *dir)
{
	const struct py_layout *l;
	unsigned long long a;
	char path[512], *src;
	struct target t;
	struct py_code c;
	int got;

	snprintf(path, sizeof(path), "%s/long.py", dir);
	if (asprintf(&src,
		     "import sys\nns = {}\n%s"
		     "print('V %%d %%d' %% sys.version_info[:2])\n"
		     "print('F %%x' %% id(ns['y' * 5000].__code__), flush=True)\n"
		     "sys.stdin.read()\n",
		     too_long_def) < 0)
		return;
	got = start_src(py, path, src, &t, &l, &a);
	free(src);
	if (got < 0)
		return;
	if (got)
		CHECK(py_code__read(t.c.pid, l, a, &c) == -EINVAL, "%s: 5000-char name accepted",
		      py);
	else
		CHECK(0, "%s: long-name target gave no address", py);
	stop(&t);
	unlink(path);
}

/*
 * A code object that died is not read: its header and strings survive in
 * freed memory, but its line table may already be something else.
 */
static const char freed_src[] =
	"import gc, sys\n"
	"ns = {}\n"
	"exec(compile('def doomed_fn():\\n    x = 1\\n    return x\\n', '<doomed>', 'exec'), ns)\n"
	"print('V %d %d' % sys.version_info[:2])\n"
	"print('F %x' % id(ns['doomed_fn'].__code__), flush=True)\n"
	"sys.stdin.readline()\n"
	"del ns\n"
	"gc.collect()\n"
	"print('D', flush=True)\n"
	"sys.stdin.read()\n";

static void check_freed(const char *py, const char *dir)
{
	const struct py_layout *l;
	unsigned long long a = 0;
	char path[512], line[256];
	struct target t;
	struct py_code c;
	int got, err;

	snprintf(path, sizeof(path), "%s/freed.py", dir);
	got = start_src(py, path, freed_src, &t, &l, &a);
	if (got < 0)
		return;
	if (!got) {
		CHECK(0, "%s: freed-code target gave no address", py);
		stop(&t);
		return;
	}
	err = py_code__read(t.c.pid, l, a, &c);
	CHECK(!err && !strcmp(c.qualname, "doomed_fn"), "%s: live code object: %d", py, err);
	if (!err)
		py_code__clear(&c);
	CHECK(write(t.c.in, "\n", 1) == 1, "%s: cannot release the target", py);
	if (fgets(line, sizeof(line), t.out) && !strcmp(line, "D\n")) {
		err = py_code__read(t.c.pid, l, a, &c);
		CHECK(err < 0 || strcmp(c.qualname, "doomed_fn"),
		      "%s: freed code object read as %s", py, c.qualname);
		if (!err)
			py_code__clear(&c);
	} else {
		CHECK(0, "%s: the target did not free the code object", py);
	}
	stop(&t);
	unlink(path);
}

static void check_python(const char *py)
{
	char dir[64], path[256];
	struct target t;

	if (access(py, X_OK)) {
		CHECK(allow_missing(), "%s: interpreter missing", py);
		return;
	}
	if (write_script(dir, sizeof(dir), path, sizeof(path))) {
		CHECK(0, "cannot write script");
		return;
	}
	if (start(py, path, &t)) {
		CHECK(0, "%s: cannot start", py);
	} else {
		check_target(py, t.c.pid, t.out, path);
		stop(&t);
	}
	check_too_long(py, dir);
	check_freed(py, dir);
	unlink(path);
	rmdir(dir);
}

static void check_offline(void)
{
	const struct py_layout *l = py_layout__from_table(3, 12);
	uint8_t hdr[1024] = { 0 };
	struct py_code_fp fp;
	char buf[4];

	CHECK(l, "no 3.12 layout");
	if (!l)
		return;
	CHECK(py_code__fingerprint_from(l, hdr, sizeof(hdr), &fp) == -EINVAL, "zero header");
	CHECK(py_code__fingerprint_from(l, hdr, 8, &fp) == -EINVAL, "short header");
	CHECK(py_code__fingerprint_from(NULL, hdr, sizeof(hdr), &fp) == -EINVAL, "no layout");
	CHECK(py_code__line(NULL, 0) == -1, "NULL code");
	py_code__clear(NULL);
	CHECK(py_str__read(getpid(), l, 0, buf, sizeof(buf)) < 0, "NULL str");
}

int main(void)
{
	static struct interp all[INTERPS_MAX];
	int n = interps_load("", all, INTERPS_MAX), host = 0;

	signal(SIGPIPE, SIG_IGN);
	check_offline();
	CHECK(n > 0, "tests/interpreters.py: %d", n);
	/* The host's: the target runs the script from our /tmp. */
	for (int i = 0; i < n; i++)
		if (!all[i].root[0] && ++host)
			check_python(all[i].host_path);
	CHECK(host >= 7, "%d interpreters on the host", host);
	return unit_done("python");
}
