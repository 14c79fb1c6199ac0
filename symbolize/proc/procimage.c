// SPDX-License-Identifier: MIT
/*
 * procimage.c - ranges of a process's memory, kept, merged, saved (gzip)
 * and served back.
 *
 * File: "pyspy-image 1\n", header lines "key value\n", an empty line, then
 * records of an 8-byte address, a 4-byte length and that many bytes, little
 * endian, sorted by address and disjoint.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "procimage.h"
#include "symbolize/base/grow.h"
#include "symbolize/base/search.h"

#define MAGIC	  "pyspy-image 1\n"
#define HDR_MAX	  32
#define KEY_MAX	  32
#define RANGE_MAX (1u << 24) /* one record's bytes */

struct range {
	uint64_t addr;
	uint64_t end;
	uint32_t seq; /* order added: a later read of the same bytes wins */
	uint8_t *data;
};

struct hdr {
	char key[KEY_MAX];
	uint64_t v;
};

struct procimage {
	struct range *r;
	size_t n, cap;
	uint32_t seq;
	bool merged; /* sorted by address, disjoint, touching ones joined */
	size_t bytes;
	struct hdr h[HDR_MAX];
	unsigned nh;
};

struct procimage *procimage__new(void)
{
	return calloc(1, sizeof(struct procimage));
}

void procimage__free(struct procimage *img)
{
	if (!img)
		return;
	for (size_t i = 0; i < img->n; i++)
		free(img->r[i].data);
	free(img->r);
	free(img);
}

static int push(struct procimage *img, uint64_t addr, uint8_t *data, size_t len)
{
	if (ARRAY_ROOM(img->r, img->n + 1, img->cap, 256))
		return -ENOMEM;
	img->r[img->n++] = (struct range){ addr, addr + len, img->seq++, data };
	img->bytes += len;
	return 0;
}

int procimage__add(struct procimage *img, uint64_t addr, const void *buf, size_t len)
{
	uint8_t *data;
	int err;

	if (!len)
		return 0;
	if (addr + len < addr)
		return -EINVAL;
	data = malloc(len);
	if (!data)
		return -ENOMEM;
	memcpy(data, buf, len);
	err = push(img, addr, data, len);
	if (err)
		free(data);
	img->merged = false;
	return err;
}

static int by_addr(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

static int by_seq(const void *a, const void *b)
{
	const struct range *const *x = a, *const *y = b;

	return ((*x)->seq > (*y)->seq) - ((*x)->seq < (*y)->seq);
}

/* One range for each run of overlapping or touching ones, later bytes over earlier. */
static int merge(struct procimage *img)
{
	struct range *out;
	size_t n = 0;

	if (img->merged)
		return 0;
	qsort(img->r, img->n, sizeof(*img->r), by_addr);
	out = calloc(img->n ? img->n : 1, sizeof(*out));
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < img->n;) {
		uint64_t lo = img->r[i].addr, hi = img->r[i].end;
		size_t j = i + 1, k = 0;
		struct range **run;
		uint8_t *data;

		while (j < img->n && img->r[j].addr <= hi) {
			if (img->r[j].end > hi)
				hi = img->r[j].end;
			j++;
		}
		data = hi - lo <= SIZE_MAX ? malloc(hi - lo) : NULL;
		run = malloc((j - i) * sizeof(*run));
		if (!data || !run) {
			free(data);
			free(run);
			free(out);
			return -ENOMEM;
		}
		for (size_t m = i; m < j; m++)
			run[k++] = &img->r[m];
		qsort(run, k, sizeof(*run), by_seq);
		for (size_t m = 0; m < k; m++)
			memcpy(data + (run[m]->addr - lo), run[m]->data,
			       run[m]->end - run[m]->addr);
		free(run);
		for (size_t m = i; m < j; m++)
			free(img->r[m].data);
		out[n++] = (struct range){ lo, hi, img->seq++, data };
		i = j;
	}
	free(img->r);
	img->r = out;
	img->n = img->cap = n;
	img->bytes = 0;
	for (size_t i = 0; i < n; i++)
		img->bytes += img->r[i].end - img->r[i].addr;
	img->merged = true;
	return 0;
}

int procimage__read(struct procimage *img, uint64_t addr, void *buf, size_t len)
{
	size_t i;

	if (!len)
		return 0;
	if (addr + len < addr || merge(img))
		return -EFAULT;
	/* The last range starting at or below addr must hold all of it. */
	i = upper_bound(img->r, img->n, addr, addr);
	if (!i || addr + len > img->r[i - 1].end)
		return -EFAULT;
	memcpy(buf, img->r[i - 1].data + (addr - img->r[i - 1].addr), len);
	return 0;
}

static bool key_ok(const char *key)
{
	size_t n = strlen(key);

	return n && n < KEY_MAX && strspn(key, "abcdefghijklmnopqrstuvwxyz_") == n;
}

