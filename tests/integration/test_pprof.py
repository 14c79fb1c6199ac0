# SPDX-License-Identifier: MIT
# pprof output of `pyspy-bpf record`, checked with the real `go tool pprof`.
"""Each test records a workload from tests/workloads to a pprof file and
reads that one file twice:

- with the real `go tool pprof` (Debian's golang-go): `-raw` gives every
  sample with its values, labels and locations; `-top`, `-traces` and
  `-tags` are what a person sees;
- with our own reader (user/output/pprof_read.c), through the unit test
  binary's converter mode, `test_pprof --to-folded FILE`, which prints the
  file as folded stacks with process and thread frames.

Both readings of the same recording must agree stack for stack, count for
count, pid/tid/names included; and go's view must show our exact names
(`<module>`, qualnames), lines (simple.py's `# HOT` line) and header
(period, time, duration).  The converter is found next to PYSPY_BIN
(DIR/tests/test_pprof, built by `make test` and `make integration`) or at
PYSPY_PPROF_READER.
"""
import os
import re
import subprocess
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import (PYTHONS, WORKLOADS, behaviour_ids, marker_line, parse_folded,
                      require_python, run_pyspy, total)

RATE = 499
PERIOD = 1000000000 // RATE


def fr(name, script, tag):
    return "%s (%s:%d)" % (name, WORKLOADS / script, marker_line(script, tag))


def qual(python, cls, name):
    return "%s.%s" % (cls, name) if python.version >= (3, 11) else name


def by_id(ident):
    return require_python(next(p for p in PYTHONS if p.id == ident))


# --- `go tool pprof -raw`, parsed --------------------------------------------

RAW_SAMPLE_RE = re.compile(r"^\s+(-?\d+)\s+(-?\d+): ([\d ]*)$")
RAW_LOC_RE = re.compile(r"^\s*(\d+): 0x[0-9a-f]+ M=\d+ (?P<name>\S+) (?P<file>.*):(?P<line>\d+)"
                        r" s=(?P<start>-?\d+)(?:\((?P<sys>.*)\))?$")
LABEL_RE = re.compile(r"(\w+):\[([^\]]*)\]")


class Raw:
    """-raw output: .header {key: text}, .samples [(count, cpu, [loc ids], labels)],
    .locs {id: (name, file, line)}."""

    def __init__(self, text):
        self.text = text
        self.header, self.samples, self.locs = {}, [], {}
        section = "header"
        for line in text.splitlines():
            if line in ("Samples:", "Locations", "Mappings"):
                section = line.rstrip(":").lower()
                continue
            if section == "header" and ": " in line:
                k, _, v = line.partition(": ")
                self.header[k] = v
            elif section == "samples":
                self.sample_line(line)
            elif section == "locations":
                m = RAW_LOC_RE.match(line)
                assert m, "unexpected -raw location line (inlined frames?): %r" % line
                self.locs[int(m.group(1))] = (m.group("name"), m.group("file"),
                                              int(m.group("line")))

    def sample_line(self, line):
        m = RAW_SAMPLE_RE.match(line)
        if m:
            ids = [int(x) for x in m.group(3).split()]
            self.samples.append((int(m.group(1)), int(m.group(2)), ids, {}))
        elif ":[" in line and self.samples:
            self.samples[-1][3].update(LABEL_RE.findall(line))
        else:
            assert line.startswith("samples/count cpu/nanoseconds"), \
                "unexpected -raw sample line: %r" % line

    def frame(self, loc_id):
        name, file, line = self.locs[loc_id]
        if not file and not line:
            return name  # a marker: [truncated], [partial], [unknown]
        return "%s (%s%s)" % (name, file, ":%d" % line if line else "")

    def folded(self):
        """Counter {folded line without count: samples}, like our reader's."""
        out = Counter()
        for count, _, ids, lb in self.samples:
            frames = ["process %s (%s)" % (lb.get("pid"), lb.get("process", "?")),
                      "thread %s (%s)" % (lb.get("tid"), lb.get("thread_name", "?"))]
            frames += [self.frame(i) for i in reversed(ids)]  # pprof: leaf first
            out[";".join(frames)] += count
        return out


def ours(text):
    return Counter({";".join(f): c for f, c in parse_folded(text)})


def diff(a, b, n=8):
    keys = sorted(set(a) | set(b), key=lambda k: -abs(a[k] - b[k]))
    return "\n".join("go %6d  ours %6d  %s" % (a[k], b[k], k) for k in keys[:n]
                     if a[k] != b[k])


def top_rows(text):
    """-top rows -> {name: (flat, cum)} as the last column's text."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^\s*(\S+)\s+\S+%\s+\S+%\s+(\S+)\s+\S+%\s+(.+)$", line)
        if m:
            rows[m.group(3)] = (m.group(1), m.group(2))
    return rows


def record_pprof(pyspy, pid, out, duration=2, extra=()):
    r = run_pyspy(pyspy, ["record", "--pid", pid, "--duration", duration, "--rate", RATE,
                          "-o", out] + list(extra), timeout=duration + 30)
    assert r.rc == 0, str(r)
    data = Path(out).read_bytes()
    assert data[:2] == b"\x1f\x8b", "%s is not gzipped\n%s" % (out, r)
    return r


def check_same_reading(go_pprof, reader, pb):
    """Both readers agree on every stack; return go's parsed -raw."""
    raw = Raw(go_pprof("-raw", pb))
    theirs, mine = raw.folded(), ours(reader(pb))
    assert theirs == mine, "go tool pprof and our reader differ:\n%s" % diff(theirs, mine)
    assert all(cpu == count * PERIOD for count, cpu, _, _ in raw.samples), \
        "cpu/nanoseconds must be samples x period %d" % PERIOD
    return raw


