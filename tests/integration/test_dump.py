# SPDX-License-Identifier: MIT
# End-to-end tests of `pyspy-bpf dump` against real CPython 3.8-3.13.
"""dump prints every Python thread's current stack once, innermost first,
read from userspace: threads that sleep or block (which the BPF sampler
never sees) included, with the kernel TID and name of each thread, also on
3.8-3.10 where the thread state only holds a pthread_t.
"""
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (BY_ID, PY_DEBIAN, PYTHONS, REPO, WORKLOADS, kill_group, marker_line,
                      read_line, require_python, run_pyspy)

HEADER_RE = re.compile(r"^Process (?P<pid>\d+) \((?P<comm>.*)\): Python (?P<ver>\d+\.\d+\.\d+\S*)$")
THREAD_RE = re.compile(r"^Thread (?P<tid>\d+|0x[0-9a-f]+) \((?P<name>.*)\): "
                       r"(?P<state>active|idle|unknown)$")
NOBODY = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def fr(name, script, tag):
    return "%s (%s:%d)" % (name, WORKLOADS / script, marker_line(script, tag))


def qual(python, cls, name):
    return "%s.%s" % (cls, name) if python.version >= (3, 11) else name


def parse_text(text):
    """dump's text -> {pid, comm, version, threads: [{tid, name, state, frames, marker}]}."""
    lines = text.splitlines()
    m = HEADER_RE.match(lines[0]) if lines else None
    assert m, "bad header line:\n%s" % text
    out = {"pid": int(m.group("pid")), "comm": m.group("comm"), "version": m.group("ver"),
           "threads": []}
    for line in lines[1:]:
        t = THREAD_RE.match(line)
        if t:
            tid = t.group("tid")
            out["threads"].append({"tid": int(tid) if tid.isdigit() else None,
                                   "name": t.group("name"), "state": t.group("state"),
                                   "frames": [], "marker": None})
            continue
        assert out["threads"] and line.startswith("    "), "stray line %r in\n%s" % (line, text)
        frame = line[4:]
        if frame in ("[partial]", "[truncated]", "(no Python frames)"):
            out["threads"][-1]["marker"] = frame
        else:
            out["threads"][-1]["frames"].append(frame)
    return out


def json_frames(t):
    return ["%s (%s:%d)" % (f["name"], f["file"], f["line"]) for f in t["frames"]]


def dump(pyspy, pid, *extra, timeout=30):
    r = run_pyspy(pyspy, ["dump", "--pid", pid] + list(extra), timeout=timeout)
    assert r.rc == 0, str(r)
    assert r.stderr == "", str(r)
    return r.stdout


def dump_until(pyspy, pid, ready, timeout=10):
    """Dump until ready(parsed) holds: workloads print "ready" a line or two
    before they reach the stack they then keep.  Returns (parsed, text)."""
    deadline = time.monotonic() + timeout
    while True:
        text = dump(pyspy, pid)
        d = parse_text(text)
        if ready(d) or time.monotonic() > deadline:
            return d, text
        time.sleep(0.1)


def innermost(d, tid):
    return [t["frames"][0] for t in d["threads"] if t["tid"] == tid and t["frames"]]


def by_name(d):
    return {t["name"]: t for t in d["threads"]}


def check_header(d, python, pid):
    assert d["pid"] == pid
    assert d["comm"] == Path("/proc/%d/comm" % pid).read_text().strip()
    assert d["version"].startswith("%d.%d." % python.version), d["version"]


# --- stacks ---------------------------------------------------------------------

@pytest.mark.layout
def test_threads(python, workload, pyspy):
    w = workload(python, "threads.py")
    hot_main = fr("main_spin", "threads.py", "HOT-MAIN")
    d, text = dump_until(pyspy, w.pid, lambda d: innermost(d, w.pid) == [hot_main])
    check_header(d, python, w.pid)
    threads = by_name(d)
    assert {"worker-a", "worker-b"} <= set(threads), text
    tasks = {int(t) for t in os.listdir("/proc/%d/task" % w.pid)}
    for t in d["threads"]:
        assert t["tid"] in tasks, text
    for name, fn, tag in (("worker-a", "spin_a", "HOT-A"), ("worker-b", "spin_b", "HOT-B")):
        t = threads[name]
        assert t["frames"][0] == fr(fn, "threads.py", tag), text
        assert any(f.startswith("worker (%s:" % (WORKLOADS / "threads.py"))
                   for f in t["frames"]), text
        assert t["marker"] is None, text
    main = [t for t in d["threads"] if t["tid"] == w.pid]
    assert len(main) == 1, text
    assert main[0]["frames"][0] == hot_main, text
    assert main[0]["frames"][-1] == fr("<module>", "threads.py", "ROOT"), text


