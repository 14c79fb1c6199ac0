#!/bin/sh
# SPDX-License-Identifier: MIT
# Install the Debian packages needed to build and test pyspy-bpf (idempotent).
set -eu

# One package per line, with why, so that additions do not collide.
pkgs="
clang
clang-format
llvm
bpftool
libbpf-dev
libelf-dev
libdw-dev
liblzma-dev
xz-utils
binutils
zlib1g-dev
uthash-dev
pkg-config
make
gcc
python3-pytest
python3-pytest-xdist
procps
util-linux
tmux
chromium
protobuf-c-compiler
libprotobuf-c-dev
golang-go
libmicrohttpd-dev
libgnutls28-dev
curl
openssl
yamllint
debootstrap
strace
libclang-rt-dev
"

# Ask dpkg first so the common case (everything present) costs no network
# round trip and needs no root.
missing=
for p in $pkgs; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# Only refresh the index when we actually have to install something.
apt-get update -q
# shellcheck disable=SC2086 # word splitting of the package list is wanted
apt-get install -y -q --no-install-recommends $missing
