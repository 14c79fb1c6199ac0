// SPDX-License-Identifier: MIT
/* fileopen.c - files opened only once they are known to be regular files. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fileopen.h"

/* Read flags of every file opened on someone else's word. */
#define READ_FLAGS (O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)

/* close() without losing the errno that explains the failure. */
static int close_keep_errno(int fd)
{
	int err = errno;

	close(fd);
	errno = err;
	return -1;
}

/*
 * The inode behind an O_PATH fd, opened for real: /proc/self/fd/N leads
 * to that very inode, whatever has become of the path since.
 */
static int reopen(int pfd, int flags)
{
	char self[32];

	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	return open(self, flags);
}

/* O_PATH opens nothing: no device's open, no FIFO's wait, no tty. */
static int path_fd(int dirfd, const char *path, uint64_t resolve)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = resolve };

	if (!resolve)
		return openat(dirfd, path, O_PATH | O_CLOEXEC);
	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

int fileopen_regular_at(int dirfd, const char *path, uint64_t resolve)
{
	struct stat st;
	int pfd, fd;

	pfd = path_fd(dirfd, path, resolve);
	if (pfd < 0)
		return -1;
	if (fstat(pfd, &st))
		return close_keep_errno(pfd);
	if (!S_ISREG(st.st_mode)) {
		errno = FILEOPEN_NOT_REGULAR;
		return close_keep_errno(pfd);
	}
	fd = reopen(pfd, READ_FLAGS);
	if (fd < 0)
		return close_keep_errno(pfd);
	close(pfd);
	return fd;
}

int fileopen_regular(const char *path)
{
	return fileopen_regular_at(AT_FDCWD, path, 0);
}

const char *fileopen_strerror(int errnum)
{
	return errnum == FILEOPEN_NOT_REGULAR ? "not a regular file" : strerror(errnum);
}

int fileopen_kernel(const char *path)
{
	return open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
}

FILE *fileopen_kernel_stream(const char *path)
{
	int fd = fileopen_kernel(path);
	FILE *f;

	if (fd < 0)
		return NULL;
	f = fdopen(fd, "r");
	if (!f)
		close_keep_errno(fd);
	return f;
}

int fileopen_append(const char *path, mode_t mode)
{
	/* Each try loses a race to someone who makes or removes the name. */
	for (int tries = 0; tries < 4; tries++) {
		struct stat st;
		int pfd, fd;

		pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (pfd < 0 && errno != ENOENT)
			return -1;
		if (pfd < 0) {
			fd = open(path,
				  O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOCTTY | O_CLOEXEC,
				  mode);
			if (fd >= 0 || errno != EEXIST)
				return fd;
			continue;
		}
		if (fstat(pfd, &st))
			return close_keep_errno(pfd);
		if (!S_ISREG(st.st_mode)) {
			errno = S_ISLNK(st.st_mode) ? ELOOP : FILEOPEN_NOT_REGULAR;
			return close_keep_errno(pfd);
		}
		fd = reopen(pfd, O_WRONLY | O_APPEND | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			return close_keep_errno(pfd);
		close(pfd);
		return fd;
	}
	errno = EEXIST;
	return -1;
}
