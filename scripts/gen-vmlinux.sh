#!/bin/sh
# SPDX-License-Identifier: MIT
# Regenerate vmlinux/<arch>/vmlinux.h from the running kernel's BTF.
# The dump is committed so that builds do not need BTF at compile time;
# CO-RE relocates field accesses against the target kernel at load time.
set -eu
arch=${ARCH:-x86}
top=$(cd "$(dirname "$0")/.." && pwd)
btf=${BTF:-/sys/kernel/btf/vmlinux}
[ -r "$btf" ] || { echo "gen-vmlinux: $btf not readable (kernel without BTF?)" >&2; exit 1; }
rel=$(uname -r | sed 's/^\([0-9]*\.[0-9]*\).*/\1/')
out="$top/vmlinux/$arch/vmlinux_$rel.h"
bpftool btf dump file "$btf" format c > "$out.tmp"
mv "$out.tmp" "$out"
ln -sf "vmlinux_$rel.h" "$top/vmlinux/$arch/vmlinux.h"
echo "wrote $out"
