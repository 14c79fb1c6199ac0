# SPDX-License-Identifier: MIT
# `record --all`: every Python process on the host, whatever its version.
"""Processes of several versions at once, including ones started after the
recording began (picked up within a second of their interpreter starting),
processes that exit mid-recording, and non-Python processes, which are
never reported."""
import signal
import subprocess
import threading
import time

import pytest

from conftest import (PROCESS_RE, PYTHONS, WORKLOADS, marker_line, parse_folded,
                      pyspy_env, registered_at, require_python)

# Runs alone (conftest.py, serial): record --all sees every process on the machine.
pytestmark = pytest.mark.serial


def hot(script="simple.py", tag="HOT"):
    return "hot_loop (%s:%d)" % (WORKLOADS / script, marker_line(script, tag))


def per_pid(stacks):
    out = {}
    for frames, count in stacks:
        m = PROCESS_RE.match(frames[0])
        assert m, "--all must lead with the process frame: %r" % frames[0]
        out.setdefault(int(m.group("pid")), []).append((frames[1:], count))
    return out


def start(py, *args):
    return subprocess.Popen(py.argv + [str(WORKLOADS / "simple.py")] + [str(a) for a in args],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)


def read_lines(stream, sink):
    for line in stream:
        sink.append((time.monotonic(), line))


def logged(log, text, timeout):
    """Wait until a line of the agent's log holds text; its time, or None."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        seen = [t for t, l in list(log) if text in l]
        if seen:
            return seen[0]
        time.sleep(0.05)
    return None


def test_all_versions_late_starters_and_exits(pyspy, tmp_path):
    pys = [require_python(p) for p in PYTHONS]
    early = [start(p, "--seconds", 60) for p in pys[:4]]
    quitter = start(pys[4], "--seconds", 60)
    busy_c = subprocess.Popen(["sh", "-c", "while :; do :; done"])
    out = tmp_path / "all.folded"
    rec = subprocess.Popen([pyspy, "record", "--all", "-v", "--duration", "60", "--rate", "199",
                            "-o", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, env=pyspy_env())
    log = []
    reader = threading.Thread(target=read_lines, args=(rec.stderr, log), daemon=True)
    reader.start()
    late, ready_at = [], {}
    try:
        # The recording runs once the processes already there are sampled
        # (start-up takes longer on a loaded machine): what starts now
        # starts during it, and the quitter exits during it.
        for p in early + [quitter]:
            assert logged(log, "sampling PID %d " % p.pid, 30), "".join(l for _, l in log)
        late = [start(p, "--seconds", 60, "--say-when") for p in pys[5:]]
        for p in late:
            assert p.stdout.readline().strip() == b"ready"
            ready_at[p.pid] = float(p.stdout.readline())
        # Each sampled a while (the time it takes on a loaded machine) ...
        for p in late:
            assert logged(log, "sampling PID %d " % p.pid, 30), "".join(l for _, l in log)
        time.sleep(2)
        quitter.terminate()
        quitter.wait()
        # ... and the recording ended by ^C, which writes the whole profile.
        assert logged(log, "PID %d (" % quitter.pid, 30), "".join(l for _, l in log)
        time.sleep(0.5)
        rec.send_signal(signal.SIGINT)
        rec.wait(timeout=40)
        reader.join(timeout=10)
    finally:
        for p in early + late + [quitter, busy_c]:
            p.kill()
            p.wait()
    err = "".join(l for _, l in log)
    assert rec.returncode == 0, err
    procs = per_pid(parse_folded(out.read_text()))
    want = {p.pid: py for p, py in zip(early + [quitter] + late, pys)}
    for pid, py in want.items():
        assert pid in procs, "PID %d (%s) missing; got %s\n%s" % (pid, py.id, sorted(procs), err)
        assert any(f and f[-1] == hot() for f, _ in procs[pid]), (py.id, procs[pid][:3])
    # Processes started during the recording are picked up within 1 s of
    # their interpreter running: the time each said it was ready and the
    # time the agent began to sample it, both on CLOCK_MONOTONIC.
    for p in late:
        seen = registered_at(err, p.pid)
        assert seen is not None, "no pick-up logged for PID %d\n%s" % (p.pid, err)
        assert seen - ready_at[p.pid] < 1.0, (p.pid, seen - ready_at[p.pid])
    # The quitter exited mid-recording: dropped, not an error.
    assert "PID %d (" % quitter.pid in err and "exited" in err, err
    # Non-Python processes, busy or not, are never in the profile (other
    # Python processes on the host, like the test runner, may be).
    assert busy_c.pid not in procs and rec.pid not in procs
