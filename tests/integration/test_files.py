# SPDX-License-Identifier: MIT
# Files opened on a target's behalf, and the files we write: only regular
# files are ever opened; a tty, device or FIFO is refused unopened.
"""A target in a root it controls (tests/workloads/chrooter.py) plants, at
every path the agent reads inside that root (its executable, its
libraries, the /usr/lib/debug/.build-id files of every mapped object), a pty,
a FIFO or a char device node.  A daemonized agent (its own session, no
controlling terminal) profiles it with --native: it never gets a terminal
(tty_nr in /proc/AGENT/stat stays 0), a ^C typed on that pty does not end
it, a FIFO's blocked writer is never let through, strace shows no open of a
node other than O_PATH, and the profile is exact (the mapped files are read
through map_files instead).  -o and diff refuse a FIFO at once."""
import os
import re
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import (BY_ID, SAN_ENV, WORKLOADS, marker_line, parse_folded, pyspy_env,
                      require_python, run_pyspy, total)


PY = BY_ID["3.12"]


def hot_frame():
    return "spin (%s:%d)" % (WORKLOADS / "chrooter.py", marker_line("chrooter.py", "HOT"))


def mapped_objects(pid):
    """Host paths of pid's executable mappings, the executable first."""
    exe = os.path.realpath("/proc/%d/exe" % pid)
    paths = [exe]
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split(None, 5)
            if len(parts) == 6 and "x" in parts[1] and parts[5].startswith("/"):
                p = parts[5].rstrip("\n")
                if p not in paths:
                    paths.append(p)
    return paths


def build_id(path):
    out = subprocess.run(["readelf", "-n", path], stdout=subprocess.PIPE,
                         universal_newlines=True).stdout
    m = re.search(r"Build ID: ([0-9a-f]+)", out)
    return m.group(1) if m else None


def planted_paths(pid, objects=True):
    """Every path the agent may open inside pid's root: each mapped object,
    libpython among them (unless not objects), and each one's debug file by
    build-id."""
    objs = mapped_objects(pid)
    assert any("libpython3.12" in p for p in objs), objs
    debug = ["/usr/lib/debug/.build-id/%s/%s.debug" % (b[:2], b[2:])
             for b in map(build_id, objs) if b]
    assert len(debug) >= 3, objs
    return (objs if objects else []) + debug


def plant(root, inside, make):
    path = root / inside.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    make(str(path))
    return path


def tty_nr(pid):
    """Field 7 of /proc/PID/stat: the controlling terminal (0: none)."""
    text = Path("/proc/%d/stat" % pid).read_text()
    return int(text[text.rindex(")") + 2:].split()[4])


def start_agent(pyspy, tmp_path, w, duration, wrap=(), env=None):
    """record --native in a new session (setsid: no controlling terminal)."""
    out = tmp_path / "p.folded"
    err = open(str(tmp_path / "agent.err"), "w")
    cmd = list(wrap) + [pyspy, "record", "--pid", str(w.pid), "--native", "--duration",
                        str(duration), "--rate", "199", "-f", "folded", "-o", str(out)]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=err, start_new_session=True,
                            env=dict(pyspy_env(), **(env or {})))
    err.close()
    return proc, out, tmp_path / "agent.err"


def check_profile(proc, out, errfile):
    log = errfile.read_text()
    assert proc.returncode == 0, "exit %s\n%s" % (proc.returncode, log[-3000:])
    stacks = parse_folded(out.read_text())
    hot = sum(c for f, c in stacks if hot_frame() in f)
    assert hot >= 0.8 * total(stacks) > 0, (log[-3000:], stacks[:5])
    return log


@pytest.mark.parametrize("where", ["debug-files", "objects-and-debug-files"])
def test_pty_in_root_never_becomes_our_terminal(pyspy, workload, tmp_path, where):
    """The debug-file paths of the target's objects inside its root (and
    its executable, libpython, libc...) lead to a pty, as a container's
    symlink to its /dev/pts/N does: the agent, a session leader without a
    terminal, keeps none, and a ^C typed on the pty does not stop it."""
    py = require_python(PY)
    root = tmp_path / "root"
    root.mkdir()
    master, slave = os.openpty()  # glibc opens the slave O_NOCTTY: ours is not taken
    pts = os.ttyname(slave)
    assert pts.startswith("/dev/pts/"), pts
    w = workload(py, "chrooter.py", root, "--devpts", "--seconds", 60)
    for inside in planted_paths(w.pid, objects=where != "debug-files"):
        plant(root, inside, lambda p: os.symlink(pts, p))  # resolved inside the root
    duration = 8
    t0 = time.monotonic()
    proc, out, errfile = start_agent(pyspy, tmp_path, w, duration)
    ttys = set()
    typed = False
    try:
        while proc.poll() is None and time.monotonic() - t0 < duration + 40:
            try:
                ttys.add(tty_nr(proc.pid))
            except (OSError, ValueError):
                pass
            # Discovery and the first --native walks are done by now: each
            # opened (or refused) every planted path.
            if not typed and time.monotonic() - t0 > 4:
                os.write(master, b"\x03")
                typed = True
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            pytest.fail("the agent did not end after its --duration\n" + errfile.read_text())
        elapsed = time.monotonic() - t0
    finally:
        os.close(master)
        os.close(slave)
    assert ttys <= {0}, "the agent got a controlling terminal: tty_nr %s" % sorted(ttys)
    assert typed, "the agent ended before the ^C\n" + errfile.read_text()[-3000:]
    assert elapsed >= duration, "the ^C on the target's pty ended the agent after %.1f s" % elapsed
    check_profile(proc, out, errfile)


