# SPDX-License-Identifier: MIT
"""--native and --kernel on real processes, every interpreter of the matrix.

The C extension (tests/workloads/native/hx.c) is built here with gcc and
each interpreter's own headers, without frame pointers, so every native
frame is unwound with the object's CFI.
"""
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import (BY_ID, WORKLOADS, behaviour_ids, marker_line, require_python, run_pyspy,
                      total)

SCRIPT = "native_mixed.py"
HX_C = WORKLOADS / "native" / "hx.c"
SPIN_S = WORKLOADS / "native" / "spin.S"
# The behaviour interpreters, for what does not depend on the interpreter's
# layout: objects of our own, kernel stacks, the writers.
SOME = behaviour_ids()


def py_frame(name, tag):
    return "%s (%s:%d)" % (name, WORKLOADS / SCRIPT, marker_line(SCRIPT, "LINE:" + tag))


def include_flags(python):
    """-I flags for python's headers, as it reports them (inside its root)."""
    out = subprocess.run(python.argv + ["-c", "import sysconfig as s; p = s.get_paths(); "
                                        "print(p['include']); print(p['platinclude'])"],
                         stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    root = python.root or ""
    flags = ["-I" + root + d for d in out.split()]
    if root:
        # Debian's pyconfig.h includes <x86_64-linux-gnu/python3.X/pyconfig.h>;
        # after the host's own headers, so its libc headers stay the host's.
        flags += ["-idirafter", root + "/usr/include"]
    return flags


def build_hx(python, where, *extra):
    """hx.so for python in directory where (made), with gcc flags extra."""
    os.makedirs(where, exist_ok=True)
    so = os.path.join(where, "hx.so")
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-g", "-fomit-frame-pointer"] +
                   list(extra) + include_flags(python) + [str(HX_C), "-o", so], check=True)
    return so


def has_run(frames, run):
    """Does frames (root first) hold run, frames next to each other?"""
    n = len(run)
    return any(frames[i:i + n] == run for i in range(len(frames) - n + 1))


def share(stacks, pred):
    return sum(c for f, c in stacks if any(pred(x) for x in f)) / max(1, total(stacks))


def native_record(record, w, extra=(), duration=3):
    return record(w.pid, duration=duration, extra=["--native"] + list(extra))


@pytest.mark.layout
def test_mixed_stack(python, workload, record, tmp_path):
    """caller -> hx_outer -> py_cb -> hx_leaf, exact lines, nothing between."""
    d = str(tmp_path / "hx")
    build_hx(python, d)
    w = workload(python, SCRIPT, d, "mixed")
    r = native_record(record, w)
    stacks = r.profile()
    leaf = re.compile(r"^hx_leaf \(hx\.c:\d+\)$")
    outer = re.compile(r"^hx_outer \(hx\.c:\d+\)$")
    caller, cb = py_frame("caller", "caller"), py_frame("py_cb", "py_cb")
    good = sum(c for f, c in stacks
               if any(has_run(f, [caller, o, cb, x]) for o in f if outer.match(o)
                      for x in f if leaf.match(x)))
    assert good / total(stacks) > 0.8, "%s\n%s" % (r.text[:3000], r)


def test_mixed_stack_native_all(python, workload, record, tmp_path):
    """--native-all: the interpreter's frames appear between C and Python.
    Behaviour: which frames are kept (test_mixed_stack merges each build's)."""
    d = str(tmp_path / "hx")
    build_hx(python, d)
    w = workload(python, SCRIPT, d, "mixed")
    stacks = native_record(record, w, ["--native-all"]).profile()
    cb = py_frame("py_cb", "py_cb")
    between = 0
    for f, c in stacks:
        if cb in f:
            i = f.index(cb)
            o = [j for j in range(i) if f[j].startswith("hx_outer (")]
            if o and i - o[-1] > 1:
                between += c
    assert between / total(stacks) > 0.5, stacks[:5]


