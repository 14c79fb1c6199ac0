#!/bin/bash
# SPDX-License-Identifier: MIT
# Run the integration tests (pytest) against PYSPY_BIN.
set -eu
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYSPY_BIN=${PYSPY_BIN:-build/san/pyspy-bpf}
# Absolute, because the tests run the binary from other directories.
case $PYSPY_BIN in /*) ;; *) PYSPY_BIN=$PWD/$PYSPY_BIN ;; esac
export PYSPY_BIN
# The tests themselves fail when the binary is missing; this just makes the
# cause obvious at the top of the log.
[ -x "$PYSPY_BIN" ] || echo "run-integration: $PYSPY_BIN missing: every test will fail" >&2

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# No cache provider and no bytecode: keep .pytest_cache and __pycache__
# out of the source tree.
export PYTHONDONTWRITEBYTECODE=1
# Two runs: the tests that own something of the whole machine (marked
# serial: conftest.py says which) alone, then the rest side by side, one
# per CPU unless PYSPY_TEST_JOBS says otherwise.  Each ends with pytest's
# summary line; tests/run-all.sh adds them up.  Arguments go to both.
jobs=${PYSPY_TEST_JOBS:-$(nproc)}
pytest=(/usr/bin/python3 -m pytest -v -rfEs -p no:cacheprovider tests/integration)
rc=0
"${pytest[@]}" -m serial "$@" || rc=$?
[ "$rc" -eq 5 ] && rc=0 # no test selected: the arguments named none of them
if [ "$jobs" -gt 1 ]; then
	"${pytest[@]}" -m "not serial" -n "$jobs" "$@" || rc2=$?
else
	"${pytest[@]}" -m "not serial" "$@" || rc2=$?
fi
rc2=${rc2:-0}
[ "$rc2" -eq 5 ] && rc2=0
[ "$rc" -ne 0 ] && exit "$rc"
exit "$rc2"
