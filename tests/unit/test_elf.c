/* SPDX-License-Identifier: MIT */
/* test_elf.c - symbolize/proc/elf.c against the real CPython binaries, with readelf as ground truth. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "interpreters.h"
#include "unit.h"
#include "symbolize/proc/elf.h"
#include "symbolize/base/fileopen.h"

struct elf_interp {
	char python[PATH_MAX]; /* interpreter to ask for sys.hexversion */
	char elf[PATH_MAX];    /* file holding _PyRuntime */
	unsigned minor;
	int type; /* expected ET_* */
};

struct truth {
	unsigned long hexversion;
	char version[64]; /* platform.python_version() */
};

static bool allow_missing(void)
{
	const char *s = getenv("PYSPY_ALLOW_MISSING_PYTHON");

	return s && !strcmp(s, "1");
}

/* A pyenv build of tests/interpreters.txt: its libpython holds _PyRuntime. */
static int find_pyenv(const struct interp *py, struct elf_interp *it)
{
	int n;

	n = snprintf(it->python, sizeof(it->python), "%s", py->host_path);
	n |= snprintf(it->elf, sizeof(it->elf), "%s/lib/libpython%u.%u.so.1.0", py->prefix,
		      py->major, py->minor);
	if (n < 0 || access(it->python, X_OK) || access(it->elf, R_OK))
		return -ENOENT;
	it->minor = py->minor;
	it->type = ET_DYN;
	return 0;
}

static int ask_python(const struct elf_interp *it, struct truth *t)
{
	char cmd[PATH_MAX + 128];
	FILE *p;
	int n;

	snprintf(cmd, sizeof(cmd),
		 "'%s' -c 'import sys, platform; print(sys.hexversion, platform.python_version())'",
		 it->python);
	p = popen(cmd, "r");
	if (!p)
		return -errno;
	n = fscanf(p, "%lu %63s", &t->hexversion, t->version);
	pclose(p);
	return n == 2 ? 0 : -EIO;
}

/* Whether a readelf line is the one looked for (name's), and its two numbers. */
typedef bool (*readelf_match)(const char *line, const char *name, uint64_t *a, uint64_t *b);

/*
 * `readelf FLAGS file`, each line through match: the numbers of the first
 * line it takes (first), else of the last; 0, or -ENOENT if none.
 */
static int readelf(const char *flags, const char *file, readelf_match match, const char *name,
		   bool first, uint64_t *a, uint64_t *b)
{
	char cmd[700], line[1024];
	int found = -ENOENT;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "readelf %s '%s'", flags, file);
	p = popen(cmd, "r");
	if (!p)
		return -errno;
	while (fgets(line, sizeof(line), p))
		if (!(first && found == 0) && match(line, name, a, b))
			found = 0;
	pclose(p);
	return found;
}

/* `readelf -Ws --dyn-syms`: "Num: Value Size Type Bind Vis Ndx Name"; defined ones. */
static bool symbol_line(const char *line, const char *name, uint64_t *addr, uint64_t *size)
{
	char value[32], sz[32], ndx[16], sym[256];

	if (sscanf(line, " %*[0-9]: %31s %31s %*s %*s %*s %15s %255s", value, sz, ndx, sym) != 4 ||
	    strcmp(sym, name) || !strcmp(ndx, "UND"))
		return false;
	*addr = strtoull(value, NULL, 16);
	*size = strtoull(sz, NULL, 0);
	return true;
}

/*
 * `readelf -W --dyn-syms`: counts in *n the lines of defined functions
 * with an address and a name (what elf_file__next_function lists).
 */
static bool function_line(const char *line, const char *name, uint64_t *n, uint64_t *unused)
{
	char value[32], type[16], ndx[16], sym[256];

	(void)name;
	(void)unused;
	if (sscanf(line, " %*[0-9]: %31s %*s %15s %*s %*s %15s %255s", value, type, ndx, sym) ==
		    4 &&
	    strcmp(ndx, "UND") && strtoull(value, NULL, 16) &&
	    (!strcmp(type, "FUNC") || !strcmp(type, "IFUNC")))
		(*n)++;
	return false;
}

