#!/bin/bash
# SPDX-License-Identifier: MIT
# make bench: BPF cost per sample (bpf_stats) against a calibration floor of
# N bare reads, and the slowdown of a CPU-bound loop at 99 and 999 Hz, all
# measured in this one run.  Writes docs/benchmarks.md.  Not a test.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
pyroot=$(pyenv root 2>/dev/null || echo /root/.pyenv)
PY=${PYSPY_BENCH_PY:-$pyroot/versions/3.12.1/bin/python3.12}
BIN=build/pyspy-bpf
BENCH=build/pyspy-bench
ROUNDS=${BENCH_ROUNDS:-15}
ITER=${BENCH_ITER:-600}
out=docs/benchmarks.md
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

[ -x "$PY" ] || { echo "bench: $PY not found (set PYSPY_BENCH_PY)" >&2; exit 1; }

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" "$2" | head -1; }

# Two deep workers keep both CPUs in Python, so nearly every tick is a sample.
bpf_cost() {
	local frames=$1 a b
	"$PY" tests/workloads/deep.py --depth $((frames - 3)) --seconds 60 >/dev/null & a=$!
	"$PY" tests/workloads/deep.py --depth $((frames - 3)) --seconds 60 >/dev/null & b=$!
	pids+=("$a" "$b")
	sleep 1
	"$BENCH" --pid "$a" --pid "$b" --seconds 5 --rate 999 --reads "$frames" > "$tmp/bpf$frames"
	kill "$a" "$b"
	wait "$a" "$b" 2>/dev/null || true
}

median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
# Best of N: on a shared VM, noise only ever adds time, so the minimum is
# the steadiest estimate of a CPU-bound run.
best() { sort -g | head -1; }
col() { awk -v c="$1" '{print $c}' "$2"; }

slowdown() {
	: > "$tmp/base"; : > "$tmp/r99"; : > "$tmp/r999"
	for i in $(seq "$ROUNDS"); do
		"$PY" bench/loop.py "$ITER" >> "$tmp/base"
		"$BIN" record -q --rate 99 -o "$tmp/p99.folded" -- "$PY" bench/loop.py "$ITER" >> "$tmp/r99" 2>/dev/null
		"$BIN" record -q --rate 999 -o "$tmp/p999.folded" -- "$PY" bench/loop.py "$ITER" >> "$tmp/r999" 2>/dev/null
		printf '.' >&2
	done
	echo >&2
}

# Whole host: the agent (serve) with 100 idle and 10 busy Python processes.
host_cost() {
	local pys=() i a port=16161 secs=${BENCH_HOST_SECS:-30} p0 p1 t0 t1 rss=0 r
	for v in 3.8.18/bin/python3.8 3.9.18/bin/python3.9 3.10.13/bin/python3.10 \
		3.11.7/bin/python3.11 3.12.1/bin/python3.12 3.13.0/bin/python3.13; do
		[ -x "$pyroot/versions/$v" ] && pys+=("$pyroot/versions/$v")
	done
	[ -x /usr/bin/python3.11 ] && pys+=(/usr/bin/python3.11)
	for i in $(seq 0 99); do
		"${pys[i % ${#pys[@]}]}" -c 'import time
while True: time.sleep(1)' & pids+=("$!")
	done
	for i in $(seq 0 9); do
		"${pys[i % ${#pys[@]}]}" tests/workloads/simple.py --seconds 600 >/dev/null & pids+=("$!")
	done
	sleep 2
	"$BIN" serve --listen 127.0.0.1:$port --rate 99 --log-file "$tmp/serve.log" & a=$!
	pids+=("$a")
	sleep 3 # start-up discovery is not the steady state
	p0=$(awk '{print $14 + $15}' "/proc/$a/stat")
	b0=$(curl -s "127.0.0.1:$port/metrics" | awk '/^pyspy_bpf_run_time_seconds_total/ {print $2}')
	t0=$(date +%s.%N)
	for i in $(seq "$secs"); do
		sleep 1
		r=$(awk '/^VmRSS/ {print $2}' "/proc/$a/status")
		[ "$r" -gt "$rss" ] && rss=$r
	done
	p1=$(awk '{print $14 + $15}' "/proc/$a/stat")
	b1=$(curl -s "127.0.0.1:$port/metrics" | awk '/^pyspy_bpf_run_time_seconds_total/ {print $2}')
	n=$(curl -s "127.0.0.1:$port/metrics" | awk '/^pyspy_processes/ {print $2}')
	t1=$(date +%s.%N)
	awk -v p0="$p0" -v p1="$p1" -v b0="$b0" -v b1="$b1" -v t0="$t0" -v t1="$t1" \
		-v hz="$(getconf CLK_TCK)" -v rss="$rss" -v n="$n" 'BEGIN {
		user = (p1 - p0) / hz; bpf = b1 - b0; wall = t1 - t0
		printf "agent_cpu_pct=%.3f bpf_cpu_pct=%.3f total_cpu_pct=%.3f rss_mb=%.1f processes=%d wall=%.1f\n",
			100 * user / wall, 100 * bpf / wall, 100 * (user + bpf) / wall, rss / 1024, n, wall }' > "$tmp/host"
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	pids=()
}

