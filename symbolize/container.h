/* SPDX-License-Identifier: MIT */
/*
 * container.h - which container and Kubernetes pod a process runs in, told
 * by its cgroup alone.
 *
 * Owns: parsing a cgroup path into {runtime, container id, pod UID, QoS
 * class} for Docker, containerd, CRI-O and podman under the systemd and
 * cgroupfs drivers, cgroup v1 and v2; choosing the path from
 * /proc/PID/cgroup; pod names from /var/log/pods; and a cache keyed by the
 * cgroup v2 id every BPF sample carries, so a sample costs one hash lookup.
 * No runtime socket or API is asked: what the cgroup says is all we know.
 */
#ifndef PYSPY_CONTAINER_H
#define PYSPY_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct profile;

/* Longest names Kubernetes allows: a namespace is a DNS label, a pod a DNS subdomain. */
#define CONTAINER_NS_MAX       63
#define CONTAINER_POD_NAME_MAX 253

struct container_info {
	char runtime[16]; /* docker, containerd, cri-o, podman, unknown; "" = none */
	char id[65];	  /* 64 lowercase hex; "" = not in a container */
	char pod_uid[37]; /* with dashes; "" = not in a pod */
	char qos[12];	  /* guaranteed, burstable, besteffort; "" = not in a pod */
	char pod_namespace[CONTAINER_NS_MAX + 1];  /* "" = unknown */
	char pod_name[CONTAINER_POD_NAME_MAX + 1]; /* "" = unknown */
};

/*
 * Parse one cgroup path (as in /proc/PID/cgroup, starting with '/').
 * Returns 1 when it names a container or a pod (out filled), 0 when it
 * names neither (out zeroed), -EINVAL when it is too long or not a path.
 * The innermost container wins (docker-in-docker, kind); conmon cgroups
 * (crio-conmon-*, libpod-conmon-*) are not containers.
 */
int container__parse_path(const char *path, struct container_info *out);

/*
 * Pick the attribution from /proc/PID/cgroup text (len bytes, need not be
 * NUL-terminated).  The v2 line `0::/path` is tried first, then v1 lines:
 * name=systemd, then cpu, memory, pids, then the rest; the first that
 * names a container wins, else the first that names a pod.  *from_v2 says
 * the answer came from the v2 line, or that there are no v1 lines at all
 * (so the v2 cgroup, hence the BPF cgroup id, determines it).  The v2
 * path is copied to v2path ("" when there is no v2 line).
 * n_lines: how many hierarchies the kernel lists (as many lines as
 * /proc/self/cgroup has), 0 not to check.  A cgroup name may hold a
 * newline and so forge lines, so a file unlike what the kernel writes (a
 * malformed line, a hierarchy twice, a path too long, another line count)
 * attributes nothing: -EINVAL.  Else 1 or 0 as container__parse_path.
 */
int container__parse_proc_cgroup(const char *text, size_t len, int n_lines,
				 struct container_info *out, char *v2path, size_t v2len,
				 bool *from_v2);

/*
 * A /var/log/pods entry, `<namespace>_<name>_<uid>`.  0 with the three
 * parts copied, -EINVAL if name is not one (wrong shape or characters).
 */
int container__parse_pod_dir(const char *name, char ns[CONTAINER_NS_MAX + 1],
			     char pod[CONTAINER_POD_NAME_MAX + 1], char uid[37]);

/* First 12 hex digits of a container id, as docker ps shows them. */
#define CONTAINER_SHORT_ID 12

struct container_cache;

/*
 * proc_dir: /proc if NULL.  cgroup2_dir: where cgroup v2 is mounted, found
 * in /proc/self/mountinfo if NULL ("" disables the check of a cgroup's id
 * against its directory).  pods_dir: $PYSPY_PODS_DIR, else /var/log/pods,
 * if NULL.  NULL with errno on ENOMEM.
 */
struct container_cache *container_cache__new(const char *proc_dir, const char *cgroup2_dir,
					     const char *pods_dir);
void container_cache__free(struct container_cache *c); /* NULL-safe */

/*
 * Attribution of pid, whose sample carried cgroup_id (the v2 cgroup id,
 * the inode of its cgroup directory).  cgroup_id 0 means "read it now",
 * for a process just added (a PID may have been reused).  O(1) when pid's
 * cgroup is the one seen last or any process's in the same v2 cgroup; a
 * miss re-reads /proc/PID/cgroup.  Never NULL: an unknown process gets an
 * empty info.  The pointer is valid until the next call.
 */
const struct container_info *container_cache__lookup(struct container_cache *c, pid_t pid,
						     uint64_t cgroup_id, bool *changed);

/*
 * Label pid in prof (PROFILE_LABEL_*) with its container and pod, and with
 * nspid, its PID inside its own PID namespace, when that differs.  For a
 * target just added; logs the attribution at -v.  NULL-safe in c.
 */
void container_cache__add_process(struct container_cache *c, struct profile *prof, pid_t pid,
				  pid_t nspid);

/* The same on a sample: relabels only when pid's cgroup id changed. */
void container_cache__sample(struct container_cache *c, struct profile *prof, pid_t pid,
			     uint64_t cgroup_id);

#endif /* PYSPY_CONTAINER_H */
