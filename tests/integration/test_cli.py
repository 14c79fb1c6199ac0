# SPDX-License-Identifier: MIT
# The command line's promises beyond stacks: messages, signals, terminals, users.
"""Each error case has its own one-line message and a non-zero exit; SIGTERM
writes the whole profile like Ctrl-C; a terminal gets a progress line and
every run a summary; `--` launches the command as SUDO_UID's user."""
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import (BY_ID, PY_DEBIAN, REPO, WORKLOADS, behaviour_ids, parse_folded, pyspy_env,
                      require_python, run_pyspy)

PY = BY_ID["3.12"]  # any supported interpreter with a shared libpython will do here


def one_line_error(r, pattern):
    assert r.rc != 0, "expected failure\n%s" % r
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, "expected one line, got:\n%s" % r.stderr
    assert re.search(pattern, lines[0], re.I), "%r does not match %r" % (lines[0], pattern)


def test_not_initialised(pyspy, tmp_path):
    """libpython mapped but never initialised: a bounded wait, then one line."""
    require_python(PY)
    exe = tmp_path / "uninit"
    subprocess.run(["gcc", "-Wall", "-Werror", "-o", str(exe),
                    str(REPO / "tests/helpers/uninit.c"), "-ldl"], check=True)
    lib = PY.prefix / "lib/libpython3.12.so.1.0"
    p = subprocess.Popen([str(exe), str(lib)], stdout=subprocess.PIPE)
    try:
        assert p.stdout.readline().strip() == b"ready"
        r = run_pyspy(pyspy, ["record", "--pid", p.pid, "--init-wait", "1", "-o",
                              tmp_path / "x.folded"], timeout=20)
        one_line_error(r, r"Python is not initialised yet \(waited 1\.0 s")
        assert r.elapsed < 10
        assert not (tmp_path / "x.folded").exists(), "no profile on failure"
    finally:
        p.kill()
        p.wait()


def test_missing_capabilities_as_root(pyspy, tmp_path):
    """Root without CAP_BPF/CAP_PERFMON (a restricted container): say which."""
    r = run_pyspy("setpriv", ["--bounding-set", "-bpf,-perfmon,-sys_admin", pyspy,
                              "--pid", "1", "-o", tmp_path / "x.folded"])
    one_line_error(r, r"missing capability CAP_BPF and CAP_PERFMON")


def test_no_btf(pyspy, tmp_path):
    env = dict(pyspy_env(), PYSPY_SYS_BTF=str(tmp_path / "no-btf"))
    p = subprocess.run([pyspy, "--pid", "1"], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=30)
    assert p.returncode != 0
    assert re.fullmatch(r"pyspy-bpf: this kernel has no BTF .*\n", p.stderr), p.stderr


