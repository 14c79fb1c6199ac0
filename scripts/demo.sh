#!/bin/bash
# SPDX-License-Identifier: MIT
# make demo: profile the bundled demo program and show the result.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

# Any supported interpreter will do; prefer a pyenv build, else Debian's.
PY=${PYSPY_DEMO_PY:-}
if [ -z "$PY" ]; then
	root=$(pyenv root 2>/dev/null || echo /root/.pyenv)
	for c in $(ls -d "$root"/versions/3.1[0-9]*/bin/python3.1[0-9] 2>/dev/null | sort -rV) \
		/usr/bin/python3; do
		[ -x "$c" ] && PY=$c && break
	done
fi
[ -n "$PY" ] || { echo "demo: no python3 found" >&2; exit 1; }

out=build/demo.folded
echo "== sudo build/pyspy-bpf record --rate 199 -o $out -- $PY tests/workloads/demo.py"
build/pyspy-bpf record --rate 199 -o "$out" -- "$PY" tests/workloads/demo.py --seconds 5

echo
echo "== the 5 heaviest stacks in $out (folded: frames root first, then the sample count)"
sort -t' ' -k2 -n -r <(awk '{c=$NF; $NF=""; print c" "$0}' "$out") | head -5 |
	while read -r count stack; do
		echo "$count samples:"
		echo "$stack" | tr ';' '\n' | sed 's/^/    /'
	done

# The same program again, straight to an interactive flame graph.
svg=build/demo.svg
echo
echo "== sudo build/pyspy-bpf record --rate 199 -q -o $svg -- $PY tests/workloads/demo.py"
build/pyspy-bpf record --rate 199 -q -o "$svg" -- "$PY" tests/workloads/demo.py --seconds 3

echo
echo "Feed $out to flamegraph.pl or speedscope, or read it with grep."
echo "Flame graph: $top/$svg (open it in a browser; click to zoom, Ctrl-F to search)"
