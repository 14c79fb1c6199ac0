// SPDX-License-Identifier: MIT
/*
 * fuzz_cgroup.c - /proc/PID/cgroup text, one cgroup path and a pod
 * directory name, as a container writes them: the parsers that attribute
 * samples to containers and pods.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "symbolize/container.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct container_info info;
	char v2[4096], ns[CONTAINER_NS_MAX + 1], pod[CONTAINER_POD_NAME_MAX + 1], uid[37];
	char *s = malloc(size + 1);
	bool from_v2;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	container__parse_proc_cgroup((const char *)data, size, 0, &info, v2, sizeof(v2), &from_v2);
	container__parse_proc_cgroup((const char *)data, size, 13, &info, v2, sizeof(v2), &from_v2);
	container__parse_path(s, &info);
	container__parse_pod_dir(s, ns, pod, uid);
	free(s);
	return 0;
}
