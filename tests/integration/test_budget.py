# SPDX-License-Identifier: MIT
# The agent's memory is bounded whatever a target does: line tables are
# shared by content and held within a byte budget per target and in all.
"""Targets that make the agent pay for memory they choose: a thousand
functions sharing one 1 MiB line table, a hundred with distinct 256 KiB
ones against an 8 MB budget.  The agent's peak RSS is measured by a parent
of its own (RUSAGE_CHILDREN), with ASan's quarantine off so that freed
memory is not counted as held."""
import re
import signal
import time
import urllib.request

import pytest

from conftest import (BY_ID, NO_QUARANTINE, PEAK, marker_line, parse_folded, parse_frame,
                      peak_kib, require_python, run_pyspy)
from test_serve import server  # noqa: F401 (the fixture)


def wrong_lines(lines, n):
    """Functions f0..f{n-2} not seen at their call of the next one (a
    sample may also catch one on its way there: at its def line, where a
    frame starts before 3.11, or at the `if`)."""
    call = marker_line("bigtables.py", "CALL")
    return ["f%d: %s" % (i, sorted(lines.get("f%d" % i, ())))
            for i in range(n - 1) if call not in lines.get("f%d" % i, ())
            or not lines["f%d" % i] <= {call - 2, call - 1, call}]


def frame_lines(stacks):
    """{function name: set of lines} over every frame of every stack."""
    seen = {}
    for frames, _ in stacks:
        for f in frames:
            p = parse_frame(f)
            if p:
                seen.setdefault(p[0], set()).add(p[2])
    return seen


# Per version: each line-table format (3.9's lnotab, 3.10's linetable, the
# location tables of 3.11+), and one read through a sid root.
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


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^VmRSS:\s+(\d+) kB$", f.read(), re.M).group(1))


def names_in(reader, url, tmp_path):
    """({function: lines}, {every frame's name}) of a profile served at url.
    The names include markers, which have no file and line: a name dropped
    past the budget reads "[dropped: too many names] (file:line)" when its
    function and location still fit, and the bare marker when they did not
    either (how much room a full budget has left is the target's timing)."""
    with urllib.request.urlopen(url, timeout=30) as resp:
        path = tmp_path / "p.pb.gz"
        path.write_bytes(resp.read())
    stacks = parse_folded(reader(path))
    names = {p[0] if p else f for fs, _ in stacks for f, p in ((f, parse_frame(f)) for f in fs)}
    return frame_lines(stacks), names


def metrics(srv):
    with urllib.request.urlopen(srv.url + "/metrics", timeout=10) as resp:
        return resp.read().decode()


@pytest.mark.parametrize("rebuild", [3, 600], ids=["rebuilt", "not-rebuilt"])
def test_serve_levels_off_against_name_churn(rebuild, workload, server, reader, tmp_path,
                                            monkeypatch):
    """A target makes a function with a unique 1 KB name every millisecond
    or so, then (SIGUSR1) spins in one function.  serve, with a 1 MB symbol
    budget, levels off while the churn goes on (RSS over its second half
    grows by less than 8 MB), and once it is over, a rebuild every 3 s
    gives the budget back: the new function is named, where without
    rebuilds, once the budget was full, it is "[dropped: too many names]"
    for good.  (Its name is longer than any of the churn's, so the room
    they left does not fit it.)"""
    monkeypatch.setenv("ASAN_OPTIONS", NO_QUARANTINE["ASAN_OPTIONS"])
    python = require_python(BY_ID["3.12"])
    w = workload(python, "namechurn.py", "--seconds", 120)
    srv = server("--pid", w.pid, "--symbol-budget", 1, "--rebuild-symbols", rebuild)
    t0 = time.monotonic()
    rss = []
    # At least 16 s; without rebuilds, until the budget is full too.
    while time.monotonic() - t0 < 16 or (
            rebuild == 600 and metric(metrics(srv), "pyspy_dropped_names_total") == 0):
        assert time.monotonic() - t0 < 90, "the budget never filled:\n" + metrics(srv)
        time.sleep(1)
        rss.append(rss_kib(srv.proc.pid))
    half = rss[len(rss) // 2:]
    assert max(half) - half[0] < 8 * 1024, "RSS (KiB) each second: %s" % rss
    w.proc.send_signal(signal.SIGUSR1)
    time.sleep(rebuild + 2 if rebuild < 10 else 2)  # the churn is over, a rebuild is done
    lines, names = names_in(reader, srv.url + "/debug/pprof/profile?seconds=2", tmp_path)
    dropped = "[dropped: too many names]"
    steady = "steady_" + "s" * 1017
    shown = sorted(n[:30] for n in names)
    if rebuild == 3:
        assert marker_line("namechurn.py", "STEADY") in lines.get(steady, ()), shown
        assert dropped not in names, shown
    else:
        assert steady not in names and dropped in names, shown
