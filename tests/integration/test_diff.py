# SPDX-License-Identifier: MIT
# `pyspy-bpf diff` on two real recordings of one program, the second with a known regression.
"""tests/workloads/release.py runs parse(), transform() and render() with
equal work; with --slow transform, transform() does twice as much.  The
"before" release is recorded under CPython 3.11 as folded, the "after" one
under 3.13 as pprof, so the diff also has to match functions across
interpreter versions and file formats.  Expected shares: a third each
before; after, transform about a half and the others about a quarter.
"""
import gzip
import re
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest

from conftest import (NO_QUARANTINE, PEAK, PYTHONS, WORKLOADS, Workload, kill_group, peak_kib,
                      require_python, run_pyspy)

RATE = 499
SECONDS = 3
SCRIPT = str(WORKLOADS / "release.py")
BY_ID = {p.id: p for p in PYTHONS}
SVG_NS = "{http://www.w3.org/2000/svg}"
PCT = r"\s+([-+]?\d+\.\d+)%"
ROW_RE = re.compile(r"^" + PCT * 6 + r"  (?P<fn>.+)$")
RGB_RE = re.compile(r"^rgb\((\d+),(\d+),(\d+)\)$")


def fn(name):
    return "%s (%s)" % (name, SCRIPT)


def record_release(pyspy, python, out, slow=None):
    args = ["--seconds", 60] + (["--slow", slow] if slow else [])
    w = Workload(require_python(python), "release.py", args)
    try:
        rec = run_pyspy(pyspy, ["record", "--pid", w.pid, "--duration", SECONDS,
                                "--rate", RATE, "-o", out], None, SECONDS + 30)
    finally:
        kill_group(w.proc)
    assert rec.rc == 0, str(rec)
    assert out.stat().st_size > 0, "no profile written\n%s" % rec
    return rec


@pytest.fixture(scope="module")
def releases(pyspy, tmp_path_factory):
    d = tmp_path_factory.mktemp("diff")
    before, after = d / "before.folded", d / "after.pb.gz"
    record_release(pyspy, BY_ID["3.11"], before)
    record_release(pyspy, BY_ID["3.13"], after, slow="transform")
    assert after.read_bytes()[:2] == b"\x1f\x8b", "the .pb.gz recording is gzipped pprof"
    return SimpleNamespace(before=before, after=after, dir=d)


def diff(pyspy, *args):
    return run_pyspy(pyspy, ["diff"] + [str(a) for a in args], None, 60)


def table(rec):
    """Table rows: [(function, own before, after, Δown, total before, after, Δtotal)]."""
    assert rec.rc == 0, str(rec)
    rows = []
    for line in rec.stdout.splitlines():
        m = ROW_RE.match(line)
        if m:
            rows.append((m.group("fn"),) + tuple(float(m.group(i)) for i in range(1, 7)))
    assert rows, "no table rows in\n%s" % rec.stdout
    return rows


def row(rows, name):
    hits = [r for r in rows if r[0] == fn(name)]
    assert len(hits) == 1, "%s: %d rows\n%s" % (fn(name), len(hits), rows)
    return hits[0]


def test_regression_comes_first(pyspy, releases):
    rec = diff(pyspy, releases.before, releases.after)
    rows = table(rec)
    assert "before.folded (folded)" in rec.stdout and "after.pb.gz (gzipped pprof)" in rec.stdout
    first = rows[0]
    assert first[0] == fn("transform"), "first row is not transform:\n%s" % rec.stdout
    assert first[3] > 8, "transform's own share grew by only %.2f points\n%s" % (
        first[3], rec.stdout)
    assert 25 < first[1] < 42 and 40 < first[2] < 60, rec.stdout
    for name in ("parse", "render"):
        r = row(rows, name)
        assert r[3] < -3, "%s did not shrink\n%s" % (name, rec.stdout)
    # main and <module> are on every stack, before and after: no own time, total 100%.
    m = row(rows, "main")
    assert m[1] < 2 and m[2] < 2 and m[4] > 95 and m[5] > 95, rec.stdout


def test_reverse_shrinks(pyspy, releases):
    """pprof as BEFORE, folded as AFTER: the same change, the other way round."""
    rows = table(diff(pyspy, releases.after, releases.before, "--top", 3))
    assert rows[0][0] == fn("transform") and rows[0][3] < -8, rows
    assert len(rows) == 3, "--top 3 shows three rows"


