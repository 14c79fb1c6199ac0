# SPDX-License-Identifier: MIT
# `serve`: the daemon's HTTP endpoints (read by the real go tool pprof), its
# interval files, signals and bounded memory; TLS, client certificates and
# the bearer token that close it.
"""Starts `pyspy-bpf serve` on a free loopback port next to a real workload
and talks to it the way fleets do: `go tool pprof http://...`, a Prometheus
scrape of /metrics, /healthz, files per interval; over HTTPS, pprof's own
-tls_cert/-tls_key/-tls_ca, curl and openssl, with certificates made by
openssl for each run."""
import collections
import gzip
import http.client
import itertools
import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import BY_ID, PYTHONS, WORKLOADS, marker_line, pyspy_env, require_python, run_pyspy


PY = BY_ID["3.12"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=30, context=None):
    with urllib.request.urlopen(url, timeout=timeout, context=context) as r:
        return r.status, r.read()


class Server:
    """ca: serve speaks HTTPS (the test passes --tls-cert), trusted through ca."""

    def __init__(self, pyspy, tmp_path, *args, ca=None):
        self.port = free_port()
        self.log = tmp_path / "serve.log"
        self.proc = subprocess.Popen(
            [pyspy, "serve", "--listen", "127.0.0.1:%d" % self.port, "--rate", "199",
             "--log-file", str(self.log)] + [str(a) for a in args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            universal_newlines=True, env=pyspy_env())
        self.context = ssl.create_default_context(cafile=str(ca)) if ca else None
        self.url = "%s://127.0.0.1:%d" % ("https" if ca else "http", self.port)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if get(self.url + "/healthz", 2, self.context)[0] == 200:
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

    def start(*args, ca=None):
        s = Server(pyspy, tmp_path, *args, ca=ca)
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
    # Until a third file made it prune the first.
    deadline = time.monotonic() + 20
    while "pruned " not in srv.logtext():
        assert time.monotonic() < deadline, "nothing pruned in 20 s\n" + srv.logtext()
        time.sleep(0.1)
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


def stamps(seconds_from, seconds_to):
    """Interval file names (UTC, by the second) for the seconds from now given."""
    now = int(time.time())
    return ["pyspy-bpf-%s.pb.gz" % time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now + s))
            for s in range(seconds_from, seconds_to)]


def test_interval_file_planted_fifo(server, workload, tmp_path):
    """FIFOs (and symlinks to one) planted at every interval file name of
    the next minute: each write is refused in one line without waiting for
    a reader (it would hold the sampler's lock), /metrics keeps answering,
    and no FIFO is ever opened."""
    workload(require_python(PY), "simple.py")
    out = tmp_path / "profiles"
    out.mkdir()
    outside = tmp_path / "outside.fifo"
    os.mkfifo(str(outside))
    for i, name in enumerate(stamps(-2, 60)):
        if i % 2:
            (out / name).symlink_to(outside)
        else:
            os.mkfifo(str(out / name))
    srv = server("--output-dir", out, "--interval", "1")
    deadline = time.monotonic() + 20
    refused = []
    while len(refused) < 3:
        assert time.monotonic() < deadline, "no refusal in 20 s\n" + srv.logtext()
        t0 = time.monotonic()
        status, body = get(srv.url + "/metrics", timeout=5)
        assert status == 200 and b"pyspy_samples_total" in body
        assert time.monotonic() - t0 < 3, "/metrics took %.1f s" % (time.monotonic() - t0)
        refused = re.findall(r"cannot write (\S+): not a regular file$", srv.logtext(), re.M)
        time.sleep(0.3)
    assert srv.stop() == 0, srv.logtext()
    assert all(os.path.dirname(p) == str(out) for p in refused), refused
    assert not [f for f in out.iterdir() if ".tmp." in f.name], list(out.iterdir())
    for f in out.iterdir():
        assert stat.S_ISFIFO(os.stat(str(f)).st_mode), f  # none replaced, none written
    # No writer ever opened a FIFO: a reader that comes now finds none.
    for f in [outside] + [f for f in out.iterdir() if not f.is_symlink()]:
        fd = os.open(str(f), os.O_RDONLY | os.O_NONBLOCK)
        try:
            assert os.read(fd, 1) == b""
        finally:
            os.close(fd)


