# SPDX-License-Identifier: MIT
# --mode offcpu|wall|memory and --gil on real workloads, on the behaviour interpreters.
"""Off-CPU stacks end in a reason frame derived by the kernel side; wall
profiles add up on-CPU and off-CPU time per thread; --gil keeps only samples
whose thread held the GIL; memory profiles are charged in bytes of newly
touched pages.  Behaviour: the layouts they read (threads, the GIL) are
read on every interpreter by test_record.py, test_wall.py and test_top.py."""
import re

from conftest import BEHAVIOUR, require_python


def leaf_name(frames):
    return frames[-1].split(" (")[0]


def weights_by(stacks, key):
    out = {}
    for frames, w in stacks:
        k = key(frames)
        out[k] = out.get(k, 0) + w
    return out


def frame_names(frames):
    return [f.split(" (")[0] for f in frames]


def test_wall_70_30_with_sleep_reason(python, workload, record):
    w = workload(python, "wall.py")
    r = record(w.pid, duration=5, rate=199, extra=["--mode", "wall"])
    stacks = r.profile()
    total = sum(c for _, c in stacks)
    # Weights are nanoseconds: one thread over ~5 s of wall time.
    assert 3.5e9 < total < 6.5e9, total
    napping = sum(c for f, c in stacks if "nap" in frame_names(f))
    computing = sum(c for f, c in stacks if "compute" in frame_names(f))
    share = 100.0 * napping / (napping + computing)
    assert abs(share - 70) <= 7, "nap share %.1f%%\n%s" % (share, r.text)
    reasons = weights_by([(f, c) for f, c in stacks if "nap" in frame_names(f)], leaf_name)
    assert max(reasons, key=reasons.get) == "[sleep]", reasons
    assert re.search(r"^\S.* \d+$", r.text, re.M), "folded weights are integers"


def test_offcpu_reasons(python, workload, record):
    w = workload(python, "blocking.py")
    r = record(w.pid, duration=4, extra=["--mode", "offcpu"])
    stacks = r.profile()

    def reason_under(func):
        got = weights_by([(f, c) for f, c in stacks if func in frame_names(f)], leaf_name)
        assert got, "no off-CPU stack under %s\n%s" % (func, r.text[:3000])
        return max(got, key=got.get), got

    assert reason_under("read_slow_socket")[0].startswith("[io: recv"), reason_under("read_slow_socket")
    assert reason_under("wait_for_lock")[0] == "[lock: futex]", reason_under("wait_for_lock")
    assert reason_under("hold_lock")[0] == "[sleep]", reason_under("hold_lock")
    spin = weights_by([(f, c) for f, c in stacks
                       if {"spin_a", "spin_b"} & set(frame_names(f))], leaf_name)
    assert spin.get("[gil]", 0) > 0.2e9, "two CPU threads must wait for the GIL: %s" % spin
    # Every off-CPU stack ends in a reason frame.
    assert all(f[-1].startswith("[") for f, _ in stacks), [f[-1] for f, _ in stacks][:10]


def test_gil_flag(python, workload, record):
    w = workload(python, "gilsplit.py")
    both = weights_by(record(w.pid, duration=3).profile(), leaf_name)
    assert both.get("py_loop", 0) > 50 and both.get("hash_loop", 0) > 50, both
    held = weights_by(record(w.pid, duration=3, extra=["--gil"]).profile(), leaf_name)
    assert held.get("py_loop", 0) > 50, held
    # hashlib releases the GIL for big buffers: almost none of it is left.
    assert held.get("hash_loop", 0) <= 0.1 * held["py_loop"], held


def test_memory_growth(python, workload, record):
    w = workload(python, "leak.py")
    r = record(w.pid, duration=3, extra=["--mode", "memory"])
    stacks = r.profile()
    by = weights_by(stacks, leaf_name)
    total = sum(by.values())
    # Bytes: at least some MB were touched, nearly all by grow().
    assert total > 4 << 20, by
    assert by.get("grow", 0) >= 0.8 * total, by
    assert total % 4096 == 0


def test_offcpu_pprof_units(workload, pyspy, tmp_path):
    """pprof of an off-CPU profile carries offcpu/nanoseconds, read by the real tool."""
    import os
    import subprocess
    from conftest import run_pyspy
    w = workload(require_python(BEHAVIOUR[-1]), "wall.py")
    out = tmp_path / "off.pb.gz"
    r = run_pyspy(pyspy, ["record", "--pid", w.pid, "--mode", "offcpu", "--duration", 2, "-o", out])
    assert r.rc == 0, r
    home = tmp_path / "gohome"
    home.mkdir()
    env = dict(os.environ, HOME=str(home), GOCACHE=str(home / "cache"), GOPROXY="off")
    raw = subprocess.run(["go", "tool", "pprof", "-raw", str(out)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, timeout=90)
    assert raw.returncode == 0, raw.stderr
    assert "PeriodType: offcpu nanoseconds" in raw.stdout and "offcpu/nanoseconds" in raw.stdout
    top = subprocess.run(["go", "tool", "pprof", "-top", str(out)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, timeout=90)
    assert re.search(r"\[sleep\]$", top.stdout, re.M), top.stdout
