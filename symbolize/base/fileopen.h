/* SPDX-License-Identifier: MIT */
/*
 * fileopen.h - the one way the agent opens a file it did not make.
 *
 * Owns: opening a file a target controls or names (its executable, its
 * libraries, its debug files, a profile or a key someone hands us) so that
 * only a regular file is ever opened: the path is resolved without opening
 * anything (O_PATH, with the caller's RESOLVE_* flags), refused unless it is
 * S_ISREG, and only then is that very inode opened, read-only, with
 * O_NOCTTY|O_NONBLOCK|O_CLOEXEC.  A device, FIFO or socket is never opened
 * at all: opening a tty can make it the controlling terminal of a session
 * leader without one (a daemonized agent, then killed by a ^C typed there),
 * opening some devices acts (/dev/watchdog arms), and a FIFO blocks.
 * O_NONBLOCK also keeps a lease someone holds on a regular file from making
 * the open wait.
 *
 * Also owns the opening of the kernel's own files we read (/proc, /sys):
 * O_NOCTTY|O_CLOEXEC, no check (they are ours to read); and of a file we
 * append to (serve's log): a regular file or a new one, never a symlink.
 */
#ifndef PYSPY_FILEOPEN_H
#define PYSPY_FILEOPEN_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/*
 * The errno of a path that names something other than a regular file
 * (a directory, device, FIFO or socket, or a symlink to one).
 */
#define FILEOPEN_NOT_REGULAR EINVAL

/* strerror for an errno from opening a file: "not a regular file" for that one. */
const char *fileopen_strerror(int errnum);

/*
 * path (relative to dirfd, or AT_FDCWD) resolved with resolve (RESOLVE_*
 * flags for openat2, 0 for none: symlinks and magic links are followed),
 * opened read-only if it is a regular file.  An fd, or -1 with errno set:
 * FILEOPEN_NOT_REGULAR, or what resolving the path said (ENOENT, ...).
 */
int fileopen_regular_at(int dirfd, const char *path, uint64_t resolve);
int fileopen_regular(const char *path);

/* One of the kernel's files (/proc, /sys), read-only.  An fd, or -1 with errno. */
int fileopen_kernel(const char *path);
/* The same as a stdio stream ("re"); NULL with errno. */
FILE *fileopen_kernel_stream(const char *path);

/*
 * For appending: the regular file at path, or a new one made with mode
 * (O_EXCL: never through a symlink).  A symlink at path is ELOOP, anything
 * else not regular FILEOPEN_NOT_REGULAR.  An fd, or -1 with errno.
 */
int fileopen_append(const char *path, mode_t mode);

#endif /* PYSPY_FILEOPEN_H */