def test_prune_only_own_files(server, workload, tmp_path):
    """--keep counts and deletes only the files this serve wrote: planted
    future-dated names (which sort after ours) and an earlier run's file
    stay, and serve's own newest files are kept."""
    workload(require_python(PY), "simple.py")
    out = tmp_path / "profiles"
    out.mkdir()
    planted = ["pyspy-bpf-29991231T235958Z.pb.gz", "pyspy-bpf-29991231T235959Z.pb.gz",
               "pyspy-bpf-20000101T000000Z.pb.gz"]
    for name in planted:
        (out / name).write_text("not ours\n")
    srv = server("--output-dir", out, "--interval", "1", "--keep", "2")
    deadline = time.monotonic() + 20
    while len(re.findall(r" wrote ", srv.logtext())) < 4:
        assert time.monotonic() < deadline, srv.logtext()
        time.sleep(0.2)
    assert srv.stop() == 0, srv.logtext()
    wrote = re.findall(r" wrote (\S+) \(", srv.logtext())
    assert len(wrote) >= 5, srv.logtext()  # 4 and SIGTERM's flush
    names = sorted(f.name for f in out.iterdir())
    assert names == sorted(planted + [os.path.basename(p) for p in wrote[-2:]]), \
        (names, wrote)
    for name in planted:
        assert (out / name).read_text() == "not ours\n"


def test_log_file_fifo_refused(pyspy, tmp_path):
    """--log-file naming a FIFO: one line and exit 1 at once (opening it to
    write would wait for a reader)."""
    fifo = tmp_path / "log.fifo"
    os.mkfifo(str(fifo))
    p = subprocess.run([pyspy, "serve", "--listen", "127.0.0.1:%d" % free_port(),
                        "--log-file", str(fifo)], env=pyspy_env(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=30)
    assert p.returncode == 1, p.stderr
    assert re.fullmatch(r"\S+ pyspy-bpf: cannot open --log-file %s: not a regular file\n" %
                        re.escape(str(fifo)), p.stderr), p.stderr


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
    """64 idle sockets from the probes' own address (its whole share)
    cannot keep /healthz and /metrics from answering: the oldest of them
    make room at once.  64 profile requests for an hour whose clients hang
    up at once free their slots, so the next request is answered in its own
    time."""
    workload(require_python(PY), "simple.py")
    srv = server()
    idle = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(64)]
    try:
        assert get(srv.url + "/healthz", 2) == (200, b"ok\n")
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


def test_request_body_is_never_waited_for(server):
    """A request that announces a body it never sends is answered at once
    (none of the paths takes one), not held at work until the body comes,
    where no deadline would reach it."""
    srv = server()
    for head, want in ((b"POST /metrics HTTP/1.1\r\nContent-Length: 1000\r\n", b" 405 "),
                       (b"GET /healthz HTTP/1.1\r\nContent-Length: 1000\r\n", b" 400 "),
                       (b"GET /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n", b" 400 "),
                       (b"GET /healthz HTTP/1.1\r\nContent-Length: 0\r\n", b" 200 ")):
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            s.sendall(head + b"Host: x\r\n\r\n")
            assert want in s.recv(4096).partition(b"\r\n")[0], head


# --- closing the endpoint: TLS, client certificates, the bearer token -------

def openssl(*args, cwd):
    p = subprocess.run(["/usr/bin/openssl"] + [str(a) for a in args], cwd=str(cwd),
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, timeout=60)
    assert p.returncode == 0, "openssl %s:\n%s" % (" ".join(map(str, args)), p.stdout)


EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]


def make_ca(d, name):
    # Both CAs carry the same name, so that only the signature tells the
    # impostor from the real one (and Go clients offer its certificates too:
    # they match the CA names the server asks for).
    openssl("req", "-x509", *EC_KEY, "-keyout", name + ".key", "-out", name + ".crt",
            "-subj", "/CN=pyspy-bpf test CA", "-days", "2",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign", cwd=d)


def make_leaf(d, name, ca, extensions):
    openssl("req", *EC_KEY, "-keyout", name + ".key", "-out", name + ".csr",
            "-subj", "/CN=" + name, cwd=d)
    (d / (name + ".ext")).write_text(extensions + "\n")
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
            "-CAcreateserial", "-days", "2", "-extfile", name + ".ext",
            "-out", name + ".crt", cwd=d)