def start_sleepers(workload, pyspy, python):
    """Start sleepers.py, wait until its main thread sleeps; return (w, ids)."""
    w = workload(python, "sleepers.py")
    line = read_line(w.proc.stdout, 10)
    assert line, "sleepers.py printed no thread ids"
    asleep = fr("main", "sleepers.py", "SLEEP-MAIN")
    dump_until(pyspy, w.pid, lambda d: innermost(d, w.pid) == [asleep])
    return w, json.loads(line)


def check_sleepers(d, python, ids, text):
    threads = by_name(d)
    for name in ("sleeper", "waiter", "spinner"):
        assert name in threads, text
        assert threads[name]["tid"] == ids[name], "%s: TID %s, get_native_id %s\n%s" % (
            name, threads[name]["tid"], ids[name], text)
    sleeper, waiter = threads["sleeper"], threads["waiter"]
    assert sleeper["frames"][0] == fr("nap", "sleepers.py", "SLEEP"), text
    assert fr("wait_forever", "sleepers.py", "WAIT") in waiter["frames"], text
    assert waiter["frames"][0].startswith(qual(python, "Condition", "wait") + " ("), text
    assert threads["spinner"]["frames"][0] == fr("spin", "sleepers.py", "HOT"), text
    assert sleeper["state"] == waiter["state"] == "idle", text
    main = [t for t in d["threads"] if t["tid"] == ids["main"]]
    assert len(main) == 1, text
    assert main[0]["frames"] == [fr("main", "sleepers.py", "SLEEP-MAIN"),
                                 fr("<module>", "sleepers.py", "ROOT")], text


@pytest.mark.layout
def test_sleeping_threads(python, workload, pyspy):
    """Off-CPU threads, with TIDs equal to threading.get_native_id()."""
    w, ids = start_sleepers(workload, pyspy, python)
    text = dump(pyspy, w.pid)
    d = parse_text(text)
    check_header(d, python, w.pid)
    assert len(d["threads"]) == 4, text
    check_sleepers(d, python, ids, text)


def test_json(python, workload, pyspy):
    """Behaviour: the JSON form of what test_sleeping_threads reads on every layout."""
    w, ids = start_sleepers(workload, pyspy, python)
    raw = dump(pyspy, w.pid, "--json")
    doc = json.loads(raw)
    assert set(doc) >= {"pid", "comm", "python_version", "threads"}, raw
    d = {"pid": doc["pid"], "comm": doc["comm"], "version": doc["python_version"],
         "threads": [{"tid": t["tid"], "name": t["name"], "state": t["state"],
                      "frames": json_frames(t), "marker": None} for t in doc["threads"]]}
    check_header(d, python, w.pid)
    check_sleepers(d, python, ids, raw)
    for t in doc["threads"]:
        assert t["partial"] is False and t["truncated"] is False, raw
        assert all(isinstance(f["line"], int) for f in t["frames"]), raw
    # The text form of the same (unchanging) process says the same.
    text = parse_text(dump(pyspy, w.pid))
    strip = lambda ts: sorted((t["tid"], t["name"], t["frames"]) for t in ts)
    assert strip(text["threads"]) == strip(d["threads"])
    assert (text["comm"], text["version"]) == (d["comm"], d["version"])


@pytest.mark.layout
def test_deep_truncated(python, workload, pyspy):
    """1100 frames, read from userspace on every layout: the innermost 1024,
    then [truncated].  (A tenth of a second each: no reason to choose.)"""
    w = workload(python, "deep.py", "--depth", 1100)
    hot = fr("leaf", "deep.py", "HOT")
    d, text = dump_until(pyspy, w.pid, lambda d: innermost(d, w.pid) == [hot])
    t = d["threads"]
    assert len(t) == 1, text
    frames = t[0]["frames"]
    assert t[0]["marker"] == "[truncated]", text[-2000:]
    assert len(frames) == 1024
    assert frames[0] == hot
    assert frames[1] == fr("recurse", "deep.py", "CALL-LEAF")
    assert set(frames[2:]) == {fr("recurse", "deep.py", "RECURSE")}


