# SPDX-License-Identifier: MIT
# Hash flooding: names that all collide under the old unkeyed hash cost the agent what random ones do.
"""A target chooses the names the agent hashes.  Until e939864 the hash
was unkeyed and invertible: names with one hash, made in a fraction of a
second (below), turned every lookup of the name table into a walk of all
of them, and the agent fell so far behind that a target's samples were
symbolized after it had exited ([unknown]).  With the per-run key they
spread like any names.

The test makes NAMES printable names of 32 bytes that all have one hash
under the old function, and as many random ones; a target (manynames.py)
makes a function of each and runs each once while `record` samples it,
and ends once the agent has caught up (or CATCH_UP_S later).  The agent's
CPU time per name learned, colliding over random, must stay under 2x,
nearly every name must be learned, and the colliding names must lose no
more samples to [unknown] than random ones do.
"""
import os
import random
import re
import signal
import struct
import subprocess
import threading
import time

import pytest

from conftest import BY_ID, WORKLOADS, parse_folded, pyspy_env, read_line, run_pyspy

# Runs alone (conftest.py, serial): the agent kept busy on purpose: its pace is the point.
pytestmark = pytest.mark.serial

NAMES = 40000
WIDTH = 32
DEPTH = 100
# CPU time at the bottom of each chain: about 4 samples at 999 Hz, so that
# few chains go unsampled even when the host is loaded.
SPIN_MS = 4
# How long the agent may take to catch up with a target that has run all
# its chains (e939864 took minutes for colliding names).
CATCH_UP_S = 60
PY = "3.12"

# --- the old hash (symbolize/base/hash.h at e939864), and names that collide under it

M64 = (1 << 64) - 1
K1, K2, K3 = 0xff51afd7ed558ccd, 0xc4ceb9fe1a85ec53, 0x94d049bb133111eb
H1, H2 = 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F
HIGH_BITS = 0x8080808080808080
# Printable, without ';' (the folded format's separator).
ALPHABET = sorted(set(range(0x21, 0x7f)) - {0x3b})


def old_mix(h, w, k, shift):
    h = (h ^ w) * k & M64
    return h ^ h >> shift


def old_hash(b):
    """The old hash_bytes: two lanes of 8-byte words, 16 bytes a step."""
    h1, h2 = H1 ^ len(b), H2
    b = b + bytes(-len(b) % 16)
    for i in range(0, len(b), 16):
        w0, w1 = struct.unpack_from("<QQ", b, i)
        h1, h2 = old_mix(h1, w0, K1, 32), old_mix(h2, w1, K2, 29)
    return old_mix(h1 ^ ((h2 << 31 | h2 >> 33) & M64), h2, K3, 31)


def printable(w):
    return not w & HIGH_BITS and all(c in ALPHABET for c in w.to_bytes(8, "little"))


def lane_pairs(h0, k, shift, count, rng):
    """count pairs of printable words (w0, w1) that take one lane of the old
    hash from h0 to one state: w1 cancels what w0's mix made (the mix is
    invertible), kept when it is printable too."""
    out, target = [], None
    while True:
        base = int.from_bytes(bytes(rng.choices(ALPHABET, k=5)), "little")
        for c in ALPHABET:
            for d in ALPHABET:
                for e in ALPHABET:
                    w0 = base | c << 40 | d << 48 | e << 56
                    st = old_mix(h0, w0, k, shift)
                    if target is None:
                        target = st ^ 0x5f5f5f5f5f5f5f5f
                    w1 = st ^ target
                    if printable(w1):
                        out.append((w0, w1))
                        if len(out) == count:
                            return out


def colliding_names(count, rng):
    """count names of 32 bytes, one old hash: the lanes are independent, so
    n pairs of each make n * n names (a 2-block multicollision)."""
    side = int(count ** 0.5) + 1
    a = lane_pairs(H1 ^ WIDTH, K1, 32, side, rng)
    b = lane_pairs(H2, K2, 29, side, rng)
    return [struct.pack("<QQQQ", a0, b0, a1, b1) for a0, a1 in a for b0, b1 in b][:count]


