#!/bin/sh
# SPDX-License-Identifier: MIT
# Install the npm packages the integration tests drive (schema, validator, browser driver) into a cache dir.
#
#   scripts/npm-test-deps.sh [DIR]    (default: $PYSPY_NPM_DIR, else build/npm-test)
#
# Prints DIR/node_modules.  Versions are pinned here and no lock file is
# kept; a stamp file makes a second run a no-op that needs no network.
# Only the Node.js that is on the machine is used: playwright-core drives
# Debian's /usr/bin/chromium and downloads no browser of its own.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-${PYSPY_NPM_DIR:-$top/build/npm-test}}

# One package per line: name@exact-version.
pkgs="
speedscope@1.25.0
ajv@8.20.0
ajv-formats@3.0.1
playwright-core@1.65.1
"
want=$(echo $pkgs)

installed() {
	[ -f "$dir/.installed" ] && [ "$(cat "$dir/.installed")" = "$want" ] &&
		[ -d "$dir/node_modules" ]
}

if ! installed; then
	command -v npm >/dev/null 2>&1 ||
		{ echo "npm-test-deps: npm not found (Node.js 18+ with npm is needed)" >&2; exit 1; }
	mkdir -p "$dir"
	# Two test runs at once must not install over each other.
	exec 9>"$dir/.lock"
	flock 9
	if ! installed; then
		rm -f "$dir/.installed"
		# A package.json of its own stops npm from looking in parent directories.
		[ -f "$dir/package.json" ] || echo '{ "private": true }' >"$dir/package.json"
		# shellcheck disable=SC2086 # the list is split on purpose
		npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund \
			--loglevel=error $want >&2
		echo "$want" >"$dir/.installed"
	fi
fi
echo "$dir/node_modules"