class BlockedWriter(threading.Thread):
    """Opens a FIFO for writing, which blocks until a reader opens it."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.tid = None
        self.opened = threading.Event()
        self.start()
        deadline = time.monotonic() + 10
        while not self.in_open():
            assert time.monotonic() < deadline, "the writer never blocked in open"
            time.sleep(0.01)

    def run(self):
        self.tid = threading.get_native_id()
        fd = os.open(self.path, os.O_WRONLY)
        self.opened.set()
        os.close(fd)

    def in_open(self):
        try:
            return self.tid and Path("/proc/self/task/%d/syscall" % self.tid).read_text(
                ).startswith("257 ")  # openat
        except OSError:
            return False

    def release(self):
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self.join(10)
        os.close(fd)


def test_fifo_and_device_in_root_never_opened(pyspy, workload, tmp_path):
    """FIFOs and char device nodes (/dev/null's numbers) at the same paths:
    no FIFO's blocked writer is ever let through, and strace shows no open
    of a node but with O_PATH (which opens nothing)."""
    py = require_python(PY)
    root = tmp_path / "root"
    root.mkdir()
    w = workload(py, "chrooter.py", root, "--seconds", 60)
    null = os.stat("/dev/null").st_rdev
    fifos, nodes = [], []
    for i, inside in enumerate(planted_paths(w.pid)):
        if i % 2 == 0:
            fifos.append(plant(root, inside, lambda p: os.mkfifo(p, 0o600)))
        else:
            nodes.append(plant(root, inside, lambda p: os.mknod(p, 0o600 | stat.S_IFCHR, null)))
    writers = [BlockedWriter(str(p)) for p in fifos]
    trace = tmp_path / "strace.txt"
    try:
        proc, out, errfile = start_agent(
            pyspy, tmp_path, w, 3,
            wrap=["/usr/bin/strace", "-f", "-qq", "-y", "-e", "trace=open,openat,openat2",
                  "-o", str(trace)],
            # LeakSanitizer cannot run under ptrace; ASan still checks every access.
            env={"ASAN_OPTIONS": SAN_ENV["ASAN_OPTIONS"] + ":detect_leaks=0"})
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail("the agent hung\n" + errfile.read_text())
        let_through = [wr.path for wr in writers if wr.opened.is_set()]
    finally:
        for wr in writers:
            wr.release()
    assert not let_through, "the agent opened these FIFOs:\n" + "\n".join(let_through)
    opened = []
    for line in trace.read_text().splitlines():
        fd = re.search(r"= \d+<([^>]*)>$", line)
        if fd and any(fd.group(1) == str(p) for p in fifos + nodes) and "O_PATH" not in line:
            opened.append(line)
    assert not opened, "the agent opened a node:\n" + "\n".join(opened[:5])
    # The planted paths were looked at (the test tests something)...
    assert any("openat2(" in l and "/usr/lib/debug/.build-id/" in l for l in
               trace.read_text().splitlines()), "no debug file was looked for"
    # ...and the profile is still exact: the mapped files came through map_files.
    check_profile(proc, out, errfile)


def test_output_fifo_refused_at_once(pyspy, workload, tmp_path):
    """-o FIFO, -o a symlink to one, -o /dev/null: one line, non-zero, before
    any sampling (not after --duration), and the FIFO's reader gets nothing."""
    w = workload(require_python(PY), "simple.py")
    fifo = tmp_path / "out.folded"
    os.mkfifo(str(fifo))
    link = tmp_path / "link.folded"
    link.symlink_to(fifo)
    reader = os.open(str(fifo), os.O_RDONLY | os.O_NONBLOCK)  # a writer would not block
    try:
        for target in (fifo, link, Path("/dev/null"), tmp_path):
            r = run_pyspy(pyspy, ["record", "--pid", w.pid, "--duration", 30, "-f", "folded",
                                  "-o", target], timeout=20)
            assert r.rc != 0 and r.elapsed < 15, str(r)
            assert r.stderr == "pyspy-bpf: cannot write %s: not a regular file\n" % target, \
                str(r)
        try:
            got = os.read(reader, 4096)
        except BlockingIOError:
            got = b""
        assert got == b"", got[:200]
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.lstat(str(fifo)).st_mode) and os.path.islink(str(link))
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_diff_refuses_fifos(pyspy, workload, tmp_path):
    """diff reads only regular files: a FIFO given as a profile is refused
    at once (opening it would wait for a writer forever), and so is a FIFO
    as its -o."""
    good = tmp_path / "a.folded"
    good.write_text("main (x.py:1);f (x.py:2) 10\n")
    fifo = tmp_path / "b.folded"
    os.mkfifo(str(fifo))
    r = run_pyspy(pyspy, ["diff", good, fifo], timeout=20)
    assert r.rc != 0 and r.stderr == "pyspy-bpf: cannot read %s: not a regular file\n" % fifo, \
        str(r)
    r = run_pyspy(pyspy, ["diff", good, good, "-o", fifo], timeout=20)
    assert r.rc != 0 and r.stderr == "pyspy-bpf: cannot write %s: not a regular file\n" % fifo, \
        str(r)
    r = run_pyspy(pyspy, ["diff", good, good, "-o", tmp_path / "d.txt"], timeout=20)
    assert r.rc == 0, str(r)
