// SPDX-License-Identifier: MIT
/* group.c - grouping frames: container, pod, process, thread. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "group.h"
#include "output.h"
#include "symbolize/container.h"

static const char *const names[] = {
	[OUTPUT_GROUP_CONTAINER] = "container",
	[OUTPUT_GROUP_POD] = "pod",
	[OUTPUT_GROUP_PROCESS] = "process",
	[OUTPUT_GROUP_THREAD] = "thread",
};

const char *output_group__names(void)
{
	return "container, pod, process, thread";
}

bool output_group__has(const uint8_t list[OUTPUT_MAX_GROUPS], enum output_group kind)
{
	for (int i = 0; i < OUTPUT_MAX_GROUPS && list[i]; i++)
		if (list[i] == kind)
			return true;
	return false;
}

void output_group__add(uint8_t list[OUTPUT_MAX_GROUPS], enum output_group kind)
{
	for (int i = 0; i < OUTPUT_MAX_GROUPS; i++) {
		if (list[i] == kind)
			return;
		if (!list[i]) {
			list[i] = kind;
			return;
		}
	}
}

int output_group__parse(const char *s, uint8_t list[OUTPUT_MAX_GROUPS], char *bad, size_t badlen)
{
	while (*s) {
		size_t n = strcspn(s, ",");
		int kind = OUTPUT_GROUP_NONE;

		for (int k = OUTPUT_GROUP_CONTAINER; k <= OUTPUT_GROUP_THREAD; k++)
			if (n == strlen(names[k]) && !strncmp(s, names[k], n))
				kind = k;
		if (!kind) {
			snprintf(bad, badlen, "%.*s", (int)(n < 64 ? n : 64), s);
			return -EINVAL;
		}
		output_group__add(list, kind);
		s += n;
		if (*s == ',' && *++s == 0) { /* "pod," names nothing after the comma */
			snprintf(bad, badlen, "%s", "");
			return -EINVAL;
		}
	}
	return 0;
}

int output_group__effective(const struct output_opts *o, uint8_t out[OUTPUT_MAX_GROUPS])
{
	int n = 0;

	memset(out, 0, OUTPUT_MAX_GROUPS);
	if (o->group_by[0]) {
		memcpy(out, o->group_by, OUTPUT_MAX_GROUPS);
	} else {
		if (o->show_pids)
			out[0] = OUTPUT_GROUP_PROCESS;
		if (o->show_threads)
			output_group__add(out, OUTPUT_GROUP_THREAD);
	}
	while (n < OUTPUT_MAX_GROUPS && out[n])
		n++;
	return n;
}

void output_group__frame(const struct profile *p, enum output_group kind, uint32_t pid,
			 uint32_t tid, char *buf, size_t len)
{
	const char *a, *b;

	switch (kind) {
	case OUTPUT_GROUP_CONTAINER:
		a = profile__process_label(p, pid, PROFILE_LABEL_CONTAINER_ID);
		b = profile__process_label(p, pid, PROFILE_LABEL_CONTAINER_RUNTIME);
		if (a)
			snprintf(buf, len, "container %.*s (%s)", CONTAINER_SHORT_ID, a,
				 b ? b : "unknown");
		else
			snprintf(buf, len, "container - (%s)",
				 profile__process_label(p, pid, PROFILE_LABEL_POD_UID) ? "pod"
										       : "host");
		break;
	case OUTPUT_GROUP_POD:
		a = profile__process_label(p, pid, PROFILE_LABEL_POD_NAMESPACE);
		b = profile__process_label(p, pid, PROFILE_LABEL_POD_NAME);
		if (a && b)
			snprintf(buf, len, "pod %s/%s", a, b);
		else if ((a = profile__process_label(p, pid, PROFILE_LABEL_POD_UID)))
			snprintf(buf, len, "pod %s", a);
		else
			snprintf(buf, len, "pod -");
		break;
	case OUTPUT_GROUP_PROCESS:
		a = profile__process_name(p, pid);
		snprintf(buf, len, "process %u (%s)", pid, a ? a : "?");
		break;
	case OUTPUT_GROUP_THREAD:
		a = profile__thread_name(p, pid, tid);
		snprintf(buf, len, "thread %u (%s)", tid, a ? a : "?");
		break;
	default:
		snprintf(buf, len, "?");
	}
}
