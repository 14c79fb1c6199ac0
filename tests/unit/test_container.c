// SPDX-License-Identifier: MIT
/*
 * test_container.c - container and pod attribution: cgroup path shapes of
 * Docker, containerd, CRI-O and podman under both drivers and cgroup
 * versions, /proc/PID/cgroup line choice, /var/log/pods names, the cache
 * keyed by cgroup id (on fake /proc and cgroup trees), profile labels and
 * the --group-by frames.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"
#include "symbolize/container.h"
#include "symbolize/model/profile.h"
#include "user/output/output.h"

#define ID1	   "3f2a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708"
#define ID2	   "9e8d7c6b5a49382716059f8e7d6c5b4a39281706f5e4d3c2b1a0918273645546"
#define UID	   "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
#define UID_	   "0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0"
#define STATIC_UID "ea5a2fe7d1b3d5f18bd1e9f4e4a3d4b3"

struct shape {
	const char *path;
	int ret;
	const char *runtime, *id, *uid, *qos;
};

static const struct shape shapes[] = {
	/* Docker: cgroupfs driver (v1 and v2 alike), systemd driver */
	{ "/docker/" ID1, 1, "docker", ID1, "", "" },
	{ "/system.slice/docker-" ID1 ".scope", 1, "docker", ID1, "", "" },
	{ "/docker/" ID2 "/docker/" ID1, 1, "docker", ID1, "", "" }, /* docker in docker */
	{ "//docker///" ID1 "/", 1, "docker", ID1, "", "" },
	/* seen from inside a cgroup namespace */
	{ "/../docker-" ID1 ".scope/init", 1, "docker", ID1, "", "" },
	/* containerd, systemd driver, each QoS class */
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
	  ".slice/cri-containerd-" ID1 ".scope",
	  1, "containerd", ID1, UID, "burstable" },
	{ "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
	  ".slice/cri-containerd-" ID1 ".scope",
	  1, "containerd", ID1, UID, "besteffort" },
	{ "/kubepods.slice/kubepods-pod" UID_ ".slice/cri-containerd-" ID1 ".scope", 1,
	  "containerd", ID1, UID, "guaranteed" },
	/* static pod: the UID is a hash of its manifest */
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" STATIC_UID
	  ".slice/cri-containerd-" ID1 ".scope",
	  1, "containerd", ID1, STATIC_UID, "burstable" },
	/* containerd (or dockershim), cgroupfs driver */
	{ "/kubepods/burstable/pod" UID "/" ID1, 1, "containerd", ID1, UID, "burstable" },
	{ "/kubepods/besteffort/pod" UID "/" ID1, 1, "containerd", ID1, UID, "besteffort" },
	{ "/kubepods/pod" UID "/" ID1, 1, "containerd", ID1, UID, "guaranteed" },
	/* kind: Kubernetes in a docker container, both drivers */
	{ "/docker/" ID2 "/kubepods/burstable/pod" UID "/" ID1, 1, "containerd", ID1, UID,
	  "burstable" },
	{ "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
	  "kubelet-kubepods-besteffort-pod" UID_ ".slice/cri-containerd-" ID1 ".scope",
	  1, "containerd", ID1, UID, "besteffort" },
	/* the pod's own cgroup: a kind node above it is not the pod's container */
	{ "/docker/" ID2 "/kubepods/burstable/pod" UID, 1, "", "", UID, "burstable" },
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice", 1, "",
	  "", UID, "burstable" },
	/* CRI-O: systemd and cgroupfs; its conmon is in the pod, not the container */
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice/crio-" ID1
	  ".scope",
	  1, "cri-o", ID1, UID, "burstable" },
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice/crio-" ID1
	  ".scope/container",
	  1, "cri-o", ID1, UID, "burstable" },
	{ "/kubepods.slice/kubepods-pod" UID_ ".slice/crio-" ID1 ".scope", 1, "cri-o", ID1, UID,
	  "guaranteed" },
	{ "/kubepods/burstable/pod" UID "/crio-" ID1, 1, "cri-o", ID1, UID, "burstable" },
	{ "/crio/crio-" ID1, 1, "cri-o", ID1, "", "" },
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
	  ".slice/crio-conmon-" ID1 ".scope",
	  1, "", "", UID, "burstable" },
	{ "/kubepods/burstable/pod" UID "/crio-conmon-" ID1, 1, "", "", UID, "burstable" },
	{ "/system.slice/crio-conmon-" ID1 ".scope", 0, "", "", "", "" },
	/* podman: systemd (root and rootless, cgroupns "container" leaf), cgroupfs */
	{ "/machine.slice/libpod-" ID1 ".scope", 1, "podman", ID1, "", "" },
	{ "/machine.slice/machine-libpod_pod_" ID2 ".slice/libpod-" ID1 ".scope", 1, "podman", ID1,
	  "", "" },
	{ "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID1 ".scope/container",
	  1, "podman", ID1, "", "" },
	{ "/libpod_parent/libpod-" ID1, 1, "podman", ID1, "", "" },
	{ "/machine.slice/libpod-conmon-" ID1 ".scope", 0, "", "", "", "" },
	{ "/libpod_parent/conmon", 0, "", "", "", "" },
	/* a bare id nobody claims */
	{ "/system.slice/containerd.service/k8s.io/" ID1, 1, "unknown", ID1, "", "" },
	/* hosts */
	{ "/", 0, "", "", "", "" },
	{ "/user.slice/user-1000.slice/session-3.scope", 0, "", "", "", "" },
	{ "/system.slice/docker.service", 0, "", "", "", "" },
	{ "/init.scope", 0, "", "", "", "" },
	{ "/system.slice/run-docker-runtime\\x2drunc-moby-" ID1 ".mount", 0, "", "", "", "" },
	/* near misses: truncated, long, non-hex, upper case, wrong suffix */
	{ "/docker/3f2a1b4c5d6e", 0, "", "", "", "" },
	{ "/system.slice/docker-" ID1 "0.scope", 0, "", "", "", "" },
	{ "/system.slice/docker-" ID1 ".scop", 0, "", "", "", "" },
	{ "/system.slice/docker-" ID1, 0, "", "", "", "" }, /* docker's are always scopes */
	{ "/x/cri-containerd-" ID1, 0, "", "", "", "" },
	{ "/docker/3F2A1B4C5D6E7F8091A2B3C4D5E6F708192A3B4C5D6E7F8091A2B3C4D5E6F708", 0, "", "", "",
	  "" },
	{ "/docker/3f2a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70g", 0, "", "", "",
	  "" },
	{ "/system.slice/docker-.scope", 0, "", "", "", "" },
	{ "/system.slice/crio-.scope", 0, "", "", "", "" },
	/* pods: wrong separators, short UIDs, not under kubepods */
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID ".slice", 0, "", "",
	  "", "" },
	{ "/kubepods/burstable/pod" UID_, 0, "", "", "", "" },
	{ "/kubepods/burstable/pod0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f", 0, "", "", "", "" },
	{ "/kubepods/burstable/pod0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0", 0, "", "", "", "" },
	{ "/kubepods/silver/pod" UID, 0, "", "", "", "" },
	{ "/other/burstable/pod" UID, 0, "", "", "", "" },
	{ "/pod" UID, 0, "", "", "", "" },
	{ "/notkubepods-pod" UID_ ".slice", 0, "", "", "", "" },
	/* not paths */
	{ "", -EINVAL, "", "", "", "" },
	{ "docker/" ID1, -EINVAL, "", "", "", "" },
};

