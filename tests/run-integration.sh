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
exec /usr/bin/python3 -m pytest -v -rfEs -p no:cacheprovider tests/integration "$@"