# --- tests -------------------------------------------------------------------

def test_simple(python, workload, pyspy, go_pprof, reader, tmp_path):
    w = workload(python, "simple.py")
    pb = tmp_path / "simple.pb.gz"
    t0 = time.time()
    record_pprof(pyspy, w.pid, pb)
    t1 = time.time()
    raw = check_same_reading(go_pprof, reader, pb)

    want = [fr("<module>", "simple.py", "ROOT"), fr("main", "simple.py", "CALL-COMPUTE"),
            fr(qual(python, "Worker", "compute"), "simple.py", "CALL-HOT"),
            fr("hot_loop", "simple.py", "HOT")]
    stacks = [(f.split(";")[2:], c) for f, c in raw.folded().items()]
    n = total(stacks)
    exact = sum(c for f, c in stacks if f == want)
    # Sample loss under load is test_record.py's concern; here the two
    # readings just need enough samples to mean something.
    assert n >= 0.1 * RATE * 2, "only %d samples" % n
    assert exact > 0.9 * n, "%d of %d samples are exactly %s" % (exact, n, ";".join(want))

    # The header: period, start time, duration.
    assert raw.header["PeriodType"] == "cpu nanoseconds"
    assert int(raw.header["Period"]) == PERIOD
    started = datetime.strptime(raw.header["Time"][:26], "%Y-%m-%d %H:%M:%S.%f")
    started = started.replace(tzinfo=timezone.utc).timestamp()
    assert t0 - 1 <= started <= t1, "Time %s not within the run" % raw.header["Time"]
    dur = float(re.match(r"[\d.]+", raw.header["Duration"]).group(0))
    assert 1.8 <= dur <= 3, "Duration %s" % raw.header["Duration"]

    # What a person sees: exact names, no <unknown> or [python] stand-ins.
    top = top_rows(go_pprof("-top", pb))
    names = {"<module>", "main", qual(python, "Worker", "compute"), "hot_loop"}
    assert names <= set(top), "go tool pprof -top shows %s" % sorted(top)
    assert not {"<unknown>", "[python]"} & set(top), sorted(top)
    hot = "hot_loop %s:%d" % (WORKLOADS / "simple.py", marker_line("simple.py", "HOT"))
    lines = top_rows(go_pprof("-top", "-lines", pb))
    assert hot in lines, "-top -lines has no %r: %s" % (hot, sorted(lines))
    traces = go_pprof("-traces", pb)
    leaf_first = "\n".join(r"\s+(\S+\s+)?%s" % re.escape(x) for x in
                           ["hot_loop", qual(python, "Worker", "compute"), "main", "<module>"])
    assert re.search(leaf_first + "\n", traces), "-traces lacks the stack:\n%s" % traces[:3000]


def test_threads_labels(workload, pyspy, go_pprof, reader, tmp_path):
    python = by_id("3.12")
    w = workload(python, "threads.py")
    pb = tmp_path / "threads.pprof"
    record_pprof(pyspy, w.pid, pb)
    raw = check_same_reading(go_pprof, reader, pb)
    tids = {lb["tid"] for _, _, _, lb in raw.samples}
    assert {lb["pid"] for _, _, _, lb in raw.samples} == {str(w.pid)}
    assert len(tids) == 3, "want 3 threads, got %s" % tids
    tags = go_pprof("-tags", pb)
    for key in ("pid", "tid", "thread_name", "process"):
        assert re.search(r"^\s*%s: Total" % key, tags, re.M), "-tags lacks %s:\n%s" % (key, tags)
    for value in [str(w.pid), "worker-a", "worker-b"] + sorted(tids):
        assert re.search(r"\): %s$" % re.escape(value), tags, re.M), \
            "-tags lacks %s:\n%s" % (value, tags)


@pytest.mark.parametrize("ident", behaviour_ids())
def test_truncated_marker(ident, workload, pyspy, go_pprof, reader, tmp_path):
    w = workload(by_id(ident), "deep.py", "--depth", 1100)
    pb = tmp_path / "deep.pb.gz"
    record_pprof(pyspy, w.pid, pb)
    raw = check_same_reading(go_pprof, reader, pb)
    n = sum(c for c, _, _, _ in raw.samples)
    marked = sum(c for c, _, ids, _ in raw.samples if raw.frame(ids[-1]) == "[truncated]")
    assert marked > 0.9 * n, "%d of %d samples end in [truncated]" % (marked, n)
    top = top_rows(go_pprof("-top", pb))
    assert "[truncated]" in top and "leaf" in top, sorted(top)


@pytest.mark.parametrize("args,name", [
    (["--format", "pprof"], "out.data"),
    ([], "out.pprof"),
    (["-f", "pprof"], "out.folded"),  # --format wins over the extension
])
def test_format_selection(args, name, workload, pyspy, go_pprof, tmp_path):
    w = workload(by_id("3.11-debian"), "simple.py")
    out = tmp_path / name
    record_pprof(pyspy, w.pid, out, duration=1, extra=args)
    assert "hot_loop" in top_rows(go_pprof("-top", out))