/* `readelf -SW`: "[Nr] Name Type Address Off Size ...". */
static bool section_line(const char *line, const char *name, uint64_t *addr, uint64_t *size)
{
	char sec[256], a[32], s[32];
	const char *q = strchr(line, ']');

	if (!q || sscanf(q + 1, " %255s %*s %31s %*s %31s", sec, a, s) != 3 || strcmp(sec, name))
		return false;
	*addr = strtoull(a, NULL, 16);
	*size = strtoull(s, NULL, 16);
	return true;
}

/*
 * `readelf -lW`: "LOAD Offset VirtAddr PhysAddr FileSiz MemSiz Flg Align"; a
 * writable one (the one holding _PyRuntime): vaddr, file offset.
 */
static bool rw_load_line(const char *line, const char *name, uint64_t *vaddr, uint64_t *off)
{
	char o[32], v[32], fl[8];

	(void)name;
	if (sscanf(line, " LOAD %31s %31s %*s %*s %*s %7[RWE ]", o, v, fl) != 3 || !strchr(fl, 'W'))
		return false;
	*off = strtoull(o, NULL, 16);
	*vaddr = strtoull(v, NULL, 16);
	return true;
}

static void check_runtime(struct elf_file *ef, const struct elf_interp *it)
{
	uint64_t a = 0, s = 0, ta = 0, ts = 0;

	CHECK(!elf_file__find_symbol(ef, "_PyRuntime", &a, &s), "%s", it->elf);
	CHECK(!readelf("-Ws --dyn-syms", it->elf, symbol_line, "_PyRuntime", true, &ta, &ts), "%s",
	      it->elf);
	CHECK(a == ta && s == ts,
	      "%s: _PyRuntime %#" PRIx64 "/%#" PRIx64 " readelf %#" PRIx64 "/%#" PRIx64, it->elf, a,
	      s, ta, ts);
	printf("  %s: _PyRuntime %#" PRIx64 " size %#" PRIx64 "\n", it->elf, a, s);

	if (it->minor < 10) {
		CHECK(elf_file__find_section(ef, ".PyRuntime", &a, &s) == -ENOENT, "%s", it->elf);
		return;
	}
	a = s = ta = ts = 0;
	CHECK(!elf_file__find_section(ef, ".PyRuntime", &a, &s), "%s", it->elf);
	CHECK(!readelf("-SW", it->elf, section_line, ".PyRuntime", false, &ta, &ts), "%s", it->elf);
	CHECK(a == ta && s == ts && a,
	      "%s: .PyRuntime %#" PRIx64 "/%#" PRIx64 " readelf %#" PRIx64 "/%#" PRIx64, it->elf, a,
	      s, ta, ts);
}

static void check_version(struct elf_file *ef, const struct elf_interp *it, const struct truth *t)
{
	uint64_t a = 0, s = 0;
	uint32_t v = 0;
	char buf[64] = "";
	int err;

	err = elf_file__find_symbol(ef, "Py_Version", &a, &s);
	if (it->minor >= 11) {
		CHECK(!err && s >= 4, "%s: Py_Version", it->elf);
		CHECK(!elf_file__read_vaddr(ef, a, &v, sizeof(v)), "%s", it->elf);
		CHECK(v == t->hexversion, "%s: Py_Version %#x, sys.hexversion %#lx", it->elf, v,
		      t->hexversion);
		printf("  %s: Py_Version %#x\n", it->elf, v);
	} else {
		CHECK(err == -ENOENT, "%s: Py_Version in 3.%u", it->elf, it->minor);
	}
	/* Needed for 3.8-3.10 only, but the code pattern holds for all. */
	err = elf_file__py_version_string(ef, buf, sizeof(buf));
	CHECK(!err && !strcmp(buf, t->version), "%s: version string '%s' (%d), python says %s",
	      it->elf, buf, err, t->version);
	printf("  %s: version string %s\n", it->elf, buf);
	CHECK(elf_file__py_version_string(ef, buf, 3) == -ERANGE, "%s", it->elf);
}

