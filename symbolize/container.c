// SPDX-License-Identifier: MIT
/*
 * container.c - container and pod attribution from cgroup paths, with a
 * cache keyed by the cgroup v2 id that BPF samples carry.
 *
 * Shapes recognised (one path segment each; <id> is 64 lowercase hex):
 *   docker      /docker/<id> (cgroupfs), docker-<id>.scope (systemd)
 *   containerd  cri-containerd-<id>.scope (systemd), a bare <id> under a
 *               kubepods ancestor (cgroupfs driver; the same shape
 *               dockershim used before Kubernetes 1.24)
 *   cri-o       crio-<id>.scope (systemd), crio-<id> (cgroupfs);
 *               crio-conmon-<id>[.scope] is its monitor, not the container
 *   podman      libpod-<id>.scope, libpod-<id> (cgroupfs);
 *               libpod-conmon-<id>.scope likewise
 *   any other bare <id>: runtime "unknown"
 * Pods: kubepods[-burstable|-besteffort]-pod<uid>.slice (systemd driver,
 * '-' in the UID escaped to '_'), or kubepods/[burstable|besteffort/]pod<uid>
 * (cgroupfs driver); no QoS level means guaranteed.  A UID is a UUID, or 32
 * hex digits for static pods (kubelet hashes their manifest).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "symbolize/base/hash.h" /* before uthash.h: its HASH_FUNCTION */
#include <uthash.h>

#include "container.h"
#include "symbolize/base/clock.h"
#include "symbolize/base/fdread.h"
#include "symbolize/base/fileopen.h"
#include "symbolize/base/log.h"
#include "symbolize/model/profile.h"

/* Longer than any runtime makes; a longer path is not trusted. */
#define MAX_PATH_LEN 4096
/* Deeper cgroup trees exist only when someone builds them on purpose. */
#define MAX_SEGMENTS 128
/* /proc/PID/cgroup: a dozen lines on v1, one on v2. */
#define MAX_PROC_CGROUP (64 * 1024)
/* /proc/self/mountinfo on a busy host. */
#define MAX_MOUNTINFO (1024 * 1024)
/* Bounded tables: past these, start over (or, for pods, stop reading). */
#define MAX_CGROUPS 16384
#define MAX_PIDS    65536
#define MAX_PODS    16384
/* A pod UID we do not know yet: /var/log/pods is read again at most this often. */
#define POD_RESCAN_S 3.0

struct seg {
	const char *s;
	size_t n;
};

static bool has_prefix(const char *s, size_t n, const char *pfx)
{
	size_t l = strlen(pfx);

	return n >= l && !memcmp(s, pfx, l);
}

static bool has_suffix(const char *s, size_t n, const char *sfx)
{
	size_t l = strlen(sfx);

	return n >= l && !memcmp(s + n - l, sfx, l);
}

static bool seg_is(const struct seg *g, const char *word)
{
	return g->n == strlen(word) && !memcmp(g->s, word, g->n);
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/*
 * A pod UID as kubelet spells it in a cgroup (sep '-' for cgroupfs, '_'
 * for systemd) or a log directory: into out with dashes.
 */
static bool parse_uid(const char *s, size_t n, char sep, char out[37])
{
	if (n == 32 && is_hex(s, n)) {
		memcpy(out, s, n);
		out[n] = 0;
		return true;
	}
	if (n != 36)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != sep : !is_hex(&s[i], 1))
			return false;
		out[i] = dash ? '-' : s[i];
	}
	out[n] = 0;
	return true;
}

/* Runtime prefixes of a container's own cgroup. */
static const struct {
	const char *prefix;
	const char *runtime;
	bool scope_only; /* only ever a systemd scope */
} prefixes[] = {
	{ "docker-", "docker", true },
	{ "cri-containerd-", "containerd", true },
	{ "crio-", "cri-o", false },
	{ "libpod-", "podman", false },
};

/*
 * Does segment g name a container?  Its runtime, or NULL if not; a bare
 * id returns "" and the caller decides from the ancestors.
 */
