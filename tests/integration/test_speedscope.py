# SPDX-License-Identifier: MIT
# `record -o X.speedscope.json` against real CPython, validated by speedscope's own schema.
"""The schema is the one speedscope ships in its npm package
(dist/release/file-format-schema.json), checked with Ajv (see
js/validate_speedscope.cjs).  On top of the schema, the tests check what a
speedscope user relies on: one profile per thread named after it, frame
indices in range, samples root first, weights that add up.
"""
import json
import re
import shutil
from collections import defaultdict

from conftest import PYTHONS, REPO, WORKLOADS, marker_line, require_python, run_pyspy
from nodejs import require_chromium, run_node

RATE = 499
PROFILE_NAME_RE = re.compile(r"^process (\d+) \((.*)\) / thread (\d+) \((.*)\)$")


def record_as(pyspy, pid, out, writer, seconds=3):
    """record --pid pid -o out; the writer must come from out's extension
    (no --format is given), and the summary names it."""
    rec = run_pyspy(pyspy, ["record", "--pid", pid, "--duration", seconds, "--rate", RATE,
                            "-o", out], out, seconds + 30)
    assert rec.rc == 0, str(rec)
    assert "(%s," % writer in rec.stderr, "the writer must come from the extension\n%s" % rec
    return rec


def record(pyspy, pid, out, seconds=3):
    return record_as(pyspy, pid, out, "speedscope", seconds)


def validate(path):
    """Schema-check path; return the parsed document."""
    rc, res, err = run_node("validate_speedscope.cjs", [path])
    assert res is not None, "validator crashed (exit %d):\n%s" % (rc, err)
    assert res["schema"].endswith("speedscope/dist/release/file-format-schema.json"), res
    f = res["files"][0]
    assert rc == 0 and f["valid"], "not valid against %s:\n%s" % (
        res["schema"], json.dumps(f["errors"], indent=1)[:4000])
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def check_structure(doc):
    """What the schema cannot say; returns {profile name: [(frames root first, weight)]}."""
    version = (REPO / "VERSION").read_text().strip()
    assert doc["exporter"] == "pyspy-bpf " + version
    frames = doc["shared"]["frames"]
    profiles = {}
    total = 0
    for p in doc["profiles"]:
        assert p["type"] == "sampled" and p["unit"] == "none" and p["startValue"] == 0
        assert len(p["samples"]) == len(p["weights"]) > 0, p["name"]
        assert p["endValue"] == sum(p["weights"]), p["name"]
        assert all(isinstance(w, int) and w > 0 for w in p["weights"])
        assert p["name"] not in profiles, "two profiles named %r" % p["name"]
        stacks = []
        for s, w in zip(p["samples"], p["weights"]):
            assert s and all(isinstance(i, int) and 0 <= i < len(frames) for i in s), s
            stacks.append(([frames[i] for i in s], w))
        profiles[p["name"]] = stacks
        total += p["endValue"]
    assert 0 <= doc["activeProfileIndex"] < len(doc["profiles"])
    assert doc["name"].startswith("pyspy-bpf: %d samples at %d Hz" % (total, RATE)), doc["name"]
    return profiles


def weight(stacks, pred=lambda f: True):
    return sum(w for f, w in stacks if pred(f))


def at(frame, name, script, tag):
    return (frame["name"] == name and frame.get("file") == str(WORKLOADS / script)
            and frame.get("line") == marker_line(script, tag))