/* The functions of .dynsym, one by one, against readelf's. */
static void check_functions(struct elf_file *ef, const struct elf_interp *it)
{
	struct elf_function_cursor c = { .table_type = SHT_DYNSYM };
	uint64_t n = 0, want = 0, unused, ta = 0, ts = 0, addr = 0, size = 0;
	struct elf_function fn;

	while (elf_file__next_function(ef, &c, &fn)) {
		n++;
		if (!strcmp(fn.name, "Py_Initialize"))
			addr = fn.value, size = fn.size;
	}
	CHECK(!elf_file__next_function(ef, &c, &fn), "%s: a function after the last", it->elf);
	readelf("-W --dyn-syms", it->elf, function_line, NULL, false, &want, &unused);
	CHECK(n == want && n > 1000, "%s: %" PRIu64 " functions, readelf %" PRIu64, it->elf, n,
	      want);
	CHECK(!readelf("-Ws --dyn-syms", it->elf, symbol_line, "Py_Initialize", true, &ta, &ts) &&
		      addr == ta && size == ts && addr,
	      "%s: Py_Initialize %#" PRIx64 "/%#" PRIx64 " readelf %#" PRIx64 "/%#" PRIx64, it->elf,
	      addr, size, ta, ts);
	/* No table of that type: nothing, at once. */
	c = (struct elf_function_cursor){ .table_type = SHT_LOUSER };
	CHECK(!elf_file__next_function(ef, &c, &fn), "%s", it->elf);
	printf("  %s: %" PRIu64 " functions in .dynsym\n", it->elf, n);
}

static void check_bias(struct elf_file *ef, const struct elf_interp *it)
{
	const uint64_t base = 0x7f1234560000ull;
	uint64_t vaddr = 0, off = 0, bias = 1;

	if (it->type == ET_EXEC) {
		CHECK(!elf_file__load_bias(ef, 0x400000, 0, &bias) && bias == 0, "%s", it->elf);
		return;
	}
	CHECK(!elf_file__load_bias(ef, base, 0, &bias) && bias == base, "%s: bias %#" PRIx64,
	      it->elf, bias);
	/* The data segment's vaddr - offset differs from the text's in 3.9/3.10. */
	CHECK(!readelf("-lW", it->elf, rw_load_line, NULL, false, &vaddr, &off), "%s", it->elf);
	bias = 1;
	CHECK(!elf_file__load_bias(ef, base + (vaddr & ~0xfffull), off & ~0xfffull, &bias) &&
		      bias == base,
	      "%s: rw bias %#" PRIx64, it->elf, bias);
	CHECK(elf_file__load_bias(ef, base, 1ull << 40, &bias) == -ENOENT, "%s", it->elf);
}

static void check_interp(const struct elf_interp *it)
{
	struct truth t = { 0 };
	struct elf_file *ef;
	uint64_t a, s;
	char c;

	CHECK(!ask_python(it, &t), "%s did not run", it->python);
	ef = elf_file__open(it->elf);
	CHECK(ef, "%s: %s", it->elf, strerror(errno));
	if (!ef)
		return;
	CHECK(elf_file__type(ef) == it->type, "%s: type %d", it->elf, elf_file__type(ef));
	check_runtime(ef, it);
	check_version(ef, it, &t);
	check_bias(ef, it);
	check_functions(ef, it);
	CHECK(elf_file__find_symbol(ef, "no_such_symbol_pyspy", &a, &s) == -ENOENT, "%s", it->elf);
	CHECK(elf_file__find_section(ef, ".no_such_section", &a, &s) == -ENOENT, "%s", it->elf);
	/* _PyRuntime is zero-initialised (.bss) before 3.10: not file-backed. */
	if (it->minor <= 9 && !elf_file__find_symbol(ef, "_PyRuntime", &a, &s))
		CHECK(elf_file__read_vaddr(ef, a, &c, 1) == -ENOENT, "%s", it->elf);
	CHECK(elf_file__read_vaddr(ef, UINT64_MAX - 2, &a, sizeof(a)) == -ENOENT, "%s", it->elf);
	elf_file__close(ef);
}

