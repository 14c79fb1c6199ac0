// SPDX-License-Identifier: MIT
/*
 * sandbox.c - least privilege after start-up: capabilities, no_new_privs
 * and a seccomp filter, written by hand (no libcap, no libseccomp).
 *
 * Why a filter at all: every parser of hostile files (libelf, libdw,
 * liblzma, zlib) and of hostile clients (GnuTLS, libmicrohttpd) runs in
 * this process, which keeps CAP_SYS_PTRACE to read its targets.  A bug
 * there must not become a shell, a write into another process, a new
 * program, a connection out or a capability back.  The list below is what
 * the agent calls once started, found with `strace -f` over every verb and
 * mode (docs/security.md), with the other forms glibc and the libraries may
 * use for the same calls (open/openat, the stat family, poll/epoll); a
 * call not on it fails with EPERM rather than
 * killing the agent: a path no test took (a library's fallback) then
 * fails the way its caller already handles, and an attacker gets nothing
 * from it either.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

#include <linux/perf_event.h>

#include "caps.h"
#include "sandbox.h"
#include "symbolize/proc/procfs.h"
#include "symbolize/base/log.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT		 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

/*
 * The sanitizers' runtime stops the world for the leak check at exit: a
 * clone() that is not a thread and ptrace() of its own threads.  Only the
 * ASan+UBSan build (the tests') allows those two; the release build does
 * not.
 */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER_BUILD 1
#endif
#endif
#ifndef SANITIZER_BUILD
#define SANITIZER_BUILD 0
#endif

/* --- capabilities ----------------------------------------------------------- */

static uint64_t caps_wanted(unsigned needs)
{
	uint64_t keep = 0;

	/*
	 * Not CAP_DAC_READ_SEARCH: files are read through /proc/PID/map_files
	 * (no directory on the way) or inside the target's root by the
	 * permissions any user has, so a host's private files stay private.
	 */
	if (needs & SANDBOX_TARGETS)
		keep |= 1ull << CAP_SYS_PTRACE | 1ull << CAP_CHECKPOINT_RESTORE;
	if (needs & SANDBOX_KERNEL_STACKS)
		keep |= 1ull << CAP_SYS_ADMIN;
	return keep;
}

/* One thread only: capset changes the calling thread's credentials alone. */
static int threads(void)
{
	/* Groups: comes first, and may be long (procfs.c's status buffer). */
	static char buf[16384];
	char *p;

	if (procfs_read("/proc/self/status", buf, sizeof(buf)))
		return -1;
	p = strstr(buf, "\nThreads:");
	return p ? atoi(p + 9) : -1;
}

static int drop_caps(unsigned needs, uint64_t *kept)
{
	struct caps c;
	uint64_t keep;
	int err, last;

	err = caps_get(&c);
	if (err)
		return err;
	keep = c.prm & caps_wanted(needs);
	/*
	 * The bounding set, while CAP_SETPCAP is still there (root): no
	 * program this process could ever run gets more back.  Without it
	 * (the DaemonSet's grant) no_new_privs and the filter's refusal of
	 * execve do the same.
	 */
	if (c.eff & 1ull << CAP_SETPCAP) {
		for (last = 0; prctl(PR_CAPBSET_READ, last + 1, 0, 0, 0) >= 0; last++)
			;
		for (int cap = 0; cap <= last; cap++)
			if (!(keep & 1ull << cap) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0))
				return -errno;
	}
	/* EINVAL: a kernel before 4.3 has no ambient set to clear. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		return -errno;
	err = caps_set(&(struct caps){ keep, keep, 0 });
	if (err)
		return err;
	err = caps_get(&c);
	if (err)
		return err;
	if (c.eff != keep || c.prm != keep)
		return -EPERM;
	*kept = keep;
	return 0;
}

/* --- the filter --------------------------------------------------------------- */

#define ALLOW	 SECCOMP_RET_ALLOW
#define REFUSE	 (SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))
#define NO_SUCH	 (SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA))
#define KILL	 SECCOMP_RET_KILL_PROCESS
#define X32_BASE 0x40000000u

