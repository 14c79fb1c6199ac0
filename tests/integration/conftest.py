# SPDX-License-Identifier: MIT
# Fixtures for the integration tests: interpreters, the binary, workloads, profiles.
"""Shared machinery for tests/integration.

- Tests taking a `python` argument run once per interpreter (ids like
  "3.8", "3.11-debian"), on one of two lists (issue 23):
  * `@pytest.mark.layout`: on all of PYTHONS (the eleven of
    tests/interpreters.txt).  Mark a test layout when what it asserts depends on
    how each interpreter lays out its memory or builds its binary: the frame
    walk and line numbers, the thread scan and thread states, generator and
    coroutine frames, code-object identity, the GIL, asyncio tasks, offsets
    and discovery, native/Python merging (static or shared libpython, the
    eval-frame symbols).  Together the layout tests read every one of these
    on every interpreter; a new layout concern needs a layout test.
  * otherwise (behaviour: signals, writers and formats, process lifecycle,
    serve, namespaces, modes, proportions...): on BEHAVIOUR, the three
    tagged `behaviour` (3.8: the old frame model; 3.12: a shared
    libpython; 3.15-sid: the newest static build, in a root).
  A test that picks its own interpreters takes BEHAVIOUR, or those of
  BEHAVIOUR that have what it needs (behaviour_ids()), unless it asserts
  something per version: then its list says why in a comment.
  PYSPY_EVERY_PYTHON=1 runs every `python` test on all of PYTHONS.
  A missing interpreter fails its tests unless
  PYSPY_ALLOW_MISSING_PYTHON=1, when it is skipped.
- Side by side: tests/run-integration.sh runs the tests marked `serial`
  alone first, then the others PYSPY_TEST_JOBS at a time (pytest-xdist;
  default: one per CPU).  A test that owns something of the whole machine
  (record --all, which sees every process; a sysctl; cgroups it fakes;
  a cost it measures against a twin) is marked serial, the whole file
  with `pytestmark = pytest.mark.serial`.  The others keep to their own
  processes, ports (free_port) and tmp_path, and judge proportions by the
  target's own CPU time, so a neighbour's load does not change their answer.
- `pyspy`: the binary under test, from PYSPY_BIN (default
  build/san/pyspy-bpf); missing means failure, never a skip.
- `workload`: start tests/workloads/NAME under an interpreter, wait for its
  "ready" line, and kill its whole process group at teardown.
- `record`: run `pyspy record` with a timeout and parse the folded output.
"""
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections import namedtuple
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WORKLOADS = REPO / "tests" / "workloads"

sys.path.insert(0, str(REPO / "tests"))
import interpreters  # noqa: E402  (tests/interpreters.txt, resolved here)

INROOT = REPO / "tests" / "helpers" / "inroot.sh"
# Debian sid's own interpreters, in the root scripts/provision-sid.sh builds.
SID_ROOT = interpreters.SID_ROOT


class Python(namedtuple("Python", "id path version root tags")):
    """One interpreter of the matrix (tests/interpreters.txt).  `path` is as
    the target sees it; with `root` set the target runs inside that root
    (tests/helpers/inroot.sh: own mount namespace, chroot), like a
    container, and `argv` says how."""

    @property
    def argv(self):
        if self.root:
            return [str(INROOT), self.root, str(self.path)]
        return [str(self.path)]

    @property
    def host_path(self):
        return self.root + str(self.path) if self.root else str(self.path)

    @property
    def prefix(self):
        """Its installation prefix on this machine (lib/, include/ below it)."""
        return Path(self.host_path).parent.parent


def _python(it):
    return Python(it.id, Path(it.path), it.version_tuple, it.root or None,
                  frozenset(it.tags))


PYTHONS = [_python(it) for it in interpreters.load()]
# What tests of behaviour run on (the module docstring says which tests).
BEHAVIOUR = [p for p in PYTHONS if "behaviour" in p.tags]
EVERY_PYTHON = os.environ.get("PYSPY_EVERY_PYTHON") == "1"
UNSUPPORTED = {it.id: _python(it) for it in interpreters.load(unsupported=True)
               if "unsupported" in it.tags}