def frames(svg_path):
    """{title: (r, g, b)} of every drawn frame of the SVG."""
    root = ET.parse(str(svg_path)).getroot()
    out = []
    for g in root.iter(SVG_NS + "g"):
        title, rect = g.find(SVG_NS + "title"), g.find(SVG_NS + "rect")
        if title is None or rect is None:
            continue
        m = RGB_RE.match(rect.get("fill", ""))
        assert m, "frame fill %r" % rect.get("fill")
        out.append((title.text, tuple(int(c) for c in m.groups())))
    return out


def frame_colour(fr, name):
    """Colour of name's widest frame (titles start `name (file) — N samples`)."""
    hits = []
    for title, rgb in fr:
        m = re.match(re.escape(fn(name)) + r" \u2014 (\d+) samples?", title or "")
        if m:
            hits.append((int(m.group(1)), rgb))
    assert hits, "no frame for %s among\n%s" % (fn(name), "\n".join(t for t, _ in fr))
    return max(hits)[1]


def test_svg_red_and_blue(pyspy, releases):
    out = releases.dir / "diff.svg"
    rec = diff(pyspy, releases.before, releases.after, "-o", out)
    rows = table(rec)  # the table still goes to stdout
    assert rows[0][0] == fn("transform")
    fr = frames(out)
    r, g, b = frame_colour(fr, "transform")
    assert r > 200 and r > b + 80 and r > g + 80, \
        "transform grew, so red: rgb(%d,%d,%d)" % (r, g, b)
    for name in ("parse", "render"):
        r, g, b = frame_colour(fr, name)
        assert b > r + 40, "%s shrank, so blue: rgb(%d,%d,%d)" % (name, r, g, b)
    r, g, b = frame_colour(fr, "main")
    assert min(r, g, b) > 200, "main's share stayed 100%%, so near neutral: rgb(%d,%d,%d)" % (
        r, g, b)
    text = out.read_text()
    assert "Differential flame graph" in text


def test_svg_to_stdout(pyspy, releases):
    rec = diff(pyspy, releases.before, releases.after, "--format", "svg")
    assert rec.rc == 0, str(rec)
    assert rec.stdout.startswith("<?xml") and rec.stdout.rstrip().endswith("</svg>")
    assert "own before" not in rec.stdout, "no table mixed into the SVG"


def test_absolute_seconds(pyspy, releases):
    # Folded files do not record the rate; without --rate the units differ.
    rec = diff(pyspy, releases.before, releases.after, "--absolute")
    assert rec.rc == 1 and "--rate" in rec.stderr, str(rec)
    rec = diff(pyspy, releases.before, releases.after, "--absolute", "--rate", RATE,
               "--top", 0)
    assert rec.rc == 0, str(rec)
    assert "absolute weights in s" in rec.stdout, rec.stdout
    totals = [float(x) for x in re.findall(r"samples = (\d+\.\d+) s", rec.stdout)]
    assert len(totals) == 2, rec.stdout
    for t in totals:
        # One busy thread for SECONDS: at most that much CPU, and not far less.
        assert 0.3 * SECONDS < t < 1.2 * SECONDS, rec.stdout
    rows = []
    for line in rec.stdout.splitlines():
        m = re.match(r"^" + r"\s+([-+]?\d+\.\d+)" * 6 + r"  (?P<fn>.+)$", line)
        if m:
            rows.append((m.group("fn"),) + tuple(float(m.group(i)) for i in range(1, 7)))
    # Own seconds add up to the whole; main's total is all of it.
    assert abs(sum(r[1] for r in rows) - totals[0]) < 0.01, rec.stdout
    assert abs(sum(r[2] for r in rows) - totals[1]) < 0.01, rec.stdout
    assert abs(row(rows, "main")[5] - totals[1]) < 0.01, rec.stdout


# --- bad input: one clear line, non-zero exit, never a crash --------------------

def one_error(rec, *want):
    assert rec.rc == 1, str(rec)
    lines = rec.stderr.strip().splitlines()
    assert len(lines) == 1, "want one error line:\n%s" % rec.stderr
    for w in want:
        assert w in lines[0], "%r not in %r" % (w, lines[0])
    assert not rec.stdout, "nothing on stdout after an error"