static void missing(const char *what)
{
	if (allow_missing()) {
		printf("  skip: %s not installed\n", what);
		return;
	}
	CHECK(0, "%s not installed (set PYSPY_ALLOW_MISSING_PYTHON=1 to skip)", what);
}

static void check_errors(void)
{
	struct elf_file *ef;
	char path[] = "/tmp/pyspy-test-elf-XXXXXX";
	int fd;

	errno = 0;
	ef = elf_file__open("/nonexistent/pyspy/libpython3.99.so");
	CHECK(!ef && errno == ENOENT, "missing file: errno %d", errno);

	fd = mkstemp(path);
	CHECK(fd >= 0, "mkstemp");
	if (fd >= 0) {
		CHECK(write(fd, "#!/bin/sh\necho not an ELF\n", 26) == 26, "write");
		close(fd);
		errno = 0;
		ef = elf_file__open(path);
		CHECK(!ef && errno == ENOEXEC, "non-ELF: errno %d", errno);
		/* A truncated ELF header is still not an ELF. */
		fd = open(path, O_WRONLY | O_TRUNC);
		CHECK(fd >= 0 && write(fd, "\177ELF\2\1\1", 7) == 7, "rewrite");
		if (fd >= 0)
			close(fd);
		errno = 0;
		ef = elf_file__open(path);
		CHECK(!ef && errno == ENOEXEC, "truncated ELF: errno %d", errno);
		unlink(path);
	}
	errno = 0;
	ef = elf_file__open("/proc"); /* never opened: symbolize/base/fileopen.h */
	CHECK(!ef && errno == FILEOPEN_NOT_REGULAR, "directory: errno %d", errno);
	elf_file__close(NULL);
}

static long max_rss_kb(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) ? 0 : ru.ru_maxrss;
}

/* Copy src to a new temp file (its name in path), or -1. */
static int copy_to_temp(const char *src, char *path, size_t *len, unsigned char **buf)
{
	FILE *f = fopen(src, "rb");
	long n;
	int fd;

	*buf = NULL;
	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	*buf = n > 0 ? malloc(n) : NULL;
	if (!*buf || fread(*buf, 1, n, f) != (size_t)n) {
		fclose(f);
		return -1;
	}
	fclose(f);
	*len = n;
	fd = mkstemp(path);
	return fd;
}

/*
 * A target's file decides its own headers: a sparse 2 GiB file is refused
 * at open, and a section that claims hundreds of MB is never loaded.
 */
static void check_caps(void)
{
	char path[] = "/tmp/pyspy-test-elf-caps-XXXXXX";
	unsigned char *buf;
	struct elf_file *ef;
	uint64_t addr, size;
	size_t len;
	int fd = copy_to_temp("/bin/true", path, &len, &buf);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
	bool patched = false;

	CHECK(fd >= 0 && len > sizeof(*eh), "copy /bin/true");
	if (fd < 0 || len <= sizeof(*eh)) {
		free(buf);
		return;
	}
	for (unsigned i = 0; i < eh->e_shnum && eh->e_shoff + (i + 1) * sizeof(Elf64_Shdr) <= len;
	     i++) {
		Elf64_Shdr *sh = (Elf64_Shdr *)(buf + eh->e_shoff + i * sizeof(Elf64_Shdr));

		if (sh->sh_type == SHT_DYNSYM) {
			sh->sh_size = (512ull << 20) / sizeof(Elf64_Sym) * sizeof(Elf64_Sym);
			patched = true;
		}
	}
	CHECK(patched, "/bin/true has a .dynsym");
	CHECK(write(fd, buf, len) == (ssize_t)len, "write");
	/* Within the file cap, and the section within the file: only its own cap stops it. */
	CHECK(!ftruncate(fd, 600ll << 20), "ftruncate 600 MiB");
	ef = elf_file__open(path);
	CHECK(ef != NULL, "a 600 MiB file opens: errno %d", errno);
	if (ef) {
		long before = max_rss_kb();

		CHECK(elf_file__find_symbol(ef, "no_such_symbol_anywhere", &addr, &size) == -ENOENT,
		      "no symbol");
		CHECK(max_rss_kb() - before < 64 * 1024, "a 512 MiB .dynsym was read: +%ld KiB",
		      max_rss_kb() - before);
		elf_file__close(ef);
	}
	CHECK(!ftruncate(fd, 2ll << 30), "ftruncate 2 GiB");
	errno = 0;
	ef = elf_file__open(path);
	CHECK(!ef && errno == EFBIG, "a 2 GiB file is refused: errno %d", errno);
	elf_file__close(ef);
	close(fd);
	unlink(path);
	free(buf);
}

