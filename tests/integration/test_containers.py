# SPDX-License-Identifier: MIT
# Per-container attribution from the cgroup alone, on real cgroups shaped like the real thing.
"""Each "container" here is a real cgroup named as kubelet, containerd,
CRI-O or docker name theirs, holding a workload started in new PID and mount
namespaces (so its own PID is 1 and its binaries are reached through
/proc/PID/root).  No runtime is involved: attribution must come from the
cgroup path alone, pod names from a fake /var/log/pods (PYSPY_PODS_DIR).

- cgroup v2: both containers in the v2 hierarchy (the BPF cgroup id names
  them, so samples are attributed by id);
- cgroup v1 (hybrid hosts): containers only in v1 hierarchies, every process
  in the same v2 cgroup, so they are told apart per process.

Cgroups get fresh random ids each run and are removed even on failure.
"""
import os
import re
import secrets
import signal
import subprocess
import time
import urllib.request
import uuid
from collections import namedtuple
from pathlib import Path

import pytest

from conftest import (BY_ID, PROCESS_RE, PYTHONS, READY_TIMEOUT, WORKLOADS, cpu_seconds, kill_group,
                      marker_line, parse_folded, pyspy_env, read_line, require_python)
from test_serve import free_port

# Runs alone (conftest.py, serial): cgroups of the machine, record --all.
pytestmark = pytest.mark.serial

PY_A = BY_ID["3.12"]   # pyenv (shared libpython)
PY_B = BY_ID["3.11-debian"]   # static, stripped
DURATION = 4


def mounts():
    """[(mountpoint, root, fstype, super_options)] from /proc/self/mountinfo."""
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        pre, _, post = line.partition(" - ")
        f, p = pre.split(), post.split()
        out.append((f[4].replace("\\040", " "), f[3], p[0], p[2] if len(p) > 2 else ""))
    return out


def cgroup2_root():
    for mnt, root, fstype, _ in mounts():
        if fstype == "cgroup2" and root == "/":
            return Path(mnt)
    pytest.fail("no cgroup v2 hierarchy mounted")


def cgroup1_root(name):
    """The v1 hierarchy holding controller (or name=NAME), or None."""
    for mnt, root, fstype, opts in mounts():
        if fstype == "cgroup" and root == "/" and name in opts.split(","):
            return Path(mnt)
    return None


class Cgroups:
    """Cgroup directories made for one test; removed, deepest first, at the end."""

    def __init__(self):
        self.made = []

    def make(self, base, rel):
        path = base
        for part in rel.strip("/").split("/"):
            path = path / part
            if not path.exists():
                path.mkdir()
                self.made.append(path)
        return path

    def cleanup(self):
        for path in reversed(self.made):
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    # Still holds a process (not yet reaped): move it to the root.
                    root = path
                    while (root.parent / "cgroup.procs").exists():
                        root = root.parent
                    for pid in (path / "cgroup.procs").read_text().split():
                        try:
                            (root / "cgroup.procs").write_text(pid)
                        except OSError:
                            pass
                    time.sleep(0.1)


@pytest.fixture
def cgroups():
    cg = Cgroups()
    try:
        yield cg
    finally:
        cg.cleanup()
        left = [str(p) for p in cg.made if p.exists()]
        assert not left, "cgroups left behind: %s" % left


