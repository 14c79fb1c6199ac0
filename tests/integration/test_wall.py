# SPDX-License-Identifier: MIT
# Wall time that adds up: waits that began before the recording, or outlast it.
"""In `--mode wall` (and `offcpu`) a thread that is already blocked when its
process is registered is charged from that moment, with the stack it waits
at and the reason; a wait still open at the end is charged up to the end;
a launched command is watched from before its exec, so a sleep at the very
start of the program counts whole.  So each thread's weights add up to the
time it existed during the recording (within 3%).  test_waits_add_up
reads the waiting threads of every interpreter (a layout test); the rest
is behaviour."""
import calendar
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import (BY_ID, INROOT, READY_TIMEOUT, THREAD_RE, WORKLOADS, Running, behaviour_ids,
                      kill_group, marker_line, parse_folded, read_line, registered_at,
                      require_python, run_pyspy)
from test_dump import dump, parse_text
from test_serve import Server
from test_top import rows

DURATION = 2.0
TOL = 0.03


def fr(name, script, tag):
    return "%s (%s:%d)" % (name, WORKLOADS / script, marker_line(script, tag))


def by_thread(stacks):
    """{tid: (name, [(frames without the thread frame, weight)])}."""
    out = {}
    for frames, w in stacks:
        m = THREAD_RE.match(frames[0])
        assert m, "first frame is not 'thread TID (NAME)': %r" % frames[0]
        out.setdefault(int(m.group("tid")), (m.group("name"), []))[1].append((frames[1:], w))
    return out


def weight(stacks, pred=lambda f: True):
    return sum(w for f, w in stacks if pred(f))


def show(threads):
    lines = []
    for tid, (name, st) in sorted(threads.items()):
        lines.append("thread %d (%s): %.3f s" % (tid, name, weight(st) / 1e9))
        for f, w in sorted(st, key=lambda x: -x[1])[:4]:
            lines.append("    %8.3f s  %s" % (w / 1e9, ";".join(f[-3:])))
    return "\n".join(lines)


def ends_with(*tail):
    return lambda f: f[-len(tail):] == list(tail)


# Where each thread of waiters.py waits (before SIGUSR1): its innermost
# frame (None: in threading's Event.wait) and the reason.
def waits(w, tid, name):
    s = "waiters.py"
    return {"main": (fr("main", s, "SLEEP"), "[sleep]"),
            "locker": (fr("lock_wait", s, "LOCK"), "[lock: futex]"),
            "receiver": (fr("recv_wait", s, "RECV"), "[io: recv]"),
            "late": (None, "[lock: futex]")}["main" if tid == w.pid else name]


@pytest.mark.layout
def test_waits_add_up(python, workload, pyspy, tmp_path):
    """Four threads, all blocked when recording starts: asleep, on a Lock,
    in recv, and one that is woken once sampling runs, spins, and sleeps
    past the end.  Each is charged the whole recording, where it waits."""
    w = workload(python, "waiters.py", "--spin", 0.5)
    out = tmp_path / "wall.folded"
    run = Running(pyspy, ["record", "--pid", w.pid, "--mode", "wall", "--threads", "--rate", 199,
                          "--duration", DURATION, "-v", "--format", "folded", "-o", out],
                  "off the CPU at registration")
    try:
        os.kill(w.pid, signal.SIGUSR1)  # late(): spin, then sleep past the end
        log = run.finish()
    finally:
        run.kill()
    threads = by_thread(parse_folded(out.read_text()))
    names = {name: tid for tid, (name, _) in threads.items()}
    assert w.pid in threads and {"locker", "receiver", "late"} <= set(names), show(threads)

    for tid, (name, st) in threads.items():
        got = weight(st) / 1e9
        assert abs(got - DURATION) <= TOL * DURATION, \
            "thread %s: %.3f s of a %.1f s recording\n%s\n%s" % (
                name, got, DURATION, show(threads), log)

    def share(tid, *tail):
        st = threads[tid][1]
        return weight(st, ends_with(*tail)) / weight(st)

    s = "waiters.py"
    assert share(w.pid, fr("main", s, "SLEEP"), "[sleep]") >= 0.97, show(threads)
    assert share(names["locker"], fr("lock_wait", s, "LOCK"), "[lock: futex]") >= 0.97, \
        show(threads)
    assert share(names["receiver"], fr("recv_wait", s, "RECV"), "[io: recv]") >= 0.97, \
        show(threads)
    late = threads[names["late"]][1]
    spin = weight(late, lambda f: fr("late", s, "SPIN") in f[-2:]) / 1e9
    nap = weight(late, ends_with(fr("nap", s, "NAP"), "[sleep]")) / 1e9
    assert 0.4 <= spin <= 0.6 and nap >= 0.5, "spin %.3f s, nap %.3f s\n%s" % (
        spin, nap, show(threads))


