#!/bin/bash
# SPDX-License-Identifier: MIT
# The agent's own cost per sample in steady state (issue 13's measure):
# two bench/chain.py workers 32 frames deep, `serve --pid` at 1000 Hz
# aggregating into an interval profile as record does; between 3 s and
# 18 s, the agent's utime+stime from /proc and the BPF side's run time
# (bpf_stats, from /metrics), over the samples taken in that window.
# Prints key=value lines.  Not a test.
#
# COST_NATIVE=1: the same with --native, the workers bench/native_chain.py
# (32 Python frames with 20 C frames of tests/workloads/native/hx.c in the
# middle, built here without frame pointers).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# 3.12 of tests/interpreters.txt: a shared libpython, the newest pyenv build.
PY=${PYSPY_BENCH_PY:-$(python3 tests/interpreters.py --format '{id} {host_path}' | awk '$1 == "3.12" { print $2 }')}
BIN=${PYSPY_BIN:-build/pyspy-bpf}
FRAMES=${COST_FRAMES:-32}
RATE=${COST_RATE:-1000}
PORT=${COST_PORT:-16262}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

extra=()
worker=(bench/chain.py --frames "$FRAMES" --seconds 40)
if [ "${COST_NATIVE:-}" = 1 ]; then
	bench/build_hx.sh "$PY" "$tmp/hx"
	worker=(bench/native_chain.py "$tmp/hx" --frames "$FRAMES" --native 20 --seconds 40)
	extra=(--native)
fi
"$PY" "${worker[@]}" >/dev/null & a=$!
"$PY" "${worker[@]}" >/dev/null & b=$!
pids+=("$a" "$b")
sleep 1
"$BIN" serve --pid "$a" --pid "$b" --rate "$RATE" --listen 127.0.0.1:$PORT "${extra[@]}" \
	--output-dir "$tmp" --interval 600 --log-file "$tmp/log" & s=$!
pids+=("$s")
metric() { curl -s "127.0.0.1:$PORT/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
sleep 3
c0=$(awk '{ print $14 + $15 }' /proc/$s/stat) n0=$(metric pyspy_samples_total)
b0=$(metric pyspy_bpf_run_time_seconds_total)
sleep 15
c1=$(awk '{ print $14 + $15 }' /proc/$s/stat) n1=$(metric pyspy_samples_total)
b1=$(metric pyspy_bpf_run_time_seconds_total)
awk -v c0="$c0" -v c1="$c1" -v n0="$n0" -v n1="$n1" -v b0="$b0" -v b1="$b1" \
	-v hz="$(getconf CLK_TCK)" 'BEGIN {
	n = n1 - n0; agent = (c1 - c0) / hz; bpf = b1 - b0
	printf "samples=%d agent_us_per_sample=%.2f bpf_us_per_sample=%.2f total_us_per_sample=%.2f\n",
		n, 1e6 * agent / n, 1e6 * bpf / n, 1e6 * (agent + bpf) / n }'