class Pki:
    """A throwaway CA; a server certificate for 127.0.0.1 (for servers
    only: serverAuth); a client one (clientAuth); an intruder's, from
    another CA of the same name.  pki.server_crt is DIR/server.crt."""

    def __init__(self, d):
        self.dir = d
        make_ca(d, "ca")
        make_ca(d, "rogue")
        make_leaf(d, "server", "ca", "subjectAltName=IP:127.0.0.1\n"
                  "extendedKeyUsage=serverAuth")
        make_leaf(d, "client", "ca", "extendedKeyUsage=clientAuth")
        make_leaf(d, "intruder", "rogue", "extendedKeyUsage=clientAuth")

    def __getattr__(self, name):  # pki.ca_crt -> DIR/ca.crt
        base, _, ext = name.rpartition("_")
        if not base or ext not in ("crt", "key"):
            raise AttributeError(name)
        return self.dir / ("%s.%s" % (base, ext))

    def serve_args(self, client_ca=True):
        args = ["--tls-cert", self.server_crt, "--tls-key", self.server_key]
        return args + ["--tls-client-ca", self.ca_crt] if client_ca else args


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


Reply = collections.namedtuple("Reply", "status headers body")


def curl(url, *args):
    """One GET by curl: (status, headers as one lowercased string, body).
    status 0: no HTTP answer at all (e.g. the TLS handshake failed)."""
    p = subprocess.run(["curl", "-sS", "-i", "--max-time", "20", "-w", "\n%{http_code}"]
                       + [str(a) for a in args] + [url],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, errors="replace", timeout=40)
    out, _, code = p.stdout.rpartition("\n")
    head, _, body = out.partition("\n\n")  # universal_newlines made CRLF LF
    return Reply(int(code or 0), head.lower(), body)


def refused(metrics, reason):
    m = re.search(r'^pyspy_http_refused_total\{reason="%s"\} (\d+)$' % reason, metrics, re.M)
    assert m, metrics
    return int(m.group(1))


def test_tls_pprof_with_client_cert(server, workload, pki, pprof_upstream):
    """pprof's -tls_cert/-tls_key/-tls_ca read a profile over HTTPS from a
    serve that requires client certificates."""
    workload(require_python(PY), "simple.py")
    srv = server(*pki.serve_args(), ca=pki.ca_crt)
    assert "listening on https://" in srv.logtext(), srv.logtext()
    out = pprof_upstream("-tls_cert", pki.client_crt, "-tls_key", pki.client_key,
                         "-tls_ca", pki.ca_crt, "-top",
                         srv.url + "/debug/pprof/profile?seconds=1")
    assert re.search(r"\d+(\.\d+)?m?s\s+\d+(\.\d+)?%.*\bhot_loop$", out, re.M), out


def test_tls_refuses_clients_without_a_trusted_cert(server, pki, pprof_upstream, tmp_path):
    """No client certificate, one from an impostor CA of the same name, or
    one made for servers only: 403 before any profile is made (and before
    the token is looked at); /healthz stays open to probes."""
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    srv = server(*pki.serve_args(), "--token-file", token, ca=pki.ca_crt)
    profile = srv.url + "/debug/pprof/profile?seconds=1"
    err = pprof_upstream("-tls_ca", pki.ca_crt, "-top", profile, expect_fail=True)
    assert "403 Forbidden" in err, err
    err = pprof_upstream("-tls_cert", pki.intruder_crt, "-tls_key", pki.intruder_key,
                         "-tls_ca", pki.ca_crt, "-top", profile, expect_fail=True)
    assert "403 Forbidden" in err, err
    bearer = ["-H", "Authorization: Bearer t0ken"]
    ca = ["--cacert", pki.ca_crt]
    assert curl(srv.url + "/metrics", *ca, *bearer).status == 403
    assert curl(srv.url + "/metrics", *ca, "--cert", pki.server_crt, "--key", pki.server_key,
                *bearer).status == 403
    r = curl(srv.url + "/healthz", *ca)
    assert (r.status, r.body) == (200, "ok\n"), r
    client = ca + ["--cert", pki.client_crt, "--key", pki.client_key]
    assert curl(srv.url + "/metrics", *client).status == 401
    r = curl(srv.url + "/metrics", *client, *bearer)
    assert r.status == 200, r
    assert refused(r.body, "no_cert") >= 2 and refused(r.body, "bad_cert") == 2, r.body
    assert refused(r.body, "no_token") == 1, r.body
    assert "profile request" not in srv.logtext(), srv.logtext()