# The sched_switch hook (--mode offcpu/wall): ns per context switch, for
# switches of processes we do not profile and of ones we do.
switch_cost() {
	local idle a b
	"$PY" bench/pingpong.py > "$tmp/pp" & pids+=("$!")
	"$PY" -c 'import time; time.sleep(600)' & idle=$!; pids+=("$idle")
	sleep 1
	read -r a b < "$tmp/pp"
	"$BENCH" --switch --pid "$idle" --seconds 5 > "$tmp/switch_other"
	"$BENCH" --switch --pid "$a" --pid "$b" --seconds 5 > "$tmp/switch_ours"
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	pids=()
}

echo "bench: BPF cost per sample (8, 32, 128 frames)..." >&2
for n in 8 32 128; do bpf_cost "$n"; done
echo "bench: slowdown of a CPU-bound loop, $ROUNDS rounds..." >&2
slowdown
echo "bench: whole host, 100 idle + 10 busy Python processes..." >&2
host_cost
echo "bench: context-switch hook..." >&2
switch_cost

base=$(col 1 "$tmp/base" | median); m99=$(col 1 "$tmp/r99" | median); m999=$(col 1 "$tmp/r999" | median)
bbase=$(col 2 "$tmp/base" | best); b99=$(col 2 "$tmp/r99" | best); b999=$(col 2 "$tmp/r999" | best)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)

