/* SPDX-License-Identifier: MIT */
/*
 * fdread.h - the one loop that reads an open file into memory: until the
 * room is full or the file ends, a read cut short by a signal taken again.
 */
#ifndef PYSPY_FDREAD_H
#define PYSPY_FDREAD_H

#include <stddef.h>

/*
 * Up to len bytes of fd into buf, *got of them (fewer only at the file's
 * end, or on an error); 0 or -errno.
 */
int fd_read_upto(int fd, void *buf, size_t len, size_t *got);

#endif /* PYSPY_FDREAD_H */