def s_client(port, version, ca):
    p = subprocess.run(["/usr/bin/openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                        "-" + version, "-cipher", "DEFAULT@SECLEVEL=0", "-CAfile", str(ca),
                        "-verify_return_error"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, errors="replace", timeout=30)
    return p.returncode, p.stdout


def test_tls_versions_and_go_tool_pprof(server, workload, pki, go_pprof):
    """TLS 1.2 and 1.3 only; without --tls-client-ca any client that trusts
    the server's CA is served, `go tool pprof` too (through SSL_CERT_FILE:
    it has no flag for a CA)."""
    workload(require_python(PY), "simple.py")
    srv = server(*pki.serve_args(client_ca=False), ca=pki.ca_crt)
    for version, ok in (("tls1", False), ("tls1_1", False), ("tls1_2", True),
                        ("tls1_3", True)):
        rc, out = s_client(srv.port, version, pki.ca_crt)
        assert (rc == 0) == ok, (version, out[-2000:])
    assert curl(srv.url + "/metrics", "--cacert", pki.ca_crt).status == 200
    # The server's certificate is checked: a client that does not trust its CA gets nothing.
    assert curl(srv.url + "/healthz", "--cacert", pki.rogue_crt).status == 0
    out = go_pprof("-top", srv.url + "/debug/pprof/profile?seconds=1",
                   env={"SSL_CERT_FILE": str(pki.ca_crt)})
    assert "hot_loop" in out, out


def test_token_required_except_healthz(server, tmp_path):
    """--token-file: every path but /healthz wants `Authorization: Bearer
    TOKEN`, exactly; else 401 with the Bearer challenge, before any work."""
    token = tmp_path / "token"
    token.write_text("Zm9v-bar.baz_42\r\n")  # its line ending is not part of it
    srv = server("--token-file", token)
    metrics = srv.url + "/metrics"
    challenge = r'^www-authenticate: bearer realm="pyspy-bpf"%s$'
    # No Bearer credentials at all, then wrong ones: a prefix, one byte
    # more, another case.
    for header in (None, "Basic Zm9v-bar.baz_42", "Zm9v-bar.baz_42"):
        r = curl(metrics, *(["-H", "Authorization: " + header] if header else []))
        assert r.status == 401 and re.search(challenge % "", r.headers, re.M), (header, r)
    for wrong in ("Zm9v-bar.baz_4", "Zm9v-bar.baz_420", "zm9v-bar.baz_42"):
        r = curl(metrics, "-H", "Authorization: Bearer " + wrong)
        assert r.status == 401, (wrong, r)
        assert re.search(challenge % ', error="invalid_token"', r.headers, re.M), (wrong, r)
    for right in ("Bearer Zm9v-bar.baz_42", "bearer   Zm9v-bar.baz_42"):
        r = curl(metrics, "-H", "Authorization: " + right)
        assert r.status == 200 and "pyspy_samples_total" in r.body, (right, r)
    assert refused(r.body, "bad_token") == 3 and refused(r.body, "no_token") == 3, r.body
    r = curl(srv.url + "/healthz")
    assert (r.status, r.body) == (200, "ok\n"), r
    for path in ("/debug/pprof/profile?seconds=1", "/nope"):
        assert curl(srv.url + path).status == 401, path
    assert "profile request" not in srv.logtext(), srv.logtext()


def test_token_reread_on_sighup(server, tmp_path):
    """SIGHUP re-reads --token-file (a rotated Secret); a file that will not
    do keeps the old token in force, and the log says so."""
    token = tmp_path / "token"
    token.write_text("first\n")
    srv = server("--token-file", token)
    metrics = srv.url + "/metrics"

    def status(tok):
        return curl(metrics, "-H", "Authorization: Bearer " + tok).status

    def hup_and_wait(line):
        n = srv.logtext().count(line)
        srv.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while srv.logtext().count(line) == n and time.monotonic() < deadline:
            time.sleep(0.1)
        assert srv.logtext().count(line) == n + 1, srv.logtext()

    assert status("first") == 200
    token.write_text("second\n")
    assert status("first") == 200 and status("second") == 401  # read once, at start
    hup_and_wait("token re-read from")
    assert status("first") == 401 and status("second") == 200
    token.write_text("")
    hup_and_wait("is empty (keeping the old token)")
    assert status("second") == 200 and status("") == 401
    assert srv.proc.poll() is None


BAD_OPTIONS = {
    # name: (args, what the one line says, exit code); files are made in tmp
    "client CA without cert": (["--tls-client-ca", "{ca}"], "--tls-client-ca needs --tls-cert", 2),
    "key without cert": (["--tls-key", "{key}"], "--tls-cert and --tls-key go together", 2),
    "missing key": (["--tls-cert", "{crt}", "--tls-key", "{tmp}/missing.key"],
                    "cannot read --tls-key {tmp}/missing.key: No such file or directory", 1),
    "key over 1 MiB": (["--tls-cert", "{crt}", "--tls-key", "{tmp}/huge"],
                       "--tls-key {tmp}/huge: over 1 MiB", 1),
    "key of another certificate": (["--tls-cert", "{crt}", "--tls-key", "{other_key}"],
                                   "do not match", 1),
    "client CA with no certificate": (["--tls-cert", "{crt}", "--tls-key", "{key}",
                                       "--tls-client-ca", "{key}"],
                                      "--tls-client-ca {key}: no certificate in it", 1),
    "empty token file": (["--token-file", "{tmp}/empty"], "--token-file {tmp}/empty: is empty", 1),
    "token file of a newline": (["--token-file", "{tmp}/newline"], "is empty", 1),
    "token over 4 KiB": (["--token-file", "{tmp}/huge"], "--token-file {tmp}/huge: over 4 KiB", 1),
    "token with a space": (["--token-file", "{tmp}/spaced"], "an Authorization header cannot carry",
                           1),
}


@pytest.mark.parametrize("case", sorted(BAD_OPTIONS))
def test_bad_tls_or_token_options(case, pyspy, pki, tmp_path):
    """Refused at start, before any privilege is needed, with one line."""
    args, want, code = BAD_OPTIONS[case]
    (tmp_path / "empty").write_text("")
    (tmp_path / "newline").write_text("\n")
    (tmp_path / "huge").write_text("a" * (1 << 20) + "\n")
    (tmp_path / "spaced").write_text("two words\n")
    names = dict(ca=pki.ca_crt, crt=pki.server_crt, key=pki.server_key,
                 other_key=pki.client_key, tmp=tmp_path)
    r = run_pyspy(pyspy, ["serve", "--listen", "127.0.0.1:%d" % free_port()]
                  + [a.format(**names) for a in args], timeout=30)
    lines = r.stderr.splitlines()
    assert r.rc == code and len(lines) == 1 and want.format(**names) in lines[0], str(r)


def test_native_frames_over_http(server, workload, go_pprof, tmp_path):
    """serve --native: a profile fetched over HTTP has the C frames, and their object as a Mapping."""
    from test_native import SCRIPT, build_hx
    python = require_python(PY)
    d = str(tmp_path / "hx")
    build_hx(python, d)
    w = workload(python, SCRIPT, d, "mixed")
    srv = server("--pid", w.pid, "--native")
    url = srv.url + "/debug/pprof/profile?seconds=2"
    top = go_pprof("-top", url)
    assert re.search(r"\bhx_leaf$", top, re.M) and re.search(r"\bpy_cb$", top, re.M), top
    raw = go_pprof("-raw", url)
    assert re.search(r"^\d+: 0x[0-9a-f]+/0x[0-9a-f]+/0x[0-9a-f]+ hx\.so [0-9a-f]+ ", raw, re.M), raw
    assert srv.stop() == 0


def test_async_over_http(server, workload, go_pprof):
    """serve --async: a profile fetched over HTTP is by task, with the task label."""
    python = require_python(BY_ID["3.14-sid"])
    w = workload(python, "tasks.py", "--shape", "gather")
    srv = server("--pid", w.pid, "--async")
    url = srv.url + "/debug/pprof/profile?seconds=2"
    tags = go_pprof("-tags", url)
    assert re.search(r"^ task: Total", tags, re.M), tags
    for name in ("worker-a", "worker-b", "worker-c"):
        assert re.search(r"\): " + name + "$", tags, re.M), tags
    top = go_pprof("-top", url)
    assert re.search(r"\btask worker-a$", top, re.M), top
    assert srv.stop() == 0


@pytest.mark.parametrize("kind", ["native", "async"])
def test_rebuilt_symbols_keep_native_and_task_names(kind, server, workload, go_pprof, tmp_path):
    """serve --native (or --async) --rebuild-symbols 1: each rebuild remaps the names
    the C-frame (or task) cache holds, and forgets those no profile used since; a
    profile fetched after a few rebuilds (the first one's names forgotten in between)
    still has its C frames (or its tasks)."""
    if kind == "native":
        from test_native import SCRIPT, build_hx
        python = require_python(PY)
        d = str(tmp_path / "hx")
        build_hx(python, d)
        w = workload(python, SCRIPT, d, "mixed")
        want = r"\bhx_leaf$"
    else:
        w = workload(require_python(BY_ID["3.14-sid"]), "tasks.py", "--shape", "gather")
        want = r"\btask worker-a$"
    srv = server("--pid", w.pid, "--" + kind, "--rebuild-symbols", 1)
    for _ in range(2):
        top = go_pprof("-top", srv.url + "/debug/pprof/profile?seconds=2")
        assert re.search(want, top, re.M), top
        time.sleep(2.5)  # two rebuilds with no profile open: the cache's names go
    assert srv.stop() == 0


# --- slow clients: probes and scrapes are answered whatever others do -------

SLOW_FROM = ["127.0.0.%d" % i for i in (1, 2, 3, 4)]
SLOW_TICK = 2.0
PROBE_TIMEOUT = 5  # the DaemonSet's probes: timeoutSeconds
SLOW_HEAD = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
PIPELINED = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 1000
READ_PER_TICK = 32 << 10


def insecure_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def client_hello():
    """The first bytes a TLS client sends."""
    out = ssl.MemoryBIO()
    tls = insecure_context().wrap_bio(ssl.MemoryBIO(), out)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return out.read()


def tcp_established(s):
    return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0] == 1  # TCP_ESTABLISHED


