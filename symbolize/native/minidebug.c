// SPDX-License-Identifier: MIT
/*
 * minidebug.c - .gnu_debugdata, decompressed with liblzma under a cap.
 *
 * Why liblzma and not libdw's own: elfutils decompresses whatever it is
 * given, whole, in memory; here the output is bounded as it is produced.
 */
#include <errno.h>
#include <fcntl.h>
#include <lzma.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "minidebug.h"

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Decompress in into fd, at most MINIDEBUG_OUT_MAX bytes: 0 or an errno. */
static int unxz(const uint8_t *in, size_t len, int fd)
{
	lzma_stream s = LZMA_STREAM_INIT;
	uint8_t out[64 * 1024];
	size_t total = 0;
	lzma_ret r;
	int err = 0;

	if (lzma_stream_decoder(&s, 64u << 20, 0) != LZMA_OK)
		return ENOMEM;
	s.next_in = in;
	s.avail_in = len;
	do {
		s.next_out = out;
		s.avail_out = sizeof(out);
		r = lzma_code(&s, LZMA_FINISH);
		if (r != LZMA_OK && r != LZMA_STREAM_END) {
			err = r == LZMA_MEM_ERROR || r == LZMA_MEMLIMIT_ERROR ? ENOMEM : ENOEXEC;
			break;
		}
		total += sizeof(out) - s.avail_out;
		if (total > MINIDEBUG_OUT_MAX) {
			err = EFBIG;
			break;
		}
		if (write_all(fd, out, sizeof(out) - s.avail_out)) {
			err = errno ? errno : EIO;
			break;
		}
		/* Input used up without the end of the stream: truncated. */
		if (r == LZMA_OK && !s.avail_in && s.avail_out) {
			err = ENOEXEC;
			break;
		}
	} while (r != LZMA_STREAM_END);
	lzma_end(&s);
	return err;
}

struct elf_file *minidebug_open(struct elf_file *ef)
{
	void *in = NULL;
	size_t len = 0;
	int fd, err;

	err = -elf_file__section_copy(ef, ".gnu_debugdata", MINIDEBUG_IN_MAX, &in, &len);
	if (err) {
		errno = err;
		return NULL;
	}
	fd = memfd_create("pyspy-minidebug", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	err = fd < 0 ? errno : unxz(in, len, fd);
	free(in);
	if (!err && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE))
		err = errno;
	if (err) {
		if (fd >= 0)
			close(fd);
		errno = err;
		return NULL;
	}
	return elf_file__from_fd(fd);
}
