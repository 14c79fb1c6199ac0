/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * tstate.bpf.h - which PyThreadState is the sampled thread's (part of
 * pyspy.bpf.c, after its maps; the scan's step is bpf/pywalk.h's).
 *
 * Owns: finding the thread state by a scan of the interpreters' thread
 * lists, its cache per TID (and per CPU) re-checked on every hit, and
 * whether the thread holds the GIL.
 */
#ifndef PYSPY_TSTATE_BPF_H
#define PYSPY_TSTATE_BPF_H

/*
 * Why match thread_id against fsbase: thread_id is pthread_self(), which is
 * the thread pointer (fsbase) on x86_64 for glibc and musl alike, in every
 * CPython 3.8+.  Unlike native_thread_id (3.11+ only) it does not depend on
 * the PID namespace the target runs in, and unlike the TSS key it needs no
 * libc internals.  The walk happens once per thread; the result is cached
 * per TID and re-checked against fsbase on every hit (one read, which also
 * brings the frame pointer).
 */
/* The main interpreter's first thread state (0 if it cannot be read). */
static __always_inline __u64 threads_head(struct scratch *s, const struct pyspy_proc *p)
{
	__u64 interp = 0, ts = 0;

	if (pw_interp_head(&s->pw, p, &interp) || !interp ||
	    pw_interp_threads(&s->pw, p, interp, &ts))
		return 0;
	return ts;
}

/* *head: the main interpreter's first thread state, as the walk read it. */
static __always_inline __u64 scan_threads(struct scratch *s, const struct pyspy_proc *p,
					  __u64 fsbase, __u64 *head, __u16 *err)
{
	struct pw_scan c = { .b = &s->pw, .p = p, .want = fsbase };
	__u64 interp = 0;

	if (pw_interp_head(&s->pw, p, &interp)) {
		*err = PYSPY_ERR_READ_RUNTIME;
		return 0;
	}
	for (int i = 0; i < PYSPY_MAX_INTERPS && interp; i++) {
		c.interp = interp;
		if (pw_interp_threads(&s->pw, p, interp, &c.ts)) {
			*err = PYSPY_ERR_READ_RUNTIME;
			return 0;
		}
		if (!i)
			*head = c.ts;
		/*
		 * A bpf_loop callback, not an unrolled loop: the verifier
		 * checks it once, where PYSPY_MAX_INTERPS x PYSPY_MAX_THREADS
		 * bounded iterations made it walk some 300 000 instructions.
		 */
		bpf_loop(PYSPY_MAX_THREADS, pw_scan_one, &c, 0);
		if (c.found)
			return c.found;
		if (c.err) {
			*err = c.err;
			return 0;
		}
		if (pw_interp_next(&s->pw, p, interp, &interp))
			break;
	}
	*err = PYSPY_ERR_NO_TSTATE;
	return 0;
}

/*
 * Find this thread's PyThreadState and leave it in s->pw.tsbuf.  Returns 0 if
 * the thread has none (err says why).
 */
static __always_inline __u64 find_tstate(struct scratch *s, const struct pyspy_proc *p, __u32 tid,
					 __u64 now, __u16 *err)
{
	/* A BTF task pointer: fsbase is a plain load, not a probe read. */
	__u64 fsbase = bpf_get_current_task_btf()->thread.fsbase;
	struct tstate_entry *c, ne = {};

	if (s->last_tid == tid && s->last_tstate && !pw_read_tstate(&s->pw, p, s->last_tstate) &&
	    pw_tstate_thread_id(&s->pw, p) == fsbase)
		return s->last_tstate;
	c = bpf_map_lookup_elem(&tstates, &tid);
	if (c) {
		if (!c->tstate && now < c->retry_ns && threads_head(s, p) == c->head) {
			*err = PYSPY_ERR_NO_TSTATE;
			return 0;
		}
		if (c->tstate && !pw_read_tstate(&s->pw, p, c->tstate) &&
		    pw_tstate_thread_id(&s->pw, p) == fsbase)
			return c->tstate;
		if (!c->tstate)
			ne.misses = c->misses < 16 ? c->misses + 1 : 16;
	}
	count(&stats, PYSPY_STAT_TSTATE_SCAN);
	ne.tstate = scan_threads(s, p, fsbase, &ne.head, err);
	if (!ne.tstate) {
		__u64 wait = NEG_CACHE_MIN_NS << ne.misses;

		ne.retry_ns = now + (wait < NEG_CACHE_NS ? wait : NEG_CACHE_NS);
	} else {
		ne.misses = 0;
	}
	bpf_map_update_elem(&tstates, &tid, &ne, BPF_ANY);
	return ne.tstate;
}

/* Does the thread whose tstate is ts hold the GIL right now? */
static __always_inline bool holds_gil(const struct pyspy_proc *p, __u64 ts)
{
	__u8 g[40];

	if (!p->gil_addr || bpf_probe_read_user(g, sizeof(g), (void *)p->gil_addr))
		return false;
	return *(__u64 *)&g[p->gil_holder & 31] == ts && *(__s32 *)&g[p->gil_locked & 31] > 0;
}

#endif /* PYSPY_TSTATE_BPF_H */