PYTHON_37 = UNSUPPORTED["3.7"]
BY_ID = {p.id: p for p in PYTHONS}
# The host's own Debian interpreter: outside /root (where pyenv lives), so
# a test can run it as nobody.
PY_DEBIAN = BY_ID["3.11-debian"]
SID = [p for p in PYTHONS if p.root]

READY_TIMEOUT = 20.0
# Sanitizer findings in the binary must fail the test, not scroll by.
SAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "serial: owns something of the whole machine (record --all, a sysctl, "
        "cgroups it fakes, a cost measured against a twin); runs alone, before the tests "
        "that tests/run-integration.sh runs side by side")
    config.addinivalue_line(
        "markers", "layout: reads a per-version layout; runs on every interpreter of "
        "tests/interpreters.txt, not only the behaviour ones (conftest.py says which)")


def behaviour_ids(pred=lambda p: True):
    """Ids of the behaviour interpreters for which pred(Python) holds (all of
    PYTHONS with PYSPY_EVERY_PYTHON=1): for tests that pick their own, such
    as those that need a sid root or CPython 3.14+."""
    return [p.id for p in (PYTHONS if EVERY_PYTHON else BEHAVIOUR) if pred(p)]


def pytest_generate_tests(metafunc):
    if "python" in metafunc.fixturenames:
        every = EVERY_PYTHON or metafunc.definition.get_closest_marker("layout")
        pys = PYTHONS if every else BEHAVIOUR
        metafunc.parametrize("python", pys, ids=[p.id for p in pys], indirect=True)


def require_python(py):
    """Return py if its interpreter exists, else fail (or skip if allowed)."""
    if os.access(py.host_path, os.X_OK):
        return py
    msg = "interpreter %s missing: %s" % (py.id, py.host_path)
    if py.root:
        msg += " (scripts/provision-sid.sh builds that root; make test runs it)"
    if os.environ.get("PYSPY_ALLOW_MISSING_PYTHON") == "1":
        pytest.skip(msg)
    pytest.fail(msg + " (set PYSPY_ALLOW_MISSING_PYTHON=1 to skip)")


@pytest.fixture
def python(request):
    return require_python(request.param)


@pytest.fixture
def python37():
    return require_python(PYTHON_37)


@pytest.fixture(scope="session")
def pyspy():
    path = os.environ.get("PYSPY_BIN") or str(REPO / "build/san/pyspy-bpf")
    path = os.path.abspath(path)
    if not os.access(path, os.X_OK):
        pytest.fail("PYSPY_BIN %s is missing or not executable "
                    "(build it: make build/san/pyspy-bpf)" % path)
    return path


def pyspy_env():
    env = dict(os.environ)
    for k, v in SAN_ENV.items():
        env.setdefault(k, v)
    return env


# Peak memory of a run: `python3 -c PEAK ARGV...` runs ARGV and then prints
# its peak RSS (and its children's) in KiB, read back by peak_kib().  ASan's
# quarantine is off in NO_QUARANTINE, so that freed memory is not counted.
PEAK = ("import resource, subprocess, sys\n"
        "rc = subprocess.call(sys.argv[1:])\n"
        "sys.stderr.write('peak-rss-kib %d\\n' % "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.exit(rc)\n")
NO_QUARANTINE = {"ASAN_OPTIONS": SAN_ENV["ASAN_OPTIONS"] + ":quarantine_size_mb=0"}


def peak_kib(r):
    m = re.search(r"^peak-rss-kib (\d+)$", r.stderr, re.M)
    assert m, str(r)
    return int(m.group(1))


def marker_line(script, tag):
    """Line number of the one line of tests/workloads/SCRIPT ending in '# TAG'."""
    path = WORKLOADS / script
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1)
            if line.rstrip().endswith("# " + tag)]
    assert len(hits) == 1, "%s: marker %r found %d times" % (path, tag, len(hits))
    return hits[0]


def registered_at(log, pid):
    """When the agent began to sample pid, on CLOCK_MONOTONIC (its -v line), or None."""
    m = re.search(r"sampling PID %d .* from ([0-9.]+) s \(CLOCK_MONOTONIC\)" % pid, log)
    return float(m.group(1)) if m else None


