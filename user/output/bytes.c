// SPDX-License-Identifier: MIT
/* bytes.c - bounded whole-file reads and gzip/zlib inflation. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include "bytes.h"
#include "symbolize/base/fdread.h"
#include "symbolize/base/fileopen.h"

int bytes_read_file(const char *path, size_t max, uint8_t **out, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	uint8_t *buf = malloc(cap), *nb;
	int fd = fileopen_regular(path), err = 0;
	size_t got;

	if (fd < 0 || !buf) {
		err = fd < 0 ? -errno : -ENOMEM;
		goto out;
	}
	/* Read to EOF rather than trust st_size: a file can grow while it is read. */
	for (;;) {
		if (n == cap) {
			if (cap > max) {
				err = -EFBIG;
				break;
			}
			cap = cap * 2 > max ? max + 1 : cap * 2;
			nb = realloc(buf, cap);
			if (!nb) {
				err = -ENOMEM;
				break;
			}
			buf = nb;
		}
		err = fd_read_upto(fd, buf + n, cap - n, &got);
		n += got;
		if (err || n < cap)
			break; /* the end, or an error */
	}
out:
	if (fd >= 0)
		close(fd);
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	*len = n;
	return 0;
}

int bytes_inflate(const uint8_t *in, size_t len, size_t max, uint8_t **out, size_t *out_len)
{
	z_stream zs = { 0 };
	size_t cap = len < (1 << 14) ? 1 << 16 : len * 4;
	uint8_t *buf = NULL, *nb;
	int ret, err = 0;

	if (len > max)
		return -EFBIG;
	if (cap > max)
		cap = max;
	/* 15 + 32: accept a gzip or zlib header, whichever is there. */
	if (inflateInit2(&zs, 15 + 32) != Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	for (;;) {
		if (!buf || !zs.avail_out) {
			size_t used = buf ? zs.total_out : 0;

			if (buf && cap >= max) {
				err = -EFBIG;
				break;
			}
			cap = buf ? (cap * 2 > max ? max : cap * 2) : cap;
			nb = realloc(buf, cap);
			if (!nb) {
				err = -ENOMEM;
				break;
			}
			buf = nb;
			zs.next_out = buf + used;
			zs.avail_out = (uInt)(cap - used);
		}
		ret = inflate(&zs, Z_NO_FLUSH);
		if (ret == Z_STREAM_END)
			break;
		if (ret == Z_MEM_ERROR) {
			err = -ENOMEM;
			break;
		}
		/* Out of input before the end, or a bad stream: malformed. */
		if ((ret != Z_OK && ret != Z_BUF_ERROR) || (!zs.avail_in && zs.avail_out)) {
			err = -EINVAL;
			break;
		}
	}
	*out_len = zs.total_out;
	inflateEnd(&zs);
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	return 0;
}
