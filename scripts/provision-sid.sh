#!/bin/bash
# SPDX-License-Identifier: MIT
# Provision (or reuse) a Debian sid root with Debian's own CPython builds for the tests.
#
# The integration tests run python3.13, 3.14, 3.14-dbg and 3.15 inside this
# root (chroot, like a container), so the profiler reads every binary
# through /proc/PID/root.  These are the builds most users run: libpython
# linked statically into a stripped, non-PIE /usr/bin/python3.X.
#
# The root lives outside the work tree and is reused while its stamp says
# it was built from the same package list and every interpreter starts;
# otherwise it is built again from scratch.  The archive is the one apt
# already uses on this machine (its sid suite), or PYSPY_SID_MIRROR.
#
# Usage: scripts/provision-sid.sh [--print-root]
set -euo pipefail

ROOT=${PYSPY_SID_ROOT:-/var/cache/pyspy-bpf/sid}
PKGS="python3.13,python3.13-dev,python3.14,python3.14-dev,python3.14-dbg,python3.15,python3.15-dev"
INTERPRETERS="python3.13 python3.14 python3.14-dbg python3.15"
# Bump when the recipe changes, so old roots are rebuilt.
RECIPE="1 minbase sid $PKGS"
STAMP=$ROOT/.pyspy-provisioned

if [ "${1:-}" = --print-root ]; then
	echo "$ROOT"
	exit 0
fi

complete() {
	[ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$RECIPE" ] || return 1
	local py
	for py in $INTERPRETERS; do
		chroot "$ROOT" "/usr/bin/$py" -c 'import sys' 2>/dev/null || return 1
	done
}

# The Debian archive apt uses here: the URI of the entry that serves the
# release this machine runs (not its -security or -updates suites).
mirror() {
	local codename uri
	if [ -n "${PYSPY_SID_MIRROR:-}" ]; then
		echo "$PYSPY_SID_MIRROR"
		return
	fi
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
	uri=$(awk -v c="$codename" '
		/^URIs:/ { u = $2 }
		/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == c) { print u; exit } }
		/^$/ { u = "" }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
	if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
		uri=$(awk -v c="$codename" '$1 == "deb" && $3 == c { print $2; exit }' \
			/etc/apt/sources.list)
	fi
	[ -n "$uri" ] || { echo "provision-sid: no apt source for $codename found" >&2; exit 1; }
	echo "$uri"
}

# A root that is being replaced must have nothing mounted inside it.
unmount_under() {
	local m
	for m in $(awk -v r="$1" 'index($5, r "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
}

[ "$(id -u)" = 0 ] || { echo "provision-sid: must run as root (debootstrap, chroot)" >&2; exit 1; }
mkdir -p "$(dirname "$ROOT")"
exec 9>"$(dirname "$ROOT")/.sid.lock"
flock 9

if complete; then
	echo "provision-sid: $ROOT is complete (reused)"
	exit 0
fi
command -v debootstrap >/dev/null || {
	echo "provision-sid: debootstrap is missing (make deps installs it)" >&2
	exit 1
}

url=$(mirror)
tmp=$ROOT.new
start=$(date +%s)
echo "provision-sid: building $ROOT from $url (sid: $PKGS)"
for attempt in 1 2; do
	unmount_under "$tmp"
	rm -rf "$tmp"
	if debootstrap --variant=minbase --include="$PKGS" sid "$tmp" "$url" \
		>"$tmp.log" 2>&1; then
		break
	fi
	echo "provision-sid: debootstrap attempt $attempt failed; last lines:" >&2
	tail -n 5 "$tmp.log" >&2
	[ "$attempt" = 2 ] && exit 1
done
# Nothing else of the root is needed; apt's caches are 100+ MB.
rm -rf "$tmp/var/cache/apt/archives/"*.deb
echo "$RECIPE" >"$tmp/.pyspy-provisioned"
unmount_under "$ROOT"
rm -rf "$ROOT"
mv "$tmp" "$ROOT"
rm -f "$tmp.log"
if ! complete; then
	echo "provision-sid: $ROOT was built but an interpreter does not start" >&2
	exit 1
fi
echo "provision-sid: done in $(($(date +%s) - start)) s"