def start_in_pid_namespace(python, script):
    """python running script in a PID namespace of its own (the sid root's
    with its mounts, as inroot.sh makes it): (its Popen, its host PID)."""
    if python.root:
        argv = [str(INROOT), python.root, "--pidns", str(python.path)]
    else:
        argv = ["unshare", "--fork", "--pid", "--mount-proc", "--kill-child", str(python.path)]
    proc = subprocess.Popen(argv + [str(WORKLOADS / script)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, start_new_session=True)
    line = read_line(proc.stdout, READY_TIMEOUT)
    kids = "/proc/%d/task/%d/children" % (proc.pid, proc.pid)
    pid = int(open(kids).read().split()[0]) if line == "ready" else None
    if not pid:
        kill_group(proc)
        pytest.fail("%s %s in a PID namespace: no 'ready' (got %r)" % (python.id, script, line))
    status = open("/proc/%d/status" % pid).read()
    assert re.search(r"^NSpid:\s+%d\s+1$" % pid, status, re.M), status
    return proc, pid


def test_waits_add_up_in_a_pid_namespace(python, pyspy, tmp_path):
    """waiters.py's four threads, all blocked as the recording starts, in a
    container with a PID namespace of its own (the ids it keeps are not the
    host's): each is charged the whole recording, where it waits."""
    proc, pid = start_in_pid_namespace(python, "waiters.py")
    out = tmp_path / "ns.folded"
    try:
        r = run_pyspy(pyspy, ["record", "--pid", pid, "--mode", "wall", "--threads", "--rate", 199,
                              "--duration", DURATION, "-v", "--format", "folded", "-o", out])
    finally:
        kill_group(proc)
    assert r.rc == 0, str(r)
    threads = by_thread(parse_folded(out.read_text()))
    assert pid in threads and len(threads) == 4, show(threads)
    for tid, (name, st) in threads.items():
        got = weight(st) / 1e9
        assert abs(got - DURATION) <= TOL * DURATION, "thread %s: %.3f s of %.1f s\n%s\n%s" % (
            name, got, DURATION, show(threads), r.stderr[-3000:])
    main = threads[pid][1]
    at = weight(main, ends_with(fr("main", "waiters.py", "SLEEP"), "[sleep]"))
    assert at >= 0.97 * weight(main), show(threads)


@pytest.mark.parametrize("py_id", behaviour_ids())
def test_thread_that_calls_in_late(py_id, workload, pyspy, tmp_path):
    """A C thread spins 0.3 s with no Python thread state (met first as a
    thread that is not Python), then calls into Python (ctypes makes its
    thread state then) and at once sleeps 0.6 s: that first wait is charged
    whole, where it sleeps (its thread state is looked for again as soon
    as one is added, not 50 ms later)."""
    python = require_python(BY_ID[py_id])
    so = tmp_path / "late.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-pthread",
                    str(WORKLOADS / "native" / "late.c"), "-o", str(so)], check=True)
    w = workload(python, "latecall.py", so)
    out = tmp_path / "late.folded"
    run = Running(pyspy, ["record", "--pid", w.pid, "--mode", "wall", "--threads", "--rate", 499,
                          "--duration", 2.0, "-v", "--format", "folded", "-o", out],
                  "off the CPU at registration")
    try:
        os.kill(w.pid, signal.SIGUSR1)
        log = run.finish()
    finally:
        run.kill()
    stacks = parse_folded(out.read_text())
    nap = weight(stacks, ends_with(fr("napper", "latecall.py", "NAP"), "[sleep]")) / 1e9
    assert abs(nap - 0.6) <= TOL * 0.6 + 0.005, "napper slept %.3f s of 0.6\n%s\n%s" % (
        nap, show(by_thread(stacks)), log)