/* Allowed whatever their arguments. */
static const int plain[] = {
	/* Reading targets and files. */
	SYS_process_vm_readv,
	SYS_read,
	SYS_pread64,
	SYS_readv,
	SYS_openat,
	SYS_openat2,
	SYS_open,
	SYS_close,
	SYS_lseek,
	SYS_fstat,
	SYS_newfstatat,
	SYS_stat,
	SYS_lstat,
	SYS_statx,
	SYS_readlink,
	SYS_readlinkat,
	SYS_getdents64,
	SYS_getdents,
	SYS_access,
	SYS_faccessat,
	SYS_faccessat2,
	SYS_fcntl,
	SYS_fadvise64,
	SYS_statfs,
	SYS_fstatfs,
	SYS_getcwd,
	SYS_pidfd_open,
	/* Writing profiles and logs: new files renamed into place, old ones pruned. */
	SYS_write,
	SYS_writev,
	SYS_pwrite64,
	SYS_fsync,
	SYS_fdatasync,
	SYS_ftruncate,
	SYS_fchmod,
	SYS_rename,
	SYS_renameat,
	SYS_renameat2,
	SYS_unlink,
	SYS_unlinkat,
	SYS_dup,
	SYS_dup2,
	SYS_dup3,
	SYS_pipe2,
	/* --native: the agent's own vDSO as a file. */
	SYS_memfd_create,
	/* Memory. */
	SYS_mmap,
	SYS_munmap,
	SYS_mprotect,
	SYS_mremap,
	SYS_madvise,
	SYS_brk,
	/* Waiting, time, signals, threads. */
	SYS_epoll_wait,
	SYS_epoll_pwait,
	SYS_epoll_pwait2,
	SYS_epoll_ctl,
	SYS_epoll_create1,
	SYS_poll,
	SYS_ppoll,
	SYS_select,
	SYS_pselect6,
	SYS_eventfd2,
	SYS_futex,
	SYS_nanosleep,
	SYS_clock_nanosleep,
	SYS_clock_gettime,
	SYS_clock_getres,
	SYS_gettimeofday,
	SYS_time,
	SYS_rt_sigaction,
	SYS_rt_sigprocmask,
	SYS_rt_sigreturn,
	SYS_sigaltstack,
	SYS_kill,
	SYS_tgkill,
	SYS_tkill,
	SYS_wait4,
	SYS_waitid,
	SYS_restart_syscall,
	SYS_set_robust_list,
	SYS_rseq,
	SYS_sched_yield,
	SYS_sched_getaffinity,
	SYS_exit,
	SYS_exit_group,
	SYS_getpid,
	SYS_gettid,
	SYS_getppid,
	SYS_getuid,
	SYS_geteuid,
	SYS_getgid,
	SYS_getegid,
	SYS_getrandom,
	SYS_uname,
	SYS_sysinfo,
	SYS_getrusage,
	SYS_prlimit64,
	SYS_capget,
	SYS_prctl,
	SYS_membarrier,
	SYS_sched_getparam,
	SYS_sched_getscheduler,
	/* serve: its listening socket (made before its threads) and the connections. */
	SYS_bind,
	SYS_listen,
	SYS_accept,
	SYS_accept4,
	SYS_recvfrom,
	SYS_recvmsg,
	SYS_sendto,
	SYS_sendmsg,
	SYS_shutdown,
	SYS_getsockopt,
	SYS_setsockopt,
	SYS_getsockname,
	SYS_getpeername,
	SYS_sendfile,
};

/* bpf(): only on the maps and programs already made. */
static const unsigned bpf_cmds[] = {
	BPF_MAP_LOOKUP_ELEM,	BPF_MAP_UPDATE_ELEM,
	BPF_MAP_DELETE_ELEM,	BPF_MAP_GET_NEXT_KEY,
	BPF_OBJ_GET_INFO_BY_FD, BPF_MAP_LOOKUP_AND_DELETE_ELEM,
	BPF_MAP_LOOKUP_BATCH,	BPF_MAP_LOOKUP_AND_DELETE_BATCH,
	BPF_MAP_UPDATE_BATCH,	BPF_MAP_DELETE_BATCH,
};

/* ioctl(): the terminal (top), a pending byte count, and the perf events. */
static const unsigned long ioctls[] = {
	TCGETS,
	TCSETS,
	TCSETSW,
	TCSETSF,
	TIOCGWINSZ,
	FIONREAD,
	FIONBIO,
	PERF_EVENT_IOC_ENABLE,
	PERF_EVENT_IOC_DISABLE,
	PERF_EVENT_IOC_PERIOD,
};

