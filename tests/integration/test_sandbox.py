# SPDX-License-Identifier: MIT
# Least privilege after start-up (user/engine/sandbox.c), as root, in every verb.
"""Every verb enters the sandbox once started: from then on a forbidden
system call fails from inside the real agent, its capabilities are those
it still uses, and whatever it was run with it reads files as its user
(no DAC capability).  PYSPY_SANDBOX_PROBE=PATH makes the agent try, from
inside, what a hijacked agent would (open PATH, exec, connect, write
another process's memory, load BPF, regain a capability, ...) and say how
each went; test_deploy.py does the same under the DaemonSet's rights.
The rest of the suite runs every verb and mode under the same sandbox."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import (PY_DEBIAN, WORKLOADS, check_probes, read_line, require_python, run_pyspy)

# Runs alone (conftest.py, serial): capabilities and the machine's ports.
pytestmark = pytest.mark.serial


@pytest.fixture
def secret():
    """A file of mode 0600 owned by nobody, in a directory anyone may
    enter: only the file's own mode keeps root-without-capabilities out."""
    d = Path(tempfile.mkdtemp(prefix="pyspy-sandbox-", dir="/tmp"))
    os.chmod(str(d), 0o755)
    path = d / "secret"
    token = "pyspy-secret-%s" % os.urandom(8).hex()
    path.write_text(token + "\n")
    os.chmod(str(path), 0o600)
    os.chown(str(path), 65534, 65534)
    yield path, token
    shutil.rmtree(str(d))


def probes_of(text):
    return dict(re.findall(r"sandbox probe: ([^:]+): (.*)$", text, re.M))


def assert_confined(text, token):
    probes = probes_of(text)
    assert probes.get("open the file") == "refused (Permission denied)", text
    check_probes(probes, text)
    assert token not in text


@pytest.fixture
def target():
    py = require_python(PY_DEBIAN)
    p = subprocess.Popen([str(py.path), str(WORKLOADS / "simple.py")], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, start_new_session=True)
    assert read_line(p.stdout, 20) == "ready"
    yield p
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()


@pytest.mark.parametrize("verb", ["record", "record-native", "top", "dump", "dump-native"])
def test_root_run_is_confined(verb, secret, target, pyspy, tmp_path):
    """As root: the verb still works, and from inside it the file of
    another user is out of reach and every forbidden call fails."""
    path, token = secret
    out = tmp_path / "p.folded"
    args = {
        "record": ["record", "--pid", target.pid, "-d", 1, "-o", out],
        "record-native": ["record", "--pid", target.pid, "-d", 1, "--native", "--kernel", "-o",
                          out],
        "top": ["top", "--pid", target.pid, "-d", 1],
        "dump": ["dump", "--pid", target.pid],
        "dump-native": ["dump", "--pid", target.pid, "--native", "--kernel"],
    }[verb]
    r = run_pyspy(pyspy, args, env={"PYSPY_SANDBOX_PROBE": str(path)})
    assert r.rc == 0, str(r)
    assert_confined(r.stderr, token)
    shown = r.stdout + (out.read_text() if out.exists() else "")
    assert "hot_loop" in shown, str(r)


def test_diff_is_confined(secret, pyspy, tmp_path):
    path, token = secret
    a, b = tmp_path / "a.folded", tmp_path / "b.folded"
    a.write_text("main;work 10\n")
    b.write_text("main;work 20\n")
    r = run_pyspy(pyspy, ["diff", a, b], env={"PYSPY_SANDBOX_PROBE": str(path)})
    assert r.rc == 0, str(r)
    assert_confined(r.stderr, token)
    assert "work" in r.stdout, str(r)


def test_serve_is_confined(secret, target, pyspy, tmp_path):
    """serve's HTTP threads start confined: they inherit the filter and the
    dropped capabilities, and answer all the same."""
    path, token = secret
    log = tmp_path / "serve.log"
    env = dict(os.environ, PYSPY_SANDBOX_PROBE=str(path))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with open(str(log), "w") as err:
        p = subprocess.Popen([pyspy, "serve", "--listen", "127.0.0.1:%d" % port, "--pid",
                              str(target.pid)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                             env=env)
    try:
        deadline = time.monotonic() + 30
        while "listening on" not in log.read_text():
            assert p.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        status = Path("/proc/%d/status" % p.pid).read_text()
        caps = {k: int(v, 16) for k, v in re.findall(r"^(Cap\w+):\s+([0-9a-f]+)$", status, re.M)}
        threads = int(re.search(r"^Threads:\s+(\d+)$", status, re.M).group(1))
        seccomp = int(re.search(r"^Seccomp:\s+(\d+)$", status, re.M).group(1))
        nnp = int(re.search(r"^NoNewPrivs:\s+(\d+)$", status, re.M).group(1))
        task_caps = [int(re.search(r"^CapEff:\s+([0-9a-f]+)$", (t / "status").read_text(),
                                   re.M).group(1), 16)
                     for t in Path("/proc/%d/task" % p.pid).iterdir()]
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    text = log.read_text()
    assert p.returncode == 0, text
    assert_confined(text, token)
    # CAP_SYS_PTRACE (19) and CAP_CHECKPOINT_RESTORE (40), in every thread;
    # nothing inheritable, ambient, or in the bounding set beyond them.
    kept = 1 << 19 | 1 << 40
    assert caps["CapEff"] == caps["CapPrm"] == kept, caps
    assert caps["CapInh"] == caps["CapAmb"] == 0 and caps["CapBnd"] == kept, caps
    assert threads > 1 and set(task_caps) == {kept}, task_caps
    assert seccomp == 2 and nnp == 1, status
