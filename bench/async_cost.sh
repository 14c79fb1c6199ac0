#!/bin/bash
# SPDX-License-Identifier: MIT
# What --async costs (issue 15's measure): a Debian sid python3.14 running
# 1000 idle tasks and one busy one (tests/workloads/tasks.py --shape idle),
# `serve --pid` at 99 Hz, with and without --async, in cpu and wall mode;
# between 3 s and 18 s, the agent's CPU time (every thread's
# /proc/PID/task/TID/schedstat, in ns) and the BPF side's run time
# (bpf_stats, from /metrics), per second of recording.
# Prints one key=value line per run.  Not a test.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
ROOT=${PYSPY_SID_ROOT:-/var/cache/pyspy-bpf/sid}
BIN=${PYSPY_BIN:-build/pyspy-bpf}
PORT=${COST_PORT:-16263}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

tests/helpers/inroot.sh "$ROOT" /usr/bin/python3.14 "$top/tests/workloads/tasks.py" \
	--shape idle --idle 1000 --seconds 200 > "$tmp/ready" &
pids+=("$!")
for _ in $(seq 100); do grep -q ready "$tmp/ready" 2>/dev/null && break; sleep 0.1; done
w=$(pgrep -f "tasks.py --shape idle --idle 1000 --seconds 200" | tail -1)
sleep 5 # past its start-up: 1000 tasks made, its code objects settled
metric() { curl -s "127.0.0.1:$PORT/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { print s }'; }
run() { # mode, then serve's extra options
	local mode=$1
	shift
	"$BIN" serve --pid "$w" --rate 99 --mode "$mode" --listen 127.0.0.1:$PORT "$@" \
		--output-dir "$tmp" --interval 600 --log-file "$tmp/log" & s=$!
	sleep 3
	c0=$(cpu_ns "$s") b0=$(metric pyspy_bpf_run_time_seconds_total)
	sleep 15
	c1=$(cpu_ns "$s") b1=$(metric pyspy_bpf_run_time_seconds_total)
	kill -INT "$s"
	wait "$s" || true
	awk -v c0="$c0" -v c1="$c1" -v b0="$b0" -v b1="$b1" \
		-v mode="$mode" -v async="${*:-none}" 'BEGIN {
		agent = (c1 - c0) / 1e9; bpf = b1 - b0
		printf "mode=%s async=%s agent_ms_per_s=%.2f bpf_ms_per_s=%.2f total_ms_per_s=%.2f\n",
			mode, async == "none" ? "off" : "on", 1e3 * agent / 15, 1e3 * bpf / 15,
			1e3 * (agent + bpf) / 15 }'
}
for mode in cpu wall; do
	run "$mode"
	run "$mode" --async
done
