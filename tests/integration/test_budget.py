# SPDX-License-Identifier: MIT
# The agent's memory is bounded whatever a target does: line tables are
# shared by content and held within a byte budget per target and in all.
"""Targets that make the agent pay for memory they choose: a thousand
functions sharing one 1 MiB line table, a hundred with distinct 256 KiB
ones against an 8 MB budget.  The agent's peak RSS is measured by a parent
of its own (RUSAGE_CHILDREN), with ASan's quarantine off so that freed
memory is not counted as held."""
import re
import urllib.request

import pytest

from conftest import (BY_ID, SAN_ENV, marker_line, parse_folded, parse_frame, require_python,
                      run_pyspy)
from test_serve import server  # noqa: F401 (the fixture)

# Runs argv, then prints the peak RSS of it (and its children) in KiB.
PEAK = ("import resource, subprocess, sys\n"
        "rc = subprocess.call(sys.argv[1:])\n"
        "sys.stderr.write('peak-rss-kib %d\\n' % "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.exit(rc)\n")
NO_QUARANTINE = {"ASAN_OPTIONS": SAN_ENV["ASAN_OPTIONS"] + ":quarantine_size_mb=0"}


def peak_kib(r):
    m = re.search(r"^peak-rss-kib (\d+)$", r.stderr, re.M)
    assert m, str(r)
    return int(m.group(1))


def wrong_lines(lines, n):
    """Functions f0..f{n-2} not seen at their call of the next one (a
    sample may also catch one on its way there, at the line before)."""
    call = marker_line("bigtables.py", "CALL")
    return ["f%d: %s" % (i, sorted(lines.get("f%d" % i, ())))
            for i in range(n - 1) if call not in lines.get("f%d" % i, ())
            or not lines["f%d" % i] <= {call - 1, call}]


def frame_lines(stacks):
    """{function name: set of lines} over every frame of every stack."""
    seen = {}
    for frames, _ in stacks:
        for f in frames:
            p = parse_frame(f)
            if p:
                seen.setdefault(p[0], set()).add(p[2])
    return seen


@pytest.mark.parametrize("py_id", ["3.9", "3.10", "3.12", "3.14-sid"])
def test_shared_line_table_is_held_once(py_id, workload, pyspy, tmp_path):
    """1000 functions, all on every stack, share one 1 MiB line table: the
    agent holds it once (tens of MB at peak, where a copy per code object
    took a GB), names every function at its line, and lets nothing go."""
    python = require_python(BY_ID[py_id])
    w = workload(python, "bigtables.py", "--shared", "--functions", 1000)
    out = tmp_path / "p.folded"
    r = run_pyspy("/usr/bin/python3", ["-c", PEAK, pyspy, "record", "--pid", w.pid,
                                       "--duration", 3, "--rate", 99, "-o", out], out,
                  env=NO_QUARANTINE)
    stacks = r.profile()
    lines = frame_lines(stacks)
    wrong = wrong_lines(lines, 1000)
    assert not wrong, "%s\n%s" % (wrong[:5], r)
    assert "f999" in lines, str(r)
    assert "code cache at its budget" not in r.stderr, str(r)
    assert peak_kib(r) < 128 * 1024, str(r)


def metric(text, name):
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    assert m, (name, text)
    return int(m.group(1))


def test_line_tables_past_the_budget(workload, server, reader, tmp_path):
    """100 functions with distinct 256 KiB tables (25 MB) on every stack,
    against --cache-per-target 8: /metrics shows the code caches within
    8 MB and evictions counted, and a profile still names every function
    at its line (what was read stays remembered; no table is read again
    per sample)."""
    python = require_python(BY_ID["3.12"])
    w = workload(python, "bigtables.py", "--functions", 100, "--table-bytes", 256 << 10)
    srv = server("--pid", w.pid, "--cache-per-target", 8)
    with urllib.request.urlopen(srv.url + "/debug/pprof/profile?seconds=3", timeout=30) as resp:
        pb = resp.read()
    path = tmp_path / "p.pb.gz"
    path.write_bytes(pb)
    stacks = parse_folded(reader(path))
    lines = frame_lines(stacks)
    wrong = wrong_lines(lines, 100)
    assert not wrong, wrong[:5]
    with urllib.request.urlopen(srv.url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    assert 0 < metric(text, "pyspy_code_cache_bytes") <= 8 << 20, text
    assert metric(text, "pyspy_code_cache_evictions_total") > 0, text