static const char *seg_container(const struct seg *g, const char **id)
{
	size_t n = g->n;
	bool scope = has_suffix(g->s, n, ".scope");

	if (scope)
		n -= strlen(".scope");
	/* The monitor process shares the container's id but is not in it. */
	if (has_prefix(g->s, n, "crio-conmon-") || has_prefix(g->s, n, "libpod-conmon-"))
		return NULL;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t l = strlen(prefixes[i].prefix);

		if (!has_prefix(g->s, n, prefixes[i].prefix) || (prefixes[i].scope_only && !scope))
			continue;
		if (n - l == 64 && is_hex(g->s + l, 64)) {
			*id = g->s + l;
			return prefixes[i].runtime;
		}
		return NULL;
	}
	if (!scope && n == 64 && is_hex(g->s, 64)) {
		*id = g->s;
		return "";
	}
	return NULL;
}

/* systemd driver: [...]kubepods[-burstable|-besteffort]-pod<uid_>.slice */
static bool seg_pod_systemd(const struct seg *g, struct container_info *ci)
{
	static const struct {
		const char *tail;
		const char *qos;
	} levels[] = {
		{ "kubepods-burstable-pod", "burstable" },
		{ "kubepods-besteffort-pod", "besteffort" },
		{ "kubepods-pod", "guaranteed" },
	};
	size_t n = g->n;

	if (!has_suffix(g->s, n, ".slice"))
		return false;
	n -= strlen(".slice");
	/* The UID is the last 36 (or 32) characters before ".slice". */
	for (size_t u = 32; u <= 36; u += 4) {
		if (n < u)
			continue;
		for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
			size_t at = n - u - strlen(levels[i].tail);

			/* kubepods starts the name or a level of it (kubelet-kubepods-...) */
			if (!has_suffix(g->s, n - u, levels[i].tail) || (at && g->s[at - 1] != '-'))
				continue;
			if (!parse_uid(g->s + n - u, u, '_', ci->pod_uid))
				continue;
			snprintf(ci->qos, sizeof(ci->qos), "%s", levels[i].qos);
			return true;
		}
	}
	return false;
}

/* cgroupfs driver: kubepods/pod<uid> or kubepods/{burstable,besteffort}/pod<uid> */
static bool seg_pod_cgroupfs(const struct seg *g, int i, const struct seg *segs,
			     struct container_info *ci)
{
	const char *qos = NULL;

	if (!has_prefix(g->s, g->n, "pod") || i < 1)
		return false;
	if (seg_is(&segs[i - 1], "kubepods"))
		qos = "guaranteed";
	else if (i >= 2 && seg_is(&segs[i - 2], "kubepods") && seg_is(&segs[i - 1], "burstable"))
		qos = "burstable";
	else if (i >= 2 && seg_is(&segs[i - 2], "kubepods") && seg_is(&segs[i - 1], "besteffort"))
		qos = "besteffort";
	if (!qos || !parse_uid(g->s + 3, g->n - 3, '-', ci->pod_uid))
		return false;
	snprintf(ci->qos, sizeof(ci->qos), "%s", qos);
	return true;
}

static bool is_kubepods(const struct seg *g)
{
	return seg_is(g, "kubepods") || has_suffix(g->s, g->n, "kubepods.slice");
}

int container__parse_path(const char *path, struct container_info *out)
{
	struct seg segs[MAX_SEGMENTS];
	int n = 0, pod = -1, ctr = -1;
	const char *p = path, *id = NULL, *rt = NULL;
	size_t len;

	memset(out, 0, sizeof(*out));
	len = strnlen(path, MAX_PATH_LEN + 1);
	if (len > MAX_PATH_LEN || path[0] != '/')
		return -EINVAL;
	while (*p) {
		const char *e;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		e = strchrnul(p, '/');
		if (n == MAX_SEGMENTS)
			return -EINVAL;
		segs[n++] = (struct seg){ p, (size_t)(e - p) };
		p = e;
	}
	/* Innermost wins: a kind node or docker-in-docker is an outer container. */
	for (int i = n - 1; i >= 0 && pod < 0; i--) {
		struct container_info tmp = {};

		if (seg_pod_systemd(&segs[i], &tmp) || seg_pod_cgroupfs(&segs[i], i, segs, &tmp)) {
			pod = i;
			memcpy(out->pod_uid, tmp.pod_uid, sizeof(out->pod_uid));
			memcpy(out->qos, tmp.qos, sizeof(out->qos));
		}
	}
	/* A container of the pod is below the pod's cgroup, never above it. */
	for (int i = n - 1; i > pod && !rt; i--) {
		rt = seg_container(&segs[i], &id);
		if (rt)
			ctr = i;
	}
	if (rt && !*rt) {
		/* A bare id: its parents tell who made it. */
		rt = "unknown";
		if (ctr > 0 && seg_is(&segs[ctr - 1], "docker"))
			rt = "docker";
		for (int i = 0; i < ctr; i++)
			if (is_kubepods(&segs[i]))
				rt = "containerd";
	}
	if (rt) {
		snprintf(out->runtime, sizeof(out->runtime), "%s", rt);
		memcpy(out->id, id, 64);
		out->id[64] = 0;
	}
	return rt || pod >= 0;
}