def test_launch_sleeps_first(python, pyspy, tmp_path):
    """A launched program that sleeps before anything else: its first sleep
    is charged whole, and its time adds up to what it measured itself."""
    truth = tmp_path / "truth.json"
    out = tmp_path / "launch.folded"
    r = run_pyspy(pyspy, ["record", "-v", "--mode", "wall", "--rate", 499, "--format", "folded",
                          "-o", out, "--"] + python.argv +
                  [WORKLOADS / "sleepfirst.py", "--truth", truth], out, timeout=60)
    stacks = r.profile()
    t = json.loads(truth.read_text())
    s = "sleepfirst.py"
    root = fr("<module>", s, "ROOT")
    # Before the program's clock starts and after it stops (writing it down).
    out = (fr("main", s, "T0"), fr("main", s, "CALL-WRITE"))
    mine = [(f, w) for f, w in stacks if root in f and not any(x in f for x in out)]

    def part(name, tag, *tail):
        return weight(mine, lambda f: fr(name, s, tag) in f and
                      (not tail or f[-len(tail):] == list(tail))) / 1e9

    # What each function took as the program timed it: its sleep, and the
    # moments it waited for a CPU around it ([preempted]) on a busy machine.
    first, spin, last = part("first", "FIRST"), part("spin", "SPIN"), part("last", "LAST")
    slept = part("first", "FIRST", "[sleep]"), part("last", "LAST", "[sleep]")
    summary = "first %.3f (slept %.3f) spin %.3f last %.3f (slept %.3f) of %.3f s; " \
        "truth %s\n%s" % (first, slept[0], spin, last, slept[1], weight(mine) / 1e9, t,
                          r.text[:3000]) + "\n" + str(r)
    # Waits are timed exactly; CPU time is counted in ticks of 1/499 s, so
    # the spin gets a few ticks of slack on top.
    for got, want, slack in ((first, t["first"], 0.005), (spin, t["spin"], 10 / 499),
                             (last, t["last"], 0.005)):
        assert abs(got - want) <= TOL * want + slack, summary
    assert min(slept) >= 0.3 * (1 - TOL), summary
    assert abs(weight(mine) / 1e9 - t["total"]) <= TOL * t["total"], summary