{
	echo "# Benchmarks"
	echo
	echo "Written by \`make bench\` ($(date -u +%Y-%m-%d)); every number below comes from that one run."
	echo
	echo "Machine: $cpu, $(nproc) CPUs, Linux $(uname -r), $("$PY" -V 2>&1) (pyenv, shared libpython)."
	echo
	echo "## BPF cost per sample"
	echo
	echo "\`bpf_stats\` run_time_ns / run_cnt of the sampler at 999 Hz on every CPU while two"
	echo "processes spin N Python frames deep, against the calibration program (\`bpf/calib.bpf.c\`):"
	echo "N bare \`bpf_probe_read_user\` calls of one frame's size, attached at the same time to the"
	echo "same ticks (a read's cost on this VM drifts by tens of percent between seconds, so only a"
	echo "side-by-side ratio is stable).  The sampler's extra fixed work per sample: the thread"
	echo "state read (plus the _PyCFrame hop on 3.11/3.12), the GIL read and the ring-buffer record."
	echo
	echo "| frames | sampler ns/run | floor ns/run (N reads) | ratio | verify mode ns/run | floor | ratio | runs that were samples |"
	echo "|---|---|---|---|---|---|---|---|"
	for n in 8 32 128; do
		s=$(field sampler_ns_per_run "$tmp/bpf$n"); c=$(field sampler_calib_ns_per_run "$tmp/bpf$n")
		v=$(field verify_ns_per_run "$tmp/bpf$n"); vc=$(field verify_calib_ns_per_run "$tmp/bpf$n")
		runs=$(field sampler_runs "$tmp/bpf$n"); smp=$(field sampler_samples "$tmp/bpf$n")
		awk -v n="$n" -v s="$s" -v c="$c" -v v="$v" -v vc="$vc" -v r="$runs" -v m="$smp" 'BEGIN {
			printf "| %d | %.0f | %.0f | %.2fx | %.0f | %.0f | %.2fx | %.0f%% |\n", n, s, c,
				(c > 0 ? s / c : 0), v, vc, (vc > 0 ? v / vc : 0), (r > 0 ? 100 * m / r : 0) }'
	done
	echo
	echo "Fast mode (one read per frame) is what a process gets once it has shown no new code"
	echo "objects for 2 s; verify mode (a second read per frame: the code object's fingerprint)"
	echo "is on while a process is new or creates and frees code objects."
	echo
	echo "## Slowdown of a CPU-bound loop"
	echo
	echo "\`bench/loop.py $ITER\` (pure Python, ten frames deep), $ROUNDS alternating runs of each,"
	echo "timed inside the program; profiled runs use \`pyspy-bpf record -- python ...\`. On this"
	echo "shared VM identical runs vary by tens of percent, so the best-of-N CPU time is the figure"
	echo "to read (noise only adds time); the median wall time is shown for honesty."
	echo
	echo "| run | best CPU seconds | ratio | median wall seconds | ratio |"
	echo "|---|---|---|---|---|"
	awk -v b="$bbase" -v a="$b99" -v c="$b999" -v mb="$base" -v ma="$m99" -v mc="$m999" 'BEGIN {
		printf "| unprofiled | %.3f | 1.000 | %.3f | 1.000 |\n", b, mb
		printf "| 99 Hz | %.3f | %.4f | %.3f | %.4f |\n", a, a / b, ma, ma / mb
		printf "| 999 Hz | %.3f | %.4f | %.3f | %.4f |\n", c, c / b, mc, mc / mb }'
	echo
	s32=$(field sampler_ns_per_run "$tmp/bpf32"); v32=$(field verify_ns_per_run "$tmp/bpf32")
	awk -v s="$s32" -v v="$v32" 'BEGIN {
		printf "\nDirect cost, from the table above: a 32-frame stack sampled at 99 Hz takes %.3f %%\n", 100 * s * 99 / 1e9
		printf "of its CPU in the BPF program (%.3f %% in verify mode; %.2f %% and %.2f %% at 999 Hz).\n",
			100 * v * 99 / 1e9, 100 * s * 999 / 1e9, 100 * v * 999 / 1e9
		printf "That is far below the run-to-run noise of this VM, which the A/B timings above show.\n\n" }'
	echo "Goals (issue 2): at most 1.3x the floor for 32 frames, at most 0.5 % slowdown at 99 Hz."
	echo
	echo "## Whole host"
	echo
	echo "\`pyspy-bpf serve\` (every Python process, 99 Hz) for ${BENCH_HOST_SECS:-30} s with 100 idle"
	echo "(\`time.sleep\` loops) and 10 busy (\`tests/workloads/simple.py\`) Python processes of all"
	echo "installed versions. Agent CPU is user+sys of the agent from /proc; BPF time is the sampler's"
	echo "\`bpf_stats\` run time (served on /metrics); RSS is the agent's peak VmRSS."
	echo
	echo "| agent CPU | BPF CPU | total, % of one core | peak RSS | processes sampled |"
	echo "|---|---|---|---|---|"
	awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "| %.2f %% | %.2f %% | %.2f %% | %.1f MB | %d |\n", v["agent_cpu_pct"],
			v["bpf_cpu_pct"], v["total_cpu_pct"], v["rss_mb"], v["processes"] }' "$tmp/host"
	echo
	echo "Goal (issue 4): at most 1 % of one core and 50 MB."
	echo
	echo "## Context-switch hook (--mode offcpu, wall)"
	echo
	echo "\`bpf_stats\` of the sched_switch program while two Python processes bounce a byte over"
	echo "pipes (\`bench/pingpong.py\`): once not profiled (the cost every switch on the host pays:"
	echo "a map lookup for each side) and once profiled (the stack walk of each blocking thread)."
	echo
	echo "| switches of | ns per switch | switches/s |"
	echo "|---|---|---|"
	for f in other ours; do
		label="processes not profiled"
		[ "$f" = ours ] && label="profiled Python processes"
		awk -v who="$label" '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			printf "| %s | %.0f | %.0f |\n", who, v["switch_ns_per_run"], v["switch_runs_per_s"] }' \
			"$tmp/switch_$f"
	done
} > "$out"
cat "$out"