/* Rank of a /proc/PID/cgroup line's hierarchy: lower is tried first. */
static int line_rank(const char *hier, size_t hn, const char *ctrl, size_t cn)
{
	static const char *const order[] = { "name=systemd", "cpu", "memory", "pids" };

	if (hn == 1 && hier[0] == '0' && cn == 0)
		return 0; /* the v2 line: the cgroup the BPF id names */
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		const char *c = ctrl, *end = ctrl + cn;

		while (c < end) {
			const char *comma = memchr(c, ',', end - c);
			size_t l = (comma ? comma : end) - c;

			if (l == strlen(order[i]) && !memcmp(c, order[i], l))
				return 1 + i;
			c += l + 1;
		}
	}
	return 5;
}

/* Decimal hierarchy id of a line, or -1. */
static long hier_id(const char *s, size_t n)
{
	long v = 0;

	if (n == 0 || n > 9)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int container__parse_proc_cgroup(const char *text, size_t len, int n_lines,
				 struct container_info *out, char *v2path, size_t v2len,
				 bool *from_v2)
{
	char path[MAX_PATH_LEN + 1];
	struct container_info cur, best = {};
	long seen[64];
	int best_score = -1, best_rank = 0, n = 0;
	bool v1 = false;
	const char *p = text, *end = text + len;

	memset(out, 0, sizeof(*out));
	if (v2len)
		v2path[0] = 0;
	*from_v2 = false;
	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		const char *le = nl ? nl : end;
		const char *c1 = memchr(p, ':', le - p);
		const char *c2 = c1 ? memchr(c1 + 1, ':', le - c1 - 1) : NULL;
		long id = c1 ? hier_id(p, c1 - p) : -1;
		size_t pl;
		int rank, score;

		/*
		 * The kernel writes one well-formed line per hierarchy.  A
		 * cgroup name may hold a newline and so forge lines: then
		 * nothing in the file is believed.
		 */
		if (!c2 || id < 0 || n == (int)(sizeof(seen) / sizeof(seen[0])) ||
		    memchr(p, 0, le - p))
			goto bad;
		for (int i = 0; i < n; i++)
			if (seen[i] == id)
				goto bad;
		seen[n++] = id;
		rank = line_rank(p, c1 - p, c1 + 1, c2 - c1 - 1);
		v1 |= rank > 0;
		pl = le - c2 - 1;
		if (pl > MAX_PATH_LEN)
			goto bad;
		memcpy(path, c2 + 1, pl);
		path[pl] = 0;
		if (rank == 0 && v2len)
			snprintf(v2path, v2len, "%s", path);
		p = le + 1;
		if (container__parse_path(path, &cur) <= 0)
			continue;
		/* A container beats a pod alone; then the order of hierarchies. */
		score = cur.id[0] ? 2 : 1;
		if (score > best_score || (score == best_score && rank < best_rank)) {
			best = cur;
			best_score = score;
			best_rank = rank;
		}
	}
	if (n_lines && n != n_lines)
		goto bad;
	*out = best;
	*from_v2 = !v1 || (best_score == 2 && best_rank == 0);
	return best_score > 0;
bad:
	if (v2len)
		v2path[0] = 0;
	return -EINVAL;
}

/* DNS label (namespace) or subdomain (pod name) characters, bounded. */
static bool k8s_name(const char *s, size_t n, size_t max, bool dots)
{
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      (dots && s[i] == '.')))
			return false;
	return true;
}