def test_bad_inputs(pyspy, tmp_path):
    good = tmp_path / "good.folded"
    good.write_text("main (m.py:1);f (m.py:2) 5\n")
    missing = tmp_path / "missing.folded"
    one_error(diff(pyspy, missing, good), str(missing), "No such file")
    one_error(diff(pyspy, good, tmp_path), str(tmp_path), "not a regular file")
    empty = tmp_path / "empty.folded"
    empty.write_text("")
    one_error(diff(pyspy, good, empty), "empty")
    blank = tmp_path / "blank.folded"
    blank.write_text("\n\n")
    one_error(diff(pyspy, blank, good), "no samples")
    bad = tmp_path / "bad.folded"
    bad.write_text("main (m.py:1);f (m.py:2) 5\nmain (m.py:1);;f (m.py:2) 3\n")
    one_error(diff(pyspy, good, bad), "%s:2: empty frame" % bad)
    count = tmp_path / "count.folded"
    count.write_text("main (m.py:1) lots\n")
    one_error(diff(pyspy, count, good), "%s:1: count 'lots' is not a whole number" % count)
    junk = tmp_path / "junk.pb.gz"
    junk.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage")
    one_error(diff(pyspy, good, junk), "gzip")
    binary = tmp_path / "binary.pprof"
    binary.write_bytes(bytes(range(256)) * 4)
    one_error(diff(pyspy, good, binary), "not a valid pprof profile")


EMPTY_SAMPLE = b"\x12\x00"  # Profile.sample (field 2), an empty Sample: 2 bytes each


def bomb_run(pyspy, good, bomb):
    """diff GOOD BOMB, with its peak RSS (ASan's quarantine off)."""
    return run_pyspy("/usr/bin/python3", ["-c", PEAK, pyspy, "diff", good, bomb], None, 120,
                     env=NO_QUARANTINE)


@pytest.mark.parametrize("kind", ["empty-samples", "gzip-past-cap", "gzip-under-cap",
                                  "unique-frames"])
def test_bombs_end_in_one_line_under_1gb(kind, pyspy, tmp_path):
    """Inputs that are small on disk or cheap to make but decode to
    gigabytes: 32 MiB of empty pprof samples, a 0.5 MB .pb.gz that inflates
    to 511 MiB (and one to 255 MiB, just under the file cap), and 32 MiB of
    folded text whose every frame is new.  Each ends with one clear line (an
    error; for the folded text, whose stacks are fine, a warning about the
    names dropped) and a peak under 1 GB, ASan's own overhead included."""
    good = tmp_path / "good.folded"
    good.write_text("main (m.py:1);f (m.py:2) 5\n")
    bomb = tmp_path / ("bomb.folded" if kind == "unique-frames" else "bomb.pb.gz")
    if kind == "empty-samples":
        bomb = tmp_path / "bomb.pb"
        bomb.write_bytes(EMPTY_SAMPLE * (16 << 20))
    elif kind.startswith("gzip"):
        mib = 511 if kind == "gzip-past-cap" else 255
        bomb.write_bytes(gzip.compress(EMPTY_SAMPLE * ((mib << 20) // 2), 9))
        assert bomb.stat().st_size < (1 << 20)
    else:
        with bomb.open("w") as f:
            n = 0
            while f.tell() < 32 << 20:
                f.write(";".join("u%09d (m.py:1)" % (n + i) for i in range(50)) + " 1\n")
                n += 50
    r = bomb_run(pyspy, good, bomb)
    lines = [l for l in r.stderr.splitlines() if not l.startswith("peak-rss-kib")]
    assert len(lines) == 1, str(r)
    want = {
        "empty-samples": (1, "decodes to more than 256 MiB of samples"),
        "gzip-past-cap": (1, "larger than 256 MiB (uncompressed)"),
        "gzip-under-cap": (1, "decodes to more than 256 MiB of samples"),
        "unique-frames": (0, "too many distinct names"),
    }[kind]
    assert r.rc == want[0] and want[1] in lines[0], str(r)
    assert peak_kib(r) < 1 << 20, str(r)


def test_usage_errors(pyspy, tmp_path):
    good = tmp_path / "good.folded"
    good.write_text("f (m.py:2) 5\n")
    for args in ([good], [good, good, good], ["--top", "x", good, good],
                 ["--format", "pdf", good, good], ["--rate", "0", good, good]):
        rec = diff(pyspy, *args)
        assert rec.rc not in (0, 1) and rec.rc > 0, str(rec)
        assert "pyspy-bpf diff:" in rec.stderr and "Sanitizer" not in rec.stderr, str(rec)
    rec = diff(pyspy, good, good)
    rows = table(rec)
    assert rows == [("f (m.py)", 100.0, 100.0, 0.0, 100.0, 100.0, 0.0)]