def small_buffers(s):
    """A 4 KiB receive buffer and 536-byte segments: what a slow reader
    does not take waits in the server, not in the kernels' buffers."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)


class SlowClients(threading.Thread):
    """For each (address, kind, n) of groups, n connections from that
    address, kept open the whole test (one the server closes is opened
    again at the next tick, every SLOW_TICK s), each doing what kind says:
      head:  a request head that never ends, one byte a tick (with tls,
             after the handshake: each byte a TLS record of its own);
      hello: a TLS ClientHello, one byte a tick;
      read:  1000 requests for /metrics at once, whose answers it takes
             READ_PER_TICK a tick (with small_buffers): steady enough that
             the server never sits idle, slow enough that it never gets
             through them."""

    def __init__(self, port, groups, tls=False):
        super().__init__(daemon=True)
        self.port, self.groups, self.tls = port, groups, tls
        self.halt = threading.Event()
        self.opened = 0
        self.last_tick = time.monotonic()
        self.hello = client_hello() if any(g[1] == "hello" for g in groups) else b""
        self.conns = {}  # (address, i) -> (socket, iterator of the bytes to trickle)

    def open(self, addr, kind):
        s = socket.socket()
        try:
            if kind == "read":
                small_buffers(s)
            s.bind((addr, 0))
            s.settimeout(1)
            s.connect(("127.0.0.1", self.port))
            if kind == "head" and self.tls:
                s = insecure_context().wrap_socket(s)
            if kind == "read":
                s.sendall(PIPELINED)
        except OSError:
            s.close()
            return None
        self.opened += 1
        if kind == "head":
            return s, itertools.chain(SLOW_HEAD, itertools.repeat(ord("a")))
        return s, (iter(self.hello) if kind == "hello" else None)

    @staticmethod
    def step(conn):
        s, trickle = conn
        try:
            if trickle is None:
                n = 0
                while n < READ_PER_TICK:
                    n += len(s.recv(READ_PER_TICK - n, socket.MSG_DONTWAIT) or b"x")
            else:
                byte = next(trickle, None)
                if byte is not None:
                    s.send(bytes([byte]))
        except OSError:
            pass  # nothing more to read yet, or closed: seen at the next tick

    def tick(self, t0):
        for addr, kind, n in self.groups:
            for i in range(n):
                conn = self.conns.get((addr, i))
                if conn and not tcp_established(conn[0]):
                    conn[0].close()
                    del self.conns[(addr, i)]
                    conn = None
                if not conn:
                    # Not all at once when the server is slow: the rest next tick.
                    if time.monotonic() - t0 > SLOW_TICK * 0.75:
                        continue
                    conn = self.open(addr, kind)
                    if not conn:
                        continue
                    self.conns[(addr, i)] = conn
                self.step(conn)

    def run(self):
        try:
            while not self.halt.is_set():
                t0 = self.last_tick = time.monotonic()
                self.tick(t0)
                self.halt.wait(max(0, SLOW_TICK - (time.monotonic() - t0)))
        finally:
            for s, _ in self.conns.values():
                s.close()

    def __enter__(self):
        self.start()
        deadline = time.monotonic() + 20
        while self.opened < sum(g[2] for g in self.groups):
            assert time.monotonic() < deadline and self.is_alive(), \
                "only %d slow connections opened" % self.opened
            time.sleep(0.1)
        return self

    def __exit__(self, *exc):
        self.halt.set()
        self.join(10)


class SlowReader(threading.Thread):
    """A slow but honest client from source: a profile of `seconds`, read
    4 KiB every 0.1 s (at most 40 KB/s) with small_buffers."""

    def __init__(self, port, seconds, source):
        super().__init__(daemon=True)
        self.port, self.seconds, self.source = port, seconds, source
        self.head, self.body, self.error, self.reads = b"", b"", None, 0
        self.start()

    def run(self):
        try:
            with socket.socket() as s:
                small_buffers(s)
                s.bind((self.source, 0))
                s.settimeout(self.seconds + 10)
                s.connect(("127.0.0.1", self.port))
                s.sendall(b"GET /debug/pprof/profile?seconds=%d HTTP/1.1\r\nHost: x\r\n"
                          b"Connection: close\r\n\r\n" % self.seconds)
                data = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                    self.reads += 1
                    time.sleep(0.1)
            self.head, _, self.body = data.partition(b"\r\n\r\n")
        except OSError as e:
            self.error = e

    def check(self):
        """The whole profile came, as Content-Length says, it decodes, and
        it is big: many times what the kernels' buffers took (so that the
        reader was slow for the server, not only for its own kernel)."""
        self.join(60)
        assert not self.is_alive() and not self.error, self.error
        assert self.head.startswith(b"HTTP/1.1 200 "), self.head
        length = int(re.search(rb"(?im)^content-length: *(\d+)\r?$", self.head).group(1))
        assert len(self.body) == length, (len(self.body), length)
        assert gzip.decompress(self.body)
        print("slow reader: %d bytes in %d reads" % (length, self.reads))
        assert length > 64 << 10 and self.reads > 16, (length, self.reads)


def ask(srv, path, source, context=None, headers=None):
    """GET path from the address source within PROBE_TIMEOUT: (status or
    the error, body, seconds)."""
    t0 = time.monotonic()
    kw = dict(timeout=PROBE_TIMEOUT, source_address=(source, 0))
    try:
        if context:
            conn = http.client.HTTPSConnection("127.0.0.1", srv.port, context=context, **kw)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, **kw)
        try:
            conn.request("GET", path, headers=headers or {})
            r = conn.getresponse()
            status, body = r.status, r.read()
        finally:
            conn.close()
    except OSError as e:
        status, body = repr(e), b""
    return status, body, time.monotonic() - t0


def metric(text, name):
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    assert m, (name, text)
    return int(m.group(1))


def probe_through(srv, flood, context=None, scrape=None):
    """12 /healthz probes, one every 2 s, each from 127.0.0.1 (an address
    the flood uses too) or 127.0.0.9, each answered 200 within
    PROBE_TIMEOUT; /metrics (scrape: its context and headers) after every
    fourth.  Returns the last /metrics.  The probes come halfway between
    the flood's ticks: the kubelet's have a period of their own, while
    probes in step with the flood would meet every burst of its 64 reads
    (then, for a moment, an address's whole share may be at work, and a
    new connection from it is refused by design)."""
    failed, text, took = [], "", []
    t0 = flood.last_tick + SLOW_TICK / 2
    while t0 < time.monotonic():
        t0 += SLOW_TICK
    for n in range(12):
        time.sleep(max(0, t0 + 2 * n - time.monotonic()))
        source = ("127.0.0.1", "127.0.0.9")[n % 2]
        status, body, secs = ask(srv, "/healthz", source, context)
        took.append(secs)
        if (status, body) != (200, b"ok\n") or secs >= PROBE_TIMEOUT:
            failed.append((n, source, status, round(secs, 2)))
        if n % 4 == 3:
            status, body, secs = ask(srv, "/metrics", source, *(scrape or (context, None)))
            if status != 200 or secs >= PROBE_TIMEOUT:
                failed.append((n, source, "/metrics", status, round(secs, 2)))
            text = body.decode()
        assert flood.is_alive()
    assert not failed, (failed, srv.logtext()[-3000:])
    print("/healthz under the flood: %.3f s at most, %.3f s median"
          % (max(took), sorted(took)[len(took) // 2]))
    return text


def test_slow_heads_cannot_starve_probes(server, workload):
    """4 addresses x 64 connections sending a request head one byte every
    2 s (reopened when closed): /healthz answers 12 probes of 12 within 5 s
    and /metrics is scraped; the slowest heads make room for the probes.  A
    slow but honest client reading a big profile meanwhile gets all of
    it."""
    w = workload(require_python(PY), "namechurn.py", "--seconds", "120")  # big profiles
    srv = server("--pid", w.pid)  # not every process: others' workloads are not this test's
    with SlowClients(srv.port, [(a, "head", 64) for a in SLOW_FROM]) as flood:
        reader = SlowReader(srv.port, 5, "127.0.0.6")
        text = probe_through(srv, flood)
        reader.check()
    assert metric(text, 'pyspy_http_shed_total{reason="table_full"}') > 0, text
    assert "closing slow HTTP clients to stay reachable" in srv.logtext()
    assert srv.stop() == 0


def test_slow_tls_handshakes_and_heads_cannot_starve_probes(server, workload, pki, tmp_path):
    """Over TLS with client certificates and a token, and no credentials
    on the flood's side: 2 addresses x 64 connections send a ClientHello
    one byte every 2 s, 2 x 64 finish the handshake and then send a head
    one byte every 2 s.  Probes (no credentials) and a scrape (with them)
    are all answered in time."""
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    w = workload(require_python(PY), "simple.py")
    srv = server("--pid", w.pid, *pki.serve_args(), "--token-file", token, ca=pki.ca_crt)
    scraper = ssl.create_default_context(cafile=str(pki.ca_crt))
    scraper.load_cert_chain(str(pki.client_crt), str(pki.client_key))
    groups = [(a, kind, 64) for a, kind in zip(SLOW_FROM, ("head", "head", "hello", "hello"))]
    with SlowClients(srv.port, groups, tls=True) as flood:
        text = probe_through(srv, flood, srv.context,
                             (scraper, {"Authorization": "Bearer t0ken"}))
    assert metric(text, 'pyspy_http_shed_total{reason="table_full"}') > 0, text
    assert srv.stop() == 0


def test_slow_readers_make_room_for_probes(server, workload):
    """64 connections from 127.0.0.1 (its whole share), each with 200
    requests for /metrics whose answers it takes at 16 KB/s, reopened when
    closed; from that same address, a slow but honest client reading a big
    profile at 40 KB/s, and probes.  The slowest readers of the address
    make room: every probe and scrape is answered in time, and the honest
    client gets its whole profile."""
    w = workload(require_python(PY), "namechurn.py", "--seconds", "120")
    srv = server("--pid", w.pid)
    with SlowClients(srv.port, [("127.0.0.1", "read", 64)]) as flood:
        reader = SlowReader(srv.port, 5, "127.0.0.1")
        text = probe_through(srv, flood)
        reader.check()
    assert metric(text, 'pyspy_http_shed_total{reason="address_full"}') > 0, text
    assert srv.stop() == 0


@pytest.mark.parametrize("tls", [False, True], ids=["http", "tls"])
def test_request_head_deadline(server, workload, pki, tls):
    """A request head that trickles in (a byte a second), and with TLS a
    ClientHello that does, is cut 10 s after accept however steady its
    bytes; so is a connection that sends nothing (libmicrohttpd's own
    timeout is 30 s)."""
    w = workload(require_python(PY), "simple.py")
    srv = server("--pid", w.pid, *(pki.serve_args(client_ca=False) if tls else []),
                 ca=pki.ca_crt if tls else None)
    trickle = client_hello() if tls else SLOW_HEAD + b"a" * 64
    conns = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(2)]
    t0 = time.monotonic()
    lasted, sent = [None, None], 0
    try:
        while None in lasted and time.monotonic() - t0 < 25:
            for i, s in enumerate(conns):
                if lasted[i] is None and not tcp_established(s):
                    lasted[i] = time.monotonic() - t0
            if sent <= time.monotonic() - t0:  # byte n at n s
                try:
                    conns[0].send(trickle[sent:sent + 1])
                except OSError:
                    pass
                sent += 1
            time.sleep(0.1)
    finally:
        for s in conns:
            s.close()
    # Not before the deadline; after it, in a time that is not the idle timeout's.
    assert None not in lasted and all(10 <= t < 20 for t in lasted), lasted
    text = curl(srv.url + "/metrics", *(["--cacert", pki.ca_crt] if tls else [])).body
    assert metric(text, 'pyspy_http_shed_total{reason="head_deadline"}') == 2, text