class Container:
    """A workload in cgroups `dirs`, in its own PID and mount namespaces."""

    def __init__(self, python, dirs):
        require_python(python)
        procs = [str(d / "cgroup.procs") for d in dirs]

        def enter():
            for p in procs:
                with open(p, "w") as f:
                    f.write(str(os.getpid()))

        self.proc = subprocess.Popen(
            ["unshare", "--fork", "--pid", "--mount-proc", "--mount", "--kill-child",
             str(python.path), str(WORKLOADS / "simple.py"), "--seconds", "60"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True,
            preexec_fn=enter)
        line = read_line(self.proc.stdout, READY_TIMEOUT)
        if line != "ready":
            kill_group(self.proc)
            pytest.fail("%s in a container: no 'ready' (got %r)" % (python.id, line))
        kids = Path("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid))
        self.pid = int(kids.read_text().split()[0])  # the interpreter, host PID
        status = Path("/proc/%d/status" % self.pid).read_text()
        self.nspid = int(re.search(r"^NSpid:.*\s(\d+)$", status, re.M).group(1))
        assert self.nspid == 1 and self.pid != 1, (self.pid, self.nspid)
        self.comm = Path("/proc/%d/comm" % self.pid).read_text().strip()

    def stop(self):
        kill_group(self.proc)


@pytest.fixture
def containers():
    started = []

    def start(python, dirs):
        c = Container(python, dirs)
        started.append(c)
        return c

    yield start
    for c in started:
        c.stop()


def pods_dir(tmp_path, *pods):
    d = tmp_path / "pods"
    d.mkdir()
    (d / "README").write_text("not a pod directory")
    for ns, name, uid in pods:
        (d / ("%s_%s_%s" % (ns, name, uid))).mkdir()
    return d


def record(pyspy, tmp_path, pods, args, of=()):
    """Record; each Container in `of` gets cpu_s, the CPU it used meanwhile."""
    out = tmp_path / "containers.folded"
    before = {c: cpu_seconds(c.pid) for c in of}
    env = dict(pyspy_env(), PYSPY_PODS_DIR=str(pods))
    p = subprocess.run([pyspy, "record", "-v", "--duration", str(DURATION), "--rate", "199",
                        "-o", str(out)] + [str(a) for a in args],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=DURATION + 60, env=env)
    assert p.returncode == 0, p.stderr
    for c in of:
        c.cpu_s = cpu_seconds(c.pid) - before[c]
    return parse_folded(out.read_text()), p.stderr


def hot():
    return "hot_loop (%s:%d)" % (WORKLOADS / "simple.py", marker_line("simple.py", "HOT"))


def check(stacks, log, c, container, pod):
    """Every sample of c (by host PID) is under container and pod, and there
    are many: most of what the CPU it got while recording gives (c.cpu_s)."""
    mine = []
    for frames, count in stacks:
        m = PROCESS_RE.match(frames[2]) if len(frames) > 2 else None
        assert m, "expected container;pod;process first: %r" % frames[:3]
        if int(m.group("pid")) == c.pid:
            assert frames[:2] == [container, pod], (c.pid, frames[:3])
            assert m.group("comm") == c.comm
            mine.append((frames, count))
        else:
            assert frames[0] != container, "PID %s in %s" % (m.group("pid"), container)
    n = sum(count for _, count in mine)
    assert n >= 0.3 * 199 * c.cpu_s, "only %d samples of PID %d for %.2f s of CPU\n%s" % (
        n, c.pid, c.cpu_s, log)
    on_hot = sum(count for frames, count in mine if frames[-1] == hot())
    assert on_hot >= 0.8 * n, (on_hot, n)
    # The PID inside the container is kept as a label (shown at -v).
    assert re.search(r"PID %d: container .*, PID 1 inside" % c.pid, log), log


TwoPods = namedtuple("TwoPods", "ca cb id_a id_b uid_a uid_b pods")


def two_v2_pods(tmp_path, cgroups, containers, name_b):
    """Two workloads in cgroup v2 "pods": containerd + systemd driver,
    burstable (shop/web-0), and CRI-O + systemd driver, guaranteed
    (batch/NAME_B), with a pods directory naming both."""
    v2 = cgroup2_root()
    id_a, id_b = secrets.token_hex(32), secrets.token_hex(32)
    uid_a, uid_b = str(uuid.uuid4()), str(uuid.uuid4())
    a = cgroups.make(v2, "kubepods.slice/kubepods-burstable.slice/"
                         "kubepods-burstable-pod%s.slice/cri-containerd-%s.scope"
                     % (uid_a.replace("-", "_"), id_a))
    b = cgroups.make(v2, "kubepods.slice/kubepods-pod%s.slice/crio-%s.scope"
                     % (uid_b.replace("-", "_"), id_b))
    pods = pods_dir(tmp_path, ("shop", "web-0", uid_a), ("batch", name_b, uid_b))
    return TwoPods(containers(PY_A, [a]), containers(PY_B, [b]), id_a, id_b, uid_a, uid_b, pods)


def test_cgroup_v2_containers(pyspy, tmp_path, cgroups, containers):
    t = two_v2_pods(tmp_path, cgroups, containers, "etl-7f9c-x2x4z")
    ca, cb, id_a, id_b, pods = t.ca, t.cb, t.id_a, t.id_b, t.pods
    stacks, log = record(pyspy, tmp_path, pods, ["--all", "--group-by", "container,pod",
                                                 "--group-by", "process"], of=(ca, cb))
    check(stacks, log, ca, "container %s (containerd)" % id_a[:12], "pod shop/web-0")
    check(stacks, log, cb, "container %s (cri-o)" % id_b[:12], "pod batch/etl-7f9c-x2x4z")
    # Anything else sampled (the test runner, say) is on the host.
    for frames, _ in stacks:
        if frames[0] not in ("container %s (containerd)" % id_a[:12],
                             "container %s (cri-o)" % id_b[:12]):
            assert frames[:2] == ["container - (host)", "pod -"], frames[:3]


def test_cgroup_v1_containers(pyspy, tmp_path, cgroups, containers):
    """Hybrid host, runtimes on v1: the v2 cgroup is shared, so per process."""
    pids_root, systemd_root = cgroup1_root("pids"), cgroup1_root("name=systemd")
    if not pids_root or not systemd_root:
        pytest.skip("no cgroup v1 pids and name=systemd hierarchies on this host")
    id_a, id_b = secrets.token_hex(32), secrets.token_hex(32)
    uid_a = str(uuid.uuid4())
    # cgroupfs driver: a bare id under kubepods/besteffort/pod<uid> (kubelet + containerd),
    # in both hierarchies as runc does; docker's cgroupfs driver in name=systemd only.
    a = [cgroups.make(r, "kubepods/besteffort/pod%s/%s" % (uid_a, id_a))
         for r in (systemd_root, pids_root)]
    b = [cgroups.make(systemd_root, "docker/%s" % id_b)]
    pods = pods_dir(tmp_path, ("default", "api-5d8b9", uid_a))
    ca = containers(PY_A, a)
    cb = containers(PY_B, b)
    lines = Path("/proc/%d/cgroup" % ca.pid).read_text().splitlines()
    assert any(id_a in l for l in lines)
    assert not any(l.startswith("0::") and id_a in l for l in lines), \
        "the v2 cgroup must not name the container here: %s" % lines
    stacks, log = record(pyspy, tmp_path, pods, ["--pid", ca.pid, "--pid", cb.pid,
                                                 "--group-by", "container,pod,process"],
                         of=(ca, cb))
    check(stacks, log, ca, "container %s (containerd)" % id_a[:12], "pod default/api-5d8b9")
    check(stacks, log, cb, "container %s (docker)" % id_b[:12], "pod -")


def test_pod_without_name_and_shorthands(pyspy, tmp_path, cgroups, containers):
    """No /var/log/pods entry: the pod UID; --pids/--threads append their frames."""
    v2 = cgroup2_root()
    cid, uid = secrets.token_hex(32), str(uuid.uuid4())
    d = cgroups.make(v2, "kubepods.slice/kubepods-besteffort.slice/"
                         "kubepods-besteffort-pod%s.slice/cri-containerd-%s.scope"
                     % (uid.replace("-", "_"), cid))
    c = containers(PY_A, [d])
    stacks, _ = record(pyspy, tmp_path, pods_dir(tmp_path),
                       ["--pid", c.pid, "--group-by", "pod", "--threads"])
    assert stacks
    for frames, _ in stacks:
        assert frames[0] == "pod %s" % uid, frames[:2]
        assert frames[1] == "thread %d (%s)" % (c.pid, c.comm), frames[:2]


@pytest.mark.parametrize("args,pattern", [
    (["--group-by", "rack"], r"unknown --group-by kind 'rack' \(known: container, pod, "
                             r"process, thread\)"),
    (["--group-by", "pod,"], r"empty kind in --group-by 'pod,'"),
    (["--group-by", "process", "--no-pids"], r"--group-by process and --no-pids contradict"),
])
def test_group_by_errors(pyspy, tmp_path, args, pattern):
    p = subprocess.run([pyspy, "record", "--pid", "1"] + args, cwd=str(tmp_path),
                       env=pyspy_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=30)
    assert p.returncode != 0
    assert re.search(pattern, p.stderr), p.stderr


def test_serve_container_filters_and_split(pyspy, tmp_path, cgroups, containers, go_pprof):
    """serve: ?container= and ?pod= select one container's samples; --split-by
    container writes one file per container per interval."""
    t = two_v2_pods(tmp_path, cgroups, containers, "etl-1")
    ca, cb, id_a, id_b, uid_a, pods = t.ca, t.cb, t.id_a, t.id_b, t.uid_a, t.pods
    port = free_port()
    outdir = tmp_path / "intervals"
    outdir.mkdir()
    env = dict(pyspy_env(), PYSPY_PODS_DIR=str(pods))
    srv = subprocess.Popen([pyspy, "serve", "--listen", "127.0.0.1:%d" % port, "--rate", "199",
                            "--output-dir", str(outdir), "--interval", "2", "--keep", "50",
                            "--split-by", "container"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    url = "http://127.0.0.1:%d" % port
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        only_a = go_pprof("-raw", url + "/debug/pprof/profile?seconds=3&container=" + id_a[:12])
        only_b = go_pprof("-raw", url + "/debug/pprof/profile?seconds=3&pod=batch/etl-1")
        # Until an interval (2 s) was written for each container.
        deadline = time.monotonic() + 20
        while not all(any(f.name.endswith("-%s.pb.gz" % i[:12]) for f in outdir.iterdir())
                      for i in (id_a, id_b)):
            assert time.monotonic() < deadline, sorted(f.name for f in outdir.iterdir())
            time.sleep(0.1)
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait(timeout=20)
    pids_a = set(re.findall(r"(?<![_a-z])pid:\[(\d+)\]", only_a))
    pids_b = set(re.findall(r"(?<![_a-z])pid:\[(\d+)\]", only_b))
    assert pids_a == {str(ca.pid)}, (pids_a, ca.pid)
    # pprof labels carry the attribution (what Parca and Pyroscope filter on).
    for want in ("container_id:[%s]" % id_a, "pod:[web-0]", "namespace:[shop]",
                 "pod_uid:[%s]" % uid_a, "ns_pid:[1]"):
        assert want in only_a, (want, only_a[:1500])
    assert pids_b == {str(cb.pid)}, (pids_b, cb.pid)
    names = {f.name for f in outdir.iterdir()}
    assert any(n.endswith("-%s.pb.gz" % id_a[:12]) for n in names), names
    assert any(n.endswith("-%s.pb.gz" % id_b[:12]) for n in names), names
    one_a = sorted(f for f in outdir.iterdir() if f.name.endswith("-%s.pb.gz" % id_a[:12]))[-1]
    raw = go_pprof("-raw", str(one_a))
    assert set(re.findall(r"(?<![_a-z])pid:\[(\d+)\]", raw)) == {str(ca.pid)}, raw[:1500]
