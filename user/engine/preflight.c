// SPDX-License-Identifier: MIT
/*
 * preflight.c - privilege and kernel checks with one clear message each.
 * Capabilities are read through caps.h (capget(2), no libcap).
 */
#include <errno.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "caps.h"
#include "preflight.h"
#include "symbolize/base/log.h"

static int has_cap(const struct caps *c, int cap)
{
	return !!(c->eff & 1ull << cap);
}

int preflight_privileges(void)
{
	struct caps c;
	int bpf, perfmon, admin, ptrace;

	if (caps_get(&c)) {
		log_error("cannot read this process's capabilities: %m");
		return -EPERM;
	}
	/*
	 * File capabilities without the effective bit (deploy/Dockerfile's
	 * setcap ...=p) are permitted only: this binary raises them itself.
	 */
	if (c.eff != c.prm) {
		c.eff = c.prm;
		if (caps_set(&c))
			log_warn("cannot raise the permitted capabilities: %m");
	}
	admin = has_cap(&c, CAP_SYS_ADMIN);
	bpf = has_cap(&c, CAP_BPF) || admin;
	perfmon = has_cap(&c, CAP_PERFMON) || admin;
	ptrace = has_cap(&c, CAP_SYS_PTRACE);
	if (!bpf || !perfmon) {
		if (geteuid() != 0)
			log_error("needs root, or the capabilities CAP_BPF and CAP_PERFMON "
				  "(run it with sudo)");
		else
			log_error("missing capability %s%s%s: running as root in a restricted "
				  "container? grant CAP_BPF and CAP_PERFMON",
				  bpf ? "" : "CAP_BPF", !bpf && !perfmon ? " and " : "",
				  perfmon ? "" : "CAP_PERFMON");
		return -EPERM;
	}
	if (!ptrace)
		log_warn("no CAP_SYS_PTRACE: only processes of uid %d can be symbolized",
			 (int)geteuid());
	return 0;
}

int preflight_btf(void)
{
	/* PYSPY_SYS_BTF lets the tests point at a missing file. */
	const char *path = getenv("PYSPY_SYS_BTF");

	if (!path)
		path = "/sys/kernel/btf/vmlinux";
	if (access(path, R_OK)) {
		log_error("this kernel has no BTF (%s: %m): pyspy-bpf needs a kernel built with "
			  "CONFIG_DEBUG_INFO_BTF=y (Linux 5.17 or newer)",
			  path);
		return -ENOENT;
	}
	return 0;
}
