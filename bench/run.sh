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
ROUNDS=${BENCH_ROUNDS:-7}
ITER=${BENCH_ITER:-2000}
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

base=$(median < "$tmp/base")
m99=$(median < "$tmp/r99")
m999=$(median < "$tmp/r999")
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
	echo "N bare \`bpf_probe_read_user\` calls of one frame's size on the same ticks."
	echo
	echo "| frames | sampler ns/run | floor ns/run (N reads) | ratio | verify mode ns/run | ratio | runs that were samples |"
	echo "|---|---|---|---|---|---|---|"
	for n in 8 32 128; do
		s=$(field sampler_ns_per_run "$tmp/bpf$n"); c=$(field calib_ns_per_run "$tmp/bpf$n")
		v=$(field verify_ns_per_run "$tmp/bpf$n")
		runs=$(field sampler_runs "$tmp/bpf$n"); smp=$(field sampler_samples "$tmp/bpf$n")
		awk -v n="$n" -v s="$s" -v c="$c" -v v="$v" -v r="$runs" -v m="$smp" 'BEGIN {
			printf "| %d | %.0f | %.0f | %.2fx | %.0f | %.2fx | %.0f%% |\n", n, s, c,
				(c > 0 ? s / c : 0), v, (c > 0 ? v / c : 0), (r > 0 ? 100 * m / r : 0) }'
	done
	echo
	echo "Fast mode (one read per frame) is what a process gets once it has shown no new code"
	echo "objects for 2 s; verify mode (a second read per frame: the code object's fingerprint)"
	echo "is on while a process is new or creates and frees code objects."
	echo
	echo "## Slowdown of a CPU-bound loop"
	echo
	echo "\`bench/loop.py $ITER\` (pure Python, ten frames deep), median of $ROUNDS alternating runs,"
	echo "time measured inside the program; profiled runs use \`pyspy-bpf record -- python ...\`."
	echo
	echo "| run | median seconds | ratio to unprofiled |"
	echo "|---|---|---|"
	awk -v b="$base" -v a="$m99" -v c="$m999" 'BEGIN {
		printf "| unprofiled | %.3f | 1.000 |\n| 99 Hz | %.3f | %.4f |\n| 999 Hz | %.3f | %.4f |\n", b, a, a / b, c, c / b }'
	echo
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
		awk -v who="$f" '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			printf "| %s | %.0f | %.0f |\n", who == "ours" ? "profiled Python processes" :
				"processes not profiled", v["switch_ns_per_run"], v["switch_runs_per_s"] }' \
			"$tmp/switch_$f"
	done
} > "$out"
cat "$out"
