/* SPDX-License-Identifier: MIT */
/* discover.c - find a process's CPython runtime, version and layout through /proc. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "discover.h"
#include "symbolize/proc/elf.h"
#include "symbolize/proc/procfs.h"
#include "symbolize/proc/procmem.h"
#include "symbolize/base/clock.h"
#include "symbolize/base/fileopen.h"

/* Above vm.max_map_count's default (65530), so only a runaway file stops us. */
#define MAPS_LINES_MAX (1u << 20)
/* Distinct executable/libpython files looked at per process. */
#define CANDS_MAX 8
/* Bytes all of one scan's files may load, summed (elf.c charges them). */
#define SCAN_LOAD_MAX (64ull << 20)
/* Bytes of _Py_DebugOffsets read: 584 in 3.13, 888 in 3.15. */
#define DEBUG_OFFSETS_READ 1024

/* A mapped file that may hold _PyRuntime, opened on demand. */
struct cand {
	char path[PATH_MAX];   /* as in /proc/PID/maps, " (deleted)" cut off */
	struct procfs_map map; /* the mapping with the lowest file offset; path is path */
	bool is_exe, opened;
	struct elf_file *ef;
	uint64_t bias;
	int err;
};

struct scan {
	char exe[PATH_MAX]; /* /proc/PID/exe link, "" if none */
	bool asyncio;	    /* also take _asyncio extension modules */
	struct cand c[CANDS_MAX];
	unsigned n;
	unsigned rt; /* index of the file holding _PyRuntime */
	struct elf_budget budget;
};

/* comm and start time; a zombie (or dead) process is gone: -ESRCH. */
static int parse_stat(pid_t pid, char comm[16], uint64_t *start_time)
{
	struct procfs_stat st;
	int err = procfs_stat(pid, 0, &st);

	if (err)
		return err;
	if (comm)
		memcpy(comm, st.comm, sizeof(st.comm));
	*start_time = st.start_time;
	return st.state == 'Z' || st.state == 'X' ? -ESRCH : 0;
}

static bool is_libpython(const char *path)
{
	const char *base = strrchr(path, '/');

	/* Not libpython3.so, the stable-ABI forwarder; 2.x only to say "unsupported". */
	return !fnmatch("libpython[0-9].[0-9]*.so*", base ? base + 1 : path, 0);
}

/* The _asyncio extension module, where 3.14 keeps its AsyncioDebug section. */
static bool is_asyncio_module(const char *path)
{
	const char *base = strrchr(path, '/');

	return !fnmatch("_asyncio.*so", base ? base + 1 : path, 0);
}

static void add_cand(struct scan *s, const struct procfs_map *m)
{
	const char *path = m->path;
	struct cand *c;
	bool is_exe;
	unsigned i;

	if (path[0] != '/' || strlen(path) >= PATH_MAX)
		return;
	/* Both strings come from the kernel's d_path, so they compare as is. */
	is_exe = s->exe[0] && !strcmp(path, s->exe);
	if (!is_exe && !is_libpython(path) && !(s->asyncio && is_asyncio_module(path)))
		return;
	for (i = 0; i < s->n; i++) {
		c = &s->c[i];
		if (strcmp(c->path, path))
			continue;
		if (m->off < c->map.off) {
			c->map = *m;
			c->map.path = c->path;
		}
		return;
	}
	if (s->n == CANDS_MAX)
		return;
	c = &s->c[s->n++];
	strcpy(c->path, path);
	c->map = *m;
	c->map.path = c->path;
	c->is_exe = is_exe;
}

static int scan_maps(pid_t pid, struct scan *s)
{
	static const char del[] = " (deleted)";
	char path[64], *line = NULL;
	unsigned lines = 0;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, s->exe, sizeof(s->exe) - 1);
	s->exe[n > 0 ? n : 0] = '\0'; /* kernel threads have none */
	/* As the maps' paths are (procfs_parse_map). */
	if (n > (ssize_t)sizeof(del) - 1 && !strcmp(s->exe + n - (sizeof(del) - 1), del))
		s->exe[n - (sizeof(del) - 1)] = '\0';

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fileopen_kernel_stream(path);
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	while (lines++ < MAPS_LINES_MAX && (n = getline(&line, &cap, f)) > 0) {
		struct procfs_map m;

		if (!procfs_parse_map(line, &m))
			add_cand(s, &m);
	}
	if (ferror(f))
		err = errno ? -errno : -EIO;
	free(line);
	fclose(f);
	return err;
}

