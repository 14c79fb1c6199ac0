// SPDX-License-Identifier: MIT
/*
 * preflight.c - privilege and kernel checks with one clear message each.
 *
 * Capabilities are read with capget(2) directly rather than through
 * libcap: three bits do not justify a dependency.
 */
#include <errno.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "preflight.h"
#include "user/base/log.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static int has_cap(const struct __user_cap_data_struct d[2], int cap)
{
	return !!(d[cap / 32].effective & (1u << (cap % 32)));
}

int preflight_privileges(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = {};
	int bpf, perfmon, admin, ptrace;

	if (syscall(SYS_capget, &h, d)) {
		log_error("cannot read this process's capabilities: %m");
		return -EPERM;
	}
	/*
	 * File capabilities without the effective bit (deploy/Dockerfile's
	 * setcap ...=p) are permitted only: this binary raises them itself.
	 */
	if (d[0].effective != d[0].permitted || d[1].effective != d[1].permitted) {
		d[0].effective = d[0].permitted;
		d[1].effective = d[1].permitted;
		if (syscall(SYS_capset, &h, d))
			log_warn("cannot raise the permitted capabilities: %m");
	}
	admin = has_cap(d, CAP_SYS_ADMIN);
	bpf = has_cap(d, CAP_BPF) || admin;
	perfmon = has_cap(d, CAP_PERFMON) || admin;
	ptrace = has_cap(d, CAP_SYS_PTRACE);
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
