#!/bin/bash
# SPDX-License-Identifier: MIT
# make soak: `serve` with its default budgets against a target that makes a
# function with a unique 1 KB name every millisecond or so
# (tests/workloads/namechurn.py), for SOAK_SECS (600).  Prints the agent's
# RSS and its memory metrics every SOAK_STEP (30) seconds: they must level
# off at the budgets (64 MiB of names, 64 MB of code cache) and fall back
# at the symbol rebuild (every 600 s; SOAK_REBUILD to change).  Sampling at
# SOAK_RATE (499) Hz, new names fill the 64 MiB budget in about two minutes.
# Not a test.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# 3.12 of tests/interpreters.txt: a shared libpython, the newest pyenv build.
PY=${PYSPY_BENCH_PY:-$(python3 tests/interpreters.py --format '{id} {host_path}' | awk '$1 == "3.12" { print $2 }')}
BIN=build/pyspy-bpf
SECS=${SOAK_SECS:-600}
STEP=${SOAK_STEP:-30}
REBUILD=${SOAK_REBUILD:-600}
PORT=${SOAK_PORT:-6161}
RATE=${SOAK_RATE:-499}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

"$PY" tests/workloads/namechurn.py --seconds $((SECS + 30)) >/dev/null & w=$!
pids+=("$w")
"$BIN" serve --rate "$RATE" --pid "$w" --listen 127.0.0.1:$PORT --rebuild-symbols "$REBUILD" 2>/dev/null & s=$!
pids+=("$s")
sleep 1
metric() { curl -s "127.0.0.1:$PORT/metrics" | sed -n "s/^$1 //p"; }
printf '| t (s) | agent RSS (MB) | names dropped | code cache (MB) | samples |\n'
printf '| ---: | ---: | ---: | ---: | ---: |\n'
for ((t = STEP; t <= SECS; t += STEP)); do
	sleep "$STEP"
	awk -v t="$t" -v d="$(metric pyspy_dropped_names_total)" \
	    -v c="$(metric pyspy_code_cache_bytes)" -v n="$(metric pyspy_samples_total)" \
	    '/^VmRSS/ { printf "| %d | %.1f | %s | %.1f | %s |\n", t, $2 / 1024, d, c / 1048576, n }' \
	    /proc/$s/status
done
