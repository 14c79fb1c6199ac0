# SPDX-License-Identifier: MIT
# End-to-end tests of `pyspy-bpf top`: the live view on a real terminal (tmux).
"""top redraws a table every second: hot_loop of simple.py on top by %Own,
`2` re-sorts by %Total (callers first), `1` back, `q` exits 0 and gives
the terminal back (cooked mode, primary screen).  Without a terminal it
prints one plain table per second."""
import os
import re
import shlex
import subprocess
import time

import pytest

from conftest import (BY_ID, WORKLOADS, kill_group, marker_line, pyspy_env, require_python,
                      run_pyspy)

PY = BY_ID["3.12"]  # the table does not depend on the version
ROW_RE = re.compile(r"^\s*(?P<own>[\d.]+)%\s+(?P<total>[\d.]+)%\s+(?P<own_t>[\d.]+)s\s+"
                    r"(?P<total_t>[\d.]+)s\s+(?P<fn>\S.*)$")


def fr(name, tag):
    return "%s (%s:%d)" % (name, WORKLOADS / "simple.py", marker_line("simple.py", tag))


def rows(screen):
    return [m.groupdict() for m in map(ROW_RE.match, screen.splitlines()) if m]


class Tmux:
    """One tmux server of our own (its own socket), one window."""

    def __init__(self, cmd):
        self.base = ["tmux", "-L", "pyspy-top-%d" % os.getpid(), "-f", "/dev/null"]
        subprocess.run(self.base + ["new-session", "-d", "-x", "160", "-y", "30", cmd],
                       check=True, env=pyspy_env())

    def screen(self):
        return subprocess.run(self.base + ["capture-pane", "-p"], stdout=subprocess.PIPE,
                              universal_newlines=True, check=True).stdout

    def keys(self, *keys):
        subprocess.run(self.base + ["send-keys"] + list(keys), check=True)

    def wait_for(self, what, pred, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            s = self.screen()
            if pred(s):
                return s
            if time.monotonic() > deadline:
                pytest.fail("no %s within %ss; screen:\n%s" % (what, timeout, s))
            time.sleep(0.2)

    def kill(self):
        subprocess.run(self.base + ["kill-server"], stderr=subprocess.DEVNULL)


def first_is(screen, fn, sort):
    r = rows(screen)
    return "Sort: %s " % sort in screen and r and r[0]["fn"] == fn


def test_live_keys_and_quit(workload, pyspy, tmp_path):
    w = workload(require_python(PY), "simple.py")
    status = tmp_path / "status"
    env = " ".join("%s=%s" % (k, shlex.quote(v)) for k, v in pyspy_env().items()
                   if k.endswith("SAN_OPTIONS"))
    cmd = ("env %s %s top --pid %d --rate 199; echo EXIT=$? > %s; stty -a >> %s; sleep 60"
           % (env, shlex.quote(pyspy), w.pid, status, status))
    tm = Tmux(cmd)
    try:
        hot, root = fr("hot_loop", "HOT"), fr("<module>", "ROOT")
        s = tm.wait_for("hot_loop on top by %Own", lambda s: first_is(s, hot, "%Own"))
        assert "PID %d (python3.12), Python 3.12." % w.pid in s, s
        assert float(rows(s)[0]["own"]) >= 80, s
        assert "keys: 1 %Own, 2 %Total, 3 OwnTime, 4 TotalTime, q quit" in s, s

        tm.keys("2")
        s = tm.wait_for("<module> on top by %Total", lambda s: first_is(s, root, "%Total"))
        r = rows(s)
        assert float(r[0]["total"]) >= 95, s
        # Callers first when all are at 100%: <module>, main, compute, hot_loop.
        names = [x["fn"].split(" (")[0] for x in r[:4]]
        assert names == ["<module>", "main", "Worker.compute", "hot_loop"], s

        tm.keys("1")
        tm.wait_for("hot_loop back on top", lambda s: first_is(s, hot, "%Own"))

        tm.keys("q")
        deadline = time.monotonic() + 10
        while not (status.exists() and "speed" in status.read_text()):
            assert time.monotonic() < deadline, "top did not exit on q:\n%s" % tm.screen()
            time.sleep(0.2)
        out = status.read_text()
        assert out.startswith("EXIT=0\n"), out
        modes = out.replace(";", " ").split()
        assert "icanon" in modes and "echo" in modes, "terminal left raw:\n%s" % out
        s = tm.screen()
        assert "%Own" not in s, "alternate screen not left:\n%s" % s
    finally:
        tm.kill()
    assert w.alive()


def test_plain_tables_without_terminal(workload, pyspy):
    w = workload(require_python(PY), "simple.py")
    r = run_pyspy(pyspy, ["top", "--pid", w.pid, "--duration", 3.5, "--rate", 199])
    assert r.rc == 0, str(r)
    assert "\x1b" not in r.stdout, repr(r.stdout[:500])
    head = "pyspy-bpf top: PID %d (python3.12), Python 3.12." % w.pid
    assert r.stdout.startswith(head), r.stdout
    tables = r.stdout.split(head)[1:]
    assert len(tables) >= 3, r.stdout
    for t in tables[1:]:
        assert rows(t)[0]["fn"] == fr("hot_loop", "HOT"), t


def test_errors_like_record(pyspy):
    sleeper = subprocess.Popen(["/bin/sleep", "60"], start_new_session=True)
    try:
        r = run_pyspy(pyspy, ["top", "--pid", sleeper.pid])
        assert r.rc != 0 and r.stdout == "", str(r)
        assert re.fullmatch(r"pyspy-bpf: PID %d \(sleep\) is not a Python process .*\n"
                            % sleeper.pid, r.stderr), r.stderr
    finally:
        kill_group(sleeper)
    r = run_pyspy("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups",
                                       pyspy, "top", "--pid", "1"])
    assert r.rc != 0 and re.search(r"needs root", r.stderr), str(r)
    r = run_pyspy(pyspy, ["top"])
    assert r.rc != 0 and "nothing to watch" in r.stderr, str(r)
    r = run_pyspy(pyspy, ["top", "--pid", "1", "--mode", "memory"])
    assert r.rc != 0 and "top shows time" in r.stderr, str(r)
    r = run_pyspy(pyspy, ["top", "--pid", "1", "--mode", "nope"])
    assert r.rc != 0 and "unknown mode 'nope'" in r.stderr, str(r)


@pytest.mark.layout
def test_gil_share_per_thread(workload, pyspy, python):
    """A pure-Python thread holds the GIL in ~all its samples; a hashlib
    thread on big buffers (GIL released) in almost none.  The suite's read
    of the GIL (where it is, its holder and locked fields) on every
    interpreter; --gil and the [gil] reason (test_modes.py) use the same."""
    w = workload(python, "gilsplit.py")
    r = run_pyspy(pyspy, ["top", "--pid", w.pid, "--duration", 3.5, "--rate", 199])
    assert r.rc == 0, str(r)
    last = r.stdout.strip().split("pyspy-bpf top:")[-1]
    m = re.search(r"^GIL held:(.*)$", last, re.M)
    assert m, last
    shares = sorted(int(x) for x in re.findall(r" (\d+)%", m.group(1)))
    assert len(shares) >= 2, m.group(0)
    assert shares[-1] >= 90 and shares[0] <= 10, m.group(0)