/*
 * Open a candidate: the very file mapped (procfs_open_mapped), through
 * map_files or its path inside the target's root (containers) when that
 * is still the same file; a path that now leads elsewhere (replaced by an
 * upgrade, planted) is refused, never read.
 */
static struct elf_file *open_mapped(pid_t pid, const struct cand *c)
{
	int fd = procfs_open_mapped(pid, &c->map);

	return fd >= 0 ? elf_file__from_fd(fd) : NULL;
}

static int cand_open(pid_t pid, struct scan *s, struct cand *c)
{
	if (c->opened)
		return c->err;
	c->opened = true;
	c->ef = open_mapped(pid, c);
	if (!c->ef)
		return c->err = -errno;
	/* One budget for the scan: a target maps up to CANDS_MAX files. */
	elf_file__set_budget(c->ef, &s->budget);
	return c->err = elf_file__load_bias(c->ef, c->map.start, c->map.off, &c->bias);
}

/* "path: why", if a file of the scan was refused for what its headers claim. */
static bool scan_refused(const struct scan *s, char *buf, size_t len)
{
	for (unsigned i = 0; i < s->n; i++) {
		const struct cand *c = &s->c[i];
		const char *why = c->ef		     ? elf_file__refused(c->ef)
				  : c->err == -E2BIG ? "too many section or program headers"
						     : NULL;

		if (why) {
			snprintf(buf, len, "%s: %s", c->map.path, why);
			return true;
		}
	}
	return false;
}

static void scan_free(struct scan *s)
{
	unsigned i;

	if (!s)
		return;
	for (i = 0; i < s->n; i++)
		elf_file__close(s->c[i].ef);
	free(s);
}

/* _PyRuntime in one candidate: the symbol, else the 3.10+ section. */
static int cand_runtime(pid_t pid, struct scan *s, struct cand *c, uint64_t *addr, uint32_t *flags)
{
	uint64_t size;
	int err;

	err = cand_open(pid, s, c);
	if (err)
		return err;
	if (!elf_file__find_symbol(c->ef, "_PyRuntime", addr, &size))
		return 0;
	if (elf_file__find_section(c->ef, ".PyRuntime", addr, &size) || !size)
		return -ENOENT;
	*flags |= PY_TARGET_RUNTIME_SECTION;
	return 0;
}

/*
 * The executable first: a static build holds _PyRuntime there, and an
 * embedder referencing it would have a copy relocation that wins over
 * libpython's definition.
 */
static int find_runtime(pid_t pid, struct scan *s, struct py_target *t)
{
	int pass, denied = 0;
	uint64_t addr;
	unsigned i;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < s->n; i++) {
			struct cand *c = &s->c[i];
			int err;

			if (c->is_exe != (pass == 0))
				continue;
			err = cand_runtime(pid, s, c, &addr, &t->flags);
			/* A reason the file was not read beats "not Python". */
			if (err == -EACCES || err == -EPERM || err == -ESTALE)
				denied = err;
			if (err)
				continue;
			s->rt = i;
			t->runtime_addr = addr + c->bias;
			t->elf_bias = c->bias;
			strcpy(t->elf_path, c->path);
			return 0;
		}
	}
	if (denied)
		return denied;
	/* Not found, but not all was looked at: say why rather than "not Python". */
	if (scan_refused(s, t->refused, sizeof(t->refused)))
		return -E2BIG;
	return -ENOEXEC;
}

/* Runtime address of a symbol: the _PyRuntime file first, then the others. */
static int find_sym(pid_t pid, struct scan *s, const char *name, uint64_t *addr)
{
	uint64_t a, size;
	unsigned k;

	for (k = 0; k < s->n; k++) {
		struct cand *c = &s->c[(s->rt + k) % s->n];

		if (cand_open(pid, s, c) || elf_file__find_symbol(c->ef, name, &a, &size))
			continue;
		*addr = a + c->bias;
		return 0;
	}
	return -ENOENT;
}

static bool plausible(uint32_t hex)
{
	return (hex >> 24) == 3;
}