static void test_shapes(void)
{
	struct container_info ci;

	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		const struct shape *s = &shapes[i];
		int ret = container__parse_path(s->path, &ci);

		CHECK(ret == s->ret, "%s: returned %d, want %d", s->path, ret, s->ret);
		CHECK(!strcmp(ci.runtime, s->runtime), "%s: runtime '%s', want '%s'", s->path,
		      ci.runtime, s->runtime);
		CHECK(!strcmp(ci.id, s->id), "%s: id '%s'", s->path, ci.id);
		CHECK(!strcmp(ci.pod_uid, s->uid), "%s: pod uid '%s', want '%s'", s->path,
		      ci.pod_uid, s->uid);
		CHECK(!strcmp(ci.qos, s->qos), "%s: qos '%s', want '%s'", s->path, ci.qos, s->qos);
		CHECK(!ci.pod_name[0] && !ci.pod_namespace[0], "%s: the path never names a pod",
		      s->path);
	}
}

/* Hostile sizes: bounded, refused, never overrun. */
static void test_long_paths(void)
{
	struct container_info ci;
	size_t n = 8192, off = 0;
	char *p = malloc(n);

	/* Just under the limit and still read: padding, then a container. */
	memset(p, 0, n);
	while (off < 4000 - 80) {
		memcpy(p + off, "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 40);
		off += 40;
	}
	snprintf(p + off, n - off, "/docker/%s", ID1);
	CHECK(container__parse_path(p, &ci) == 1 && !strcmp(ci.id, ID1), "4000-byte path");
	/* Over the limit. */
	memset(p, 'a', n - 1);
	p[0] = '/';
	p[n - 1] = 0;
	CHECK(container__parse_path(p, &ci) == -EINVAL, "8 KiB path refused");
	CHECK(!ci.id[0] && !ci.pod_uid[0], "and nothing filled");
	/* Too deep. */
	off = 0;
	for (int i = 0; i < 200; i++)
		off += snprintf(p + off, n - off, "/d");
	snprintf(p + off, n - off, "/docker/%s", ID1);
	CHECK(container__parse_path(p, &ci) == -EINVAL, "200 segments refused");
	/* A segment far longer than any id. */
	snprintf(p, n, "/docker-%s%s%s.scope", ID1, ID1, ID1);
	CHECK(container__parse_path(p, &ci) == 0, "three ids in one segment");
	free(p);
}

static int proc_cgroup(const char *text, struct container_info *ci, char *v2, bool *from_v2)
{
	return container__parse_proc_cgroup(text, strlen(text), 0, ci, v2, 4097, from_v2);
}

static void test_proc_cgroup(void)
{
	static const char v2_ctr[] =
		"/kubepods.slice/kubepods-burstable.slice/"
		"kubepods-burstable-pod" UID_ ".slice/cri-containerd-" ID1 ".scope";
	struct container_info ci;
	char v2[4097], *text;
	bool from_v2;
	size_t n;

	/* cgroup v2 only. */
	CHECK(proc_cgroup("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
			  ".slice/cri-containerd-" ID1 ".scope\n",
			  &ci, v2, &from_v2) == 1);
	CHECK(!strcmp(ci.id, ID1) && !strcmp(ci.runtime, "containerd") && from_v2 &&
		      !strcmp(v2, v2_ctr),
	      "v2: '%s' from_v2 %d v2 '%s'", ci.id, from_v2, v2);
	CHECK(proc_cgroup("0::/user.slice/user-0.slice/session-1.scope\n", &ci, v2, &from_v2) == 0);
	CHECK(from_v2 && !ci.id[0], "a v2 host process: its cgroup decides, for every sharer");

	/* Hybrid, cgroupfs driver: containers only in v1, the v2 cgroup is "/". */
	text = "12:pids:/kubepods/burstable/pod" UID "/" ID1 "\n"
	       "11:cpu,cpuacct:/kubepods/burstable/pod" UID "/" ID1 "\n"
	       "1:name=systemd:/kubepods/burstable/pod" UID "/" ID1 "\n"
	       "0::/\n";
	CHECK(proc_cgroup(text, &ci, v2, &from_v2) == 1);
	CHECK(!strcmp(ci.id, ID1) && !strcmp(ci.qos, "burstable") && !from_v2 && !strcmp(v2, "/"),
	      "hybrid: '%s' from_v2 %d", ci.id, from_v2);

	/* Hybrid, systemd driver: systemd mirrors the scope into v2, which wins. */
	text = "4:memory:/system.slice/docker-" ID2 ".scope\n"
	       "1:name=systemd:/system.slice/docker-" ID2 ".scope\n"
	       "0::/system.slice/docker-" ID1 ".scope\n";
	CHECK(proc_cgroup(text, &ci, v2, &from_v2) == 1 && !strcmp(ci.id, ID1) && from_v2,
	      "the v2 line first: '%s'", ci.id);

	/* v1 only: name=systemd before cpu, memory, pids, then the rest. */
	text = "9:net_cls:/docker/" ID2 "\n"
	       "4:memory:/docker/" ID2 "\n"
	       "2:cpu,cpuacct:/docker/" ID2 "\n"
	       "1:name=systemd:/docker/" ID1 "\n";
	CHECK(proc_cgroup(text, &ci, v2, &from_v2) == 1 && !strcmp(ci.id, ID1) && !from_v2 &&
		      !v2[0],
	      "name=systemd first: '%s' v2 '%s'", ci.id, v2);
	text = "9:net_cls:/docker/" ID2 "\n"
	       "5:pids:/docker/" ID2 "\n"
	       "2:cpuacct,cpu:/docker/" ID1 "\n"
	       "1:name=systemd:/\n";
	CHECK(proc_cgroup(text, &ci, v2, &from_v2) == 1 && !strcmp(ci.id, ID1), "then cpu: '%s'",
	      ci.id);
	text = "9:net_cls:/docker/" ID1 "\n";
	CHECK(proc_cgroup(text, &ci, v2, &from_v2) == 1 && !strcmp(ci.id, ID1), "any hierarchy");

	/* A container anywhere beats a pod alone (conmon in v2, container in v1). */
	text = "0::/kubepods.slice/kubepods-pod" UID_ ".slice/crio-conmon-" ID1 ".scope\n"
	       "3:pids:/kubepods/pod" UID "/crio-" ID2 "\n";
	CHECK(proc_cgroup(text, &ci, v2, &from_v2) == 1 && !strcmp(ci.id, ID2) && !from_v2,
	      "container over pod: '%s'", ci.id);

	/* The last line may lack its newline. */
	CHECK(proc_cgroup("1:name=systemd:/docker/" ID1, &ci, v2, &from_v2) == 1);
	CHECK(proc_cgroup("", &ci, v2, &from_v2) == 0 && !v2[0]);

	/*
	 * Forged lines: a cgroup name may hold a newline.  Whatever a file
	 * unlike the kernel's says is not believed.
	 */
	text = "0::/x\n0::/docker/" ID1 "\n"; /* mkdir "x\n0::/docker/<id>" */
	CHECK(proc_cgroup(text, &ci, v2, &from_v2) == -EINVAL && !ci.id[0] && !v2[0],
	      "a hierarchy twice");
	text = "0::/x\n1:name=systemd:/docker/" ID1 "\n";
	CHECK(container__parse_proc_cgroup(text, strlen(text), 1, &ci, v2, sizeof(v2), &from_v2) ==
			      -EINVAL &&
		      !ci.id[0],
	      "more lines than hierarchies");
	CHECK(container__parse_proc_cgroup(text, strlen(text), 2, &ci, v2, sizeof(v2), &from_v2) ==
			      1 &&
		      !strcmp(ci.id, ID1),
	      "as many as there are");
	CHECK(proc_cgroup("0::/x\nfoo\n", &ci, v2, &from_v2) == -EINVAL, "no colons");
	CHECK(proc_cgroup("0::/x\n\n", &ci, v2, &from_v2) == -EINVAL, "an empty line");
	CHECK(proc_cgroup("x::/docker/" ID1 "\n", &ci, v2, &from_v2) == -EINVAL, "a bad id");
	CHECK(proc_cgroup("1234567890:cpu:/docker/" ID1 "\n", &ci, v2, &from_v2) == -EINVAL);
	CHECK(proc_cgroup("0:/docker/" ID1 "\n", &ci, v2, &from_v2) == -EINVAL, "one colon");
	n = 6000 + 200;
	text = malloc(n);
	memset(text, 'x', 6000);
	memcpy(text, "0::/", 4);
	snprintf(text + 6000, n - 6000, "\n1:name=systemd:/docker/%s\n", ID1);
	CHECK(container__parse_proc_cgroup(text, strlen(text), 0, &ci, v2, sizeof(v2), &from_v2) ==
			      -EINVAL &&
		      !ci.id[0] && !v2[0],
	      "a path longer than the kernel writes");
	/* Not NUL-terminated: len is the only bound. */
	memcpy(text, "1:name=systemd:/docker/" ID1 "XXXX", 23 + 64 + 4);
	CHECK(container__parse_proc_cgroup(text, 23 + 64, 0, &ci, v2, sizeof(v2), &from_v2) == 1 &&
		      !strcmp(ci.id, ID1),
	      "len bounds the text");
	memcpy(text, "0::/docker/\0" ID1 "\n", 12 + 64 + 1);
	CHECK(container__parse_proc_cgroup(text, 12 + 64 + 1, 0, &ci, v2, sizeof(v2), &from_v2) ==
		      -EINVAL,
	      "a NUL byte");
	free(text);
}

static void test_pod_dirs(void)
{
	char ns[CONTAINER_NS_MAX + 1], pod[CONTAINER_POD_NAME_MAX + 1], uid[37];
	char longname[400];

	CHECK(container__parse_pod_dir("shop_web-7d9f8c-x2x4z_" UID, ns, pod, uid) == 0 &&
	      !strcmp(ns, "shop") && !strcmp(pod, "web-7d9f8c-x2x4z") && !strcmp(uid, UID));
	CHECK(container__parse_pod_dir("kube-system_etcd-node1.example.com_" STATIC_UID, ns, pod,
				       uid) == 0 &&
	      !strcmp(ns, "kube-system") && !strcmp(pod, "etcd-node1.example.com") &&
	      !strcmp(uid, STATIC_UID));
	CHECK(container__parse_pod_dir("default_web_" UID_, ns, pod, uid) == -EINVAL,
	      "underscores in the UID");
	CHECK(container__parse_pod_dir("default_" UID, ns, pod, uid) == -EINVAL, "two parts");
	CHECK(container__parse_pod_dir("a_b_c_" UID, ns, pod, uid) == -EINVAL, "four parts");
	CHECK(container__parse_pod_dir("Default_web_" UID, ns, pod, uid) == -EINVAL, "upper case");
	CHECK(container__parse_pod_dir("_web_" UID, ns, pod, uid) == -EINVAL, "empty namespace");
	CHECK(container__parse_pod_dir("default__" UID, ns, pod, uid) == -EINVAL, "empty name");
	CHECK(container__parse_pod_dir("my.ns_web_" UID, ns, pod, uid) == -EINVAL,
	      "a namespace is a DNS label");
	CHECK(container__parse_pod_dir("default_web_" UID "0", ns, pod, uid) == -EINVAL);
	CHECK(container__parse_pod_dir("default_we b_" UID, ns, pod, uid) == -EINVAL);
	CHECK(container__parse_pod_dir(".", ns, pod, uid) == -EINVAL);
	CHECK(container__parse_pod_dir("..", ns, pod, uid) == -EINVAL);
	memset(longname, 'a', 64);
	snprintf(longname + 64, sizeof(longname) - 64, "_web_%s", UID);
	CHECK(container__parse_pod_dir(longname, ns, pod, uid) == -EINVAL, "64-char namespace");
	memset(longname, 'a', 300);
	memcpy(longname, "ns_", 3);
	snprintf(longname + 300, sizeof(longname) - 300, "_%s", UID);
	CHECK(container__parse_pod_dir(longname, ns, pod, uid) == -EINVAL, "over NAME_MAX");
}

/* --- the cache, on fake trees ---------------------------------------------- */

static char root[] = "/tmp/pyspy-container-XXXXXX";

static void put(const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	CHECK(f != NULL, "create %s", path);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static uint64_t mkdirs(const char *rel)
{
	char path[1024], *p;
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = 0;
		mkdir(path, 0755);
		*p = '/';
	}
	mkdir(path, 0755);
	CHECK(stat(path, &st) == 0, "mkdir %s", path);
	return st.st_ino;
}

static const char *label(const struct profile *p, uint32_t pid, const char *key)
{
	const char *v = profile__process_label(p, pid, key);

	return v ? v : "(none)";
}

static void frame(const struct profile *p, enum output_group kind, uint32_t pid, char *buf)
{
	output_group__frame(p, kind, pid, pid, buf, 512);
}

static void test_cache(void)
{
	static const char ctr_a[] =
		"kubepods.slice/kubepods-burstable.slice/"
		"kubepods-burstable-pod" UID_ ".slice/cri-containerd-" ID1 ".scope";
	static const char ctr_b[] = "system.slice/docker-" ID2 ".scope";
	struct profile *prof = profile__new(0), *view = profile__new_view(prof, 0);
	const struct container_info *ci;
	struct container_cache *c;
	uint64_t ino_a, ino_b, ino_root;
	char proc[256], cg2[256], pods[256], buf[512];
	bool changed;

	CHECK(mkdtemp(root) != NULL);
	snprintf(proc, sizeof(proc), "%s/proc", root);
	snprintf(cg2, sizeof(cg2), "%s/cg2", root);
	snprintf(pods, sizeof(pods), "%s/pods", root);
	mkdirs("proc/self");
	mkdirs("proc/400");
	mkdirs("proc/100");
	mkdirs("proc/200");
	mkdirs("proc/201");
	mkdirs("proc/300");
	mkdirs("pods/shop_web-0_" UID);
	mkdirs("pods/not-a-pod");
	ino_root = mkdirs("cg2");
	ino_a = mkdirs("cg2/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
		       ".slice/cri-containerd-" ID1 ".scope");
	ino_b = mkdirs("cg2/system.slice/docker-" ID2 ".scope");
	/* Two hierarchies, as on a hybrid host. */
	put("proc/self/cgroup", "3:pids:/\n0::/\n");
	snprintf(buf, sizeof(buf), "3:pids:/\n0::/%s\n", ctr_a);
	put("proc/100/cgroup", buf);

	c = container_cache__new(proc, cg2, pods);
	CHECK(c != NULL);
	if (!c)
		return;
	ci = container_cache__lookup(c, 100, 0, &changed);
	CHECK(changed && !strcmp(ci->id, ID1) && !strcmp(ci->pod_namespace, "shop") &&
		      !strcmp(ci->pod_name, "web-0") && !strcmp(ci->qos, "burstable"),
	      "new process: id '%s' pod %s/%s", ci->id, ci->pod_namespace, ci->pod_name);
	ci = container_cache__lookup(c, 100, ino_a, &changed);
	CHECK(!changed && !strcmp(ci->id, ID1), "the sampled id is the cgroup's inode");

	/* Another process of the same v2 cgroup: its /proc is never read. */
	ci = container_cache__lookup(c, 101, ino_a, &changed);
	CHECK(changed && !strcmp(ci->id, ID1) && !strcmp(ci->pod_name, "web-0"),
	      "known cgroup id without /proc/101: '%s'", ci->id);

	/* A process that moves: its new cgroup id misses, /proc is read again. */
	snprintf(buf, sizeof(buf), "3:pids:/\n0::/%s\n", ctr_b);
	put("proc/100/cgroup", buf);
	ci = container_cache__lookup(c, 100, ino_a, &changed);
	CHECK(!changed && !strcmp(ci->id, ID1), "same id: no re-read");
	ci = container_cache__lookup(c, 100, ino_b, &changed);
	CHECK(changed && !strcmp(ci->id, ID2) && !strcmp(ci->runtime, "docker") && !ci->pod_uid[0],
	      "moved: '%s'", ci->id);

	/* Hybrid host: one v2 cgroup, two v1 containers, told apart per process. */
	put("proc/200/cgroup", "3:pids:/kubepods/besteffort/pod" UID "/crio-" ID1 "\n0::/\n");
	put("proc/201/cgroup", "3:pids:/docker/" ID2 "\n0::/\n");
	ci = container_cache__lookup(c, 200, ino_root, &changed);
	CHECK(!strcmp(ci->id, ID1) && !strcmp(ci->runtime, "cri-o"), "hybrid 200: '%s'", ci->id);
	ci = container_cache__lookup(c, 201, ino_root, &changed);
	CHECK(!strcmp(ci->id, ID2) && !strcmp(ci->runtime, "docker"), "hybrid 201: '%s'", ci->id);
	ci = container_cache__lookup(c, 200, ino_root, &changed);
	CHECK(!changed && !strcmp(ci->id, ID1), "hybrid 200 again: '%s'", ci->id);

	/* A process gone from /proc: empty, and not read again for the same id. */
	ci = container_cache__lookup(c, 999, 12345, &changed);
	CHECK(!ci->id[0] && !ci->pod_uid[0]);

	/* Labels and the frames --group-by shows, also through a view. */
	container_cache__add_process(c, prof, 200, 7);
	profile__set_process_name(prof, 200, "python3");
	CHECK(!strcmp(label(view, 200, PROFILE_LABEL_CONTAINER_ID), ID1));
	CHECK(!strcmp(label(prof, 200, PROFILE_LABEL_CONTAINER_RUNTIME), "cri-o"));
	CHECK(!strcmp(label(prof, 200, PROFILE_LABEL_POD_UID), UID));
	CHECK(!strcmp(label(prof, 200, PROFILE_LABEL_POD_NAMESPACE), "shop"));
	CHECK(!strcmp(label(prof, 200, PROFILE_LABEL_POD_NAME), "web-0"));
	CHECK(!strcmp(label(prof, 200, PROFILE_LABEL_POD_QOS), "besteffort"));
	CHECK(!strcmp(label(prof, 200, PROFILE_LABEL_NS_PID), "7"));
	frame(view, OUTPUT_GROUP_CONTAINER, 200, buf);
	CHECK(!strcmp(buf, "container 3f2a1b4c5d6e (cri-o)"), "%s", buf);
	frame(view, OUTPUT_GROUP_POD, 200, buf);
	CHECK(!strcmp(buf, "pod shop/web-0"), "%s", buf);
	frame(view, OUTPUT_GROUP_PROCESS, 200, buf);
	CHECK(!strcmp(buf, "process 200 (python3)"), "%s", buf);

	/* The sample path relabels only on a change: 200 moves out to the host. */
	put("proc/200/cgroup", "3:pids:/\n0::/user.slice\n");
	mkdirs("cg2/user.slice");
	container_cache__sample(c, prof, 200, ino_root);
	CHECK(!strcmp(label(prof, 200, PROFILE_LABEL_CONTAINER_ID), ID1), "unchanged id");
	container_cache__sample(c, prof, 200, mkdirs("cg2/user.slice"));
	CHECK(!profile__process_label(prof, 200, PROFILE_LABEL_CONTAINER_ID) &&
		      !profile__process_label(prof, 200, PROFILE_LABEL_POD_UID),
	      "labels removed");
	frame(prof, OUTPUT_GROUP_CONTAINER, 200, buf);
	CHECK(!strcmp(buf, "container - (host)"), "%s", buf);
	frame(prof, OUTPUT_GROUP_POD, 200, buf);
	CHECK(!strcmp(buf, "pod -"), "%s", buf);
	CHECK(!strcmp(label(prof, 200, PROFILE_LABEL_NS_PID), "7"), "the namespace PID stays");
	container_cache__add_process(c, prof, 200, 200);
	CHECK(!profile__process_label(prof, 200, PROFILE_LABEL_NS_PID), "same PID: no label");

	/* A pod not in /var/log/pods yet shows its UID; it is looked for again. */
	put("proc/300/cgroup",
	    "3:pids:/\n0::/kubepods/pod11111111-2222-3333-4444-555555555555/" ID2 "\n");
	container_cache__add_process(c, prof, 300, 1);
	frame(prof, OUTPUT_GROUP_POD, 300, buf);
	CHECK(!strcmp(buf, "pod 11111111-2222-3333-4444-555555555555"), "%s", buf);
	frame(prof, OUTPUT_GROUP_CONTAINER, 300, buf);
	CHECK(!strcmp(buf, "container 9e8d7c6b5a49 (containerd)"), "%s", buf);
	mkdirs("pods/team-a_batch-x_11111111-2222-3333-4444-555555555555");
	container_cache__add_process(c, prof, 300, 1);
	frame(prof, OUTPUT_GROUP_POD, 300, buf);
	CHECK(!strcmp(buf, "pod 11111111-2222-3333-4444-555555555555"),
	      "not rescanned within seconds: %s", buf);
	sleep(3);
	usleep(200 * 1000);
	container_cache__add_process(c, prof, 300, 1);
	frame(prof, OUTPUT_GROUP_POD, 300, buf);
	CHECK(!strcmp(buf, "pod team-a/batch-x"), "rescanned: %s", buf);

	/* A forged line (a cgroup named "x\n9:name=systemd:/docker/<id>"): nothing. */
	put("proc/400/cgroup", "3:pids:/\n0::/x\n9:name=systemd:/docker/" ID1 "\n");
	ci = container_cache__lookup(c, 400, 0, &changed);
	CHECK(!ci->id[0], "forged: '%s'", ci->id);
	/* A hierarchy mounted since the cache counted them: counted again. */
	put("proc/self/cgroup", "9:name=systemd:/\n3:pids:/\n0::/\n");
	ci = container_cache__lookup(c, 400, 0, &changed);
	CHECK(!strcmp(ci->id, ID1), "recounted: '%s'", ci->id);

	/* NULL-safe for callers without attribution. */
	container_cache__add_process(NULL, prof, 1, 1);
	container_cache__sample(NULL, prof, 1, 1);
	container_cache__free(NULL);
	container_cache__free(c);
	profile__free(view);
	profile__free(prof);
}

static void test_labels(void)
{
	struct profile *p = profile__new(0);

	CHECK(!profile__process_label(p, 1, "never.set"), "an unknown key is not interned");
	profile__set_process_label(p, 1, "k", "v1");
	profile__set_process_label(p, 2, "k", "v2");
	profile__set_process_label(p, 1, "k", "v3");
	CHECK(!strcmp(profile__process_label(p, 1, "k"), "v3"), "the latest wins");
	CHECK(!strcmp(profile__process_label(p, 2, "k"), "v2"), "per process");
	profile__set_process_label(p, 2, "k", "");
	profile__set_process_label(p, 1, "k", NULL);
	CHECK(!profile__process_label(p, 1, "k") && !profile__process_label(p, 2, "k"), "removed");
	profile__set_process_label(p, 3, "k", NULL);
	CHECK(!profile__process_label(p, 3, "k"));
	profile__free(p);
}

static void test_group_by(void)
{
	uint8_t list[OUTPUT_MAX_GROUPS] = {};
	struct output_opts o = {};
	char bad[80];
	struct profile *p = profile__new(0);
	uint32_t f = profile__function(p, "main", "app.py", 1);
	uint32_t loc = profile__location(p, f, 3);
	char *text = NULL;
	size_t len = 0;
	FILE *mem;

	CHECK(output_group__parse("container,pod", list, bad, sizeof(bad)) == 0);
	CHECK(output_group__parse("pod,thread", list, bad, sizeof(bad)) == 0);
	CHECK(list[0] == OUTPUT_GROUP_CONTAINER && list[1] == OUTPUT_GROUP_POD &&
		      list[2] == OUTPUT_GROUP_THREAD && list[3] == 0,
	      "repeatable, each kind once");
	output_group__add(list, OUTPUT_GROUP_PROCESS);
	output_group__add(list, OUTPUT_GROUP_PROCESS);
	CHECK(list[3] == OUTPUT_GROUP_PROCESS);
	CHECK(output_group__parse("pod,bogus", list, bad, sizeof(bad)) == -EINVAL &&
		      !strcmp(bad, "bogus"),
	      "bad '%s'", bad);
	CHECK(output_group__parse("pod,", list, bad, sizeof(bad)) == -EINVAL && !bad[0]);
	CHECK(output_group__parse(",pod", list, bad, sizeof(bad)) == -EINVAL && !bad[0]);
	CHECK(output_group__parse("Container", list, bad, sizeof(bad)) == -EINVAL);

	/* Without --group-by, the process and thread flags as before. */
	o.show_pids = o.show_threads = true;
	CHECK(output_group__effective(&o, list) == 2 && list[0] == OUTPUT_GROUP_PROCESS &&
	      list[1] == OUTPUT_GROUP_THREAD);
	memset(&o, 0, sizeof(o));
	o.group_by[0] = OUTPUT_GROUP_CONTAINER;
	o.group_by[1] = OUTPUT_GROUP_POD;
	profile__set_process_name(p, 5, "py;thon");
	profile__set_process_label(p, 5, PROFILE_LABEL_CONTAINER_ID, ID1);
	profile__set_process_label(p, 5, PROFILE_LABEL_CONTAINER_RUNTIME, "docker");
	profile__add(p, 5, 6, 0, &loc, 1, 2);
	profile__add(p, 9, 9, 0, &loc, 1, 1);
	mem = open_memstream(&text, &len);
	CHECK(output_folded.write(p, &o, mem) == 0);
	fclose(mem);
	CHECK(!strcmp(text, "container - (host);pod -;main (app.py:3) 1\n"
			    "container 3f2a1b4c5d6e (docker);pod -;main (app.py:3) 2\n"),
	      "folded:\n%s", text);
	free(text);
	profile__free(p);
}

static void cleanup(void)
{
	char cmd[256];

	if (strchr(root, 'X'))
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", root);
}

int main(void)
{
	test_shapes();
	test_long_paths();
	test_proc_cgroup();
	test_pod_dirs();
	test_labels();
	test_group_by();
	test_cache();
	cleanup();
	return unit_done("container");
}