int container__parse_pod_dir(const char *name, char ns[CONTAINER_NS_MAX + 1],
			     char pod[CONTAINER_POD_NAME_MAX + 1], char uid[37])
{
	size_t len = strnlen(name, NAME_MAX + 1);
	const char *u1 = memchr(name, '_', len);
	const char *u2 = u1 ? memchr(u1 + 1, '_', len - (u1 + 1 - name)) : NULL;
	size_t nl, pl;

	/* Neither a namespace nor a pod name may hold '_': exactly two. */
	if (len > NAME_MAX || !u2 || memchr(u2 + 1, '_', len - (u2 + 1 - name)))
		return -EINVAL;
	nl = u1 - name;
	pl = u2 - u1 - 1;
	if (!k8s_name(name, nl, CONTAINER_NS_MAX, false) ||
	    !k8s_name(u1 + 1, pl, CONTAINER_POD_NAME_MAX, true) ||
	    !parse_uid(u2 + 1, len - (u2 + 1 - name), '-', uid))
		return -EINVAL;
	memcpy(ns, name, nl);
	ns[nl] = 0;
	memcpy(pod, u1 + 1, pl);
	pod[pl] = 0;
	return 0;
}

/* --- the cache -------------------------------------------------------------- */

/* A v2 cgroup whose path alone tells the attribution. */
struct cg_entry {
	UT_hash_handle hh;
	uint64_t id;
	struct container_info info;
};

/* What a process was last seen as. */
struct pid_entry {
	UT_hash_handle hh;
	pid_t pid;
	uint64_t cgroup_id;
	struct container_info info;
};

struct pod_entry {
	UT_hash_handle hh;
	char uid[37];
	char ns[CONTAINER_NS_MAX + 1];
	char name[CONTAINER_POD_NAME_MAX + 1];
};

struct container_cache {
	char proc_dir[256];
	char cg2_dir[1024];
	char pods_dir[1024];
	struct cg_entry *cgs;	/* at most MAX_CGROUPS */
	struct pid_entry *pids; /* at most MAX_PIDS */
	struct pod_entry *pods; /* at most MAX_PODS */
	int n_hier;		/* lines in every /proc/PID/cgroup: one per hierarchy; 0 unknown */
	double pods_next_scan;
	struct pid_entry scratch; /* the answer when the table cannot grow */
};

/*
 * Read at most max bytes of a file into a malloc'd buffer.  Only a regular
 * file: the /proc the cache is given may be a directory someone else made.
 */
static char *read_file(const char *path, size_t max, size_t *len)
{
	int fd = fileopen_regular(path);
	char *buf;

	*len = 0;
	if (fd < 0)
		return NULL;
	buf = malloc(max);
	if (buf)
		fd_read_upto(fd, buf, max, len); /* what it could read */
	close(fd);
	return buf;
}

/* mountinfo escapes ' ', '\t', '\n' and '\\' as \ooo. */
static void unescape_octal(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = 0;
}

/* Where the whole cgroup v2 hierarchy is mounted ("" if nowhere). */
static void find_cgroup2(char *out, size_t len)
{
	size_t n;
	char *buf = read_file("/proc/self/mountinfo", MAX_MOUNTINFO, &n), *line, *save;

	out[0] = 0;
	if (!buf)
		return;
	buf[n ? n - 1 : 0] = 0; /* the last line ends in '\n' */
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char root[PATH_MAX], mnt[PATH_MAX], fstype[32];
		const char *dash = strstr(line, " - ");

		if (!dash || sscanf(dash + 3, "%31s", fstype) != 1 || strcmp(fstype, "cgroup2"))
			continue;
		/* Fields: id parent major:minor root mountpoint ... */
		if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2 || strcmp(root, "/"))
			continue;
		unescape_octal(mnt);
		/* A mount point longer than the caller's buffer is no use cut short. */
		if (snprintf(out, len, "%s", mnt) >= (int)len)
			out[0] = 0;
		break;
	}
	free(buf);
}

/*
 * The kernel lists every hierarchy for every process, so our own
 * /proc/self/cgroup tells how many lines a real one has.
 */
static int count_hierarchies(const struct container_cache *c)
{
	char file[sizeof(c->proc_dir) + 16];
	size_t len;
	char *text;
	int n = 0;

	snprintf(file, sizeof(file), "%s/self/cgroup", c->proc_dir);
	text = read_file(file, MAX_PROC_CGROUP, &len);
	for (size_t i = 0; text && i < len; i++)
		n += text[i] == '\n';
	free(text);
	return n;
}

