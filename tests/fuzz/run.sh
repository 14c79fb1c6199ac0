#!/bin/bash
# SPDX-License-Identifier: MIT
# run.sh SECS BIN...: run each libFuzzer harness for SECS seconds on its
# corpus (build/fuzz/corpus/NAME, grown run after run) and its seeds
# (build/fuzz/seeds/NAME, from seeds.py).  One line per harness with its
# executions; a crash keeps its input and fails the run.  The harnesses
# run FUZZ_JOBS at a time (default: one per CPU), each on one CPU, so
# each gets its SECS seconds of fuzzing in a fraction of the wall time.
set -u
secs=$1
shift
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dir=$top/build/fuzz
[ -d "$dir/seeds" ] || python3 "$top/tests/fuzz/seeds.py" "$dir/seeds" || exit 1
jobs=${FUZZ_JOBS:-$(nproc)}

# One harness: its log in $dir/NAME.log, its exit status in $dir/NAME.rc.
fuzz_one() {
	local bin=$1 name kind
	name=$(basename "$bin")
	kind=${name#fuzz_}
	mkdir -p "$dir/corpus/$kind" "$dir/crashes"
	# Leaks are checked by the unit tests; here a crash, an overflow or UB is the finding.
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		"$bin" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
		-print_final_stats=1 -artifact_prefix="$dir/crashes/$kind-" \
		"$dir/corpus/$kind" "$dir/seeds/$kind" > "$dir/$name.log" 2>&1
	echo $? > "$dir/$name.rc"
}

for bin in "$@"; do
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
		wait -n
	done
	rm -f "$dir/$(basename "$bin").rc"
	fuzz_one "$bin" &
done
wait

# Report in the order given, whatever order they finished in.
rc=0
for bin in "$@"; do
	name=$(basename "$bin")
	kind=${name#fuzz_}
	log=$dir/$name.log
	status=$(cat "$dir/$name.rc" 2>/dev/null || echo "?")
	execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
	if [ "$status" != 0 ]; then
		echo "fuzz $kind: FAILED after ${execs:-?} executions (exit $status); see $log"
		tail -n 30 "$log"
		rc=1
	else
		echo "fuzz $kind: ${execs:-?} executions in ${secs} s, no crash"
	fi
done
exit $rc
