#!/bin/bash
# SPDX-License-Identifier: MIT
# Run unit then integration tests; end with one "N passed, N failed" line.
#
# Exits non-zero if anything failed or if no test ran at all.  Skipped
# integration tests count as failures unless PYSPY_ALLOW_MISSING_PYTHON=1,
# since a skip must never hide a missing interpreter or binary.
set -eu
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. tests/tally.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Unit: trust run-unit.sh's total line; it already accounts for crashes.
# No pipefail: the pipeline's status is tee's; PIPESTATUS has the script's.
tests/run-unit.sh "$@" 2>&1 | tee "$log"
unit_rc=${PIPESTATUS[0]}
tally run-unit.sh "$log" "$unit_rc" '^unit total: '
unit_pass=$pass
unit_fail=$fail

# Integration: two pytest runs (serial, then side by side), each ending
#   ===== 60 passed, 2 failed, 1 error in 123.45s (0:02:03) =====
tests/run-integration.sh 2>&1 | tee "$log"
int_rc=${PIPESTATUS[0]}
summary=$(grep -E '^=+ .* in [0-9.]+s' "$log" || true)
n_summaries=$(printf '%s' "$summary" | grep -c . || true)
count() { # count REGEX: the numbers before that word in the summaries, added up
	local n
	n=$(printf '%s\n' "$summary" | grep -oE "\b[0-9]+ ($1)\b" | grep -oE '^[0-9]+' |
		awk '{ s += $1 } END { print s + 0 }')
	echo "${n:-0}"
}
# "N passed" does not match "N xpassed" (nor "failed" "xfailed"): \b.
int_pass=$(( $(count passed) + $(count xpassed) ))
int_fail=$(( $(count failed) + $(count 'errors?') ))
int_skip=$(count skipped)
if [ "$int_skip" -gt 0 ]; then
	if [ "${PYSPY_ALLOW_MISSING_PYTHON:-0}" = 1 ]; then
		echo "run-all: $int_skip integration tests skipped (PYSPY_ALLOW_MISSING_PYTHON=1)"
	else
		echo "run-all: $int_skip integration tests skipped, counted as failures"
		int_fail=$((int_fail + int_skip))
	fi
fi
if [ "$n_summaries" -ne 2 ]; then
	echo "run-all: $n_summaries pytest summary lines, not 2 (serial, side by side)"
	int_fail=$((int_fail + 1))
elif [ "$int_rc" -ne 0 ] && [ "$int_fail" -eq 0 ]; then
	echo "run-all: pytest exited $int_rc"
	int_fail=1
fi

passed=$((unit_pass + int_pass))
failed=$((unit_fail + int_fail))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
