// SPDX-License-Identifier: MIT
/* fdread.c - reading an open file into memory (fdread.h). */
#include <errno.h>
#include <unistd.h>

#include "fdread.h"

int fd_read_upto(int fd, void *buf, size_t len, size_t *got)
{
	char *p = buf;

	*got = 0;
	while (*got < len) {
		ssize_t n = read(fd, p + *got, len - *got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			break;
		*got += (size_t)n;
	}
	return 0;
}
