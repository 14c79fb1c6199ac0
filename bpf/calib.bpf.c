// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * calib.bpf.c - the benchmark's floor: on each cpu-clock tick in a target
 * process, N bare bpf_probe_read_user calls of one frame's size, in the
 * same bpf_loop shape as the sampler.  Its ns/run is what N reads cost on
 * this machine; the sampler's cost is reported as a ratio to it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

const volatile __u32 n_reads = 32;
const volatile __u32 read_size = 80;
const volatile __u64 base_addr = 0; /* a readable range in every target */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64); /* base address in that process */
} calib_targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u8[128]);
} calib_buf SEC(".maps");

struct read_ctx {
	__u8 *buf;
	__u64 base;
};

static long read_one(__u32 i, struct read_ctx *c)
{
	/* Distinct cache lines, like distinct frames. */
	bpf_probe_read_user(c->buf, read_size & 127, (void *)(c->base + (i & 127) * 64));
	return 0;
}

SEC("perf_event")
int calib_sample(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, zero = 0;
	__u64 *base = bpf_map_lookup_elem(&calib_targets, &tgid);
	struct read_ctx c;

	if (!base)
		return 0;
	c.buf = bpf_map_lookup_elem(&calib_buf, &zero);
	if (!c.buf)
		return 0;
	c.base = *base;
	bpf_loop(n_reads, read_one, &c, 0);
	return 0;
}
