/* SPDX-License-Identifier: MIT */
/*
 * sandbox.h - what the agent may still do once it has started.
 *
 * Owns: the capabilities kept after start-up (every other one dropped from
 * the effective, permitted, inheritable, ambient and, where it can, the
 * bounding set), no_new_privs, no core dumps or ptrace by its own user, and
 * the seccomp filter of the system calls the agent makes after start-up
 * (everything else fails with EPERM; another architecture's calls kill
 * it).  Each verb calls sandbox__enter once, after what needs privilege
 * (loading BPF, perf events) and before it starts a thread or reads a
 * target it was not named on the command line.  docs/security.md says why
 * each is kept.
 */
#ifndef PYSPY_SANDBOX_H
#define PYSPY_SANDBOX_H

/* What the verb still needs, and so which capabilities it keeps. */
enum sandbox_need {
	/*
	 * Reading other users' processes: /proc/PID/{maps,root,exe} and
	 * process_vm_readv (CAP_SYS_PTRACE), and where it is held (root)
	 * /proc/PID/map_files (CAP_CHECKPOINT_RESTORE).  Files are read
	 * with the permissions of the agent's user: no DAC capability.
	 */
	SANDBOX_TARGETS = 1 << 0,
	/* /proc/PID/task/TID/stack (--kernel): CAP_SYS_ADMIN. */
	SANDBOX_KERNEL_STACKS = 1 << 1,
};

/*
 * Drop to what needs asks for and install the filter.  The process must
 * have one thread (capabilities are per thread).  0, or -errno after one
 * logged line: the caller stops, it never goes on unconfined.
 */
int sandbox__enter(unsigned needs);

#endif /* PYSPY_SANDBOX_H */
