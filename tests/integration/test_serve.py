# SPDX-License-Identifier: MIT
# `serve`: the daemon's HTTP endpoints (read by the real go tool pprof), its
# interval files, signals and bounded memory.
"""Starts `pyspy-bpf serve` on a free loopback port next to a real workload
and talks to it the way fleets do: `go tool pprof http://...`, a Prometheus
scrape of /metrics, /healthz, files per interval."""
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import PYTHONS, WORKLOADS, marker_line, pyspy_env, require_python

PY = PYTHONS[4]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


class Server:
    def __init__(self, pyspy, tmp_path, *args):
        self.port = free_port()
        self.log = tmp_path / "serve.log"
        self.proc = subprocess.Popen(
            [pyspy, "serve", "--listen", "127.0.0.1:%d" % self.port, "--rate", "199",
             "--log-file", str(self.log)] + [str(a) for a in args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            universal_newlines=True, env=pyspy_env())
        self.url = "http://127.0.0.1:%d" % self.port
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if get(self.url + "/healthz", 2)[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
            assert self.proc.poll() is None, self.proc.stderr.read() + self.logtext()
        pytest.fail("serve did not come up\n" + self.logtext())

    def logtext(self):
        return self.log.read_text() if self.log.exists() else ""

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail("serve did not stop on signal %d\n%s" % (sig, self.logtext()))
        return self.proc.returncode


@pytest.fixture
def server(pyspy, tmp_path):
    servers = []

    def start(*args):
        s = Server(pyspy, tmp_path, *args)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop(signal.SIGKILL)


def hot():
    return "hot_loop"


def test_http_pprof_metrics_health(server, workload, go_pprof):
    w = workload(require_python(PY), "simple.py")
    srv = server()
    assert get(srv.url + "/healthz") == (200, b"ok\n")
    out = go_pprof("-top", srv.url + "/debug/pprof/profile?seconds=3")
    assert re.search(r"\d+(\.\d+)?m?s\s+\d+(\.\d+)?%.*\bhot_loop$", out, re.M), out
    # pid filter: only that process's samples.
    raw = go_pprof("-raw", srv.url + "/debug/pprof/profile?seconds=2&pid=%d" % w.pid)
    pids = set(re.findall(r"(?<![_a-z])pid:\[(\d+)\]", raw))
    assert pids == {str(w.pid)}, raw[:2000]
    status, body = get(srv.url + "/metrics")
    text = body.decode()
    samples = int(re.search(r"^pyspy_samples_total (\d+)$", text, re.M).group(1))
    assert samples > 100, text
    for name in ("pyspy_lost_samples_total", "pyspy_unwind_errors_total{kind=",
                 "pyspy_processes", "pyspy_bpf_run_time_seconds_total",
                 "pyspy_dropped_samples_total"):
        assert name in text, (name, text)
    assert float(re.search(r"^pyspy_bpf_run_time_seconds_total (\S+)$", text, re.M).group(1)) > 0
    with pytest.raises(urllib.error.HTTPError) as e:
        get(srv.url + "/debug/pprof/profile?seconds=0")
    assert e.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as e:
        get(srv.url + "/nope")
    assert e.value.code == 404
    assert srv.stop() == 0
    log = srv.logtext()
    lines = log.splitlines()
    assert lines and all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ pyspy-bpf: ", l) for l in lines), log


def test_interval_files_keep_and_sigterm_flush(server, workload, go_pprof, tmp_path):
    workload(require_python(PY), "simple.py")
    out = tmp_path / "profiles"
    out.mkdir()
    srv = server("--output-dir", out, "--interval", "1", "--keep", "2")
    time.sleep(4.5)
    files = sorted(out.glob("pyspy-bpf-*.pb.gz"))
    assert 1 <= len(files) <= 2, files
    top = go_pprof("-top", str(files[-1]))
    assert "hot_loop" in top, top
    before = set(out.iterdir())
    assert srv.stop(signal.SIGTERM) == 0
    after = set(out.iterdir())
    assert after - before, "SIGTERM must flush the current interval\n" + srv.logtext()
    assert not [f for f in after if ".tmp." in f.name], after
    assert len([f for f in after if f.name.endswith(".pb.gz")]) <= 2


def test_sighup_reopens_log(server, workload, tmp_path):
    srv = server()
    rotated = tmp_path / "serve.log.1"
    os.rename(str(srv.log), str(rotated))
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "log reopened" not in srv.logtext():
        time.sleep(0.1)
    assert "log reopened" in srv.logtext(), rotated.read_text()
    assert srv.proc.poll() is None


def test_bounded_stacks(server, workload, go_pprof):
    """A cap on distinct stacks: more are dropped and counted, memory stays put."""
    workload(require_python(PY), "genfree.py")
    srv = server("--max-stacks", "3")
    out = go_pprof("-raw", srv.url + "/debug/pprof/profile?seconds=3")
    assert out.count("\n   ") >= 1
    text = get(srv.url + "/metrics")[1].decode()
    dropped = int(re.search(r"^pyspy_dropped_samples_total (\d+)$", text, re.M).group(1))
    assert dropped > 0, text


def test_bad_listen_address(pyspy, tmp_path):
    p = subprocess.run([pyspy, "serve", "--listen", "nonsense"], env=pyspy_env(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=30)
    assert p.returncode != 0
    assert "bad --listen 'nonsense'" in p.stderr, p.stderr


def test_log_file_is_never_a_symlink(server, pyspy, tmp_path):
    """--log-file is created 0640 and never followed through a symlink; a
    SIGHUP reopen that fails keeps the old log, says so, and serving goes on."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    link = tmp_path / "link.log"
    link.symlink_to(victim)
    p = subprocess.run([pyspy, "serve", "--listen", "127.0.0.1:%d" % free_port(),
                        "--log-file", str(link)], env=pyspy_env(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=30)
    assert p.returncode == 1 and "cannot open --log-file" in p.stderr, p.stderr
    assert victim.read_text() == "precious\n"
    srv = server()
    assert os.stat(str(srv.log)).st_mode & 0o777 == 0o640
    os.rename(str(srv.log), str(tmp_path / "serve.log.1"))
    os.symlink(str(victim), str(srv.log))  # the rotated name, now planted
    srv.proc.send_signal(signal.SIGHUP)
    old = tmp_path / "serve.log.1"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "cannot reopen" not in old.read_text():
        time.sleep(0.1)
    assert "cannot reopen --log-file" in old.read_text(), old.read_text()
    assert get(srv.url + "/healthz") == (200, b"ok\n")
    assert victim.read_text() == "precious\n"


def test_reachable_under_abuse(server, workload):
    """64 idle sockets cannot keep /healthz and /metrics from answering (idle
    connections are closed after 5 s; connections outnumber profile slots);
    64 profile requests for an hour whose clients hang up at once free their
    slots, so the next request is answered in its own time."""
    workload(require_python(PY), "simple.py")
    srv = server()
    idle = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(64)]
    try:
        t0 = time.monotonic()
        while True:
            try:
                assert get(srv.url + "/healthz", 2) == (200, b"ok\n")
                break
            except OSError:
                assert time.monotonic() - t0 < 8, "no /healthz with 64 idle sockets open"
                time.sleep(0.2)
        assert get(srv.url + "/metrics", 5)[0] == 200
    finally:
        for s in idle:
            s.close()
    time.sleep(0.5)  # the server sees them close
    for _ in range(64):
        with socket.create_connection(("127.0.0.1", srv.port)) as s:
            s.sendall(b"GET /debug/pprof/profile?seconds=3600 HTTP/1.1\r\nHost: x\r\n\r\n")
    deadline = time.monotonic() + 5
    while srv.logtext().count("profile request: 3600 s") < 64 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert srv.logtext().count("profile request: 3600 s") == 64, srv.logtext()
    t0 = time.monotonic()
    status, body = get(srv.url + "/debug/pprof/profile?seconds=1", 10)
    assert status == 200 and body, status
    assert time.monotonic() - t0 < 2, "took %.1f s" % (time.monotonic() - t0)
    assert srv.logtext().count("the client went away") == 64, srv.logtext()


def test_filter_that_parses_to_nothing_is_refused(server):
    """A filter that is there but empty (or cut by a NUL) is a 400, never
    a profile of every target."""
    srv = server()
    for query in ("seconds=1&pod=%00x", "seconds=1&pod=", "seconds=1&container=",
                  "seconds=1&container=%00", "seconds=1&pid=", "seconds="):
        with pytest.raises(urllib.error.HTTPError) as e:
            get(srv.url + "/debug/pprof/profile?" + query)
        assert e.value.code == 400, query