@pytest.mark.layout
def test_races_with_churn(python, workload, pyspy):
    """Thread states and frames freed while they are read, on every layout
    of them: never a crash."""
    w = workload(python, "churn.py")
    for _ in range(8):
        r = run_pyspy(pyspy, ["dump", "--pid", w.pid, "--json"], timeout=30)
        assert r.rc == 0, str(r)
        doc = json.loads(r.stdout)
        assert any(t["tid"] == w.pid for t in doc["threads"]), r.stdout[:2000]
    assert w.alive()


def test_without_root(pyspy):
    """No BPF: a user may dump their own process."""
    if Path("/proc/sys/kernel/yama/ptrace_scope").exists() and \
            Path("/proc/sys/kernel/yama/ptrace_scope").read_text().strip() != "0":
        pytest.skip("Yama ptrace_scope forbids reading a non-child process")
    py = require_python(PY_DEBIAN)  # nobody cannot enter /root, where pyenv lives
    p = subprocess.Popen(NOBODY + [str(py.path), str(WORKLOADS / "simple.py")],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         start_new_session=True)
    try:
        assert read_line(p.stdout, 20) == "ready"
        r = run_pyspy(NOBODY[0], NOBODY[1:] + [pyspy, "dump", "--pid", p.pid])
        assert r.rc == 0, str(r)
        t = parse_text(r.stdout)["threads"]
        assert t[0]["frames"][0] == fr("hot_loop", "simple.py", "HOT"), r.stdout
    finally:
        kill_group(p)


# --- errors -------------------------------------------------------------------------

def one_line_error(r, pattern):
    assert r.rc != 0, "expected failure\n%s" % r
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, "expected one line, got:\n%s" % r.stderr
    assert re.search(pattern, lines[0]), "%r does not match %r" % (lines[0], pattern)
    assert r.stdout == "", "nothing on stdout on failure: %r" % r.stdout


def test_error_no_such_process(pyspy):
    pid = next(p for p in range(32767, 2, -1) if not os.path.exists("/proc/%d" % p))
    one_line_error(run_pyspy(pyspy, ["dump", "--pid", pid]),
                   r"^pyspy-bpf: no such process: PID %d$" % pid)


def test_error_not_python(pyspy):
    sleeper = subprocess.Popen(["/bin/sleep", "60"], start_new_session=True)
    try:
        one_line_error(run_pyspy(pyspy, ["dump", "--pid", sleeper.pid]),
                       r"PID %d \(sleep\) is not a Python process" % sleeper.pid)
    finally:
        kill_group(sleeper)


def test_error_python37(python37, workload, pyspy):
    w = workload(python37, "simple.py")
    one_line_error(run_pyspy(pyspy, ["dump", "--pid", w.pid]),
                   r"unsupported Python version 3\.7\.\d+ \(supported: CPython 3\.8 and newer\)")


def test_error_permission_denied(workload, pyspy):
    w = workload(require_python(PY_DEBIAN), "simple.py")
    r = run_pyspy(NOBODY[0], NOBODY[1:] + [pyspy, "dump", "--pid", w.pid])
    one_line_error(r, r"PID %d \(.*\): permission denied reading its memory" % w.pid)


def test_error_not_initialised(pyspy, tmp_path):
    py = require_python(BY_ID["3.12"])
    exe = tmp_path / "uninit"
    subprocess.run(["gcc", "-Wall", "-Werror", "-o", str(exe),
                    str(REPO / "tests/helpers/uninit.c"), "-ldl"], check=True)
    p = subprocess.Popen([str(exe), str(py.prefix / "lib/libpython3.12.so.1.0")],
                         stdout=subprocess.PIPE)
    try:
        assert p.stdout.readline().strip() == b"ready"
        r = run_pyspy(pyspy, ["dump", "--pid", p.pid, "--init-wait", "1"], timeout=20)
        one_line_error(r, r"Python is not initialised yet \(waited 1\.0 s")
    finally:
        p.kill()
        p.wait()


@pytest.mark.parametrize("args,pattern", [
    ([], r"nothing to dump: give --pid"),
    (["--pid", "nope"], r"invalid PID: nope"),
    (["--pid", "1", "--pid", "2"], r"one --pid only"),
    (["--pid", "1", "extra"], r"unexpected argument 'extra'"),
])
def test_bad_arguments(pyspy, args, pattern):
    r = run_pyspy(pyspy, ["dump"] + args)
    assert r.rc != 0, str(r)
    assert re.search(pattern, r.stderr), r.stderr
