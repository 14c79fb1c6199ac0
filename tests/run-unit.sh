#!/bin/bash
# SPDX-License-Identifier: MIT
# Run unit test binaries; print their output and a "unit total:" line.
#
# Each binary ends with "NAME: N passed, N failed" (tests/unit/unit.h).  A
# binary that dies before that line, or exits non-zero while claiming no
# failure (a sanitizer abort after unit_done), counts as one failure, so
# the total line is always trustworthy for tests/run-all.sh (the rule is
# tests/tally.sh's, which run-all.sh applies to that line in turn).
set -eu
. "$(dirname "${BASH_SOURCE[0]}")/tally.sh"

# Sanitizer failures must be fatal and visible, not just logged.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# A hung test must not hang CI forever.
per_test_timeout=${UNIT_TIMEOUT:-300}

total_pass=0
total_fail=0
failed_bins=()
out=$(mktemp)
trap 'rm -f "$out"' EXIT

for bin in "$@"; do
	name=$(basename "$bin")
	echo "--- $name"
	rc=0
	timeout "$per_test_timeout" "$bin" >"$out" 2>&1 || rc=$?
	cat "$out"
	[ "$rc" -ne 124 ] || echo "$name: timed out after ${per_test_timeout}s"
	tally "$name" "$out" "$rc" ': '
	total_pass=$((total_pass + pass))
	total_fail=$((total_fail + fail))
	[ "$fail" -eq 0 ] || failed_bins+=("$name")
done

[ $# -gt 0 ] || echo "run-unit: no unit test binaries given"
[ ${#failed_bins[@]} -eq 0 ] || echo "run-unit: FAILED: ${failed_bins[*]}"
echo "unit total: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