int procimage__set(struct procimage *img, const char *key, uint64_t v)
{
	if (!key_ok(key))
		return -EINVAL;
	for (unsigned i = 0; i < img->nh; i++)
		if (!strcmp(img->h[i].key, key)) {
			img->h[i].v = v;
			return 0;
		}
	if (img->nh == HDR_MAX)
		return -ENOMEM;
	snprintf(img->h[img->nh].key, KEY_MAX, "%s", key);
	img->h[img->nh++].v = v;
	return 0;
}

int procimage__get(const struct procimage *img, const char *key, uint64_t *v)
{
	for (unsigned i = 0; i < img->nh; i++)
		if (!strcmp(img->h[i].key, key)) {
			*v = img->h[i].v;
			return 0;
		}
	return -ENOENT;
}

static int gz_put(gzFile z, const void *p, size_t n)
{
	return n && gzwrite(z, p, (unsigned)n) != (int)n ? -EIO : 0;
}

int procimage__save(struct procimage *img, const char *path)
{
	char line[KEY_MAX + 32];
	struct stat st;
	gzFile z;
	int fd, err;

	err = merge(img);
	if (err)
		return err;
	/* Never through a planted link, never into a FIFO or device. */
	fd = open(path,
		  O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
		  0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	z = gzdopen(fd, "wb9");
	if (!z) {
		close(fd);
		return -ENOMEM;
	}
	err = gz_put(z, MAGIC, strlen(MAGIC));
	for (unsigned i = 0; !err && i < img->nh; i++) {
		snprintf(line, sizeof(line), "%s %" PRIu64 "\n", img->h[i].key, img->h[i].v);
		err = gz_put(z, line, strlen(line));
	}
	if (!err)
		err = gz_put(z, "\n", 1);
	for (size_t i = 0; !err && i < img->n; i++) {
		const struct range *r = &img->r[i];
		uint64_t len = r->end - r->addr;

		/* A range past a record's bound is written as several. */
		for (uint64_t off = 0; !err && off < len; off += RANGE_MAX) {
			uint64_t a = r->addr + off;
			uint32_t n = len - off > RANGE_MAX ? RANGE_MAX : (uint32_t)(len - off);

			err = gz_put(z, &a, sizeof(a));
			if (!err)
				err = gz_put(z, &n, sizeof(n));
			if (!err)
				err = gz_put(z, r->data + off, n);
		}
	}
	if (gzclose(z) != Z_OK && !err)
		err = -EIO;
	return err;
}

/* A header line, "key value\n"; 1 at the empty line that ends them. */
static int load_header(gzFile z, struct procimage *img)
{
	char line[KEY_MAX + 32], key[KEY_MAX];
	uint64_t v;

	if (!gzgets(z, line, sizeof(line)) || !strchr(line, '\n'))
		return -EINVAL;
	if (!strcmp(line, "\n"))
		return 1;
	if (sscanf(line, "%31s %" SCNu64, key, &v) != 2 || !key_ok(key))
		return -EINVAL;
	return procimage__set(img, key, v);
}

int procimage__load(const char *path, struct procimage **out)
{
	struct procimage *img = procimage__new();
	char magic[sizeof(MAGIC)];
	size_t total = 0;
	gzFile z;
	int err = 0, fd;

	*out = NULL;
	if (!img)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	z = fd >= 0 ? gzdopen(fd, "rb") : NULL;
	if (!z) {
		err = fd < 0 ? -errno : -ENOMEM;
		if (fd >= 0)
			close(fd);
		procimage__free(img);
		return err;
	}
	if (!gzgets(z, magic, sizeof(magic)) || strcmp(magic, MAGIC))
		err = -EINVAL;
	for (unsigned i = 0; !err; i++) {
		err = i > HDR_MAX ? -EINVAL : load_header(z, img);
		if (err == 1) {
			err = 0;
			break;
		}
	}
	while (!err) {
		uint64_t addr;
		uint32_t len;
		uint8_t *data;
		int got = gzread(z, &addr, sizeof(addr));

		if (got == 0)
			break;
		if (got != sizeof(addr) || gzread(z, &len, sizeof(len)) != sizeof(len) || !len ||
		    len > RANGE_MAX || addr + len < addr || img->n >= PROCIMAGE_RANGES_MAX ||
		    len > PROCIMAGE_BYTES_MAX - total) {
			err = -EINVAL;
			break;
		}
		data = malloc(len);
		if (!data || gzread(z, data, len) != (int)len || push(img, addr, data, len)) {
			free(data);
			err = data ? -EINVAL : -ENOMEM;
			break;
		}
		total += len;
	}
	gzclose(z);
	if (!err)
		err = merge(img);
	if (err) {
		procimage__free(img);
		return err;
	}
	*out = img;
	return 0;
}
