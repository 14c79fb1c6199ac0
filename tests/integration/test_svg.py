# SPDX-License-Identifier: MIT
# `record -o X.svg` against real CPython, opened in headless Chromium and used like a person would.
"""js/svg_probe.cjs drives Debian's Chromium through playwright-core: it
reads every frame's geometry, label and colour, hovers, clicks to zoom,
searches with Ctrl-F and resets, and takes screenshots (left in the test's
tmp dir, or in $PYSPY_SVG_SHOTS when set, for a person to look at).
"""
import json
import os
import re
import shutil
import xml.etree.ElementTree as ET

from conftest import WORKLOADS, marker_line
from nodejs import require_chromium, run_node
from test_speedscope import HOSTILE_FN, record_as, record_hostile

RATE = 499
FW = 1180  # frame area width: SVG_WIDTH - 2 * XPAD
X0 = 10
MATCH = "rgb(230,0,230)"
TITLE_RE = re.compile(r"^(?P<what>.*) \u2014 (?P<n>\d+) samples? \((?P<pct>[\d.]+)%\)$")


def record_svg(pyspy, pid, out, seconds=3):
    rec = record_as(pyspy, pid, out, "svg", seconds)
    ET.parse(str(out))  # well-formed XML, or this raises
    return rec


def probe(svg, actions):
    require_chromium()
    rc, out, err = run_node("svg_probe.cjs", [svg, json.dumps(actions)],
                            timeout=180)
    assert rc == 0 and out, "svg_probe failed (exit %d):\n%s" % (rc, err[-4000:])
    assert not out["errors"], "script errors in the page: %s" % out["errors"]
    return out["results"]


def probe_states(svg, actions):
    """Run actions; return the results of the "state" ones, in order."""
    return [r for a, r in zip(actions, probe(svg, actions)) if a["op"] == "state"]


def keep_shots(tmp_path, names):
    dest = os.environ.get("PYSPY_SVG_SHOTS")
    if dest:
        os.makedirs(dest, exist_ok=True)
        for n in names:
            shutil.copy(str(tmp_path / n), dest)


def frames_titled(state, prefix):
    return [f for f in state["frames"] if f["title"].startswith(prefix)]


def one(state, prefix):
    fs = frames_titled(state, prefix)
    assert len(fs) == 1, "%d frames titled %r...: %s" % (
        len(fs), prefix, [f["title"] for f in state["frames"]][:30])
    return fs[0]


def near(a, b, tol=0.5):
    return abs(a - b) <= tol


def under(state, f):
    """The frame right below f that spans it: its caller."""
    below = [g for g in state["frames"] if near(g["y"], f["y"] + 16)
             and g["x"] <= f["x"] + 0.02 and g["x"] + g["width"] >= f["x"] + f["width"] - 0.02]
    assert len(below) == 1, "%d callers of %s" % (len(below), f["title"])
    return below[0]