/*
 * /bin/true with its section headers replaced by `n` entries: [0] null,
 * [1] a .shstrtab, then n - 2 of `type`, each its own link, all naming
 * `size` bytes at one page-aligned offset past the end (sparse), with
 * section 0's sh_size as the count when `extended`.  Returns the fd (path
 * filled), or -1.
 */
static int alias_file(char *path, unsigned n, uint32_t type, uint64_t size, uint64_t claimed)
{
	static const char names[] = "\0.symtab\0.shstrtab\0.zdebug_line";
	unsigned char *buf;
	size_t len;
	int fd = copy_to_temp("/bin/true", path, &len, &buf);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
	uint64_t names_off, table, big;
	Elf64_Shdr *sh;

	if (fd < 0)
		return -1;
	names_off = len;
	table = (names_off + sizeof(names) + 7) & ~7ull;
	big = (table + (uint64_t)n * sizeof(*sh) + 0xfff) & ~0xfffull;
	sh = calloc(n, sizeof(*sh));
	sh[1] = (Elf64_Shdr){ .sh_name = 9,
			      .sh_type = SHT_STRTAB,
			      .sh_offset = names_off,
			      .sh_size = sizeof(names) };
	for (unsigned i = 2; i < n; i++)
		sh[i] = (Elf64_Shdr){ .sh_name = type == SHT_PROGBITS ? 19 : 1,
				      .sh_type = type,
				      .sh_offset = big,
				      .sh_size = size,
				      .sh_link = i,
				      .sh_entsize = sizeof(Elf64_Sym) };
	eh->e_shoff = table;
	eh->e_shnum = (uint16_t)(claimed ? 0 : n);
	eh->e_shstrndx = 1;
	if (claimed)
		sh[0].sh_size = claimed;
	if (write(fd, buf, len) != (ssize_t)len ||
	    pwrite(fd, names, sizeof(names), names_off) < 0 ||
	    pwrite(fd, sh, (size_t)n * sizeof(*sh), (off_t)table) < 0 ||
	    ftruncate(fd, (off_t)(big + size + (claimed ? claimed * sizeof(*sh) : 0)))) {
		close(fd);
		fd = -1;
	}
	free(sh);
	free(buf);
	return fd;
}

/*
 * Headers that alias one region cost it once: the first .symtab loads, the
 * others overlap it and are refused; the sum stays under ELF_LOAD_MAX and
 * under a budget shared with other files, given back at close.
 */
