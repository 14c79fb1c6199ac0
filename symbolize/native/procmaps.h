/* SPDX-License-Identifier: MIT */
/*
 * procmaps.h - a process's executable mappings, and the objects behind them.
 *
 * Owns: the sampler-wide table of native objects, one per file (device,
 * inode, size, mtime) whatever the processes that map it, let go of some
 * time after the last one goes and bounded in bytes (the objects let go of
 * included, until the caller takes them); and per process, its executable
 * mappings from /proc/PID/maps, each object opened on the first address
 * that falls in it as the very file mapped (procfs_open_mapped: through
 * /proc/PID/map_files, or its path in the target's root when that is
 * still the same file).  The vDSO is the agent's own, the kernel's same
 * image.
 */
#ifndef PYSPY_NATIVE_PROCMAPS_H
#define PYSPY_NATIVE_PROCMAPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "object.h"

struct native_objects;
struct native_maps;

/* Default bytes all objects may hold (symbols, rules, DWARF). */
#define NATIVE_OBJECTS_DEFAULT_BYTES (512u << 20)

struct native_objects *native_objects__new(size_t budget);
void native_objects__free(struct native_objects *t); /* NULL-safe; after every map */
/*
 * An object the table let go of (no mapping used it for a while, or the
 * room was needed), NULL when there is none left: the caller's now, to
 * native_object__free once nothing of the caller's refers to it.  Until
 * taken it stays valid, so a pointer from an earlier lookup never dangles
 * nor names a new object made at the same address, and it is still
 * charged to the budget: the caller takes them after each series of
 * lookups (a walk).
 */
struct native_object *native_objects__take_retired(struct native_objects *t);

struct native_maps *native_maps__new(struct native_objects *t, pid_t pid);
void native_maps__free(struct native_maps *m); /* NULL-safe */

/*
 * The interpreter's file as /proc/PID/maps names it (the one holding
 * _PyRuntime): its mappings are found with NATIVE_MAP_INTERP.
 */
void native_maps__set_interp(struct native_maps *m, const char *path);

/*
 * A sample says the process's mappings were at version seq (the kernel's
 * mm_lock_seq, 0 if unknown): if that is not the version they were read
 * at, read them again, at most every NATIVE_MAPS_SYNC_NS.
 */
#define NATIVE_MAPS_SYNC_NS (10 * 1000 * 1000ull)
void native_maps__sync(struct native_maps *m, uint32_t seq);

/* Changes whenever the mappings are read again (a lookup cached before is stale). */
uint32_t native_maps__generation(const struct native_maps *m);

/*
 * The object mapped at addr in the process and addr's link-time vaddr in
 * it; *flags: NATIVE_MAP_*.  A miss re-reads the maps (at most every
 * NATIVE_MAPS_REFRESH_NS).  0, -ENOENT (nothing executable mapped there),
 * -EAGAIN (no room until the objects let go of are taken: tried again),
 * or -errno (it could not be opened; the mapping is not tried again).
 */
#define NATIVE_MAPS_REFRESH_NS (200 * 1000 * 1000ull)
#define NATIVE_MAP_INTERP      0x1
int native_maps__find(struct native_maps *m, uint64_t addr, struct native_object **o,
		      uint64_t *vaddr, unsigned *flags);

#endif /* PYSPY_NATIVE_PROCMAPS_H */