def read_line(stream, timeout):
    """One line from a pipe, or None on timeout/EOF; never blocks past timeout."""
    fd = stream.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 1)
        if not chunk:
            return None
        buf += chunk
    return buf.decode(errors="replace").rstrip("\n")


def kill_group(proc):
    """SIGKILL proc's process group (it leads one) and reap proc."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


class Workload:
    """A started workload: .proc, .pid, .script (absolute path)."""

    def __init__(self, python, script, args):
        self.python = python
        self.script = str(WORKLOADS / script)
        # Own session/process group, so teardown also kills grandchildren
        # (launcher.py's child) and a Ctrl-C of pytest does not reach it.
        self.proc = subprocess.Popen(
            python.argv + [self.script] + [str(a) for a in args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            start_new_session=True)
        self.pid = self.proc.pid
        line = read_line(self.proc.stdout, READY_TIMEOUT)
        if line != "ready":
            kill_group(self.proc)
            pytest.fail("%s %s: no 'ready' within %ss (got %r, exit %s)" % (
                python.id, script, READY_TIMEOUT, line, self.proc.returncode))

    def alive(self):
        return self.proc.poll() is None


@pytest.fixture
def workload():
    """workload(python, "simple.py", *args) -> Workload, killed at teardown."""
    started = []

    def start(python, script, *args):
        w = Workload(python, script, args)
        started.append(w)
        return w

    yield start
    for w in started:
        kill_group(w.proc)


# --- the sandbox (user/engine/sandbox.c) -----------------------------------------

def check_probes(probes, log):
    """What the filter and the dropped capabilities must refuse."""
    want_eperm = ["execve", "connect", "socket(AF_UNIX)", "process_vm_writev",
                  "bpf(BPF_PROG_LOAD)", "capset(CAP_SYS_ADMIN)", "setuid(0)",
                  "unshare(CLONE_NEWUSER)", "mount", "ioctl(TIOCSTI)"]
    for what in want_eperm:
        assert probes.get(what) == "refused (Operation not permitted)", (what, log)
    for what in ("ptrace", "fork"):  # allowed in the sanitizer build, for LeakSanitizer
        assert probes.get(what) in ("refused (Operation not permitted)",
                                    "skipped (sanitizer build)"), (what, log)
    assert not [p for p, v in probes.items() if "ALLOWED" in v], log


# --- folded profiles ---------------------------------------------------------

FRAME_RE = re.compile(r"^(?P<name>.*) \((?P<file>.*):(?P<line>\d+)\)$")
THREAD_RE = re.compile(r"^thread (?P<tid>\d+) \((?P<name>.*)\)$")
PROCESS_RE = re.compile(r"^process (?P<pid>\d+) \((?P<comm>.*)\)$")


def parse_folded(text):
    """Folded text -> [(frames, count)], frames root first; strict."""
    stacks = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        stack, sep, count = line.rpartition(" ")
        assert sep and stack and count.isdigit() and int(count) > 0, \
            "folded line %d malformed: %r" % (n, line)
        frames = stack.split(";")
        assert all(frames), "folded line %d has an empty frame: %r" % (n, line)
        stacks.append((frames, int(count)))
    return stacks


def parse_frame(frame):
    """'name (file:line)' -> (name, file, line), or None for other frames."""
    m = FRAME_RE.match(frame)
    if not m or THREAD_RE.match(frame) or PROCESS_RE.match(frame):
        return None
    return m.group("name"), m.group("file"), int(m.group("line"))


def total(stacks):
    return sum(c for _, c in stacks)


# --- genfree.py: code objects freed and reused --------------------------------

GEN_RE = re.compile(r"^gen_(\d+)$")


def genfree_verdict(stacks):
    """(good, bad) of a genfree.py profile: samples in a correctly named
    gen_<k> frame, and (count, frames) of every mislabelled one."""
    good = 0
    bad = []
    for f, c in stacks:
        parsed = [parse_frame(x) for x in f]
        for i, p in enumerate(parsed):
            parent = parsed[i - 1] if i else None
            m = GEN_RE.match(p[0]) if p else None
            if m:
                k = int(m.group(1))
                # The loop line, or the def line above it: a frame sampled
                # before its first instruction reports co_firstlineno, as
                # CPython itself does.  Any other line is another code's.
                ok = (p[1] == "<gen>" and p[2] in (k % 50 + 10, k % 50 + 9)
                      and parent is not None
                      and parent[0] == ("via_odd" if k % 2 else "via_even"))
                if ok:
                    good += c
                else:
                    bad.append((c, ";".join(f[max(0, i - 1):i + 1])))
            elif parent and parent[0] in ("via_even", "via_odd") and not f[i].startswith("["):
                # The only Python code called from via_* is a gen_<k>.
                bad.append((c, ";".join(f[i - 1:i + 1])))
    return good, bad


class Recording:
    """Result of one pyspy run: .rc .stdout .stderr .elapsed .text .stacks"""

    def __init__(self, cmd, proc, elapsed, out):
        self.cmd = cmd
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.elapsed = elapsed
        self.text = Path(out).read_text() if out and os.path.exists(out) else None
        self.stacks = None

    def __str__(self):
        return "%s\nexit %s after %.1fs\nstderr:\n%s" % (
            " ".join(self.cmd), self.rc, self.elapsed, self.stderr[-4000:])

    def profile(self):
        """Assert success and a non-empty, well-formed profile; return stacks."""
        assert self.rc == 0, str(self)
        assert self.text, "empty or missing profile\n%s" % self
        assert self.text.endswith("\n"), "profile not newline-terminated\n%s" % self
        self.stacks = parse_folded(self.text)
        assert self.stacks, "no samples\n%s" % self
        return self.stacks


def cpu_seconds(pid):
    """CPU time pid has used (user + system, all its threads), 0 if gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_pyspy(pyspy, args, out=None, timeout=60, env=None):
    """env: variables set on top of pyspy_env()."""
    cmd = [pyspy] + [str(a) for a in args]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True,
                              errors="replace", timeout=timeout,
                              env=dict(pyspy_env(), **(env or {})))
    except subprocess.TimeoutExpired:
        pytest.fail("%s: still running after %ss" % (" ".join(cmd), timeout))
    return Recording(cmd, proc, time.monotonic() - t0, out)