struct container_cache *container_cache__new(const char *proc_dir, const char *cgroup2_dir,
					     const char *pods_dir)
{
	struct container_cache *c = calloc(1, sizeof(*c));
	const char *env = getenv("PYSPY_PODS_DIR");

	if (!c)
		return NULL;
	snprintf(c->proc_dir, sizeof(c->proc_dir), "%s", proc_dir ? proc_dir : "/proc");
	if (cgroup2_dir)
		snprintf(c->cg2_dir, sizeof(c->cg2_dir), "%s", cgroup2_dir);
	else
		find_cgroup2(c->cg2_dir, sizeof(c->cg2_dir));
	snprintf(c->pods_dir, sizeof(c->pods_dir), "%s",
		 pods_dir      ? pods_dir
		 : env && *env ? env
			       : "/var/log/pods");
	c->n_hier = count_hierarchies(c);
	return c;
}

void container_cache__free(struct container_cache *c)
{
	if (!c)
		return;
	HASH_CLEAR_FREE(hh, c->pids, free);
	HASH_CLEAR_FREE(hh, c->cgs, free);
	HASH_CLEAR_FREE(hh, c->pods, free);
	free(c);
}

static void scan_pods(struct container_cache *c)
{
	DIR *d = opendir(c->pods_dir);
	struct dirent *de;

	HASH_CLEAR_FREE(hh, c->pods, free);
	if (!d)
		return;
	while ((de = readdir(d)) && HASH_COUNT(c->pods) < MAX_PODS) {
		struct pod_entry *e = calloc(1, sizeof(*e)), *old;

		if (!e)
			break;
		if (container__parse_pod_dir(de->d_name, e->ns, e->name, e->uid)) {
			free(e);
			continue;
		}
		HASH_FIND_STR(c->pods, e->uid, old);
		if (old) { /* two directories claim one UID: keep the first */
			free(e);
			continue;
		}
		HASH_ADD_STR(c->pods, uid, e);
	}
	closedir(d);
}

/* Fill the pod's namespace and name from /var/log/pods, if it is there. */
static void resolve_pod(struct container_cache *c, struct container_info *ci)
{
	struct pod_entry *e;
	double now;

	if (!ci->pod_uid[0] || ci->pod_name[0])
		return;
	HASH_FIND_STR(c->pods, ci->pod_uid, e);
	if (!e) {
		now = mono_s();
		if (now < c->pods_next_scan)
			return;
		c->pods_next_scan = now + POD_RESCAN_S;
		scan_pods(c);
		HASH_FIND_STR(c->pods, ci->pod_uid, e);
	}
	if (e) {
		memcpy(ci->pod_namespace, e->ns, sizeof(ci->pod_namespace));
		memcpy(ci->pod_name, e->name, sizeof(ci->pod_name));
	}
}

/*
 * Read pid's attribution from /proc.  *ino: the inode of its v2 cgroup
 * directory (0 if unknown); *exact: that cgroup alone determines it.
 */
static void read_pid(struct container_cache *c, pid_t pid, struct container_info *ci, uint64_t *ino,
		     bool *exact)
{
	char file[sizeof(c->proc_dir) + 32], v2[MAX_PATH_LEN + 1];
	char path[sizeof(c->cg2_dir) + sizeof(v2)];
	struct stat st;
	size_t len;
	char *text;

	*ino = 0;
	*exact = false;
	memset(ci, 0, sizeof(*ci));
	snprintf(file, sizeof(file), "%s/%d/cgroup", c->proc_dir, pid);
	text = read_file(file, MAX_PROC_CGROUP, &len);
	if (!text)
		return;
	if (container__parse_proc_cgroup(text, len, c->n_hier, ci, v2, sizeof(v2), exact) ==
		    -EINVAL &&
	    count_hierarchies(c) != c->n_hier) {
		/* A hierarchy was mounted or unmounted since we counted. */
		c->n_hier = count_hierarchies(c);
		container__parse_proc_cgroup(text, len, c->n_hier, ci, v2, sizeof(v2), exact);
	}
	free(text);
	if (c->cg2_dir[0] && v2[0] == '/' &&
	    (size_t)snprintf(path, sizeof(path), "%s%s", c->cg2_dir, v2) < sizeof(path) &&
	    !stat(path, &st) && S_ISDIR(st.st_mode))
		*ino = st.st_ino;
}

