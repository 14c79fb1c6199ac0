# SPDX-License-Identifier: MIT
# tally.sh - sourced by tests/run-unit.sh and tests/run-all.sh: the one rule
# for what a test run counts as, from its output and its exit status.
#
# tally NAME LOG RC PREFIX sets pass and fail from the last line of LOG that
# is PREFIX then "N passed, N failed" (what tests/unit/unit.h and run-unit.sh
# end with).  A run without that line, or that exits non-zero (a sanitizer
# abort after the line, a timeout) while it claims no failure, counts as one
# failure, said on a line starting with NAME: a crash is never a pass.
tally() {
	local name=$1 log=$2 rc=$3 prefix=$4 line
	line=$(grep -E "${prefix}[0-9]+ passed, [0-9]+ failed\$" "$log" | tail -n 1 || true)
	pass=0
	fail=1
	if [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		pass=${BASH_REMATCH[1]}
		fail=${BASH_REMATCH[2]}
		if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
			echo "$name: exit status $rc, counted as 1 failure"
			fail=1
		fi
	else
		echo "$name: no summary line (exit status $rc)"
	fi
}
