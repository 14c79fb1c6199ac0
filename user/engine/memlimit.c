// SPDX-License-Identifier: MIT
/*
 * memlimit.c - the agent's own cgroup memory limit, and budgets that fit
 * in it.  A DaemonSet's limit below the sum of the default budgets got the
 * daemon killed by the kernel while every target stayed inside its own
 * budget; deriving the budgets from the limit makes that impossible to
 * configure.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memlimit.h"
#include "symbolize/codestore.h"
#include "symbolize/native/procmaps.h"
#include "symbolize/proc/procfs.h"
#include "symbolize/base/log.h"
#include "symbolize/model/profile.h"

/* v1 says "no limit" with a number near 2^63; anything past this is none. */
#define NO_LIMIT ((uint64_t)1 << 60)
#define MB	 ((uint64_t)1 << 20)

/* The agent's cgroup in one hierarchy: v2's "0::PATH", or v1's memory line. */
static int own_cgroup(bool v2, char *path, size_t len)
{
	char buf[8192], *line, *save = NULL;

	if (procfs_read("/proc/self/cgroup", buf, sizeof(buf)))
		return -ENOENT;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *ctl = strchr(line, ':'), *p;

		if (!ctl || !(p = strchr(ctl + 1, ':')))
			continue;
		*p++ = '\0';
		ctl++;
		if (v2 ? !strcmp(line, "0") && !*ctl : !!strstr(ctl, "memory")) {
			snprintf(path, len, "%s", p);
			return 0;
		}
	}
	return -ENOENT;
}

/* Where the hierarchy is mounted, and which of its cgroups is that mount's root. */
static int mount_of(bool v2, char *mnt, size_t mlen, char *root, size_t rlen)
{
	char *buf = malloc(1 << 16), *line, *save = NULL;
	int err = -ENOENT;

	if (!buf || procfs_read("/proc/self/mountinfo", buf, 1 << 16)) {
		free(buf);
		return -ENOENT;
	}
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char r[PATH_MAX], m[PATH_MAX], type[32], opts[256];
		char *dash = strstr(line, " - ");

		if (!dash || sscanf(line, "%*d %*d %*s %4095s %4095s", r, m) != 2 ||
		    sscanf(dash + 3, "%31s %*s %255s", type, opts) != 2)
			continue;
		if (v2 ? strcmp(type, "cgroup2")
		       : strcmp(type, "cgroup") || !strstr(opts, "memory"))
			continue;
		snprintf(mnt, mlen, "%s", m);
		snprintf(root, rlen, "%s", r);
		err = 0;
		break;
	}
	free(buf);
	return err;
}

/* The limit set in dir ("max" or a v1 non-limit: none). */
static uint64_t limit_in(const char *dir, bool v2)
{
	char path[2 * PATH_MAX + 64], buf[64], *end;
	unsigned long long v;
	int n = snprintf(path, sizeof(path), "%s/%s", dir,
			 v2 ? "memory.max" : "memory.limit_in_bytes");

	if (n < 0 || (size_t)n >= sizeof(path) || procfs_read(path, buf, sizeof(buf)))
		return 0;
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno || end == buf || v >= NO_LIMIT)
		return 0;
	return v;
}

/* The least limit of the agent's cgroup and its ancestors in one hierarchy. */
static uint64_t hierarchy_limit(bool v2)
{
	char cg[PATH_MAX], mnt[PATH_MAX], root[PATH_MAX], dir[2 * PATH_MAX + 2];
	const char *rel;
	uint64_t least = 0;
	size_t base, rl;

	if (own_cgroup(v2, cg, sizeof(cg)) || mount_of(v2, mnt, sizeof(mnt), root, sizeof(root)))
		return 0;
	/* A container's mount may start below the hierarchy's root. */
	rl = strlen(root);
	rel = cg;
	if (strcmp(root, "/") && !strncmp(cg, root, rl) && (cg[rl] == '/' || !cg[rl]))
		rel = cg + rl;
	snprintf(dir, sizeof(dir), "%s%s", mnt, rel);
	base = strlen(mnt);
	for (;;) {
		uint64_t v = limit_in(dir, v2);
		char *slash;

		if (v && (!least || v < least))
			least = v;
		slash = strrchr(dir, '/');
		if (!slash || (size_t)(slash - dir) < base)
			break;
		*slash = '\0';
	}
	return least;
}

uint64_t memlimit__own(void)
{
	uint64_t v2 = hierarchy_limit(true), v1 = hierarchy_limit(false);

	if (!v2 || (v1 && v1 < v2))
		return v1;
	return v2;
}

static size_t fit(uint64_t want, size_t dflt)
{
	if (want < MB)
		want = MB; /* the options' least */
	return want < dflt ? (size_t)want : dflt;
}

void memlimit__budgets(struct options *o, uint64_t limit)
{
	uint64_t left, sum;
	bool smaller = false;

	if (!limit)
		return;
	left = limit > MEMLIMIT_BASE_BYTES ? limit - MEMLIMIT_BASE_BYTES : 0;
	if (!o->cache_total) {
		o->cache_total = fit(left / 2, CODE_STORE_DEFAULT_TOTAL);
		smaller |= o->cache_total < CODE_STORE_DEFAULT_TOTAL;
	}
	if (!o->cache_per_target) {
		o->cache_per_target = fit(o->cache_total, CODE_STORE_DEFAULT_PER_TARGET);
		smaller |= o->cache_per_target < CODE_STORE_DEFAULT_PER_TARGET;
	}
	if (!o->symbol_bytes) {
		o->symbol_bytes = fit(left / 4, PROFILE_DEFAULT_SYMBOL_BYTES);
		smaller |= o->symbol_bytes < PROFILE_DEFAULT_SYMBOL_BYTES;
	}
	if (smaller)
		log_info("memory limit %" PRIu64 " MiB (cgroup): code cache %zu MB (%zu per "
			 "process), names %zu MB",
			 limit / MB, o->cache_total >> 20, o->cache_per_target >> 20,
			 o->symbol_bytes >> 20);
	sum = MEMLIMIT_BASE_BYTES + o->cache_total + o->symbol_bytes;
	if (o->native || o->native_all)
		sum += NATIVE_OBJECTS_DEFAULT_BYTES;
	if (sum > limit)
		log_warn("the budgets (%" PRIu64 " MiB with the base%s) exceed the memory limit "
			 "(%" PRIu64 " MiB): the kernel may kill the agent first",
			 sum / MB, o->native || o->native_all ? " and --native's objects" : "",
			 limit / MB);
}
