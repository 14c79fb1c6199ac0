# SPDX-License-Identifier: MIT
# End-to-end tests of `pyspy-bpf record` against real CPython 3.8-3.15.
"""Each test profiles a workload from tests/workloads whose stacks are known
exactly (see each workload's docstring) and checks the folded output.

Frame text is `qualname (co_filename:line)`; before 3.11 the name is
co_name.  Workloads are started with absolute paths, so co_filename is the
absolute script path on every version.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import pytest

from conftest import (BY_ID, PROCESS_RE, PY_DEBIAN, SAN_ENV, THREAD_RE, WORKLOADS, Running,
                      behaviour_ids, genfree_verdict, kill_group, marker_line, parse_folded,
                      parse_frame, pyspy_env, read_line, require_python, run_pyspy, total)

RATE = 499


def fr(name, script, tag):
    return "%s (%s:%d)" % (name, WORKLOADS / script, marker_line(script, tag))


def top(stacks, n=5):
    """The n biggest stacks, for assertion messages."""
    lines = []
    for frames, count in sorted(stacks, key=lambda s: -s[1])[:n]:
        if len(frames) > 12:
            frames = frames[:4] + ["... %d frames ..." % (len(frames) - 8)] + frames[-4:]
        lines.append("%6d %s" % (count, ";".join(frames)))
    return "\n".join(lines)


def names(frames):
    return [p[0] for p in map(parse_frame, frames) if p]


def enough_samples(r, stacks, seconds, share=0.6):
    """A target busy on one CPU gets RATE samples a second of the CPU it
    got: the CPU time it used while the agent ran says how much that was,
    on a quiet machine or a loaded one.  Catches gross sample loss."""
    n = total(stacks)
    want = r.cpu_share * seconds * RATE
    assert n >= share * want, \
        "only %d samples in %ss at %d Hz, for %.0f%% of a CPU\n%s" % (
            n, seconds, RATE, 100 * r.cpu_share, top(stacks))


def recorded(record, w, seconds, **kw):
    """Workload w recorded for seconds (record's other keywords as given):
    the recording and its stacks, checked to hold enough samples."""
    r = record(w.pid, duration=seconds, **kw)
    stacks = r.profile()
    enough_samples(r, stacks, seconds)
    return r, stacks


def qual(python, cls, name):
    return "%s.%s" % (cls, name) if python.version >= (3, 11) else name


# --- stacks and lines --------------------------------------------------------

@pytest.mark.layout
def test_simple(python, workload, record):
    w = workload(python, "simple.py")
    r, stacks = recorded(record, w, 3)
    want = [fr("<module>", "simple.py", "ROOT"),
            fr("main", "simple.py", "CALL-COMPUTE"),
            fr(qual(python, "Worker", "compute"), "simple.py", "CALL-HOT"),
            fr("hot_loop", "simple.py", "HOT")]
    exact = sum(c for f, c in stacks if f == want)
    n = total(stacks)
    assert exact > 0.9 * n, "%d of %d samples are exactly\n  %s\n%s" % (
        exact, n, ";".join(want), top(stacks))


def test_symlinks_in_a_root_never_reach_host_files(workload, pyspy, tmp_path):
    """A target chroot()s after loading libpython, so its maps name host
    paths; inside its root, the test plants those paths as absolute symlinks
    to a host-only decoy (another CPython's libpython).  The agent opens
    files inside the target's root or exactly as mapped: it finds 3.12 and
    profiles it exactly, and strace shows it never opened the decoy."""
    py = require_python(BY_ID["3.12"])
    prefix = Path(os.path.realpath(str(py.path))).parent.parent
    real = prefix / "lib" / "libpython3.12.so.1.0"
    decoy = tmp_path / "host-only" / "libpython3.8.so.1.0"
    decoy.parent.mkdir()
    shutil.copy(str(next(Path(os.path.realpath(str(BY_ID["3.8"].path))).parent.parent.glob(
        "lib/libpython3.8.so.1.0"))), str(decoy))
    root = tmp_path / "root"
    for planted in (real, Path(os.path.realpath(str(py.path)))):
        link = root / str(planted).lstrip("/")
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(decoy)
    w = workload(py, "chrooter.py", root)
    out = tmp_path / "p.folded"
    trace = tmp_path / "strace.txt"
    r = run_pyspy("/usr/bin/strace", ["-f", "-qq", "-y", "-e", "trace=open,openat,openat2",
                                      "-o", trace, pyspy, "record", "--pid", w.pid,
                                      "--duration", 1, "-v", "-o", out], out,
                  # LeakSanitizer cannot run under ptrace; ASan still checks every access.
                  env={"ASAN_OPTIONS": SAN_ENV["ASAN_OPTIONS"] + ":detect_leaks=0"})
    stacks = r.profile()
    assert "Python 3.12" in r.stderr, str(r)
    hot = fr("spin", "chrooter.py", "HOT")
    assert sum(c for f, c in stacks if f[-1] == hot) >= 0.9 * total(stacks), top(stacks)
    opened = [l for l in trace.read_text().splitlines() if str(decoy) in l]
    assert not opened, "the agent opened a host file through the target's root:\n" + \
        "\n".join(opened[:5])


@pytest.mark.parametrize("py_id", behaviour_ids(lambda p: p.root))
def test_in_pid_and_mount_namespace(py_id, record):
    """A sid interpreter in its own PID and mount namespace and root, like
    a container: the profiler is given the host PID, reads every binary
    through /proc/PID/root, and the stacks are exact."""
    python = require_python(BY_ID[py_id])
    argv = python.argv[:2] + ["--pidns"] + python.argv[2:]
    proc = subprocess.Popen(argv + [str(WORKLOADS / "simple.py")], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert read_line(proc.stdout, 20) == "ready"
        kids = "/proc/%d/task/%d/children" % (proc.pid, proc.pid)
        pid = int(open(kids).read().split()[0])  # unshare's child: the interpreter
        status = open("/proc/%d/status" % pid).read()
        nspid = re.search(r"^NSpid:\s+(\d+)\s+(\d+)$", status, re.M)
        assert nspid and int(nspid.group(2)) == 1, status
        r = record(pid, duration=2)
        stacks = r.profile()
    finally:
        kill_group(proc)
    enough_samples(r, stacks, 2)
    want = [fr("<module>", "simple.py", "ROOT"), fr("main", "simple.py", "CALL-COMPUTE"),
            fr(qual(python, "Worker", "compute"), "simple.py", "CALL-HOT"),
            fr("hot_loop", "simple.py", "HOT")]
    exact = sum(c for f, c in stacks if f == want)
    assert exact > 0.9 * total(stacks), top(stacks)


@pytest.mark.layout
def test_threads(python, workload, record):
    w = workload(python, "threads.py")
    r, stacks = recorded(record, w, 3, extra=["--threads"])
    by_tid = defaultdict(list)
    tname = {}
    for frames, count in stacks:
        m = THREAD_RE.match(frames[0])
        assert m, "first frame is not 'thread TID (NAME)': %r" % frames[0]
        by_tid[m.group("tid")].append((frames[1:], count))
        tname[m.group("tid")] = m.group("name")

    spins = {"spin_a": "HOT-A", "spin_b": "HOT-B", "main_spin": "HOT-MAIN"}
    owner = {}
    for fn in spins:
        tids = [t for t, st in by_tid.items() if any(fn in names(f) for f, _ in st)]
        assert len(tids) == 1, "%s seen in threads %s\n%s" % (fn, tids, top(stacks, 10))
        owner[fn] = tids[0]
    assert len(set(owner.values())) == 3, owner
    assert tname[owner["spin_a"]] == "worker-a", tname
    assert tname[owner["spin_b"]] == "worker-b", tname

    n = total(stacks)
    for fn, tag in spins.items():
        st = by_tid[owner[fn]]
        others = set(spins) - {fn}
        for f, _ in st:
            assert not others & set(names(f)), "thread of %s shows %s" % (fn, ";".join(f))
        hot = fr(fn, "threads.py", tag)
        at_hot = sum(c for f, c in st if f and f[-1] == hot)
        assert at_hot >= 0.9 * total(st), "%s: %d of %d samples at %s\n%s" % (
            fn, at_hot, total(st), hot, top(st))
        # Three threads share the GIL: each should get roughly a third.
        assert total(st) >= 0.1 * n, "%s got %d of %d samples" % (fn, total(st), n)
    main_stacks = by_tid[owner["main_spin"]]
    assert all(f[0] == fr("<module>", "threads.py", "ROOT") for f, _ in main_stacks), \
        top(main_stacks)


def deep_stack(depth):
    return ([fr("<module>", "deep.py", "ROOT"), fr("main", "deep.py", "CALL-RECURSE")] +
            [fr("recurse", "deep.py", "RECURSE")] * (depth - 1) +
            [fr("recurse", "deep.py", "CALL-LEAF"), fr("leaf", "deep.py", "HOT")])


WALKER_RE = re.compile(r"BPF walker: ([0-9.]+) user-memory reads per sample for ([0-9.]+) frames")


@pytest.mark.layout
def test_deep_500(python, workload, record):
    w = workload(python, "deep.py", "--depth", 500)
    r, stacks = recorded(record, w, 2, extra=("-v",))
    want = deep_stack(500)
    exact = sum(c for f, c in stacks if f == want)
    n = total(stacks)
    assert exact > 0.9 * n, "%d of %d samples are the whole 503-frame stack\n%s" % (
        exact, n, top(stacks))
    # 3.11+ keep these frames in the data stack, read a window (4 KiB) at a
    # time; older versions have heap frame objects, read one by one.
    m = WALKER_RE.search(r.stderr)
    assert m, str(r)
    reads, frames = float(m.group(1)), float(m.group(2))
    assert frames > 490, str(r)
    if python.version >= (3, 11):
        assert reads < frames / 4, "%.1f reads for %.1f frames" % (reads, frames)
    else:
        assert reads >= frames, "%.1f reads for %.1f frames" % (reads, frames)


# Only 3.11+ have data-stack windows: 3.12 (_PyCFrame) and 3.15-sid (without).
@pytest.mark.parametrize("py_id", behaviour_ids(lambda p: p.version >= (3, 11)))
def test_deep_500_without_windows(py_id, workload, record):
    """With data-stack windows off (PYSPY_NO_WINDOWS), 3.11+ frames are read
    one by one: the same exact stack, at least one read per frame."""
    python = require_python(BY_ID[py_id])
    w = workload(python, "deep.py", "--depth", 500)
    r, stacks = recorded(record, w, 2, extra=("-v",), env={"PYSPY_NO_WINDOWS": "1"})
    want = deep_stack(500)
    exact = sum(c for f, c in stacks if f == want)
    n = total(stacks)
    assert exact > 0.9 * n, "%d of %d samples are the whole stack\n%s" % (exact, n, top(stacks))
    m = WALKER_RE.search(r.stderr)
    assert m and float(m.group(1)) >= float(m.group(2)) > 490, str(r)


@pytest.mark.layout
def test_generator_frames(python, workload, record):
    """A generator's frame lives in the generator object, its callee's in
    the data stack again: the walk leaves and re-enters the stack."""
    w = workload(python, "gens.py", "--kind", "gen")
    r, stacks = recorded(record, w, 2)
    want = [fr("<module>", "gens.py", "ROOT"), fr("main", "gens.py", "CALL-CONSUME"),
            fr("consume", "gens.py", "CONSUME"), fr("producer", "gens.py", "GEN-CALL"),
            fr("spin", "gens.py", "HOT")]
    exact = sum(c for f, c in stacks if f == want)
    n = total(stacks)
    assert exact > 0.9 * n, "%d of %d samples are the generator stack\n%s" % (
        exact, n, top(stacks))


@pytest.mark.layout
def test_coroutine_frames(python, workload, record):
    """Coroutines driven by an asyncio Task (a C step function between the
    event loop's frames and the coroutines')."""
    w = workload(python, "gens.py", "--kind", "async")
    r, stacks = recorded(record, w, 2)
    root = [fr("<module>", "gens.py", "ROOT"), fr("main", "gens.py", "CALL-ASYNC")]
    leaf = [fr("outer", "gens.py", "OUTER-AWAIT"), fr("inner", "gens.py", "INNER-CALL"),
            fr("spin", "gens.py", "HOT")]
    good = sum(c for f, c in stacks
               if f[:2] == root and f[-3:] == leaf and not any(x.startswith("[") for x in f))
    n = total(stacks)
    assert good > 0.9 * n, "%d of %d samples run from main to the coroutines\n%s" % (
        good, n, top(stacks))


def test_deep_1100_truncated(python, workload, record):
    """Behaviour: where the walk stops is its frame budget, the same on every
    layout (test_deep_500 walks deep stacks on each), tried on each frame model."""
    w = workload(python, "deep.py", "--depth", 1100)
    r, stacks = recorded(record, w, 2)
    whole = deep_stack(1100)
    good = 0
    for f, c in stacks:
        # [truncated] at the root, then the leaf-most part of the real stack
        # (the walk starts at the leaf); at most PYSPY_MAX_FRAMES frames.
        if (f[0] == "[truncated]" and 1000 <= len(f) - 1 <= 1024
                and f[1:] == whole[-(len(f) - 1):]):
            good += c
    n = total(stacks)
    assert good > 0.9 * n, "%d of %d samples are [truncated] + leaf-most frames\n%s" % (
        good, n, top(stacks))


# --- proportions ------------------------------------------------------------

def test_split_3_to_1(python, workload, record, tmp_path):
    truth_file = tmp_path / "truth.json"
    w = workload(python, "split.py", "--truth", truth_file)
    r = record(w.pid, duration=4)
    stacks = r.profile()
    w.proc.send_signal(signal.SIGTERM)
    assert w.proc.wait(timeout=10) == 0
    truth = json.loads(truth_file.read_text())
    truth_share = truth["heavy_ns"] / (truth["heavy_ns"] + truth["light_ns"])
    heavy = sum(c for f, c in stacks if "heavy" in names(f))
    light = sum(c for f, c in stacks if "light" in names(f))
    # The CPU it got while the agent ran says how many samples to expect.
    assert heavy + light >= 0.4 * r.cpu_share * RATE * 4, "heavy %d light %d, %.0f%% of a CPU\n%s" % (
        heavy, light, 100 * r.cpu_share, top(stacks))
    share = heavy / (heavy + light)
    assert abs(share - truth_share) <= 0.05, \
        "profile heavy share %.3f (%d/%d), truth %.3f %s" % (
            share, heavy, heavy + light, truth_share, truth)


@pytest.mark.layout
def test_exec_into_other_version(python, workload, pyspy, tmp_path):
    """The profiled PID execs another CPython (other layout, other frame
    model): both halves come out exact, nothing in between is garbage."""
    if python.root:
        # Inside the same root: 3.14+ become 3.13 and 3.13 becomes 3.15,
        # each a different set of debug offsets.
        into = BY_ID["3.13-sid" if python.version >= (3, 14) else "3.15-sid"]
    else:
        into = BY_ID["3.8"] if python.version >= (3, 11) else BY_ID["3.13"]
    assert into.root == python.root and into.version != python.version
    w = workload(python, "execer.py", "--into", into.path)
    out = tmp_path / "exec.folded"
    run = Running(pyspy, ["record", "--pid", w.pid, "--duration", 4, "--rate", RATE, "-v",
                          "--format", "folded", "-o", out], "sampling PID")
    try:
        time.sleep(1.5)
        os.kill(w.pid, signal.SIGUSR1)  # now exec
        r = run.finish()
    finally:
        run.kill()
    # Two images, so two processes: each stack starts with "process PID (COMM)".
    stacks = [(f[1:] if f and PROCESS_RE.match(f[0]) else f, c)
              for f, c in parse_folded(out.read_text())]
    n = total(stacks)
    before = [fr("<module>", "execer.py", "ROOT"), fr("main", "execer.py", "CALL-BEFORE"),
              fr("before_exec", "execer.py", "HOT")]
    after = deep_stack(5)
    n_before = sum(c for f, c in stacks if f == before)
    n_after = sum(c for f, c in stacks if f == after)
    odd = sum(c for f, c in stacks if any(x.startswith("[") for x in f))
    assert n_before >= 0.1 * n and n_after >= 0.2 * n, \
        "before %d, after %d of %d\n%s\n%s" % (n_before, n_after, n, top(stacks), r)
    assert odd <= 0.03 * n, "%d of %d samples unknown or partial\n%s" % (odd, n, top(stacks))


# --- code objects freed and reused ------------------------------------------

def assert_no_mislabel(bad):
    assert not bad, "%d mislabelled samples, e.g.\n%s" % (
        sum(c for c, _ in bad), "\n".join("%6d %s" % b for b in bad[:10]))


@pytest.mark.layout
def test_genfree_no_mislabel(python, workload, record):
    w = workload(python, "genfree.py")
    r, stacks = recorded(record, w, 4)
    good, bad = genfree_verdict(stacks)
    assert_no_mislabel(bad)
    n = total(stacks)
    # Nearly all the workload's time is inside some gen_<k>.
    assert good >= 0.25 * n, "only %d of %d samples in gen frames\n%s" % (good, n, top(stacks))


def test_genfree_fast_churn_no_mislabel(python, workload, record):
    """Behaviour: when the code cache trusts and re-reads (test_genfree_no_mislabel
    reads each layout's code objects).  Ten times genfree's churn (a code object freed and its memory reused
    every 2 ms), sampled at 1000 Hz, starting after 3 s in which the
    process made no code at all, so the churn begins while the profiler
    trusts its code objects and reads them least: still nothing
    mislabelled.  A frame it cannot vouch for is [unknown], and stays rare."""
    w = workload(python, "genfree.py", "--slice", "0.002", "--steady", "3")
    r, stacks = recorded(record, w, 7, rate=1000, extra=["-v"])
    good, bad = genfree_verdict(stacks)
    assert_no_mislabel(bad)
    # Of the churn's samples (compiling, collecting, running gens), some
    # tenth or more run a gen, and few are not told.  A gen lives about
    # 2 ms: a sample the agent named over 1 ms after it was taken (a
    # loaded machine runs it late) whose code object was replaced meanwhile
    # is excused (-v counts them).
    m = re.search(r"(\d+) samples named over 1 ms late, a code object replaced", r.stderr)
    late = int(m.group(1)) if m else 0
    churn = sum(c for f, c in stacks if any(x.startswith("run_one ") for x in f))
    unknown = sum(c for f, c in stacks if "[unknown]" in f)
    assert good + late >= 0.1 * churn, "only %d of %d churn samples in gen frames, %d late\n%s" % (
        good, churn, late, top(stacks))
    assert unknown <= 0.1 * churn + late, "%d of %d churn samples [unknown], %d late\n%s" % (
        unknown, churn, late, top(stacks))


# --- lifecycle ----------------------------------------------------------------

def test_target_exits_early(python, workload, record):
    w = workload(python, "simple.py", "--seconds", 2)
    r = record(w.pid, duration=10)
    stacks = r.profile()
    assert r.elapsed < 7, "pyspy took %.1fs although the target exited after 2s" % r.elapsed
    assert w.proc.wait(timeout=5) == 0
    assert any(f[-1] == fr("hot_loop", "simple.py", "HOT") for f, _ in stacks), top(stacks)


def test_sigint_writes_profile(python, workload, pyspy, tmp_path):
    w = workload(python, "simple.py")
    out = tmp_path / "sigint.folded"
    cmd = [pyspy, "record", "--pid", str(w.pid), "--duration", "60", "--rate", str(RATE),
           "--format", "folded", "-o", str(out)]
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, env=pyspy_env())
    try:
        time.sleep(3)
        assert p.poll() is None, "pyspy exited early: %s\n%s" % (p.returncode, p.stderr.read())
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, "exit %s after SIGINT\n%s" % (p.returncode, err)
    text = out.read_text()
    assert text.endswith("\n"), "profile not complete: %r" % text[-200:]
    stacks = parse_folded(text)
    assert any(f[-1] == fr("hot_loop", "simple.py", "HOT") for f, _ in stacks), top(stacks)
    assert w.alive(), "profiling must not disturb the target"


# --- several processes ---------------------------------------------------------

def by_process(stacks):
    """{pid: (comm, [(frames, count)])}; every stack must start with a process frame."""
    procs = {}
    for f, c in stacks:
        m = PROCESS_RE.match(f[0])
        assert m, "first frame is not 'process PID (COMM)': %r" % f[0]
        pid = int(m.group("pid"))
        procs.setdefault(pid, (m.group("comm"), []))[1].append((f[1:], c))
    return procs


def test_launch_follows_children(python, pyspy, tmp_path):
    out = tmp_path / "launch.folded"
    truth_file = tmp_path / "truth.json"
    r = run_pyspy(pyspy, ["record", "--rate", RATE, "--format", "folded", "-o", out, "--",
                          *python.argv, WORKLOADS / "launcher.py", "--seconds", 4,
                          "--truth", truth_file], str(out), timeout=60)
    cpu = {int(pid): s for pid, s in json.loads(truth_file.read_text()).items()}
    procs = by_process(r.profile())
    parent_hot = fr("parent_spin", "launcher.py", "HOT-PARENT")
    child_hot = fr("hot_loop", "simple.py", "HOT")
    parents = [p for p, (_, st) in procs.items() if any(f and f[-1] == parent_hot for f, _ in st)]
    children = [p for p, (_, st) in procs.items() if any(f and f[-1] == child_hot for f, _ in st)]
    summary = "\n".join("process %d (%s): %d samples" % (p, comm, total(st))
                        for p, (comm, st) in procs.items())
    assert len(parents) == 1 and len(children) == 1 and parents != children, \
        "parents %s children %s\n%s\n%s" % (parents, children, summary, top(r.stacks, 10))
    for pid in parents + children:
        comm, st = procs[pid]
        assert comm, "process %d has an empty COMM" % pid
        # Each is sampled for the CPU it used (its own count, under load too).
        assert total(st) >= 0.4 * RATE * cpu[pid], "%s\nCPU seconds by PID: %s" % (summary, cpu)


def test_two_pids_two_versions(workload, record):
    """One session, two processes with different layouts (3.8 and 3.13)."""
    py_old, py_new = BY_ID["3.8"], BY_ID["3.13"]
    for py in (py_old, py_new):
        if not os.access(str(py.path), os.X_OK):
            pytest.fail("interpreter %s missing" % py.path)
    w_old = workload(py_old, "simple.py")
    w_new = workload(py_new, "simple.py")
    procs = by_process(record([w_old.pid, w_new.pid], duration=3).profile())
    assert set(procs) == {w_old.pid, w_new.pid}, sorted(procs)
    for w, py in ((w_old, py_old), (w_new, py_new)):
        st = procs[w.pid][1]
        want = fr(qual(py, "Worker", "compute"), "simple.py", "CALL-HOT")
        hot = sum(c for f, c in st if f[-2:] == [want, fr("hot_loop", "simple.py", "HOT")])
        assert hot > 0.9 * total(st), "%s: %d of %d\n%s" % (py.id, hot, total(st), top(st))


def test_output_to_stdout(workload, pyspy):
    w = workload(PY_DEBIAN, "simple.py")
    r = run_pyspy(pyspy, ["record", "--pid", w.pid, "--duration", 2, "--rate", RATE,
                          "--format", "folded", "-o", "-"], timeout=40)
    assert r.rc == 0, str(r)
    stacks = parse_folded(r.stdout)
    assert any(f[-1] == fr("hot_loop", "simple.py", "HOT") for f, _ in stacks), r.stdout[:2000]


# --- errors ------------------------------------------------------------------

def expect_error(r, *needles):
    assert r.rc != 0, "expected failure, got exit 0\n%s" % r
    err = r.stderr.lower()
    assert any(n.lower() in err for n in needles), \
        "stderr lacks any of %s\n%s" % (needles, r)


def test_error_no_such_process(record):
    pid = next(p for p in range(32767, 2, -1) if not os.path.exists("/proc/%d" % p))
    expect_error(record(pid, duration=1, timeout=30), "no such process")


def test_error_not_python(record):
    sleeper = subprocess.Popen(["/bin/sleep", "60"], start_new_session=True)
    try:
        expect_error(record(sleeper.pid, duration=1, timeout=30), "not a Python process")
    finally:
        kill_group(sleeper)


# Per version: each _Py_DebugOffsets layout (3.13, 3.14, 3.15) has the flag in its place.
@pytest.mark.parametrize("py_id", ["3.13", "3.14-sid", "3.15-sid"])
def test_error_free_threaded(py_id, workload, record, pyspy):
    """A free-threaded build is refused by name, by record and by dump (none
    can be installed here: the target sets the flag in its debug offsets)."""
    python = require_python(BY_ID[py_id])
    w = workload(python, "liar.py", "--lie", "free-threaded")
    want = r"PID %d \(python3[.0-9]*\): CPython 3\.%d\.\d+ is a free-threaded \(no-GIL\) build" % (
        w.pid, python.version[1])
    r = record(w.pid, duration=1, timeout=30)
    assert r.rc != 0 and re.search(want, r.stderr), str(r)
    r = run_pyspy(pyspy, ["dump", "--pid", w.pid])
    assert r.rc != 0 and re.search(want, r.stderr), str(r)
    assert w.alive()


# Per version: every interpreter that has _Py_DebugOffsets, each its own layout of them.
@pytest.mark.serial  # record --all sees every process
@pytest.mark.parametrize("py_id", ["3.13", "3.13-sid", "3.14-sid", "3.14d-sid", "3.15-sid"])
def test_error_lying_debug_offsets(py_id, workload, record, pyspy, tmp_path):
    """A live target rewrites its own _Py_DebugOffsets so that pyobject.ob_type
    lies 64 KiB past any object header.  record (alone and with --all) and
    dump refuse that layout by the field's name, in one line, and run clean
    (this is the ASan build: an out-of-bounds read would abort it)."""
    python = require_python(BY_ID[py_id])
    w = workload(python, "liar.py", "--lie", "ob-type")
    want = (r"PID %d \(python3[-.0-9a-z]*\): refusing its _Py_DebugOffsets: PyObject\.ob_type = "
            r"65520 is past the \d+-byte code object header\n" % w.pid)
    r = record(w.pid, duration=1, timeout=30)
    assert r.rc != 0 and re.fullmatch(r"pyspy-bpf: " + want, r.stderr), str(r)
    r = run_pyspy(pyspy, ["dump", "--pid", w.pid])
    assert r.rc != 0 and re.fullmatch(r"pyspy-bpf: " + want, r.stderr), str(r)
    r = run_pyspy(pyspy, ["record", "--all", "--duration", 1, "-f", "folded", "-o",
                          tmp_path / "all.folded"])
    assert r.rc == 0 and "AddressSanitizer" not in r.stderr, str(r)
    assert re.search(r"skipping PID %d: PyObject\.ob_type = 65520 is past" % w.pid,
                     r.stderr), str(r)
    assert w.alive()


def test_error_python37(python37, workload, record):
    w = workload(python37, "simple.py")
    expect_error(record(w.pid, duration=1, timeout=30), "unsupported Python version 3.7")


@pytest.mark.parametrize("case", ["3.7", "async-3.12"])
def test_error_launched_python_refused(case, python37, pyspy, tmp_path):
    """A launched command that is a Python record cannot sample (too old, or
    --async before 3.14): one line naming it, no stacks, and a non-zero exit
    once it is over (it runs its course: it is not ours to stop)."""
    python = python37 if case == "3.7" else require_python(BY_ID["3.12"])
    extra = ["--async"] if case.startswith("async") else []
    out = tmp_path / "p.folded"
    r = run_pyspy(pyspy, ["record", "-q", "-o", out] + extra +
                  ["--", python.path, "-c", "import time; time.sleep(1.5); print('done')"],
                  timeout=60)
    want = (r"unsupported Python version 3\.7\.\d+" if case == "3.7" else
            r"--async needs CPython 3\.14 or newer; PID \d+ runs 3\.12\.\d+")
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.rc != 0 and len(lines) == 1 and re.search(want, lines[0]), str(r)
    assert "done" in r.stdout, str(r)
    assert not parse_folded(out.read_text()), out.read_text()[:500]


@pytest.mark.serial  # record --all sees every process
def test_all_async_skips_older_pythons(workload, pyspy, tmp_path):
    """--all --async: a 3.12 process is skipped with a warning naming it, not
    an error: nobody asked for it by name."""
    w = workload(require_python(BY_ID["3.12"]), "simple.py")
    r = run_pyspy(pyspy, ["record", "--all", "--async", "--duration", 1.5, "-f", "folded",
                          "-o", tmp_path / "p.folded"])
    assert r.rc == 0, str(r)
    assert re.search(r"skipping PID %d: --async needs CPython 3\.14 or newer; it runs 3\.12"
                     % w.pid, r.stderr), str(r)


def test_error_not_root(workload, pyspy, tmp_path):
    w = workload(PY_DEBIAN, "simple.py")
    # /tmp is writable for uid 65534, so only the privilege check can fail.
    out = "/tmp/pyspy-notroot-%d.folded" % os.getpid()
    r = run_pyspy("/usr/bin/setpriv",
                  ["--reuid=65534", "--regid=65534", "--clear-groups", pyspy,
                   "record", "--pid", w.pid, "--duration", 1, "-o", out], timeout=30)
    if os.path.exists(out):
        os.unlink(out)
    assert r.rc != 0, "expected failure, got exit 0\n%s" % r
    # "root" as a word, not inside a path such as /root/.pyenv/...
    assert re.search(r"(?<![/\w.])root\b|cap_bpf", r.stderr.lower()), \
        "stderr names neither root nor CAP_BPF\n%s" % r