def random_names(count, rng):
    return [bytes(rng.choices(ALPHABET, k=WIDTH)) for _ in range(count)]


# --- one recording -----------------------------------------------------------------

def cpu_s(pid):
    """utime + stime of a process so far, every thread."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sched_ns(pid):
    """(ns on a CPU, ns waiting for one) of a process so far, every thread."""
    run = wait = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                r, w, _ = f.read().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        run, wait = run + int(r), wait + int(w)
    return run, wait


def caught_up(pid, timeout):
    """Wait until the agent has handled what its target did.  With work
    left it is running or waiting for a CPU all the time (a starved agent
    waits); done, it sleeps between drains (every 20-100 ms), and a loaded
    host adds at most a few ms of waiting to each: so, two windows of
    0.5 s in a row with less than half of each spent running or waiting.
    False if it is still at work after timeout."""
    window = 0.5
    deadline = time.monotonic() + timeout
    idle, before = 0, sched_ns(pid)
    while time.monotonic() < deadline and idle < 2:
        time.sleep(window)
        now = sched_ns(pid)
        busy = (now[0] - before[0]) + (now[1] - before[1])
        idle = idle + 1 if busy < 0.5 * window * 1e9 else 0
        before = now
    return idle >= 2


def wait_exit(proc, timeout):
    """Reap proc within timeout: its rusage (None if it is still running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage
        time.sleep(0.05)
    return None


def profile_names(pyspy, python, names, tmp_path, kind):
    """Run each name's function once under `record`; once the agent has
    caught up, end the target (and so the recording).  Returns (agent CPU
    seconds from attach to exit, distinct names in the profile, share of
    samples with [unknown], summary)."""
    path = tmp_path / (kind + ".names")
    path.write_bytes(b"".join(names))
    out = tmp_path / (kind + ".folded")
    target = subprocess.Popen(
        python.argv + [str(WORKLOADS / "manynames.py"), "--names", str(path),
                       "--width", str(WIDTH), "--depth", str(DEPTH), "--spin-ms", str(SPIN_MS)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True)
    agent = None
    try:
        assert read_line(target.stdout, 60) == "ready", "%s: the target did not start" % kind
        agent = subprocess.Popen(
            [pyspy, "record", "--pid", str(target.pid), "--rate", "999", "-v",
             "--format", "folded", "-o", str(out)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=pyspy_env())
        log = []
        deadline = time.monotonic() + 30
        while not any("sampling PID" in line for line in log):
            line = read_line(agent.stderr, deadline - time.monotonic())
            assert line is not None, "%s: record did not start\n%s" % (kind, "\n".join(log))
            log.append(line)
        # The rest of its stderr, read as it comes: a full pipe would stop it.
        rest = []
        reader = threading.Thread(target=lambda: rest.append(agent.stderr.read()))
        reader.start()
        cpu0 = cpu_s(agent.pid)
        os.kill(target.pid, signal.SIGUSR1)
        ran = read_line(target.stdout, 60)
        assert ran and ran.startswith("cycled"), "%s: the target did not run its functions: %r" % (
            kind, ran)
        # A loaded host can leave the agent seconds behind: what is measured
        # is its work, not how soon it got a CPU.
        behind = not caught_up(agent.pid, CATCH_UP_S)
        os.killpg(target.pid, signal.SIGKILL)
        usage = wait_exit(agent, 30)
        reader.join(10)
        err = "\n".join(log) + "\n" + b"".join(rest).decode(errors="replace")
        assert usage, "%s: record still running after its target\n%s" % (kind, err[-3000:])
        assert agent.returncode == 0, "%s: record exited %d\n%s" % (
            kind, agent.returncode, err[-3000:])
    finally:
        if agent and agent.returncode is None:
            agent.kill()
            agent.wait()
        try:
            os.killpg(target.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        target.wait()
    cpu = usage.ru_utime + usage.ru_stime - cpu0
    stacks = parse_folded(out.read_text(errors="replace"))
    wanted = {n.decode() for n in names}
    seen = set()
    unknown = total = 0
    for frames, count in stacks:
        total += count
        if any(f.startswith("[unknown]") for f in frames):
            unknown += count
        for f in frames:
            name = f.rsplit(" (", 1)[0]
            if name in wanted:
                seen.add(name)
    summary = [ran + (" (the agent still %ds behind)" % CATCH_UP_S if behind else "")]
    summary += [l for l in err.splitlines() if "samples from" in l or "lost samples" in l]
    return cpu, len(seen), unknown / max(total, 1), "\n".join(summary)


def record_for(pyspy, pid, duration, out):
    return run_pyspy(pyspy, ["record", "--pid", pid, "--duration", duration, "--rate", 999,
                             "--format", "folded", "-o", out], out, timeout=duration + 30)


def test_colliding_names_cost_what_random_names_cost(pyspy, tmp_path):
    python = BY_ID[PY]
    if not os.access(python.host_path, os.X_OK):
        pytest.fail("interpreter %s missing: %s" % (python.id, python.host_path))
    rng = random.Random(22)
    t0 = time.monotonic()
    collide = colliding_names(NAMES, rng)
    made = time.monotonic() - t0
    assert len(set(collide)) == NAMES and len({old_hash(n) for n in collide}) == 1, \
        "the names do not all collide under the old hash"
    rand = random_names(NAMES, rng)
    assert len({old_hash(n) & 0xffffffff for n in rand[:1000]}) == 1000

    r_cpu, r_seen, r_unknown, r_log = profile_names(pyspy, python, rand, tmp_path, "random")
    c_cpu, c_seen, c_unknown, c_log = profile_names(pyspy, python, collide, tmp_path, "colliding")
    report = ("%d names each (colliding ones made in %.2f s)\n"
              "random:    %.2f s of agent CPU, %d names learned, %.1f%% of samples [unknown]\n%s\n"
              "colliding: %.2f s of agent CPU, %d names learned, %.1f%% of samples [unknown]\n%s"
              % (NAMES, made, r_cpu, r_seen, 100 * r_unknown, r_log,
                 c_cpu, c_seen, 100 * c_unknown, c_log))
    # Nearly every chain is sampled (SPIN_MS), and so learned.
    assert r_seen >= 0.8 * NAMES and c_seen >= 0.8 * NAMES, report
    per_name = (c_cpu / c_seen) / (r_cpu / r_seen)
    assert per_name < 2, "colliding names cost %.1fx random ones per name\n%s" % (
        per_name, report)
    assert c_unknown <= r_unknown + 0.02, "colliding names lost more samples to [unknown]\n" + report
    print(report)


def test_record_keeps_its_duration_when_behind(pyspy, workload, tmp_path):
    """More hot code objects than the code cache holds (65 536 a process)
    make every sample a read of 100 of them: the agent falls behind its
    samples.  It must still stop at --duration (e939864 read the ring for
    as long as records came: 3 s took 741 s)."""
    python = BY_ID[PY]
    if not os.access(python.host_path, os.X_OK):
        pytest.fail("interpreter %s missing: %s" % (python.id, python.host_path))
    path = tmp_path / "many.names"
    path.write_bytes(b"".join(random_names(160000, random.Random(5))))
    w = workload(python, "manynames.py", "--names", path, "--width", WIDTH, "--depth", DEPTH,
                 "--spin-ms", 1, "--cycles", 1000)
    os.kill(w.pid, signal.SIGUSR1)
    time.sleep(2)  # past the first 65 536
    duration = 3
    r = record_for(pyspy, w.pid, duration, tmp_path / "behind.folded")
    assert r.rc == 0, str(r)
    # From the first sample (start-up, the BPF load, is not in it): a poll
    # goes 50 ms past it at most, and the final drain is 8 polls.
    m = re.search(r" samples from .* in ([0-9.]+) s at ", r.stderr)
    assert m, str(r)
    assert float(m.group(1)) < duration + 3, "record --duration %d took %s s\n%s" % (
        duration, m.group(1), r)