#define MAX_INSNS 512

struct prog {
	struct sock_filter f[MAX_INSNS];
	unsigned n;
};

static void emit(struct prog *p, struct sock_filter insn)
{
	if (p->n < MAX_INSNS)
		p->f[p->n] = insn;
	p->n++;
}

#define STMT(code, k)	      ((struct sock_filter)BPF_STMT(code, k))
#define JUMP(code, k, jt, jf) ((struct sock_filter)BPF_JUMP(code, k, jt, jf))
#define LOAD_NR		      STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
/* The low 32 bits of argument i (x86_64 is little-endian). */
#define LOAD_ARG(i) STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[i]))

/* if (nr == sys) return what; */
static void on_nr(struct prog *p, int sys, uint32_t what)
{
	emit(p, JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)sys, 0, 1));
	emit(p, STMT(BPF_RET | BPF_K, what));
}

/*
 * if (nr == sys) { return arg0 (low 32 bits) is one of vals ? ALLOW :
 * REFUSE; }.  vals are 32-bit: ioctl numbers and bpf commands are.
 */
static void on_arg_in(struct prog *p, int sys, int arg, const uint32_t *vals, unsigned n)
{
	emit(p, JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)sys, 0, n + 3));
	emit(p, LOAD_ARG(arg));
	for (unsigned i = 0; i < n; i++)
		emit(p, JUMP(BPF_JMP | BPF_JEQ | BPF_K, vals[i], n - i, 0));
	emit(p, STMT(BPF_RET | BPF_K, REFUSE));
	emit(p, STMT(BPF_RET | BPF_K, ALLOW));
	/* Not taken: nr is no longer in A. */
	emit(p, LOAD_NR);
}

static int build(struct prog *p)
{
	uint32_t vals[32];
	unsigned n;

	p->n = 0;
	/* Another ABI's numbers mean other calls: such a call is an attack. */
	emit(p, STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
	emit(p, JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0));
	emit(p, STMT(BPF_RET | BPF_K, KILL));
	emit(p, LOAD_NR);
	emit(p, JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_BASE, 0, 1));
	emit(p, STMT(BPF_RET | BPF_K, KILL));

	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		on_nr(p, plain[i], ALLOW);

	for (n = 0; n < sizeof(bpf_cmds) / sizeof(bpf_cmds[0]); n++)
		vals[n] = bpf_cmds[n];
	on_arg_in(p, SYS_bpf, 0, vals, n);
	for (n = 0; n < sizeof(ioctls) / sizeof(ioctls[0]); n++)
		vals[n] = (uint32_t)ioctls[n];
	on_arg_in(p, SYS_ioctl, 1, vals, n);
	/* serve's listening socket, IPv4 (--listen takes IPV4:PORT). */
	vals[0] = AF_INET;
	on_arg_in(p, SYS_socket, 0, vals, 1);

	/*
	 * glibc makes threads with clone3 and falls back to clone on ENOSYS;
	 * clone's flags can be read (clone3's are behind a pointer), so a
	 * thread is allowed and a new process is not.
	 */
	on_nr(p, SYS_clone3, NO_SUCH);
	emit(p, JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 4));
	emit(p, LOAD_ARG(0));
	emit(p, JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 1, 0));
	emit(p, STMT(BPF_RET | BPF_K, SANITIZER_BUILD ? ALLOW : REFUSE));
	emit(p, STMT(BPF_RET | BPF_K, ALLOW));
	if (SANITIZER_BUILD)
		on_nr(p, SYS_ptrace, ALLOW);

	emit(p, STMT(BPF_RET | BPF_K, REFUSE));
	return p->n <= MAX_INSNS ? 0 : -E2BIG;
}

static int install_filter(void)
{
	static struct prog p;
	struct sock_fprog fp;
	int err = build(&p);

	if (err)
		return err;
	fp = (struct sock_fprog){ .len = (unsigned short)p.n, .filter = p.f };
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp))
		return -errno;
	return 0;
}

/* --- the probe ---------------------------------------------------------------- */

