// SPDX-License-Identifier: MIT
/* procmaps.c - executable mappings per process; objects shared by file. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "procmaps.h"
#include "symbolize/proc/procfs.h"
#include "symbolize/base/search.h"
#include "symbolize/base/clock.h"
#include "symbolize/base/fileopen.h"
#include "symbolize/base/grow.h"
#include "symbolize/base/log.h"

/* Lines of /proc/PID/maps read, and executable mappings kept, at most. */
#define MAPS_LINES_MAX 65536
#define MAPS_EXEC_MAX  8192

struct obj_key {
	uint64_t dev, ino, size;
	int64_t mtime_ns;
};

struct obj_entry {
	struct obj_entry *next;
	struct obj_key key;
	struct native_object *o;
	uint32_t refs;
	size_t bytes;	    /* charged when opened */
	uint64_t unused_ns; /* when refs fell to 0 */
};

/*
 * An object no mapping uses is kept this long: mappings are read again
 * whenever a process maps or unmaps anything, and opening libpython's
 * symbols and DWARF again each time would cost more than keeping them.
 */
#define OBJ_GRACE_NS (30 * 1000000000ull)

struct native_objects {
	struct obj_entry *list;
	struct obj_entry *retired; /* let go of, not taken yet */
	size_t budget;
	size_t bytes, retired_bytes; /* the list's, the retired's */
};

struct mapping {
	struct procfs_map map; /* map.path is path */
	char *path;
	struct obj_entry *obj; /* NULL until the first address in it */
	int err;	       /* the open failed: not tried again */
	bool interp;
	uint64_t bias; /* runtime address - link-time vaddr, once obj is set */
};

struct native_maps {
	struct native_objects *t;
	pid_t pid;
	struct mapping *maps;
	uint32_t n;
	uint64_t read_ns; /* when the maps were read last */
	uint32_t seq;	  /* the mm_lock_seq of the sample that made us read them */
	uint32_t gen;	  /* reads so far: what callers' caches of lookups check */
	char *interp;
};

struct native_objects *native_objects__new(size_t budget)
{
	struct native_objects *t = calloc(1, sizeof(*t));

	if (t)
		t->budget = budget ? budget : NATIVE_OBJECTS_DEFAULT_BYTES;
	return t;
}

static void entries_free(struct obj_entry *e)
{
	while (e) {
		struct obj_entry *next = e->next;

		native_object__free(e->o);
		free(e);
		e = next;
	}
}

void native_objects__free(struct native_objects *t)
{
	if (!t)
		return;
	entries_free(t->list);
	entries_free(t->retired);
	free(t);
}

struct native_object *native_objects__take_retired(struct native_objects *t)
{
	struct obj_entry *e = t->retired;
	struct native_object *o;

	if (!e)
		return NULL;
	t->retired = e->next;
	t->retired_bytes -= e->bytes < t->retired_bytes ? e->bytes : t->retired_bytes;
	o = e->o;
	free(e);
	return o;
}

static void release(struct native_objects *t, struct obj_entry *e)
{
	(void)t;
	if (e && !--e->refs)
		e->unused_ns = mono_ns();
}

/*
 * Let go of what no mapping used for OBJ_GRACE_NS, and while over the
 * budget of whatever no mapping uses at all: retired, freed when taken.
 */
static void sweep(struct native_objects *t)
{
	uint64_t now = mono_ns();
	struct obj_entry **pp = &t->list;

	/* What each holds now: DWARF and rules grow after the open. */
	t->bytes = 0;
	for (struct obj_entry *e = t->list; e; e = e->next) {
		e->bytes = native_object__bytes(e->o);
		t->bytes += e->bytes;
	}

	while (*pp) {
		struct obj_entry *e = *pp;

		if (e->refs || (now - e->unused_ns < OBJ_GRACE_NS && t->bytes < t->budget)) {
			pp = &e->next;
			continue;
		}
		*pp = e->next;
		t->bytes -= e->bytes < t->bytes ? e->bytes : t->bytes;
		e->next = t->retired;
		t->retired = e;
		t->retired_bytes += e->bytes;
	}
}