const struct container_info *container_cache__lookup(struct container_cache *c, pid_t pid,
						     uint64_t cgroup_id, bool *changed)
{
	struct container_info info;
	struct pid_entry *pe;
	struct cg_entry *ce = NULL;
	uint64_t ino = 0;
	bool exact;

	HASH_FIND_INT(c->pids, &pid, pe);
	if (pe && cgroup_id && pe->cgroup_id == cgroup_id) {
		*changed = false;
		return &pe->info;
	}
	if (cgroup_id)
		HASH_FIND(hh, c->cgs, &cgroup_id, sizeof(cgroup_id), ce);
	if (ce) {
		info = ce->info;
	} else {
		read_pid(c, pid, &info, &ino, &exact);
		/*
		 * Only when the v2 cgroup decides, and it is the one sampled:
		 * on a v1 host, processes of many containers share one v2
		 * cgroup and are told apart per process.
		 */
		if (exact && ino && (!cgroup_id || ino == cgroup_id)) {
			if (HASH_COUNT(c->cgs) >= MAX_CGROUPS)
				HASH_CLEAR_FREE(hh, c->cgs, free);
			ce = calloc(1, sizeof(*ce));
			if (ce) {
				ce->id = ino;
				ce->info = info;
				HASH_ADD(hh, c->cgs, id, sizeof(ce->id), ce);
			}
		}
	}
	resolve_pod(c, &info);
	if (ce && !ce->info.pod_name[0] && info.pod_name[0])
		ce->info = info;
	if (!pe) {
		if (HASH_COUNT(c->pids) >= MAX_PIDS)
			HASH_CLEAR_FREE(hh, c->pids, free);
		pe = calloc(1, sizeof(*pe));
		if (!pe) {
			pe = &c->scratch;
			*changed = true;
			pe->info = info;
			return &pe->info;
		}
		pe->pid = pid;
		HASH_ADD_INT(c->pids, pid, pe);
		*changed = true;
	} else {
		*changed = memcmp(&pe->info, &info, sizeof(info)) != 0;
	}
	/* Keyed by the sampled id, so the next sample hits even if the stat did not. */
	pe->cgroup_id = cgroup_id ? cgroup_id : ino;
	pe->info = info;
	return &pe->info;
}

static void label(struct profile *prof, pid_t pid, const struct container_info *ci)
{
	profile__set_process_label(prof, pid, PROFILE_LABEL_CONTAINER_ID, ci->id);
	profile__set_process_label(prof, pid, PROFILE_LABEL_CONTAINER_RUNTIME, ci->runtime);
	profile__set_process_label(prof, pid, PROFILE_LABEL_POD_UID, ci->pod_uid);
	profile__set_process_label(prof, pid, PROFILE_LABEL_POD_NAMESPACE, ci->pod_namespace);
	profile__set_process_label(prof, pid, PROFILE_LABEL_POD_NAME, ci->pod_name);
	profile__set_process_label(prof, pid, PROFILE_LABEL_POD_QOS, ci->qos);
}

void container_cache__add_process(struct container_cache *c, struct profile *prof, pid_t pid,
				  pid_t nspid)
{
	const struct container_info *ci;
	char buf[16] = "";
	bool changed;

	if (!c)
		return;
	ci = container_cache__lookup(c, pid, 0, &changed);
	label(prof, pid, ci);
	if (nspid > 0 && nspid != pid)
		snprintf(buf, sizeof(buf), "%d", nspid);
	profile__set_process_label(prof, pid, PROFILE_LABEL_NS_PID, buf);
	if (ci->id[0] || ci->pod_uid[0])
		log_debug("PID %d: container %s (%s), pod %s/%s (uid %s, %s), PID %s inside", pid,
			  ci->id[0] ? ci->id : "-", ci->runtime[0] ? ci->runtime : "none",
			  ci->pod_namespace[0] ? ci->pod_namespace : "?",
			  ci->pod_name[0] ? ci->pod_name : "?", ci->pod_uid[0] ? ci->pod_uid : "-",
			  ci->qos[0] ? ci->qos : "-", buf[0] ? buf : "unchanged");
}

void container_cache__sample(struct container_cache *c, struct profile *prof, pid_t pid,
			     uint64_t cgroup_id)
{
	const struct container_info *ci;
	bool changed;

	if (!c || !cgroup_id)
		return;
	ci = container_cache__lookup(c, pid, cgroup_id, &changed);
	if (changed)
		label(prof, pid, ci);
}