static void check_ledger(void)
{
	char path[64] = "/tmp/pyspy-test-elf-alias-XXXXXX";
	struct elf_budget budget = { .max = 30ull << 20 };
	struct elf_file *ef, *ef2;
	uint64_t addr, size;
	long before = max_rss_kb();
	int fd = alias_file(path, 66, SHT_SYMTAB, 24ull << 20, 0);
	void *buf;
	size_t len;

	CHECK(fd >= 0, "alias file");
	ef = fd >= 0 ? elf_file__open(path) : NULL;
	CHECK(ef, "alias file opens");
	if (ef) {
		CHECK(elf_file__find_symbol(ef, "anything", &addr, &size) == -ENOENT);
		CHECK(elf_file__loaded(ef) <= ELF_LOAD_MAX && elf_file__loaded(ef) >= 24ull << 20,
		      "loaded %" PRIu64, elf_file__loaded(ef));
		CHECK(elf_file__refused(ef) &&
			      !strcmp(elf_file__refused(ef), "section headers overlap"),
		      "refused: %s", elf_file__refused(ef) ? elf_file__refused(ef) : "-");
		CHECK(max_rss_kb() - before < 40 * 1024, "+%ld KiB", max_rss_kb() - before);
		elf_file__close(ef);
	}
	/* A shared budget: a second file's load past it is refused, and close gives back. */
	ef = elf_file__open(path);
	ef2 = elf_file__open(path);
	if (ef && ef2) {
		elf_file__set_budget(ef, &budget);
		elf_file__set_budget(ef2, &budget);
		elf_file__find_symbol(ef, "anything", &addr, &size);
		CHECK(budget.used == elf_file__loaded(ef) && budget.used >= 24ull << 20);
		elf_file__find_symbol(ef2, "anything", &addr, &size);
		CHECK(elf_file__refused(ef2) &&
			      !strcmp(elf_file__refused(ef2), "over the load budget"),
		      "refused: %s", elf_file__refused(ef2) ? elf_file__refused(ef2) : "-");
		CHECK(budget.used <= budget.max, "used %" PRIu64, budget.used);
	}
	elf_file__close(ef);
	CHECK(budget.used == (ef2 ? elf_file__loaded(ef2) : 0), "used %" PRIu64, budget.used);
	elf_file__close(ef2);
	CHECK(budget.used == 0, "used %" PRIu64, budget.used);
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}

	/* 15 million section headers, by the extended count: refused before libelf allocates. */
	strcpy(path, "/tmp/pyspy-test-elf-count-XXXXXX");
	before = max_rss_kb();
	fd = alias_file(path, 3, SHT_SYMTAB, 4096, 15000000);
	errno = 0;
	ef = fd >= 0 ? elf_file__open(path) : NULL;
	CHECK(!ef && errno == E2BIG, "15M headers: errno %d", errno);
	CHECK(max_rss_kb() - before < 16 * 1024, "+%ld KiB", max_rss_kb() - before);
	elf_file__close(ef);
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}

	/*
	 * A .zdebug_line that claims 256 GiB: refused before anything is
	 * inflated; one that claims 16 bytes but holds no zlib stream: refused.
	 */
	strcpy(path, "/tmp/pyspy-test-elf-zdebug-XXXXXX");
	fd = alias_file(path, 3, SHT_PROGBITS, 4096, 0);
	if (fd >= 0) {
		static const uint8_t big[12] = { 'Z', 'L', 'I', 'B', 0, 0, 0, 0x40, 0, 0, 0, 0 };
		static const uint8_t small[12] = { 'Z', 'L', 'I', 'B', 0, 0, 0, 0, 0, 0, 0, 16 };
		struct stat st;

		CHECK(!fstat(fd, &st) && pwrite(fd, big, 12, st.st_size - 4096) == 12);
		ef = elf_file__open(path);
		CHECK(ef && elf_file__section_copy(ef, ".debug_line", ELF_SECTION_MAX, &buf,
						   &len) == -EFBIG);
		elf_file__close(ef);
		CHECK(pwrite(fd, small, 12, st.st_size - 4096) == 12);
		ef = elf_file__open(path);
		CHECK(ef && elf_file__section_copy(ef, ".debug_line", ELF_SECTION_MAX, &buf,
						   &len) == -EBADMSG);
		elf_file__close(ef);
		close(fd);
		unlink(path);
	}
}

int main(void)
{
	static const struct elf_interp debian = {
		.python = "/usr/bin/python3.11",
		.elf = "/usr/bin/python3.11",
		.minor = 11,
		.type = ET_EXEC,
	};
	static struct interp all[INTERPS_MAX];
	int n = interps_load("--kind pyenv", all, INTERPS_MAX);

	CHECK(n > 0, "tests/interpreters.py: %d", n);
	for (int i = 0; i < n; i++) {
		struct elf_interp it;

		if (find_pyenv(&all[i], &it)) {
			missing(all[i].host_path);
			continue;
		}
		check_interp(&it);
	}
	if (access(debian.elf, R_OK))
		missing(debian.elf);
	else
		check_interp(&debian);
	check_errors();
	check_caps();
	check_ledger();
	return unit_done("elf");
}