/* "3.10.0rc1+" -> 0x030a00c1; 0 if malformed. */
static uint32_t version_from_string(const char *str)
{
	unsigned maj, min, mic, serial = 0, level = 0xf;
	const char *p;
	int n = 0;

	if (sscanf(str, "%u.%u.%u%n", &maj, &min, &mic, &n) != 3 || n <= 0)
		return 0;
	p = str + n;
	if (!strncmp(p, "rc", 2))
		level = 0xc, p += 2;
	else if (*p == 'a' || *p == 'b')
		level = *p == 'a' ? 0xa : 0xb, p++;
	if (level != 0xf)
		serial = (unsigned)strtoul(p, NULL, 10);
	if (maj > 255 || min > 255 || mic > 255 || serial > 15)
		return 0;
	return maj << 24 | min << 16 | mic << 8 | level << 4 | serial;
}

static const char *base_name(const char *path)
{
	const char *b = strrchr(path, '/');

	return b ? b + 1 : path;
}

/* Last resort: "libpython3.X..." or "python3.X..." names the minor. */
static uint32_t version_from_name(const char *path)
{
	const char *b = base_name(path);
	unsigned maj, min;

	if (!strncmp(b, "lib", 3))
		b += 3;
	if (sscanf(b, "python%u.%u", &maj, &min) != 2 || maj > 255 || min > 255)
		return 0;
	return maj << 24 | min << 16;
}

static int version_py_version(pid_t pid, struct scan *s, uint32_t *hex)
{
	uint64_t addr;
	uint32_t v;
	int err;

	if (find_sym(pid, s, "Py_Version", &addr))
		return -ENOENT;
	/* unsigned long in CPython; the low 4 bytes on little-endian. */
	err = procmem_read(pid, addr, &v, sizeof(v));
	if (err)
		return err;
	if (!plausible(v))
		return -ENOENT;
	*hex = v;
	return 0;
}

static int version_string(pid_t pid, struct scan *s, uint32_t *hex)
{
	char buf[64];
	unsigned k;

	for (k = 0; k < s->n; k++) {
		struct cand *c = &s->c[(s->rt + k) % s->n];
		uint32_t v;

		if (cand_open(pid, s, c) || elf_file__py_version_string(c->ef, buf, sizeof(buf)))
			continue;
		v = version_from_string(buf);
		if (plausible(v)) {
			*hex = v;
			return 0;
		}
	}
	return -ENOENT;
}

/* Version without debug offsets: Py_Version, PY_VERSION, the file name. */
static int find_version(pid_t pid, struct scan *s, struct py_target *t)
{
	uint32_t v = 0;
	unsigned k;
	int err;

	err = version_py_version(pid, s, &v);
	if (err == -ENOENT)
		err = version_string(pid, s, &v);
	if (err != -ENOENT) {
		t->version_hex = v;
		return err;
	}
	for (k = 0; k < s->n && !plausible(v); k++)
		v = version_from_name(s->c[(s->rt + k) % s->n].path);
	if (!plausible(v))
		return -ENOTSUP;
	t->version_hex = v;
	t->flags |= PY_TARGET_VERSION_GUESSED;
	return 0;
}

/* Does libpython3.X<flags>.so carry the ABI flag c ("d" Py_DEBUG, "t" free-threaded)? */
static bool abi_flag(const char *path, char c)
{
	const char *b = base_name(path), *p;
	unsigned min;
	int n = 0;

	if (sscanf(b, "libpython3.%u%n", &min, &n) != 1 || n <= 0)
		return false;
	for (p = b + n; *p && *p != '.'; p++)
		if (*p == c)
			return true;
	return false;
}

static int layout_from_table(struct py_target *t)
{
	unsigned maj = t->version_hex >> 24, min = (t->version_hex >> 16) & 0xff;
	const struct py_layout *l;
	bool free_threaded;

	if (maj != 3 || min < 8)
		return -ENOTSUP;
	/* The table was measured on default builds only. */
	free_threaded = abi_flag(t->elf_path, 't');
	if (free_threaded)
		t->flags |= PY_TARGET_FREE_THREADED;
	if (free_threaded || abi_flag(t->elf_path, 'd'))
		return -ENOTSUP;
	l = py_layout__from_table(maj, min);
	if (!l)
		return -ENOTSUP;
	t->layout = *l;
	return 0;
}

/* Does the table disagree with the debug offsets on anything BPF reads? */
static bool table_mismatch(const struct py_target *t)
{
	const struct py_layout *l = py_layout__from_table(t->layout.major, t->layout.minor);
	struct pyspy_proc a, b;

	if (!l)
		return false;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	py_layout__to_bpf(l, t->runtime_addr, t->version_hex, &a);
	py_layout__to_bpf(&t->layout, t->runtime_addr, t->version_hex, &b);
	return memcmp(&a, &b, sizeof(a)) != 0;
}