def pprof_start(raw):
    """`go tool pprof -raw`'s Time: line -> Unix seconds (ns digits kept)."""
    m = re.search(r"^Time: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(\.\d+)? \+0000 UTC$", raw, re.M)
    assert m, raw[:500]
    return calendar.timegm(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + \
        float(m.group(2) or 0)


def test_serve_intervals_split_waits(python, workload, pyspy, tmp_path, reader, go_pprof):
    """serve --mode wall --output-dir: four threads that wait throughout.
    Each interval's file charges each thread the part of its wait that fell
    in that interval (the time to the next file's start, within 3%), where
    it waits: waits are split at every boundary and nothing counts twice."""
    w = workload(python, "waiters.py")
    out = tmp_path / "profiles"
    out.mkdir()
    srv = Server(pyspy, tmp_path, "--pid", w.pid, "--mode", "wall", "--output-dir", out,
                 "--interval", 1)
    try:
        deadline = time.monotonic() + 20
        while srv.logtext().count(" wrote ") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert srv.stop(signal.SIGTERM) == 0, srv.logtext()
    finally:
        srv.stop(signal.SIGKILL)
    log = srv.logtext()
    files = sorted(out.glob("pyspy-bpf-*.pb.gz"))
    assert len(files) >= 3, log
    starts = [pprof_start(go_pprof("-raw", f)) for f in files]
    for i, f in enumerate(files):
        threads = {}
        for frames, wt in parse_folded(reader(f)):
            m = THREAD_RE.match(frames[1])
            assert m, frames
            threads.setdefault((int(m.group("tid")), m.group("name")), []).append(
                (frames[2:], wt))
        assert len(threads) == 4, "%s: %s\n%s" % (f.name, sorted(threads), log)
        sums = {name: weight(st) / 1e9 for name, st in threads.items()}
        # The last file ends at SIGTERM; every thread still waited all of it.
        span = starts[i + 1] - starts[i] if i + 1 < len(files) else max(sums.values())
        for name, st in threads.items():
            frame, reason = waits(w, *name)
            assert abs(sums[name] - span) <= TOL * span, \
                "%s: thread %s %.3f s of %.3f s\n%s" % (f.name, name, sums[name], span, log)
            tail = (frame, reason) if frame else (reason,)
            assert weight(st, ends_with(*tail)) >= 0.97 * weight(st), (f.name, name, st)


def test_top_and_dump_agree(python, workload, pyspy, tmp_path):
    """A waiting thread is shown where it waits by all three: dump's innermost
    frame is the frame above the reason in a wall profile, and the row that
    `top --mode wall` gives its time (a quarter each: four threads)."""
    w = workload(python, "waiters.py")
    d = parse_text(dump(pyspy, w.pid))
    stacks = {t["tid"]: t["frames"] for t in d["threads"]}
    assert len(stacks) == 4 and all(stacks.values()), d
    out = tmp_path / "wall.folded"
    r = run_pyspy(pyspy, ["record", "--pid", w.pid, "--mode", "wall", "--threads", "--rate", 199,
                          "--duration", 1, "--format", "folded", "-o", out], out)
    threads = by_thread(r.profile())
    assert set(threads) == set(stacks), (sorted(threads), sorted(stacks))
    reasons = {}
    for tid, (name, st) in threads.items():
        frames, wt = max(st, key=lambda x: x[1])
        assert wt >= 0.97 * weight(st), show(threads)
        assert frames[:-1] == stacks[tid][::-1], \
            "thread %s: dump says\n  %s\nwall says\n  %s" % (
                name, "\n  ".join(stacks[tid]), "\n  ".join(frames[::-1]))
        assert frames[-1] == waits(w, tid, name)[1], frames
        reasons[frames[-1]] = reasons.get(frames[-1], 0) + 1
    t = run_pyspy(pyspy, ["top", "--pid", w.pid, "--mode", "wall", "--rate", 199,
                          "--duration", 2.5])
    assert t.rc == 0, str(t)
    last = t.stdout.strip().split("pyspy-bpf top:")[-1]
    own = {row["fn"]: float(row["own"]) for row in rows(last)}
    for tid, frames in stacks.items():
        assert 22 <= own.get(frames[0], 0) <= 28, "%s not at ~25%%:\n%s" % (frames[0], last)
    m = re.search(r"^Waiting:(.*)$", last, re.M)
    assert m, last
    shown = {k: float(v) for k, v in re.findall(r"  (\[[^]]+\]) ([\d.]+)%", m.group(1))}
    assert set(shown) == set(reasons), m.group(0)
    for k, n in reasons.items():
        assert abs(shown[k] - 25 * n) <= 3, m.group(0)


def thread_sums(out):
    return {tid: weight(st) / 1e9 for tid, (name, st) in by_thread(parse_folded(
        out.read_text())).items()}


@pytest.mark.parametrize("end", ["sigint", "target-exit"])
def test_waits_open_at_the_end_are_charged(end, workload, pyspy, tmp_path):
    """Waits still open when the recording ends are charged up to that end,
    whether it is Ctrl-C or the target's exit: each of the four waiting
    threads gets the time from registration to the end."""
    python = require_python(BY_ID["3.12"])
    w = workload(python, "waiters.py", "--seconds", 2.5 if end == "target-exit" else 60)
    out = tmp_path / "wall.folded"
    run = Running(pyspy, ["record", "--pid", w.pid, "--mode", "wall", "--threads", "-v",
                          "--format", "folded", "-o", out], "off the CPU at registration")
    t0 = time.monotonic()
    try:
        if end == "sigint":
            time.sleep(1.5)
            run.proc.send_signal(signal.SIGINT)
        else:
            w.proc.wait(timeout=10)
        t1 = time.monotonic()
        log = run.finish()
    finally:
        run.kill()
    t2 = time.monotonic()
    sums = thread_sums(out)
    assert len(sums) == 4, (sums, log)
    # What the test saw of the recording is a floor (it read the log line
    # late, and the agent ended after it was told); from registration, as
    # the agent logged it on CLOCK_MONOTONIC, to the agent's exit a ceiling.
    span = t1 - t0
    reg = registered_at(log, w.pid)
    assert reg is not None, log
    for tid, got in sums.items():
        assert span - TOL * span - 0.05 <= got <= t2 - reg + 0.05, \
            "thread %d: %.3f s, the recording ran %.3f s (at most %.3f s) after registration\n%s" % (
                tid, got, span, t2 - reg, log)
