#!/bin/bash
# SPDX-License-Identifier: MIT
# build_hx.sh PYTHON DIR: tests/workloads/native/hx.c as DIR/hx.so for PYTHON
# (its own headers; no frame pointers, as most extension modules are).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$2"
inc=$("$1" -c 'import sysconfig as s; p = s.get_paths(); print("-I" + p["include"], "-I" + p["platinclude"])')
# shellcheck disable=SC2086 # two -I words
gcc -shared -fPIC -O2 -g -fomit-frame-pointer $inc "$top/tests/workloads/native/hx.c" -o "$2/hx.so"