@pytest.mark.parametrize("args,pattern", [
    (["--pid", "1", "--format", "xml"], r"unknown format 'xml'"),
    (["--pid", "1", "-o", "out.xyz"], r"cannot tell the format from 'out.xyz'"),
    (["--pid", "nope"], r"invalid PID: nope"),
    (["--rate", "0", "--pid", "1"], r"invalid rate"),
    (["--duration", "-1", "--pid", "1"], r"invalid duration"),
    ([], r"nothing to profile"),
    (["record", "--"], r"nothing to launch"),
])
def test_bad_arguments(pyspy, tmp_path, args, pattern):
    p = subprocess.run([pyspy] + args, cwd=str(tmp_path), env=pyspy_env(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=30)
    assert p.returncode != 0
    assert re.search(pattern, p.stderr), p.stderr
    assert not list(tmp_path.iterdir()), "nothing may be written"


def test_help_and_version(pyspy):
    h = subprocess.run([pyspy, "--help"], stdout=subprocess.PIPE, universal_newlines=True)
    assert h.returncode == 0 and "--pid" in h.stdout and "EXAMPLES" in h.stdout
    v = subprocess.run([pyspy, "--version"], stdout=subprocess.PIPE, universal_newlines=True)
    version = (REPO / "VERSION").read_text().strip()
    assert v.returncode == 0 and v.stdout.strip() == "pyspy-bpf " + version


def test_sigterm_writes_profile(workload, pyspy, tmp_path):
    w = workload(require_python(PY), "simple.py")
    out = tmp_path / "term.folded"
    p = subprocess.Popen([pyspy, "--pid", str(w.pid), "--rate", "499", "-o", str(out)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, env=pyspy_env())
    time.sleep(3)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=15)
    assert p.returncode == 0, err
    stacks = parse_folded(out.read_text())
    assert sum(c for _, c in stacks) > 100, stacks
    assert "samples from 1 process" in err and "top functions by own samples" in err, err
    assert w.alive()


def run_on_pty(cmd, timeout):
    """Run cmd with stderr on a pseudo-terminal; return (exit, text seen)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=slave, env=pyspy_env())
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([master], [], [], 0.5)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif p.poll() is not None:
            break
    os.close(master)
    return p.wait(timeout=10), seen.decode(errors="replace")


def test_progress_line_on_terminal(workload, pyspy, tmp_path):
    w = workload(require_python(PY), "simple.py")
    rc, seen = run_on_pty([pyspy, "--pid", str(w.pid), "--duration", "2", "-o",
                           str(tmp_path / "p.folded")], 30)
    assert rc == 0, seen
    # Redrawn in place: carriage return + clear line, elapsed, samples, errors.
    updates = re.findall(r"\r\x1b\[K +([0-9.]+)s +(\d+) samples +(\d+) errors", seen)
    assert len(updates) >= 3, seen
    assert float(updates[-1][0]) > float(updates[0][0])
    assert "top functions by own samples" in seen


def test_no_progress_line_when_not_a_terminal(workload, pyspy, tmp_path):
    w = workload(require_python(PY), "simple.py")
    r = run_pyspy(pyspy, ["--pid", w.pid, "--duration", "1", "-o", tmp_path / "p.folded"])
    assert r.rc == 0, r
    assert "\r" not in r.stderr and "\x1b[" not in r.stderr, repr(r.stderr)


def test_launch_runs_as_sudo_user(pyspy, tmp_path):
    """Through sudo, the command runs as the invoking user, not as root."""
    # Debian's interpreter: nobody cannot enter /root, where pyenv lives.
    py = require_python(PY_DEBIAN)
    shared = Path(tempfile.mkdtemp(prefix="pyspy-sudo-"))
    os.chmod(str(shared), 0o777)
    ids = shared / "ids"
    env = dict(pyspy_env(), SUDO_UID="65534", SUDO_GID="65534", SUDO_USER="nobody")
    script = ("import os, runpy, sys; open(sys.argv[1], 'w').write('%d %d' % (os.getuid(), "
              "os.getgid())); sys.argv = sys.argv[2:]; runpy.run_path(sys.argv[0], "
              "run_name='__main__')")
    try:
        p = subprocess.run([pyspy, "record", "--duration", "10", "--rate", "499", "-o",
                            str(tmp_path / "l.folded"), "--", str(py.path), "-c", script,
                            str(ids), str(WORKLOADS / "simple.py"), "--seconds", "2"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert ids.read_text() == "65534 65534"
    finally:
        shutil.rmtree(str(shared), ignore_errors=True)
    stacks = parse_folded((tmp_path / "l.folded").read_text())
    assert any(f[-1].startswith("hot_loop (") for f, _ in stacks), stacks


def test_names_cannot_drive_the_terminal(python, workload, pyspy, tmp_path):
    """A function named with an OSC title, BEL, a clear-screen CSI and C1 CSI,
    in a thread whose comm starts with ESC: dump, top and the record summary
    print them escaped (\\x1b, \\u009b), never raw."""
    w = workload(python, "termnames.py")
    raw = ("\x1b", "\x07", "\x9b")
    out = tmp_path / "p.folded"
    runs = {
        "dump": run_pyspy(pyspy, ["dump", "--pid", w.pid]),
        "top": run_pyspy(pyspy, ["top", "--pid", w.pid, "--duration", 1.5]),
        "record": run_pyspy(pyspy, ["record", "--pid", w.pid, "--duration", 1, "-o", out]),
    }
    for verb, r in runs.items():
        assert r.rc == 0, str(r)
        text = r.stdout + r.stderr
        assert not any(c in text for c in raw), "%s printed a control character:\n%r" % (
            verb, text[:3000])
        assert "\\x1b]0;OWNED\\x07\\x1b[2Jevil\\u009b" in text, "%s:\n%s" % (verb, text[:3000])
    assert "\\x1b[2Jcomm" in runs["dump"].stdout, runs["dump"].stdout


@pytest.mark.parametrize("py_id", behaviour_ids(lambda p: p.version >= (3, 14)))
def test_task_names_cannot_drive_the_terminal(py_id, workload, pyspy):
    """top --async --mode wall: a task named with an OSC title, BEL, a
    clear-screen CSI and C1 CSI, awaited by the main task, is a row (`task
    NAME`) and a reason of waits (`[await task NAME]`): both escaped, and no
    line of top's carries a raw control character."""
    w = workload(require_python(BY_ID[py_id]), "termnames.py", "--async")
    r = run_pyspy(pyspy, ["top", "--pid", w.pid, "--async", "--mode", "wall",
                          "--duration", 2.5])
    assert r.rc == 0, str(r)
    text = r.stdout + r.stderr
    bad = [c for c in text if ord(c) < 0x20 and c not in "\n\r\t" or 0x7f <= ord(c) < 0xa0]
    assert not bad, "top printed control characters %r:\n%r" % (sorted(set(bad)), text[-3000:])
    evil = "\\x1b]0;OWNED\\x07\\x1b[2Jevil\\u009b"
    assert "task " + evil in text, text[-3000:]
    assert "[await task %s]" % evil in text, text[-3000:]


def test_profile_files_are_new_and_private(workload, pyspy, tmp_path):
    """-o replaces whatever is at the path (a planted symlink included)
    with a new file, mode 0600, written whole; the symlink's target is
    untouched and no temp file is left behind."""
    w = workload(require_python(PY), "simple.py")
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    out = tmp_path / "p.folded"
    out.symlink_to(victim)
    r = run_pyspy(pyspy, ["record", "--pid", w.pid, "--duration", 1, "-o", out], out)
    r.profile()
    assert not out.is_symlink() and victim.read_text() == "precious\n"
    assert os.stat(str(out)).st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.folded", "victim"]