/* 3.13+: _PyRuntime starts with _Py_DebugOffsets, which describe the build. */
static int layout_from_debug(pid_t pid, struct py_target *t)
{
	uint8_t raw[DEBUG_OFFSETS_READ];
	uint32_t v = 0;
	uint64_t hdr;
	int err;

	err = procmem_read(pid, t->runtime_addr, raw, sizeof(raw));
	if (err)
		return err;
	memcpy(&hdr, raw + 8, sizeof(hdr));
	t->version_hex = (uint32_t)hdr; /* for the message if unsupported */
	memcpy(&hdr, raw + 16, sizeof(hdr));
	if (hdr) /* _Py_DebugOffsets.free_threaded */
		t->flags |= PY_TARGET_FREE_THREADED;
	err = py_layout__from_debug_offsets(raw, sizeof(raw), &t->layout, &v, t->refused,
					    sizeof(t->refused));
	if (err == -EINVAL && t->refused[0]) {
		/* A build that describes itself wrongly, or a target that lies. */
		t->flags |= PY_TARGET_LAYOUT_REFUSED;
		return -ENOTSUP;
	}
	if (err)
		return err;
	t->version_hex = v;
	t->flags |= PY_TARGET_DEBUG_OFFSETS;
	if (table_mismatch(t))
		t->flags |= PY_TARGET_TABLE_MISMATCH;
	return 0;
}

/* Debug offsets at _PyRuntime's start? 1, 0, or -errno. */
static int has_debug_offsets(const struct py_target *t)
{
	char cookie[8];
	int err = procmem_read(t->pid, t->runtime_addr, cookie, sizeof(cookie));

	return err ? err : !memcmp(cookie, "xdebugpy", sizeof(cookie));
}

/*
 * With debug offsets present they decide: the table cannot tell a
 * free-threaded build, and malformed offsets mean a build we do not know.
 */
static int layout_from_debug_or_table(struct py_target *t, int debug)
{
	int err;

	if (debug) {
		err = layout_from_debug(t->pid, t);
		return err == -EINVAL ? -ENOTSUP : err;
	}
	return layout_from_table(t);
}

static int find_layout(pid_t pid, struct scan *s, struct py_target *t)
{
	int debug = has_debug_offsets(t), err;

	if (debug < 0)
		return debug;
	if (!debug) {
		err = find_version(pid, s, t);
		if (err)
			return err;
	}
	return layout_from_debug_or_table(t, debug);
}

int py_target__layout(struct py_target *t)
{
	int debug = has_debug_offsets(t);

	return debug < 0 ? debug : layout_from_debug_or_table(t, debug);
}

/* No _PyRuntime (before 3.7), but Py_GetVersion: a Python we cannot sample. */
static int too_old(pid_t pid, struct scan *s, struct py_target *t)
{
	uint64_t addr;
	uint32_t v = 0;

	s->rt = 0;
	if (find_sym(pid, s, "Py_GetVersion", &addr))
		return -ENOEXEC;
	if (!version_string(pid, s, &v))
		t->version_hex = v;
	return -ENOTSUP;
}

static int check_identity(pid_t pid, struct py_target *t)
{
	pid_t tgid;
	int err;

	err = parse_stat(pid, t->comm, &t->start_time);
	if (err)
		return err;
	err = procfs_ids(pid, 0, &tgid, &t->nspid);
	if (err)
		return err;
	return tgid == pid ? 0 : -ESRCH;
}

int py_target__discover(pid_t pid, struct py_target *out)
{
	struct scan *s = NULL;
	uint64_t code_type;
	int err;

	memset(out, 0, sizeof(*out));
	out->pid = pid;
	out->looked_ns = mono_ns();
	if (pid <= 0)
		return -ESRCH;
	err = check_identity(pid, out);
	if (err)
		return err;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->budget.max = SCAN_LOAD_MAX;
	err = scan_maps(pid, s);
	if (!err)
		err = find_runtime(pid, s, out);
	if (err == -ENOEXEC)
		err = too_old(pid, s, out);
	else if (!err)
		err = find_layout(pid, s, out);
	if (!err && !find_sym(pid, s, "PyCode_Type", &code_type))
		out->code_type_addr = code_type;
	if (!err && !find_sym(pid, s, "PyUnicode_Type", &code_type))
		out->str_type_addr = code_type;
	if (!err && !find_sym(pid, s, "PyLong_Type", &code_type))
		out->long_type_addr = code_type;
	if (!err) {
		err = py_target__initialised(out);
		err = err == 1 ? 0 : err == 0 ? -EAGAIN : err;
	}
	scan_free(s);
	/* Whatever went wrong, a process that exited meanwhile is the reason. */
	if (py_target__alive(out) == 0)
		err = -ESRCH;
	return err;
}