class Running:
    """A pyspy run in the background whose stderr was read up to a line:
    for tests that act on the target once sampling has begun."""

    def __init__(self, pyspy, args, needle, timeout=40):
        self.cmd = [pyspy] + [str(a) for a in args]
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env=pyspy_env())
        self.log = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = read_line(self.proc.stderr, deadline - time.monotonic())
            if line is None:
                break
            self.log.append(line)
            if needle in line:
                return
        self.kill()
        pytest.fail("%s: no line with %r within %ss:\n%s" % (
            " ".join(self.cmd), needle, timeout, "\n".join(self.log)))

    def finish(self, timeout=40):
        """Wait for the exit; assert it is 0; return the whole stderr."""
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("%s: still running after %ss" % (" ".join(self.cmd), timeout))
        text = "\n".join(self.log + [err.decode(errors="replace")])
        assert self.proc.returncode == 0, "%s: exit %s\n%s" % (
            " ".join(self.cmd), self.proc.returncode, text)
        return text

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def record(pyspy, tmp_path):
    """record(pids, duration=3, rate=499, extra=(), env=None) -> Recording of a folded file."""
    seq = [0]

    def rec(pids, duration=3, rate=499, extra=(), timeout=None, env=None):
        if isinstance(pids, int):
            pids = [pids]
        seq[0] += 1
        out = str(tmp_path / ("profile-%d.folded" % seq[0]))
        args = ["record"]
        for p in pids:
            args += ["--pid", p]
        args += ["--duration", duration, "--rate", rate, "--format", "folded",
                 "-o", out] + list(extra)
        before = sum(cpu_seconds(p) for p in pids)
        r = run_pyspy(pyspy, args, out, timeout or duration + 30, env)
        # What the targets ran while the agent ran (its start-up included):
        # the samples to expect of a busy target on a loaded machine.
        r.cpu_share = (sum(cpu_seconds(p) for p in pids) - before) / max(r.elapsed, 1e-3)
        return r

    return rec


