// SPDX-License-Identifier: MIT
/* kallsyms.c - the kernel's text symbols, sorted once. */
#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addrtab.h"
#include "kallsyms.h"
#include "symbolize/base/fileopen.h"

/* Symbols kept at most (a distribution kernel with modules has ~200k). */
#define KSYMS_MAX (4u << 20)
/* The farthest a frame may be past its symbol's start. */
#define KSYM_SPAN (1u << 20)

struct ksym {
	uint64_t addr;
	uint32_t name;
};

struct kallsyms {
	ADDR_TABLE(struct ksym) syms; /* by addr */
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
	size_t ncap = 0, nlen = 0;
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
	while (fgets(line, sizeof(line), f) && k->syms.n < KSYMS_MAX) {
		uint64_t addr;
		char type;
		struct ksym *s;
		size_t len;

		if (sscanf(line, "%" SCNx64 " %c %255s", &addr, &type, name) != 3)
			continue;
		if (addr)
			any_addr = true;
		if (type != 't' && type != 'T' && type != 'w' && type != 'W')
			continue;
		len = strlen(name) + 1;
		s = ARRAY_ROOM(k->names, nlen + len, ncap, 1 << 20)
			    ? NULL
			    : ADDR_TABLE_PUSH(k->syms, 65536);
		if (!s)
			break;
		memcpy(k->names + nlen, name, len);
		*s = (struct ksym){ addr, (uint32_t)nlen };
		nlen += len;
	}
	fclose(f);
	if (!any_addr || !k->syms.n) {
		kallsyms__free(k);
		errno = EACCES;
		return NULL;
	}
	ADDR_TABLE_SORT(k->syms, by_addr);
	return k;
}

void kallsyms__free(struct kallsyms *k)
{
	if (!k)
		return;
	free(k->syms.at);
	free(k->names);
	free(k);
}

const char *kallsyms__name(const struct kallsyms *k, uint64_t addr)
{
	const struct ksym *s = ADDR_TABLE_FLOOR(k->syms, addr, addr);

	if (!s || addr - s->addr >= KSYM_SPAN)
		return NULL;
	return k->names + s->name;
}
