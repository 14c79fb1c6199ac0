// SPDX-License-Identifier: MIT
/* kallsyms.c - the kernel's text symbols, sorted once. */
#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kallsyms.h"
#include "symbolize/base/search.h"
#include "symbolize/base/fileopen.h"
#include "symbolize/base/grow.h"

/* Symbols kept at most (a distribution kernel with modules has ~200k). */
#define KSYMS_MAX (4u << 20)
/* The farthest a frame may be past its symbol's start. */
#define KSYM_SPAN (1u << 20)

struct ksym {
	uint64_t addr;
	uint32_t name;
};

struct kallsyms {
	struct ksym *syms;
	uint32_t n;
	char *names;
};

static int by_addr(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	return (x->addr > y->addr) - (x->addr < y->addr);
}

struct kallsyms *kallsyms__load(const char *path)
{
	struct kallsyms *k = calloc(1, sizeof(*k));
	size_t cap = 0, ncap = 0, nlen = 0;
	char line[512], name[256];
	bool any_addr = false;
	FILE *f;

	if (!k)
		return NULL;
	f = fileopen_kernel_stream(path ? path : "/proc/kallsyms");
	if (!f) {
		free(k);
		return NULL;
	}
	while (fgets(line, sizeof(line), f) && k->n < KSYMS_MAX) {
		uint64_t addr;
		char type;
		size_t len;

		if (sscanf(line, "%" SCNx64 " %c %255s", &addr, &type, name) != 3)
			continue;
		if (addr)
			any_addr = true;
		if (type != 't' && type != 'T' && type != 'w' && type != 'W')
			continue;
		len = strlen(name) + 1;
		if (ARRAY_ROOM(k->syms, k->n + 1, cap, 65536) ||
		    ARRAY_ROOM(k->names, nlen + len, ncap, 1 << 20))
			break;
		memcpy(k->names + nlen, name, len);
		k->syms[k->n++] = (struct ksym){ addr, (uint32_t)nlen };
		nlen += len;
	}
	fclose(f);
	if (!any_addr || !k->n) {
		kallsyms__free(k);
		errno = EACCES;
		return NULL;
	}
	qsort(k->syms, k->n, sizeof(*k->syms), by_addr);
	return k;
}

void kallsyms__free(struct kallsyms *k)
{
	if (!k)
		return;
	free(k->syms);
	free(k->names);
	free(k);
}

const char *kallsyms__name(const struct kallsyms *k, uint64_t addr)
{
	size_t lo = upper_bound(k->syms, k->n, addr, addr);

	if (!lo || addr - k->syms[lo - 1].addr >= KSYM_SPAN)
		return NULL;
	return k->names + k->syms[lo - 1].name;
}
