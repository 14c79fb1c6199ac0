// SPDX-License-Identifier: MIT
/* filter.c - a process against a view's filter, by its pid and labels. */
#include <string.h>

#include "filter.h"

static bool match_pod(const struct profile *p, uint32_t pid, const char *want)
{
	const char *name = profile__process_label(p, pid, PROFILE_LABEL_POD_NAME);
	const char *ns = profile__process_label(p, pid, PROFILE_LABEL_POD_NAMESPACE);
	const char *uid = profile__process_label(p, pid, PROFILE_LABEL_POD_UID);
	const char *slash = strchr(want, '/');

	if (uid && !strcmp(uid, want))
		return true;
	if (!name)
		return false;
	if (!slash)
		return !strcmp(name, want);
	return ns && !strncmp(ns, want, slash - want) && !ns[slash - want] &&
	       !strcmp(name, slash + 1);
}

bool profile_filter__match(const struct profile *p, const struct profile_filter *f, uint32_t pid)
{
	const char *id;

	if (f->pid && f->pid != pid)
		return false;
	if (f->container[0]) {
		id = profile__process_label(p, pid, PROFILE_LABEL_CONTAINER_ID);
		if (!id || strncmp(id, f->container, strlen(f->container)))
			return false;
	}
	return !f->pod[0] || match_pod(p, pid, f->pod);
}