/* The agent's own vDSO as a file: the target's is the same kernel's. */
static int vdso_fd(void)
{
	const uint8_t *base = (const uint8_t *)getauxval(AT_SYSINFO_EHDR);
	FILE *f = fileopen_kernel_stream("/proc/self/maps");
	uint64_t start, end, len = 0;
	char line[512];
	int fd;

	if (!base || !f) {
		if (f)
			fclose(f);
		errno = ENOENT;
		return -1;
	}
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "[vdso]") &&
		    sscanf(line, "%" SCNx64 "-%" SCNx64, &start, &end) == 2 &&
		    start == (uintptr_t)base)
			len = end - start;
	fclose(f);
	fd = len ? memfd_create("pyspy-vdso", MFD_CLOEXEC) : -1;
	if (fd < 0 || write(fd, base, len) != (ssize_t)len) {
		if (fd >= 0)
			close(fd);
		errno = ENOENT;
		return -1;
	}
	return fd;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* The object of mapping mp, from the table or opened now. */
static int acquire(struct native_maps *m, struct mapping *mp)
{
	struct native_objects *t = m->t;
	bool vdso = !strcmp(mp->path, "[vdso]");
	struct obj_key k = { 0 };
	struct obj_entry *e;
	struct stat st;
	int fd = -1;

	/*
	 * The very file mapped (procfs_open_mapped): through map_files, or
	 * its path in the target's root if that is still the same file.
	 * O_NONBLOCK: whatever it is, opening it must not wait.
	 */
	if (!vdso) {
		fd = procfs_open_mapped(m->pid, &mp->map);
		if (fd < 0)
			return -errno;
		if (fstat(fd, &st)) {
			int err = -errno;

			close(fd);
			return err;
		}
		k = (struct obj_key){ st.st_dev, st.st_ino, (uint64_t)st.st_size,
				      (int64_t)st.st_mtim.tv_sec * 1000000000 +
					      st.st_mtim.tv_nsec };
	}
	for (e = t->list; e; e = e->next)
		if (!memcmp(&e->key, &k, sizeof(k)))
			break;
	if (e && fd >= 0)
		close(fd);
	if (!e) {
		sweep(t);
		if (t->bytes + t->retired_bytes >= t->budget) {
			if (fd >= 0)
				close(fd);
			/* Room the caller will give back when it takes the retired. */
			return t->bytes < t->budget ? -EAGAIN : -ENOSPC;
		}
		if (vdso)
			fd = vdso_fd();
		if (fd < 0)
			return -errno;
		e = calloc(1, sizeof(*e));
		if (!e) {
			close(fd);
			return -ENOMEM;
		}
		e->o = native_object__open(fd, m->pid, base_name(mp->path));
		if (!e->o) {
			int err = errno ? -errno : -ENOEXEC;

			free(e);
			return err;
		}
		if (log_verbose) {
			char what[256];

			native_object__describe(e->o, what, sizeof(what));
			log_debug("PID %d: %s: %s", m->pid, mp->path, what);
		}
		e->key = k;
		e->bytes = native_object__bytes(e->o);
		t->bytes += e->bytes;
		e->next = t->list;
		t->list = e;
	}
	e->refs++;
	if (elf_file__load_bias(native_object__elf(e->o), mp->map.start, mp->map.off, &mp->bias)) {
		release(t, e);
		return -ENOEXEC;
	}
	mp->obj = e;
	return 0;
}

static void maps_clear(struct native_maps *m)
{
	for (uint32_t i = 0; i < m->n; i++) {
		release(m->t, m->maps[i].obj);
		free(m->maps[i].path);
	}
	free(m->maps);
	m->maps = NULL;
	m->n = 0;
}