def test_ctypes_qsort(python, workload, record):
    """libc's qsort between the Python caller and its Python comparator.
    Behaviour: unwinding libffi and libc, the host's and sid's (test_mixed_stack
    merges Python into each build's native frames)."""
    w = workload(python, SCRIPT, "-", "qsort")
    stacks = native_record(record, w).profile()
    sorter, cmp = py_frame("sorter", "sorter"), "cmp (%s:" % (WORKLOADS / SCRIPT)
    good = 0
    for f, c in stacks:
        at = [i for i, x in enumerate(f) if x.startswith(cmp)]
        if sorter in f and at:
            mid = f[f.index(sorter) + 1:at[0]]
            if any("qsort" in x or "msort" in x for x in mid):
                good += c
    assert good / total(stacks) > 0.5, "\n".join(";".join(f) for f, _ in stacks[:5])


def test_two_to_one_split(python, workload, record, tmp_path):
    """About 2/3 of the time in hx_leaf, 1/3 in a Python loop: the split of
    the samples within 5 points of the CPU time each part got, as the
    workload measured it over the recording (by the clock it is 2:1, but a
    busy machine takes time from either)."""
    d = str(tmp_path / "hx")
    build_hx(python, d)
    truth = str(tmp_path / "truth.json")
    w = workload(python, SCRIPT, d, "split", truth)
    before = json.loads(open(truth).read())
    stacks = native_record(record, w, duration=4).profile()
    after = json.loads(open(truth).read())
    c_share = share(stacks, lambda x: x.startswith("hx_leaf ("))
    py_share = share(stacks, lambda x: x.startswith("py_spin (%s:" % (WORKLOADS / SCRIPT)))
    c_ns, py_ns = after["c"] - before["c"], after["py"] - before["py"]
    want = c_ns / (c_ns + py_ns)
    assert abs(c_share / (c_share + py_share) - want) < 0.05, (c_share, py_share, want)


@pytest.mark.parametrize("py_id", SOME)
def test_stripped_extension(py_id, workload, record, tmp_path):
    """.dynsym only: exported names, the object instead of a line."""
    python = require_python(BY_ID[py_id])
    d = str(tmp_path / "hx")
    so = build_hx(python, d)
    subprocess.run(["strip", "--strip-all", so], check=True)
    w = workload(python, SCRIPT, d, "mixed")
    stacks = native_record(record, w).profile()
    assert share(stacks, lambda x: x == "hx_leaf (hx.so)") > 0.8, stacks[:5]
    assert share(stacks, lambda x: x == "hx_outer (hx.so)") > 0.8, stacks[:5]


@pytest.mark.parametrize("py_id", SOME)
def test_minidebuginfo_extension(py_id, workload, record, tmp_path):
    """Hidden symbols, stripped, with MiniDebugInfo: named from .gnu_debugdata."""
    python = require_python(BY_ID[py_id])
    d = str(tmp_path / "hx")
    so = build_hx(python, d, "-fvisibility=hidden")
    mini = str(tmp_path / "mini")
    subprocess.run(["objcopy", "--only-keep-debug", "--strip-debug", so, mini], check=True)
    subprocess.run(["xz", "-f", mini], check=True)
    subprocess.run(["strip", "--strip-all", so], check=True)
    subprocess.run(["objcopy", "--add-section", ".gnu_debugdata=%s.xz" % mini, so], check=True)
    names = subprocess.run(["nm", "-D", so], stdout=subprocess.PIPE,
                           universal_newlines=True).stdout
    assert "hx_leaf" not in names, names
    w = workload(python, SCRIPT, d, "mixed")
    stacks = native_record(record, w).profile()
    assert share(stacks, lambda x: x == "hx_leaf (hx.so)") > 0.8, stacks[:5]


