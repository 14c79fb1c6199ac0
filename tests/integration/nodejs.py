# SPDX-License-Identifier: MIT
# Node.js for the integration tests: the pinned npm packages, and running the drivers in js/.
"""The npm packages (speedscope's schema, Ajv, playwright-core) come from
scripts/npm-test-deps.sh, once per session; a second session finds them
cached.  A missing Node.js, npm or Chromium fails the test, never skips it.
"""
import functools
import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
JS = Path(__file__).resolve().parent / "js"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@functools.lru_cache(maxsize=None)
def node_modules():
    """Install (or find) the pinned packages; return their node_modules."""
    try:
        proc = subprocess.run([str(REPO / "scripts/npm-test-deps.sh")],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True,
                              timeout=600)
    except subprocess.TimeoutExpired:
        pytest.fail("scripts/npm-test-deps.sh: still running after 600 s")
    if proc.returncode != 0 or not proc.stdout.strip():
        pytest.fail("scripts/npm-test-deps.sh failed (exit %d):\n%s" % (
            proc.returncode, proc.stderr[-4000:]))
    return proc.stdout.strip().splitlines()[-1]


def run_node(script, args, timeout=120):
    """Run js/SCRIPT with the packages on NODE_PATH; return (exit code, parsed stdout, stderr)."""
    env = dict(os.environ, NODE_PATH=node_modules(), CHROMIUM=CHROMIUM)
    cmd = ["node", str(JS / script)] + [str(a) for a in args]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True,
                              timeout=timeout, env=env)
    except FileNotFoundError:
        pytest.fail("node not found: Node.js 18+ is needed for this test")
    except subprocess.TimeoutExpired:
        pytest.fail("%s: still running after %ss" % (" ".join(cmd), timeout))
    try:
        out = json.loads(proc.stdout) if proc.stdout.strip() else None
    except ValueError:
        out = None
    return proc.returncode, out, proc.stderr


def require_chromium():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail("%s missing: install Debian's chromium (scripts/install-deps.sh)" % CHROMIUM)