/* Re-read the executable mappings; objects already open are kept. */
static int maps_read(struct native_maps *m)
{
	struct mapping *nm = NULL;
	uint32_t n = 0, cap = 0, lines = 0;
	char path[64], *line = NULL;
	size_t lcap = 0;
	ssize_t len;
	FILE *f;

	m->read_ns = mono_ns();
	m->gen++;
	snprintf(path, sizeof(path), "/proc/%d/maps", m->pid);
	f = fileopen_kernel_stream(path);
	if (!f)
		return -errno;
	while (lines++ < MAPS_LINES_MAX && n < MAPS_EXEC_MAX &&
	       (len = getline(&line, &lcap, f)) > 0) {
		struct procfs_map pm;
		struct mapping *mp;

		if (procfs_parse_map(line, &pm) || pm.perms[2] != 'x' || pm.start >= pm.end)
			continue;
		if (pm.path[0] != '/' && strcmp(pm.path, "[vdso]"))
			continue; /* anonymous (JIT code): nothing names it */
		if (ARRAY_ROOM(nm, n + 1, cap, 64))
			break;
		mp = &nm[n];
		*mp = (struct mapping){ .map = pm };
		mp->path = strdup(pm.path);
		if (!mp->path)
			break;
		mp->map.path = mp->path;
		mp->interp = m->interp && !strcmp(pm.path, m->interp);
		/*
		 * No mapping keeps its object from the last read, even one
		 * that looks the same: the file may have been rewritten in
		 * place.  Its first address looks it up again by identity
		 * (a stat), which finds the same object if it is.
		 */
		n++;
	}
	free(line);
	fclose(f);
	maps_clear(m);
	m->maps = nm;
	m->n = n;
	return 0;
}

struct native_maps *native_maps__new(struct native_objects *t, pid_t pid)
{
	struct native_maps *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->t = t;
	m->pid = pid;
	maps_read(m);
	return m;
}

void native_maps__free(struct native_maps *m)
{
	if (!m)
		return;
	maps_clear(m);
	free(m->interp);
	free(m);
}

uint32_t native_maps__generation(const struct native_maps *m)
{
	return m->gen;
}

void native_maps__sync(struct native_maps *m, uint32_t seq)
{
	if (!seq || seq == m->seq || mono_ns() - m->read_ns < NATIVE_MAPS_SYNC_NS)
		return;
	maps_read(m);
	m->seq = seq;
}

void native_maps__set_interp(struct native_maps *m, const char *path)
{
	free(m->interp);
	m->interp = path ? strdup(path) : NULL;
	for (uint32_t i = 0; i < m->n; i++)
		m->maps[i].interp = m->interp && !strcmp(m->maps[i].path, m->interp);
}

/* Mappings are sorted by address in /proc/PID/maps. */
static struct mapping *lookup(struct native_maps *m, uint64_t addr)
{
	size_t lo = upper_bound(m->maps, m->n, map.end, addr);

	return lo < m->n && m->maps[lo].map.start <= addr ? &m->maps[lo] : NULL;
}

int native_maps__find(struct native_maps *m, uint64_t addr, struct native_object **o,
		      uint64_t *vaddr, unsigned *flags)
{
	struct mapping *mp = lookup(m, addr);

	if (!mp && mono_ns() - m->read_ns >= NATIVE_MAPS_REFRESH_NS) {
		maps_read(m);
		mp = lookup(m, addr);
	}
	if (!mp)
		return -ENOENT;
	if (!mp->obj && !mp->err) {
		int err = acquire(m, mp);

		if (err == -EAGAIN)
			return err;
		mp->err = err;
	}
	if (mp->err)
		return mp->err;
	*o = mp->obj->o;
	*vaddr = addr - mp->bias;
	*flags = mp->interp ? NATIVE_MAP_INTERP : 0;
	return 0;
}