@pytest.mark.parametrize("py_id", SOME)
def test_kernel_frames_where_a_read_blocks(py_id, workload, record):
    """--kernel --mode offcpu: the kernel stack of a thread blocked on a pipe."""
    python = require_python(BY_ID[py_id])
    w = workload(python, SCRIPT, "-", "pipe")
    r = record(w.pid, extra=["--kernel", "--mode", "offcpu"])
    stacks = r.profile()
    rd = py_frame("reader", "read")
    kern = [(f, c) for f, c in stacks if rd in f]
    assert kern, stacks[:5]
    good = sum(c for f, c in kern
               if any(x.endswith("pipe_read [k]") for x in f)
               and any(x == "schedule [k]" for x in f)
               and f.index(rd) < min(i for i, x in enumerate(f) if x.endswith(" [k]")))
    assert good / sum(c for _, c in kern) > 0.8, "\n".join(";".join(f) for f, _ in kern[:5])


@pytest.mark.parametrize("py_id,native", [(i, False) for i in SOME] +
                         [(i, True) for i in behaviour_ids(lambda p: p.root)])
def test_kernel_frames_of_a_read_blocked_at_start(py_id, native, workload, record):
    """--kernel --mode offcpu: a thread already blocked in read() on a pipe
    when the recording starts (it never wakes) is charged the whole
    recording with its kernel stack (from /proc: pipe_read, the read
    syscall) on top of its Python frames, and with --native libc's read
    between them, as a thread that blocks later would be."""
    python = require_python(BY_ID[py_id])
    w = workload(python, SCRIPT, "-", "pipe-idle")
    extra = ["--kernel", "--mode", "offcpu", "--threads"] + (["--native"] if native else [])
    r = record(w.pid, duration=2, extra=extra)
    stacks = r.profile()
    rd = py_frame("reader", "read")
    kern = [(f, c) for f, c in stacks if rd in f]
    assert kern, stacks[:5]
    # All of the recording: from its start to its end (the summary's, to 0.1 s).
    total = sum(c for _, c in kern) / 1e9
    took = float(re.search(r" in ([\d.]+) s at ", r.stderr).group(1))
    assert 1.95 < total < took + 0.06, "%.3f s of a %.1f s recording" % (total, took)
    for f, c in kern:
        k = [i for i, x in enumerate(f) if x.endswith(" [k]")]
        assert any(f[i].endswith("pipe_read [k]") for i in k), f
        assert k and f.index(rd) < min(k) and f[-1] == "[io: read]", f
        if native:
            assert any(" (" in x and "read" in x and not x.endswith("[k]")
                       for x in f[f.index(rd) + 1:min(k)]), f


@pytest.mark.serial  # it sets kernel.kptr_restrict for the machine
def test_kernel_hides_addresses(workload, record):
    """kptr_restrict=2: one clear line, and the recording goes on without them."""
    python = require_python(BY_ID["3.12"])
    path = "/proc/sys/kernel/kptr_restrict"
    old = open(path).read().strip()
    w = workload(python, SCRIPT, "-", "pipe")
    try:
        with open(path, "w") as f:
            f.write("2")
        r = record(w.pid, extra=["--kernel", "--mode", "offcpu"])
    finally:
        with open(path, "w") as f:
            f.write(old)
    stacks = r.profile()
    assert re.search(r"hides its addresses.*without kernel frames", r.stderr), r
    assert not any(x.endswith(" [k]") for f, _ in stacks for x in f), stacks[:3]


def spin_lib(tmp_path, *defs):
    so = str(tmp_path / "spin.so")
    subprocess.run(["gcc", "-shared", "-fPIC"] + list(defs) + [str(SPIN_S), "-o", so],
                   check=True)
    return so


def stop_count(stderr, reason):
    m = re.search(r"^ *native stacks:.*$", stderr, re.M)
    assert m, stderr
    m = re.search(r"(\d+) " + re.escape(reason), m.group(0))
    return int(m.group(1)) if m else 0