def test_flame_graph(python, workload, pyspy, tmp_path):
    """split.py: <module>;main;heavy (~75%) and <module>;main;light (~25%)."""
    w = workload(python, "split.py", "--truth", tmp_path / "truth.json")
    svg = tmp_path / "split.svg"
    record_svg(pyspy, w.pid, svg)
    script = str(WORKLOADS / "split.py")
    heavy = "heavy (%s:%d)" % (script, marker_line("split.py", "HOT-HEAVY"))
    light = "light (%s:%d)" % (script, marker_line("split.py", "HOT-LIGHT"))
    shots = ["initial.png", "zoomed.png", "searched.png"]
    s0, s1, s2, s3, s4, s5 = probe_states(svg, [
        {"op": "state"},
        {"op": "hover", "prefix": light},
        {"op": "state"},
        {"op": "click", "prefix": light},
        {"op": "state"},
        {"op": "screenshot", "path": str(tmp_path / shots[1])},
        {"op": "search", "term": "heavy"},
        {"op": "state"},
        {"op": "screenshot", "path": str(tmp_path / shots[2])},
        {"op": "key", "key": "Escape"},
        {"op": "state"},
        {"op": "button", "id": "unzoom"},
        {"op": "state"},
        {"op": "screenshot", "path": str(tmp_path / shots[0])},
    ])
    keep_shots(tmp_path, shots)

    # What is drawn: the stacks as labels, root at the bottom, widths = samples.
    labels = {f["label"] for f in s0["frames"] if not f["hidden"]}
    for name in ("all", "<module>", "main", "heavy", "light"):
        assert name in labels, "label %r not shown; shown: %s" % (name, sorted(labels))
    root = one(s0, "all \u2014")
    assert near(root["x"], X0) and near(root["width"], FW)
    total = int(TITLE_RE.match(root["title"]).group("n"))
    assert total >= 100, "only %d samples" % total  # rates are test_record's job
    assert s0["subtitle"].startswith("%d samples" % total), s0["subtitle"]
    h0, l0 = one(s0, heavy), one(s0, light)
    assert l0["width"] < 0.5 * FW < h0["width"], (h0, l0)
    # main calls each from its own line, so each has a main frame of its own below it.
    mh, ml = under(s0, h0), under(s0, l0)
    assert mh["title"].startswith("main (") and ml["title"].startswith("main (") and mh is not ml
    ys = [one(s0, "all \u2014")["y"], one(s0, "<module> (")["y"], mh["y"], h0["y"]]
    assert ys == sorted(ys, reverse=True), "root must be at the bottom: %s" % ys
    assert len({f["fill"] for f in s0["frames"]}) > 3, "frames should not share one colour"

    # Hover: the status line shows the frame's details.
    assert s1["details"] == l0["title"], s1["details"]

    # Click: light spans the whole width, its ancestors stay (dimmed), the rest hides.
    z = one(s2, light)
    assert near(z["x"], X0) and near(z["width"], FW), z
    assert not z["hidden"] and not z["dimmed"] and s2["unzoom_shown"]
    assert one(s2, heavy)["hidden"]
    for f in s2["frames"]:
        if not f["hidden"] and f is not z:
            assert f["dimmed"] and near(f["width"], FW), "visible after zoom: %s" % f
    for prefix in ("all \u2014", "<module> ("):
        assert not one(s2, prefix)["hidden"] and one(s2, prefix)["dimmed"], prefix
    main_of = {f["title"]: f for f in s2["frames"]}
    assert main_of[ml["title"]]["dimmed"] and not main_of[ml["title"]]["hidden"]
    assert main_of[mh["title"]]["hidden"]

    # Search: heavy highlighted, nothing else, its share shown.
    assert one(s3, heavy)["fill"] == MATCH
    assert all(f["fill"] != MATCH for f in s3["frames"]
               if "heavy" not in f["title"].rpartition(" \u2014 ")[0])
    matched = re.match(r"^Matched: ([\d.]+)%$", s3["matched"])
    heavy_pct = sum(float(TITLE_RE.match(f["title"]).group("pct"))
                    for f in frames_titled(s0, "heavy ("))
    assert matched and near(float(matched.group(1)), heavy_pct, 0.2), (s3["matched"], heavy_pct)
    assert s3["search"] == "Reset Search"

    # Escape ends the search (colours back) but keeps the zoom; the button unzooms.
    assert [f["fill"] for f in s4["frames"]] == [f["fill"] for f in s0["frames"]]
    assert s4["search"] == "Search" and not s4["matched"].strip()
    assert near(one(s4, light)["width"], FW) and s4["unzoom_shown"]
    assert not s5["unzoom_shown"]
    for a, b in zip(s0["frames"], s5["frames"]):
        assert not b["hidden"] and not b["dimmed"] and near(a["x"], b["x"], 0.01) \
            and near(a["width"], b["width"], 0.01), (a, b)
    for n in shots:
        assert (tmp_path / n).stat().st_size > 5000, "screenshot %s looks empty" % n


def test_hostile_names(workload, pyspy, tmp_path):
    """Markup and non-ASCII in names and paths reach the page exactly."""
    script, svg = record_hostile(workload, pyspy, tmp_path, "hostile.svg", "svg")
    ET.parse(str(svg))  # well-formed XML, or this raises
    (state,) = probe(svg, [{"op": "state"}])
    f = one(state, "%s (%s:%d) \u2014 " % (HOSTILE_FN, script, marker_line("hostile.py", "HOT")))
    assert f["label"] == HOSTILE_FN
    assert one(state, "main.<locals>.<lambda> (%s:" % script)["label"] == "main.<locals>.<lambda>"
