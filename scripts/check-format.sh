#!/bin/bash
# SPDX-License-Identifier: MIT
# check-format.sh - the C sources are as .clang-format writes them (kernel
# style: tabs, 100 columns).  `scripts/check-format.sh --fix` rewrites them.
# The generated layout table is left as its generator writes it.
set -eu
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mapfile -t files < <(git ls-files 'bpf/*.[ch]' 'user/*.[ch]' 'symbolize/*.[ch]' \
	'tests/unit/*.[ch]' 'tests/fuzz/*.c' 'bench/*.c' | grep -v pyoffsets_table.c)
if [ "${1:-}" = --fix ]; then
	exec clang-format -i "${files[@]}"
fi
clang-format --dry-run --Werror "${files[@]}"