@pytest.mark.parametrize("py_id", SOME)
def test_cfi_that_loops(py_id, workload, record, tmp_path):
    """CFI that never moves the stack pointer ends the walk, counted, marked."""
    python = require_python(BY_ID[py_id])
    w = workload(python, SCRIPT, "-", "lib", spin_lib(tmp_path, "-DBAD_CFI_LOOP"))
    r = native_record(record, w)
    stacks = r.profile()
    marked = share(stacks, lambda x: x == "[native: stack pointer went backwards]")
    assert marked > 0.5, stacks[:5]
    assert stop_count(r.stderr, "stack pointer went backwards") > 0, r
    # The Python frames it did not reach are still there, under the marker.
    assert share(stacks, lambda x: x == py_frame("run_lib", "lib")) > 0.9


@pytest.mark.parametrize("py_id", SOME)
def test_broken_eh_frame(py_id, workload, record, tmp_path):
    """An object whose .eh_frame is garbage: bounded, counted, never a crash."""
    python = require_python(BY_ID[py_id])
    so = spin_lib(tmp_path)
    out = subprocess.run(["readelf", "-SW", so], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout
    m = re.search(r"\.eh_frame\s+PROGBITS\s+[0-9a-f]+ ([0-9a-f]+) ([0-9a-f]+)", out)
    assert m, out
    off, size = int(m.group(1), 16), int(m.group(2), 16)
    with open(so, "r+b") as f:
        f.seek(off)
        f.write(bytes((i * 151 + 7) & 0xff for i in range(size)))
    w = workload(python, SCRIPT, "-", "lib", so)
    r = native_record(record, w)
    stacks = r.profile()
    assert share(stacks, lambda x: x == py_frame("run_lib", "lib")) > 0.9, stacks[:5]
    assert share(stacks, lambda x: x.startswith("[native: ")) > 0.5, stacks[:5]


@pytest.mark.parametrize("py_id", SOME)
def test_library_unmapped_mid_run(py_id, workload, record, tmp_path):
    """A library loaded and unloaded over and over while it is sampled."""
    python = require_python(BY_ID[py_id])
    w = workload(python, SCRIPT, "-", "lib", spin_lib(tmp_path), "--reload")
    r = native_record(record, w)
    stacks = r.profile()
    assert share(stacks, lambda x: x == "hx_spin (spin.so)" or re.match(
        r"^hx_spin \(lib\d\.so\)$", x)) > 0.3, stacks[:5]
    assert w.alive()


# --- every output carries them (one interpreter: the writers do not care) ----

@pytest.fixture
def mixed_3_12(workload, tmp_path):
    python = require_python(BY_ID["3.12"])
    d = str(tmp_path / "hx")
    build_hx(python, d)
    return workload(python, SCRIPT, d, "mixed")


def test_pprof_mappings(mixed_3_12, pyspy, go_pprof, tmp_path):
    """pprof: hx.so is a Mapping with its build-id; go tool pprof names its frames."""
    out = str(tmp_path / "n.pb.gz")
    r = run_pyspy(pyspy, ["record", "--pid", mixed_3_12.pid, "--native", "--duration", 2,
                          "-o", out])
    assert r.rc == 0, str(r)
    so = str(tmp_path / "hx" / "hx.so")
    build_id = re.search(r"Build ID: ([0-9a-f]+)", subprocess.run(
        ["readelf", "-n", so], stdout=subprocess.PIPE, universal_newlines=True).stdout).group(1)
    raw = go_pprof("-raw", out)
    maps = raw[raw.index("Mappings"):]
    assert re.search(r"^\d+: 0x[0-9a-f]+/0x[0-9a-f]+/0x[0-9a-f]+ hx\.so %s " % build_id, maps,
                     re.M), maps
    top = go_pprof("-top", out)
    assert re.search(r"\bhx_leaf\b", top) and re.search(r"\bpy_cb\b", top), top


def test_speedscope_svg_top(mixed_3_12, pyspy, tmp_path):
    """speedscope and SVG name the native frames; the SVG in a colour of their own; top too."""
    ss, svg = str(tmp_path / "n.speedscope.json"), str(tmp_path / "n.svg")
    for out in (ss, svg):
        r = run_pyspy(pyspy, ["record", "--pid", mixed_3_12.pid, "--native", "--duration", 2,
                              "-o", out])
        assert r.rc == 0, str(r)
    import json
    names = {f["name"] for f in json.load(open(ss))["shared"]["frames"]}
    assert "hx_leaf" in names and "hx_outer" in names and "py_cb" in names, names
    text = open(svg).read()
    fills = re.findall(r'<title>hx_leaf \(hx\.c:\d+\)[^<]*</title><rect[^>]*fill="rgb\((\d+),(\d+),'
                       r'(\d+)\)"', text)
    assert fills, text[:2000]
    # Greens: the green channel leads, unlike Python's warm reds and yellows.
    assert all(int(g) > int(r) and int(g) > int(b) for r, g, b in fills), fills
    t = run_pyspy(pyspy, ["top", "--pid", mixed_3_12.pid, "--native", "--duration", 2.5,
                          "--rate", 199])
    assert t.rc == 0, str(t)
    assert re.search(r"hx_leaf \(hx\.c:\d+\)", t.stdout), t.stdout[-3000:]


@pytest.mark.parametrize("py_id", SOME)
def test_dump_native_and_kernel(py_id, workload, pyspy):
    """dump --native --kernel: a thread blocked in read() on a pipe, from the
    kernel's pipe read down through libc's read to its Python caller."""
    import json
    python = require_python(BY_ID[py_id])
    w = workload(python, SCRIPT, "-", "pipe")
    r = run_pyspy(pyspy, ["dump", "--pid", w.pid, "--native", "--kernel", "--json"])
    assert r.rc == 0, str(r)
    doc = json.loads(r.stdout)
    rd = ("reader", str(WORKLOADS / SCRIPT), marker_line(SCRIPT, "LINE:read"))
    for t in doc["threads"]:
        fr = t["frames"]
        at = [i for i, f in enumerate(fr) if (f["name"], f["file"], f["line"]) == rd]
        if not at:
            continue
        above = fr[:at[0]]
        kinds = [f.get("kind", "python") for f in above]
        assert any(k == "kernel" and f["name"].endswith("pipe_read [k]")
                   for k, f in zip(kinds, above)), fr
        assert any(k == "native" and "read" in f["name"] for k, f in zip(kinds, above)), fr
        # Innermost first: the kernel's frames, then the native ones, then Python.
        assert kinds == sorted(kinds, key=["kernel", "native", "python"].index), kinds
        break
    else:
        pytest.fail("no thread in reader():\n%s" % r.stdout)


def test_debug_file_by_build_id(workload, record, tmp_path):
    """A stripped extension whose DWARF is in the target's own
    /usr/lib/debug/.build-id: names and lines, read inside its root (the
    host has no such file)."""
    python = require_python(BY_ID["3.14-sid"])
    d = str(tmp_path / "hx")
    so = build_hx(python, d, "-fvisibility=hidden")
    build_id = re.search(r"Build ID: ([0-9a-f]+)", subprocess.run(
        ["readelf", "-n", so], stdout=subprocess.PIPE, universal_newlines=True).stdout).group(1)
    rel = "usr/lib/debug/.build-id/%s/%s.debug" % (build_id[:2], build_id[2:])
    dbg = os.path.join(python.root, rel)
    assert not os.path.exists("/" + rel)
    os.makedirs(os.path.dirname(dbg), exist_ok=True)
    subprocess.run(["objcopy", "--only-keep-debug", so, dbg], check=True)
    subprocess.run(["strip", "--strip-all", so], check=True)
    try:
        w = workload(python, SCRIPT, d, "mixed")
        stacks = native_record(record, w).profile()
    finally:
        os.unlink(dbg)
    assert share(stacks, lambda x: re.match(r"^hx_leaf \(hx\.c:\d+\)$", x)) > 0.8, stacks[:5]
