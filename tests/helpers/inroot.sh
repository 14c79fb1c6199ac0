#!/bin/bash
# SPDX-License-Identifier: MIT
# inroot.sh ROOT [--pidns] CMD ARGS... - run CMD inside ROOT the way a container would.
#
# A new mount namespace (and with --pidns a new PID namespace, CMD being
# its PID 1's child) with the repository and /tmp bound at the same paths,
# so workloads and their files keep the names the tests expect; then
# chroot.  The profiler stays on the host and must find every binary of
# CMD through /proc/PID/root.  Without --pidns CMD keeps this PID: each
# step execs the next.
set -eu
root=$1
shift
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pidns=()
if [ "${1:-}" = --pidns ]; then
	pidns=(--pid --fork --kill-child)
	shift
fi
mkdir -p "$root/tmp" "$root/proc" "$root/dev"
exec unshare --mount --propagation private "${pidns[@]}" /bin/sh -c '
	root=$1 repo=$2
	shift 2
	mount --rbind /tmp "$root/tmp"
	mkdir -p "$root$repo"
	mount --bind "$repo" "$root$repo"
	mount --rbind /dev "$root/dev"
	mount -t proc proc "$root/proc"
	exec chroot "$root" "$@"' inroot "$root" "$repo" "$@"