static void probe_result(const char *what, long rc)
{
	if (rc < 0)
		log_info("sandbox probe: %s: refused (%s)", what, strerror(errno));
	else
		log_info("sandbox probe: %s: ALLOWED", what);
}

/*
 * PYSPY_SANDBOX_PROBE=PATH (tests/integration/test_sandbox.py): from inside
 * the sandbox, try what a hijacked agent would, and say how each went.
 * PATH is a file the agent must not be able to open (a host 0600 file);
 * nothing is ever read from it.
 */
static void probe(const char *path)
{
	char via[4200], byte = 0;
	struct iovec local = { &byte, 1 }, remote = { &byte, 1 };
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(9),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	union bpf_attr attr = { .prog_type = BPF_PROG_TYPE_SOCKET_FILTER };
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { { .effective = 1u << CAP_SYS_ADMIN,
						 .permitted = 1u << CAP_SYS_ADMIN } };
	struct bpf_insn ret0[2] = { { .code = BPF_ALU64 | BPF_MOV | BPF_K },
				    { .code = BPF_JMP | BPF_EXIT } };
	long rc;
	int fd;

	fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	probe_result("open the file", fd);
	if (fd >= 0)
		close(fd);
	/* The parent's root: PID 1 may be out of reach for other reasons. */
	snprintf(via, sizeof(via), "/proc/%d/root/%s", (int)getppid(), path);
	fd = open(via, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	probe_result("open it through /proc/PPID/root", fd);
	if (fd >= 0)
		close(fd);
	fd = procfs_open_in_root(getppid(), path);
	probe_result("open it inside the parent's root", fd);
	if (fd >= 0)
		close(fd);

	rc = execve("/bin/true", (char *[]){ "true", NULL }, (char *[]){ NULL });
	probe_result("execve", rc);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	rc = fd < 0 ? fd : connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	probe_result("connect", rc);
	if (fd >= 0)
		close(fd);
	probe_result("socket(AF_UNIX)", fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	if (fd >= 0)
		close(fd);
	probe_result("process_vm_writev",
		     syscall(SYS_process_vm_writev, getppid(), &local, 1, &remote, 1, 0));
	if (SANITIZER_BUILD)
		log_info("sandbox probe: ptrace: skipped (sanitizer build)");
	else
		probe_result("ptrace", ptrace(PTRACE_ATTACH, getppid(), NULL, NULL));
	attr.insn_cnt = 2;
	attr.insns = (uintptr_t)ret0;
	attr.license = (uintptr_t) "GPL";
	probe_result("bpf(BPF_PROG_LOAD)", syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr)));
	probe_result("capset(CAP_SYS_ADMIN)", syscall(SYS_capset, &h, d));
	probe_result("setuid(0)", syscall(SYS_setuid, 0));
	probe_result("unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER));
	probe_result("mount", mount("none", "/", NULL, MS_REMOUNT | MS_RDONLY, NULL));
	if (SANITIZER_BUILD)
		log_info("sandbox probe: fork: skipped (sanitizer build)");
	else
		probe_result("fork", syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0));
	probe_result("ioctl(TIOCSTI)", ioctl(STDIN_FILENO, TIOCSTI, "x"));
}

/* --- entering ------------------------------------------------------------------ */

int sandbox__enter(unsigned needs)
{
	const char *probe_path = getenv("PYSPY_SANDBOX_PROBE");
	uint64_t kept = 0;
	int n = threads(), err;

	if (n != 1) {
		log_error("cannot drop privileges: %d threads running already", n);
		return -EBUSY;
	}
	err = drop_caps(needs, &kept);
	if (err) {
		log_error("cannot drop capabilities: %s", strerror(-err));
		return err;
	}
	/*
	 * Nothing it runs could gain privileges, and no process of its own
	 * user may ptrace it (or read its memory: the targets' data).
	 */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)) {
		err = -errno;
		log_error("cannot set no_new_privs: %s", strerror(-err));
		return err;
	}
	err = install_filter();
	if (err) {
		log_error("cannot install the system call filter: %s", strerror(-err));
		return err;
	}
	log_debug("sandbox: capabilities kept %#llx, system call filter on",
		  (unsigned long long)kept);
	if (probe_path)
		probe(probe_path);
	return 0;
}