def test_threads(python, workload, pyspy, tmp_path):
    w = workload(python, "threads.py")
    out = tmp_path / "threads.speedscope.json"
    record(pyspy, w.pid, out)
    profiles = check_structure(validate(out))
    n = sum(weight(st) for st in profiles.values())
    assert n >= 100, "only %d samples" % n  # rates are test_record's job

    threads = {}
    for name in profiles:
        m = PROFILE_NAME_RE.match(name)
        assert m, "profile name %r is not 'process PID (COMM) / thread TID (NAME)'" % name
        assert int(m.group(1)) == w.pid, name
        threads[name] = (int(m.group(3)), m.group(4))

    spins = {"spin_a": "HOT-A", "spin_b": "HOT-B", "main_spin": "HOT-MAIN"}
    owner = {}
    for fn in spins:
        having = [p for p, st in profiles.items() if any(fr["name"] == fn for f, _ in st for fr in f)]
        assert len(having) == 1, "%s in profiles %s" % (fn, having)
        owner[fn] = having[0]
    assert threads[owner["spin_a"]][1] == "worker-a"
    assert threads[owner["spin_b"]][1] == "worker-b"
    assert threads[owner["main_spin"]][0] == w.pid, "main_spin is not on the main thread"

    for fn, tag in spins.items():
        st = profiles[owner[fn]]
        # Root first: the leaf (last) is the spinning line in nearly every sample.
        leaf = weight(st, lambda f: at(f[-1], fn, "threads.py", tag))
        assert leaf >= 0.9 * weight(st), "%s: %d of %d samples end at its hot line" % (
            fn, leaf, weight(st))
        assert weight(st) >= 0.1 * n, "%s got %d of %d samples" % (fn, weight(st), n)
    main = profiles[owner["main_spin"]]
    rooted = weight(main, lambda f: at(f[0], "<module>", "threads.py", "ROOT"))
    assert rooted == weight(main), "main thread samples must start at <module>"


# Quote, backslash, markup, DEL and non-ASCII: every escape a format needs.
HOSTILE_FILE = 'we"i\\rd <\u2713> & \x7f.py'
HOSTILE_FN = "\u00dcn\u00efc\u00f6d\u00e9.na\u00efve_spin"


def hostile_script(tmp_path):
    """tests/workloads/hostile.py copied to HOSTILE_FILE; its path."""
    path = tmp_path / HOSTILE_FILE
    shutil.copy(str(WORKLOADS / "hostile.py"), str(path))
    return path


def record_hostile(workload, pyspy, tmp_path, name, writer):
    """hostile.py under 3.12 recorded for 2 s into tmp_path / name by writer:
    (the script's path, the profile's)."""
    py = require_python(next(p for p in PYTHONS if p.id == "3.12"))
    script = hostile_script(tmp_path)
    w = workload(py, str(script))
    out = tmp_path / name
    record_as(pyspy, w.pid, out, writer, seconds=2)
    return script, out


def test_hostile_names(workload, pyspy, tmp_path):
    """Quotes, a backslash, DEL and non-ASCII in names and file names survive as is."""
    script, out = record_hostile(workload, pyspy, tmp_path, "hostile.speedscope.json",
                                 "speedscope")
    profiles = check_structure(validate(out))
    frames = [fr for st in profiles.values() for f, _ in st for fr in f]
    hot = [fr for fr in frames if fr["name"] == HOSTILE_FN]
    assert hot, "no frame named %s: %s" % (HOSTILE_FN, sorted({fr["name"] for fr in frames}))
    assert hot[0]["file"] == str(script)
    assert hot[0]["line"] == marker_line("hostile.py", "HOT")
    assert any(fr["name"] == "main.<locals>.<lambda>" and fr["file"] == str(script)
               for fr in frames)


def test_opens_in_speedscope(workload, pyspy, tmp_path):
    """speedscope's own app (its npm package, in Chromium) imports the file."""
    require_chromium()
    py = require_python(next(p for p in PYTHONS if p.id == "3.12"))
    w = workload(py, "threads.py")
    out = tmp_path / "threads.speedscope.json"
    record(pyspy, w.pid, out, seconds=2)
    doc = validate(out)
    rc, res, err = run_node("speedscope_import.cjs", [out, tmp_path / "speedscope.png"],
                            timeout=180)
    assert rc == 0 and res, "speedscope_import failed (exit %d):\n%s" % (rc, err[-4000:])
    failed = [c for c in res["console"] if "Failed to load" in c or c.startswith("error")]
    assert not failed and not res["errors"] and not res["dialogs"], res
    assert res["title"] == doc["name"] + " - speedscope", res["title"]
    shown = doc["profiles"][doc["activeProfileIndex"]]["name"]
    assert "%s (%d/%d)" % (shown, doc["activeProfileIndex"] + 1, len(doc["profiles"])) \
        in res["text"], res["text"][:2000]
