/* SPDX-License-Identifier: MIT */
/*
 * procfs.h - the one reader of /proc/PID/... files.
 *
 * Owns: reading a small /proc file whole (bounded, NUL-terminated), and
 * the fields of stat, status and comm that the agent uses, parsed the way
 * each must be: comm may hold any byte, ')' included, so stat's fields are
 * counted from its last ')'.  A process that has gone is -ESRCH.
 */
#ifndef PYSPY_PROCFS_H
#define PYSPY_PROCFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* At most len - 1 bytes of path, NUL-terminated. 0, -ESRCH (no such file), -errno. */
int procfs_read(const char *path, char *buf, size_t len);

/*
 * The comm of PID (tid 0) or of its thread TID, without the newline; "?"
 * if unreadable.  0 or -errno (-ESRCH: gone).
 */
int procfs_comm(pid_t pid, pid_t tid, char *buf, size_t len);

struct procfs_stat {
	char comm[16];	     /* what stat says, cut at 15 bytes */
	char state;	     /* R, S, D, Z, ... */
	uint64_t start_time; /* clock ticks after boot (field 22) */
};

/* /proc/PID/stat (tid 0) or /proc/PID/task/TID/stat. 0, -ESRCH, -EIO (malformed). */
int procfs_stat(pid_t pid, pid_t tid, struct procfs_stat *st);

/*
 * How many times thread tid of pid was put on a CPU (the third field of
 * /proc/PID/task/TID/schedstat): a thread off the CPU whose count has not
 * moved has not run since.  0; -ENOENT without schedstat (CONFIG_SCHED_INFO);
 * -ESRCH, -EIO.
 */
int procfs_runs(pid_t pid, pid_t tid, uint64_t *runs);

/*
 * From /proc/PID[/task/TID]/status: the thread group (*tgid, may be NULL)
 * and the id in the innermost PID namespace (the last NSpid entry; the id
 * itself before Linux 4.1).  0, -ESRCH, -errno.
 */
int procfs_ids(pid_t pid, pid_t tid, pid_t *tgid, pid_t *nsid);

/*
 * Open path (read-only) as PID sees it, inside its root: `..` and symlinks,
 * absolute ones included, never leave it; only a regular file is opened
 * (fileopen_regular_at).  An fd, or -1 with errno set (ENOENT;
 * FILEOPEN_NOT_REGULAR: a device, FIFO, socket or directory).
 */
int procfs_open_in_root(pid_t pid, const char *path);

/*
 * One line of /proc/PID/maps: addresses, offset, the file's device and
 * inode, and its path (pointing into the line, newline cut; "" for an
 * anonymous mapping).  *deleted: the path ended in " (deleted)", which is
 * cut.  0, or -EINVAL for a line that is not one.
 */
struct procfs_map {
	uint64_t start, end, off, ino;
	uint32_t dev_major, dev_minor;
	char perms[5];
	char *path;
	int deleted;
};
int procfs_parse_map(char *line, struct procfs_map *m);

/*
 * Open the file mapped at m in PID: through /proc/PID/map_files, the very
 * file whatever its path leads to now (needs CAP_CHECKPOINT_RESTORE or
 * CAP_SYS_ADMIN), else m->path inside PID's root (procfs_open_in_root;
 * less the root's own path for a chroot) if that is the same file: its
 * device and inode are those maps gives.
 * An fd, or -1 with errno set: ESTALE when the path leads to another file
 * (replaced, deleted) and map_files is out of reach.
 */
int procfs_open_mapped(pid_t pid, const struct procfs_map *m);

/*
 * The kernel stack of a thread that is not running, from
 * /proc/PID/task/TID/stack (root only), innermost first: function names
 * without their offsets, at most max of PROCFS_KSYM_LEN bytes.  The count,
 * or -errno.
 */
#define PROCFS_KSYM_LEN 128
int procfs_kernel_stack(pid_t pid, pid_t tid, char (*names)[PROCFS_KSYM_LEN], int max);

/* The /proc/PID/exe link ("" if unreadable). */
void procfs_exe(pid_t pid, char *buf, size_t len);

/* Seconds since PID started (a large value if unknown). */
double procfs_age_s(pid_t pid);

#endif /* PYSPY_PROCFS_H */