int py_target__initialised(const struct py_target *t)
{
	uint64_t head;
	int err;

	err = procmem_read_u64(t->pid, t->runtime_addr + t->layout.runtime_interp_head, &head);
	if (err)
		return err;
	return head != 0;
}

int py_target__find_gil(struct py_target *t)
{
	const struct py_layout *l = &t->layout;
	uint64_t interp, gil;
	int err;

	if (l->gil_runtime != PY_OFF_NONE && l->gil_runtime) {
		t->gil_addr = t->runtime_addr + l->gil_runtime;
		return 0;
	}
	if (l->gil_interp_ptr == PY_OFF_NONE || !l->gil_size)
		return -ENOTSUP;
	err = procmem_read_u64(t->pid, t->runtime_addr + l->runtime_interp_head, &interp);
	if (!err && !interp)
		err = -EAGAIN;
	if (!err)
		err = procmem_read_u64(t->pid, interp + l->gil_interp_ptr, &gil);
	if (!err && !gil)
		err = -EAGAIN;
	if (!err)
		t->gil_addr = gil;
	return err;
}

int py_target__alive(const struct py_target *t)
{
	uint64_t start;
	int err;

	err = parse_stat(t->pid, NULL, &start);
	if (err == -ESRCH)
		return 0;
	if (err)
		return err;
	return start == t->start_time;
}

const char *py_target__strerror(int err)
{
	const char *s;

	switch (err < 0 ? -err : err) {
	case 0:
		return "Python process";
	case ESRCH:
		return "no such process";
	case ENOEXEC:
		return "not a Python process (no mapped file defines _PyRuntime)";
	case ENOTSUP:
		return "unsupported CPython version or build";
	case E2BIG:
		return "a mapped file was refused (its headers claim more than the caps allow)";
	case EAGAIN:
		return "Python interpreter not initialised yet";
	case EACCES:
	case EPERM:
		return "permission denied (needs root or CAP_SYS_PTRACE, and without root its "
		       "interpreter's files readable by the agent's user)";
	case ESTALE:
		return "its interpreter's file is not at its path any more (replaced or deleted: "
		       "reading the mapped file needs root or CAP_CHECKPOINT_RESTORE)";
	}
	s = strerrordesc_np(err < 0 ? -err : err);
	return s ? s : "unexpected error";
}

void py_version_str(uint32_t v, bool release_tag, char *buf, size_t len)
{
	unsigned level = (v >> 4) & 0xf, serial = v & 0xf;
	const char *tag = level == 0xa ? "a" : level == 0xb ? "b" : level == 0xc ? "rc" : NULL;
	int n = snprintf(buf, len, "%u.%u.%u", v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff);

	if (release_tag && tag && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - n, "%s%u", tag, serial);
}

/*
 * 3.14+ asyncio: the AsyncioDebug section of the _asyncio module, which is
 * built into the executable or libpython (Debian's 3.15) or an extension
 * module loaded by `import asyncio` (3.14).  Its bytes are the build's
 * constants, so they are taken from the file, not from the target's memory.
 */
int py_target__asyncio_debug(const struct py_target *t, void *buf, size_t cap, size_t *len)
{
	struct scan *s = calloc(1, sizeof(*s));
	int err, found = -ENOENT;
	void *sec;
	size_t n;

	if (!s)
		return -ENOMEM;
	s->budget.max = SCAN_LOAD_MAX;
	s->asyncio = true;
	err = scan_maps(t->pid, s);
	for (unsigned i = 0; !err && i < s->n && found; i++) {
		struct cand *c = &s->c[i];

		if (cand_open(t->pid, s, c))
			continue;
		if (elf_file__section_copy(c->ef, ".AsyncioDebug", cap, &sec, &n))
			continue;
		memcpy(buf, sec, n);
		*len = n;
		free(sec);
		found = 0;
	}
	scan_free(s);
	return err ? err : found;
}
