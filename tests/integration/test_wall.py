# SPDX-License-Identifier: MIT
# Wall time that adds up: waits that began before the recording, or outlast it, on every interpreter.
"""In `--mode wall` (and `offcpu`) a thread that is already blocked when its
process is registered is charged from that moment, with the stack it waits
at and the reason; a wait still open at the end is charged up to the end;
a launched command is watched from before its exec, so a sleep at the very
start of the program counts whole.  So each thread's weights add up to the
time it existed during the recording (within 3%)."""
import json
import os
import signal

from conftest import THREAD_RE, WORKLOADS, Running, marker_line, parse_folded, run_pyspy

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


def test_launch_sleeps_first(python, pyspy, tmp_path):
    """A launched program that sleeps before anything else: its first sleep
    is charged whole, and its time adds up to what it measured itself."""
    truth = tmp_path / "truth.json"
    out = tmp_path / "launch.folded"
    r = run_pyspy(pyspy, ["record", "--mode", "wall", "--rate", 499, "--format", "folded",
                          "-o", out, "--"] + python.argv +
                  [WORKLOADS / "sleepfirst.py", "--truth", truth], out, timeout=60)
    stacks = r.profile()
    t = json.loads(truth.read_text())
    s = "sleepfirst.py"
    root = fr("<module>", s, "ROOT")
    mine = [(f, w) for f, w in stacks if root in f]

    def part(name, tag, *tail):
        return weight(mine, lambda f: fr(name, s, tag) in f and
                      (not tail or f[-len(tail):] == list(tail))) / 1e9

    first, spin, last = part("first", "FIRST", "[sleep]"), part("spin", "SPIN"), \
        part("last", "LAST", "[sleep]")
    summary = "first %.3f spin %.3f last %.3f of %.3f s; truth %s\n%s" % (
        first, spin, last, weight(mine) / 1e9, t, r.text[:3000])
    # Waits are timed exactly; CPU time is counted in ticks of 1/499 s, so
    # the spin gets a few ticks of slack on top.
    for got, want, slack in ((first, t["first"], 0.005), (spin, t["spin"], 10 / 499),
                             (last, t["last"], 0.005)):
        assert abs(got - want) <= TOL * want + slack, summary
    assert abs(weight(mine) / 1e9 - t["total"]) <= TOL * t["total"], summary