# --- pprof files, read twice: by our reader and by the real go tool pprof ----

@pytest.fixture(scope="session")
def reader(pyspy):
    """Our reader: FILE -> folded text with process and thread frames."""
    path = os.environ.get("PYSPY_PPROF_READER") or str(
        Path(pyspy).parent / "tests" / "test_pprof")
    if not os.access(path, os.X_OK):
        pytest.fail("pprof reader %s missing (make %s, or set PYSPY_PPROF_READER)" % (
            path, path))

    def read(pb):
        p = subprocess.run([path, "--to-folded", str(pb)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
        assert p.returncode == 0, "our reader failed on %s: %s" % (pb, p.stderr)
        return p.stdout

    return read


@pytest.fixture(scope="session")
def go_env(tmp_path_factory):
    """(go, env) for the go tool: its own HOME and caches, no network."""
    go = shutil.which("go")
    if not go:
        pytest.fail("`go` missing: apt-get install golang-go (scripts/install-deps.sh)")
    home = tmp_path_factory.mktemp("gohome")
    env = dict(os.environ, HOME=str(home), GOPATH=str(home / "go"),
               GOCACHE=str(home / "cache"), PPROF_TMPDIR=str(home / "pprof"),
               GOPROXY="off", GOTOOLCHAIN="local", GOFLAGS="")
    return go, env


def run_tool(cmd, env, expect_fail=False):
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, env=env,
                       timeout=120)
    if expect_fail:
        assert p.returncode != 0, "%s: succeeded\n%s" % (" ".join(cmd), p.stdout[-2000:])
        return p.stderr
    assert p.returncode == 0, "%s: exit %d\n%s" % (" ".join(cmd), p.returncode, p.stderr)
    return p.stdout


@pytest.fixture(scope="session")
def go_pprof(go_env):
    """go_pprof(*args) -> stdout of `go tool pprof ARGS`; never touches the network.
    expect_fail=True: assert it fails instead, and return its stderr; env:
    variables to set on top."""
    go, base_env = go_env

    def run(*args, expect_fail=False, env=None):
        return run_tool([go, "tool", "pprof"] + [str(a) for a in args],
                        dict(base_env, **(env or {})), expect_fail)

    return run


@pytest.fixture(scope="session")
def pprof_upstream(go_env, tmp_path_factory):
    """pprof_upstream(*args, expect_fail=False): google/pprof's own driver
    (tests/helpers/pprof-upstream), like go_pprof otherwise.

    `go tool pprof` fetches http(s) sources itself and never uses pprof's
    -tls_cert/-tls_key/-tls_ca (it can present no client certificate), so
    this builds the upstream driver from the copy Go ships in
    $GOROOT/src/cmd/vendor, offline: a module requiring what cmd requires,
    whose vendor directory is cmd's."""
    go, base_env = go_env
    goroot = subprocess.run([go, "env", "GOROOT"], stdout=subprocess.PIPE, env=base_env,
                            universal_newlines=True, check=True).stdout.strip()
    cmd = Path(goroot) / "src" / "cmd"
    gomod = (cmd / "go.mod").read_text()
    assert gomod.startswith("module cmd\n"), gomod[:200]
    d = tmp_path_factory.mktemp("pprof-upstream")
    (d / "go.mod").write_text("module pyspytest/pprof\n" + gomod[len("module cmd\n"):])
    (d / "vendor").symlink_to(cmd / "vendor")
    shutil.copy(str(REPO / "tests" / "helpers" / "pprof-upstream" / "main.go"), str(d))
    binary = str(d / "pprof")
    p = subprocess.run([go, "build", "-mod=vendor", "-o", binary, "."], cwd=str(d),
                       env=base_env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=600)
    assert p.returncode == 0, "building google/pprof from %s/vendor failed:\n%s" % (
        cmd, p.stdout[-3000:])

    def run(*args, expect_fail=False, env=None):
        return run_tool([binary] + [str(a) for a in args], dict(base_env, **(env or {})),
                        expect_fail)

    return run
