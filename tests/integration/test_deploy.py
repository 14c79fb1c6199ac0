# SPDX-License-Identifier: MIT
# deploy/: the image's package lists against the real build; the Kubernetes manifest against the API schema.
"""No container engine and no cluster are needed; what can be checked
without them is checked against the real thing:

- the runtime stage of deploy/Dockerfile installs exactly the packages
  owning the libraries build/pyspy-bpf links (ldd, readelf, dpkg -S), and
  every library ldd resolves comes from those packages, their dependencies
  (dpkg's Depends, as apt would install them) or libc6;
- the build stage's packages, with their dependencies, provide every
  tool, header and library the build uses (the compiler's own header
  list), and are all in scripts/install-deps.sh;
- the Dockerfile lints clean (dockerfile-utils; hadolint too when it is on
  PATH: it is in neither Debian 12 nor npm);
- deploy/kubernetes/daemonset.yaml and networkpolicy.yaml pass yamllint
  and deploy/kubernetes/validate.mjs (YAML 1.1, the OpenAPI schema of each
  kind, no unknown fields), and the validator rejects broken variants;
- what no schema knows: the pieces agree (selectors, ports, service
  account), the NetworkPolicy admits only the scraper's namespace to the
  container's port, and the commented TLS and token lines make a valid
  manifest once uncommented;
- the grant: the image's user and file capabilities are the manifest's,
  and the agent run on this host with exactly those rights (setpriv, as
  the runtime would start it) profiles Python and native frames of root's,
  another user's and a chroot's processes, serves with the manifest's
  arguments, and cannot open a host file of mode 0600, even from inside
  its sandbox (user/engine/sandbox.c's probe).

The npm packages are installed once into build/npm-deploy (or
$PYSPY_DEPLOY_NPM_DIR); a second run needs no network.
"""
import fcntl
import json
import os
import re
import shlex
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import (BY_ID, PROCESS_RE, PY_DEBIAN, READY_TIMEOUT, WORKLOADS, check_probes,
                      kill_group, parse_folded, read_line, require_python, total)


REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "Dockerfile"
MANIFEST = REPO / "deploy" / "kubernetes" / "daemonset.yaml"
NETPOL = REPO / "deploy" / "kubernetes" / "networkpolicy.yaml"
DEPLOY_DOC = REPO / "docs" / "deploy.md"
VALIDATOR = REPO / "deploy" / "kubernetes" / "validate.mjs"
INSTALL_DEPS = REPO / "scripts" / "install-deps.sh"
BUILD = REPO / "build"
BINARY = BUILD / "pyspy-bpf"

# Pinned; validate.mjs needs the first three, the Dockerfile lint the last.
NPM_PACKAGES = [
    "kubernetes-models@5.1.0",
    "@kubernetes/client-node@2.0.1",
    "yaml@2.9.1",
    "dockerfile-utils@0.16.3",
]
NPM_DIR = Path(os.environ.get("PYSPY_DEPLOY_NPM_DIR") or BUILD / "npm-deploy")

# In every Debian image, debian:12-slim included (Priority: required).
BASE_PACKAGES = {"libc6", "libgcc-s1", "gcc-12-base"}

# Tools the Makefile runs to build `all`.
BUILD_TOOLS = ["make", "cc", "clang", "bpftool", "protoc-c"]


def run(cmd, timeout=120, **kw):
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True,
                              timeout=timeout, **kw)
    except FileNotFoundError:
        pytest.fail("%s not found" % cmd[0])
    except subprocess.TimeoutExpired:
        pytest.fail("%s: still running after %ss" % (" ".join(map(str, cmd)), timeout))


# --- Dockerfile --------------------------------------------------------------

def dockerfile_stages(text):
    """[[(KEYWORD, args)]] per stage; continuations joined, comments dropped."""
    stages, cur = [], ""
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#") or (not s and cur):
            continue  # Docker drops comment lines, even inside a continuation
        cur += line[:-1] + " " if line.endswith("\\") else line
        if line.endswith("\\"):
            continue
        ins, cur = cur.strip(), ""
        if not ins:
            continue
        key, _, args = ins.partition(" ")
        key = key.upper()
        if key == "FROM":
            stages.append([])
        assert stages, "instruction before FROM: %r" % ins
        stages[-1].append((key, " ".join(args.split())))
    return stages


def apt_packages(stage):
    """Package names of the stage's `apt-get install` commands, less those
    its `apt-get purge` takes away again (tools, e.g. setcap)."""
    pkgs, purged = [], set()
    for key, args in stage:
        if key != "RUN":
            continue
        for cmd in re.split(r"&&|;", args):
            words = shlex.split(cmd)
            if words[:2] == ["apt-get", "install"]:
                pkgs += [w for w in words[2:] if not w.startswith("-")]
            elif words[:2] == ["apt-get", "purge"]:
                purged |= {w for w in words[2:] if not w.startswith("-")}
    return [p for p in pkgs if p not in purged]


@pytest.fixture(scope="module")
def stages():
    s = dockerfile_stages(DOCKERFILE.read_text())
    assert len(s) == 2, "want a build stage and a runtime stage, got %d" % len(s)
    return s


# --- dpkg --------------------------------------------------------------------

def path_forms(path):
    """The names dpkg may know a file by: as given, resolved, with and without /usr."""
    forms = []
    for p in (path, os.path.join(os.path.realpath(os.path.dirname(path)),
                                 os.path.basename(path)), os.path.realpath(path)):
        forms += [p, p[4:] if p.startswith("/usr/") else "/usr" + p]
    return list(dict.fromkeys(forms))


def dpkg_owners(paths):
    """{path: owning package or None}, in one dpkg-query call."""
    forms = {p: path_forms(p) for p in paths}
    every = sorted({f for fs in forms.values() for f in fs})
    r = run(["dpkg-query", "-S"] + every)  # exit 1 when some form is unknown
    owner = {}
    for line in r.stdout.splitlines():
        owners, sep, owned = line.partition(": ")
        if sep and not line.startswith("diversion"):
            owner[owned] = owners.split(",")[0].strip().split(":")[0]
    return {p: next((owner[f] for f in fs if f in owner), None) for p, fs in forms.items()}


@pytest.fixture(scope="module")
def installed():
    """{package: [[alternatives] per dependency]}, plus {virtual: [providers]}."""
    r = run(["dpkg-query", "-W", "-f",
             "${Package}\t${db:Status-Status}\t${Pre-Depends}\t${Depends}\t${Provides}\n"])
    assert r.returncode == 0, r.stderr
    deps, provides = {}, {}

    def names(field):
        return [[re.sub(r"[\s(:].*", "", alt.strip()) for alt in group.split("|")]
                for group in field.split(",") if group.strip()]

    for line in r.stdout.splitlines():
        pkg, status, pre, dep, prov = (line.split("\t") + [""] * 5)[:5]
        if status != "installed":
            continue
        deps[pkg] = names(pre) + names(dep)
        for group in names(prov):
            provides.setdefault(group[0], []).append(pkg)
    return deps, provides


def closure(pkgs, installed):
    """pkgs and everything they Depend or Pre-Depend on (the installed alternative)."""
    deps, provides = installed
    missing = sorted(p for p in pkgs if p not in deps)
    assert not missing, "not installed here, cannot check: %s" % " ".join(missing)
    seen, todo = set(), list(pkgs)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        for group in deps[p]:
            for alt in group:
                real = [alt] if alt in deps else provides.get(alt, [])
                if real:
                    todo += real[:1]
                    break
    return seen


# --- the binary --------------------------------------------------------------

@pytest.fixture(scope="module")
def release_binary():
    """build/pyspy-bpf, brought up to date (the Makefile's `all`)."""
    r = run(["make", "-s", "-C", str(REPO), "all"], timeout=900)
    assert r.returncode == 0, "make all failed:\n%s%s" % (r.stdout[-3000:], r.stderr[-3000:])
    assert os.access(str(BINARY), os.X_OK), BINARY
    return BINARY


def ldd(binary):
    """{soname: path} of every shared library the loader resolves."""
    r = run(["ldd", str(binary)])
    assert r.returncode == 0, r.stderr
    libs = {}
    for line in r.stdout.splitlines():
        m = re.match(r"\s*(\S+)\s+=>\s+(\S+)", line)
        if m:
            assert m.group(2) != "not", "unresolved library: %s" % line.strip()
            libs[m.group(1)] = m.group(2)
        elif line.strip().startswith("/"):
            path = line.split()[0]
            libs[os.path.basename(path)] = path
    return libs


def needed(binary):
    r = run(["readelf", "-d", str(binary)])
    assert r.returncode == 0, r.stderr
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", r.stdout)


def test_dockerfile_runtime_libs(stages, installed, release_binary):
    build, runtime = stages
    assert build[0] == ("FROM", "debian:12 AS build"), build[0]
    assert runtime[0] == ("FROM", "debian:12-slim"), runtime[0]
    pkgs = apt_packages(runtime)
    assert pkgs == sorted(set(pkgs)), "runtime packages not sorted or repeated: %s" % pkgs

    libs = ldd(release_binary)
    by_path = dpkg_owners(libs.values())
    owner = {soname: by_path[path] for soname, path in libs.items()}
    unowned = {s: libs[s] for s in libs if not owner[s]}
    assert not unowned, "no package owns %s" % unowned

    # Every library, transitive ones too, arrives with the listed packages.
    have = closure(set(pkgs) | BASE_PACKAGES, installed)
    stray = {s: owner[s] for s in libs if owner[s] not in have}
    assert not stray, "libraries from packages the runtime stage lacks: %s" % stray

    # And nothing else: each listed package owns a library the binary names.
    direct = {owner[s] for s in needed(release_binary)}
    assert set(pkgs) == direct - BASE_PACKAGES, \
        "runtime stage installs %s; the binary's DT_NEEDED libraries come from %s" % (
            sorted(pkgs), sorted(direct - BASE_PACKAGES))

    # The stage holds the binary, metadata and entry point, nothing more.
    keys = [k for k, _ in runtime[1:]]
    assert set(keys) <= {"ARG", "RUN", "COPY", "LABEL", "USER", "EXPOSE", "ENTRYPOINT",
                         "CMD"}, keys
    assert keys.count("RUN") == 1 and keys.count("COPY") == 1, keys
    ins = dict(runtime[1:])
    assert ins["COPY"] == "--from=build /src/build/pyspy-bpf /usr/local/bin/pyspy-bpf"
    assert json.loads(ins["ENTRYPOINT"]) == ["/usr/local/bin/pyspy-bpf"]
    assert json.loads(ins["CMD"]) == ["serve", "--listen", "0.0.0.0:6060"]
    assert ins["EXPOSE"] == "6060"


def install_deps_packages():
    m = re.search(r'^pkgs="\n(.*?)^"', INSTALL_DEPS.read_text(), re.S | re.M)
    assert m, "no pkgs=\"...\" block in %s" % INSTALL_DEPS
    return [w for line in m.group(1).splitlines()
            for w in line.split("#")[0].split()]


def build_inputs():
    """System files `make all` reads: tools, headers (cc -M), link libraries."""
    files = {}
    for tool in BUILD_TOOLS:
        path = shutil.which(tool)
        assert path, "%s not on PATH" % tool
        files["tool " + tool] = os.path.realpath(path)
    cflags = ["-D_GNU_SOURCE", "-I" + str(BUILD), "-I" + str(REPO)]
    srcs = sorted(str(p) for d in ("user", "symbolize")
                  for p in (REPO / d).rglob("*.c"))
    srcs += [str(p) for p in (BUILD / "proto").glob("*.c")]
    bpf = ["-target", "bpf", "-D__TARGET_ARCH_x86", "-I" + str(BUILD),
           "-I" + str(REPO / "vmlinux/x86"), "-I" + str(REPO / "bpf")]
    bpf_srcs = sorted(str(p) for p in (REPO / "bpf").glob("*.bpf.c"))
    for cmd in (["cc", "-M"] + cflags + srcs, ["clang", "-M"] + bpf + bpf_srcs):
        r = run(cmd)
        assert r.returncode == 0, "%s:\n%s" % (" ".join(cmd[:3]), r.stderr[-3000:])
        for word in r.stdout.replace("\\\n", " ").split():
            if word.startswith("/") and not word.startswith(str(REPO) + "/"):
                files["header " + word] = word
    ldlibs = re.search(r"^LDLIBS\s*:?=(.*)$", (REPO / "Makefile").read_text(), re.M)
    assert ldlibs, "no LDLIBS in the Makefile"
    for flag in ldlibs.group(1).split():
        name = flag[2:]
        for ext in (".so", ".a"):
            r = run(["cc", "-print-file-name=lib%s%s" % (name, ext)])
            path = r.stdout.strip()
            if path.startswith("/"):
                files["library -l" + name] = os.path.normpath(path)
                break
        else:
            pytest.fail("cc finds no lib%s" % name)
    return files


def test_dockerfile_build_deps(stages, installed, release_binary):
    pkgs = apt_packages(stages[0])
    assert pkgs == sorted(set(pkgs)), "build packages not sorted or repeated: %s" % pkgs
    dev = install_deps_packages()
    extra = sorted(set(pkgs) - set(dev))
    assert not extra, "build stage installs what scripts/install-deps.sh does not: %s" % extra

    have = closure(set(pkgs), installed)
    inputs = build_inputs()
    owner = dpkg_owners(inputs.values())
    unowned = sorted(what for what, path in inputs.items() if not owner[path])
    assert not unowned, "no package owns %s" % unowned
    missing = {what: owner[path] for what, path in inputs.items() if owner[path] not in have}
    assert not missing, "the build stage lacks the packages of: %s" % missing
    # The rest of install-deps.sh is for the tests (pytest, Go's pprof, ...).
    print("install-deps.sh packages not in the image build: %s" %
          " ".join(sorted(set(dev) - set(pkgs))))


# --- npm packages --------------------------------------------------------------

def node_modules():
    """Install NPM_PACKAGES into NPM_DIR once; return its node_modules."""
    stamp = NPM_DIR / ".installed"
    want = " ".join(NPM_PACKAGES)
    mods = NPM_DIR / "node_modules"
    if stamp.exists() and stamp.read_text() == want and mods.is_dir():
        return mods
    if not shutil.which("npm") or not shutil.which("node"):
        pytest.fail("node and npm are needed (Node.js 18 or newer)")
    NPM_DIR.mkdir(parents=True, exist_ok=True)
    with open(str(NPM_DIR / ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs at once must not interleave
        if not (stamp.exists() and stamp.read_text() == want and mods.is_dir()):
            if stamp.exists():
                stamp.unlink()
            pj = NPM_DIR / "package.json"  # stops npm from climbing to the repo
            if not pj.exists():
                pj.write_text('{ "private": true }\n')
            r = run(["npm", "install", "--prefix", str(NPM_DIR), "--no-save",
                     "--no-package-lock", "--no-audit", "--no-fund", "--loglevel=error"]
                    + NPM_PACKAGES, timeout=600)
            assert r.returncode == 0, "npm install failed:\n%s" % r.stderr[-4000:]
            stamp.write_text(want)
    return mods


def node(args, stdin_text=None, timeout=120):
    env = dict(os.environ, NODE_PATH=str(node_modules()))
    try:
        return subprocess.run(["node"] + [str(a) for a in args], input=stdin_text,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=timeout, env=env,
                              cwd=str(REPO))
    except subprocess.TimeoutExpired:
        pytest.fail("node %s: still running after %ss" % (args[0], timeout))


# dockerfile-utils is CommonJS: the script reads the file and prints the diagnostics.
LINT_JS = """
const fs = require("fs");
const { validate } = require("dockerfile-utils");
const d = validate(fs.readFileSync(process.argv[1], "utf8"), {});
process.stdout.write(JSON.stringify(d.map(x => ({line: x.range.start.line + 1,
  severity: x.severity, message: x.message}))));
"""


def lint_dockerfile(path):
    r = node(["-e", LINT_JS, path])
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_dockerfile_lint(tmp_path):
    assert lint_dockerfile(DOCKERFILE) == []
    # The linter is live: a broken Dockerfile is reported.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:12\nEXPOSE http\nFROOM x\nCOPY --from=build\n")
    found = lint_dockerfile(bad)
    assert {d["line"] for d in found} >= {2, 3, 4}, found
    hadolint = shutil.which("hadolint")
    if hadolint:  # in neither Debian 12 nor npm; used where someone has it
        r = run([hadolint, str(DOCKERFILE)])
        assert r.returncode == 0, r.stdout + r.stderr


# --- the manifest ----------------------------------------------------------------

def validate(*paths, dump=False):
    r = node([VALIDATOR] + (["--dump"] if dump else []) + list(paths))
    assert r.returncode in (0, 1), "validate.mjs exit %d:\n%s" % (r.returncode, r.stderr)
    out = json.loads(r.stdout)
    assert out["ok"] == (r.returncode == 0), out
    return out


def test_manifest_schema():
    yamllint = shutil.which("yamllint")
    assert yamllint, "yamllint missing: run scripts/install-deps.sh"
    r = run([yamllint, "--strict", str(MANIFEST), str(NETPOL)])
    assert r.returncode == 0, r.stdout + r.stderr

    out = validate(MANIFEST, NETPOL, dump=True)
    assert out["ok"], json.dumps(out["errors"], indent=1)
    kinds = [d["kind"] for d in out["documents"]]
    assert kinds == ["Namespace", "ServiceAccount", "DaemonSet", "Service", "NetworkPolicy"], kinds
    ns, sa, ds, svc, policy = out["dump"]
    for obj in (sa, ds, svc, policy):
        assert obj["metadata"]["namespace"] == ns["metadata"]["name"] == "pyspy-bpf"
    assert network_policy_problems(policy, ds) == []

    # What the schema cannot know: the pieces agree with each other and the image.
    tmpl = ds["spec"]["template"]
    pod = tmpl["spec"]
    labels = tmpl["metadata"]["labels"]
    assert ds["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert svc["spec"]["selector"].items() <= labels.items()
    assert svc["spec"]["clusterIP"] == "None"
    assert pod["hostPID"] is True
    assert pod["serviceAccountName"] == sa["metadata"]["name"]
    assert {"operator": "Exists"} in pod["tolerations"]
    (c,) = pod["containers"]
    assert c["args"][:3] == ["serve", "--listen", "0.0.0.0:6060"]
    (port,) = c["ports"]
    assert port == {"name": "pprof", "containerPort": 6060, "protocol": "TCP"}
    assert svc["spec"]["ports"][0]["targetPort"] == "pprof"
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "pprof"}, probe
    sc = c["securityContext"]
    assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert sorted(sc["capabilities"]["add"]) == ["BPF", "PERFMON", "SYS_PTRACE"]
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert all(m.get("readOnly") is True for m in mounts.values()), mounts
    host = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    for path in ("/sys/kernel/btf", "/var/log/pods"):
        (name,) = [n for n, m in mounts.items() if m["mountPath"] == path]
        assert mounts[name]["readOnly"] is True and host[name] == path
    res = c["resources"]
    assert set(res["requests"]) == set(res["limits"]) == {"cpu", "memory"}
    ann = tmpl["metadata"]["annotations"]
    assert ann["profiles.grafana.com/cpu.scrape"] == "true"
    assert ann["profiles.grafana.com/cpu.port_name"] == port["name"]
    assert ann["profiles.grafana.com/cpu.path"] == "/debug/pprof/profile"


# (what to change, to what, the layer that must object, text its message has)
BROKEN = {
    "hostPID a string": (
        "hostPID: true", 'hostPID: "true"', "schema", "hostPID must be boolean"),
    "capabilities at pod level": (
        "        fsGroup: 60322\n",
        "        fsGroup: 60322\n        capabilities:\n          add: [BPF]\n",
        "strict", 'unknown field "capabilities" in V1PodSecurityContext'),
    "misspelt field": (
        "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true",
        "strict", 'unknown field "readOnlyRootFileSystem"'),
    "required field missing": (
        "              containerPort: 6060\n", "", "schema",
        "must have required property containerPort"),
    "list given a scalar": (
        "              drop:\n                - ALL\n", "              drop: ALL\n",
        "schema", "drop must be array"),
    "enum value": (
        "seccompProfile:\n              type: Unconfined",
        "seccompProfile:\n              type: Unconfind",
        "schema", "must be equal to one of the allowed values"),
    "bad quantity": (
        "cpu: 50m", "cpu: 50 millicores", "schema", 'must match format "quantity"'),
    "duplicate key": (
        "      hostPID: true\n", "      hostPID: true\n      hostPID: false\n",
        "yaml", "Map keys must be unique"),
    "unknown apiVersion": (
        "apiVersion: apps/v1\n", "apiVersion: apps/v1beta9\n", "schema", "no schema for"),
}


def check_rejects(path, what, case, broken, tmp_path):
    """path with broken[case]'s edit is refused by validate, at its layer with its text."""
    old, new, layer, text = broken[case]
    src = path.read_text()
    assert src.count(old) == 1, "%s: %r is not in the %s once" % (case, old, what)
    bad = tmp_path / "broken.yaml"
    bad.write_text(src.replace(old, new))
    out = validate(bad)
    assert not out["ok"], "%s: accepted" % case
    hits = [e for e in out["errors"] if e["layer"] == layer and text in e["message"]]
    assert hits, "%s: want a %s error with %r, got %s" % (
        case, layer, text, json.dumps(out["errors"], indent=1))


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_manifest_schema_rejects(case, tmp_path):
    check_rejects(MANIFEST, "manifest", case, BROKEN, tmp_path)


# --- the NetworkPolicy -------------------------------------------------------

def network_policy_problems(policy, ds):
    """What would leave the agent's port open to more than the scraper's
    namespace, or miss the DaemonSet's pods: [] when there is nothing."""
    problems = []
    spec = policy["spec"]
    tmpl = ds["spec"]["template"]
    (container,) = tmpl["spec"]["containers"]
    (port,) = container["ports"]
    if policy["metadata"].get("namespace") != ds["metadata"]["namespace"]:
        problems.append("namespace: not the DaemonSet's")
    sel = spec.get("podSelector") or {}
    match = sel.get("matchLabels") or {}
    if not match or sel.get("matchExpressions") or \
            not match.items() <= tmpl["metadata"]["labels"].items():
        problems.append("podSelector: not the DaemonSet's pod labels: %r" % sel)
    if "Ingress" not in spec.get("policyTypes", []):
        problems.append("policyTypes: no Ingress")
    if spec.get("egress"):
        problems.append("egress: a rule, but the daemon connects nowhere")
    rules = spec.get("ingress") or []
    if len(rules) != 1:
        problems.append("ingress: want one rule, got %d" % len(rules))
    for rule in rules:
        if not rule.get("from"):
            problems.append("ingress.from: none, so from anywhere")
        for peer in rule.get("from") or []:
            ns = peer.get("namespaceSelector") or {}
            names = ns.get("matchLabels") or {}
            # A podSelector beside it only narrows the namespace down.
            if not set(peer) <= {"namespaceSelector", "podSelector"} or set(ns) != {
                    "matchLabels"} or list(names) != ["kubernetes.io/metadata.name"] or \
                    not names["kubernetes.io/metadata.name"]:
                problems.append("ingress.from: not one namespace by name: %r" % peer)
        if not rule.get("ports"):
            problems.append("ingress.ports: none, so every port")
        for p in rule.get("ports") or []:
            if p.get("port") not in (port["containerPort"], port["name"]) or "endPort" in p \
                    or p.get("protocol", "TCP") != port["protocol"]:
                problems.append("ingress.ports: %r is not the container's %r" % (p, port))
    return problems


POLICY_CHANGES = {
    # name: (old, new, the problem it must cause)
    "other pods": ("matchLabels:\n      app.kubernetes.io/name: pyspy-bpf",
                   "matchLabels:\n      app.kubernetes.io/name: parca", "podSelector"),
    "another port": ("port: 6060", "port: 6061", "ingress.ports"),
    "a range of ports": ("port: 6060", "port: 6060\n          endPort: 6070", "ingress.ports"),
    "UDP": ("protocol: TCP", "protocol: UDP", "ingress.ports"),
    "every port": ("      ports:\n        - protocol: TCP\n          port: 6060\n", "",
                   "ingress.ports: none"),
    "every namespace": ("namespaceSelector:\n            matchLabels:\n"
                        "              kubernetes.io/metadata.name: monitoring",
                        "namespaceSelector: {}", "ingress.from"),
    "namespaces by another label": ("kubernetes.io/metadata.name: monitoring",
                                    "team: observability", "ingress.from"),
    "an address block too": ("        - namespaceSelector:",
                             "        - ipBlock:\n            cidr: 0.0.0.0/0\n"
                             "        - namespaceSelector:", "ingress.from"),
    "from anywhere": ("    - from:\n        - namespaceSelector:\n            matchLabels:\n"
                      "              kubernetes.io/metadata.name: monitoring\n"
                      "      ports:", "    - ports:", "ingress.from: none"),
    "egress allowed": ("  ingress:\n", "  egress:\n    - {}\n  ingress:\n", "egress"),
}


@pytest.mark.parametrize("case", sorted(POLICY_CHANGES))
def test_network_policy_checks_reject(case, tmp_path):
    """Each change is a valid NetworkPolicy (the schema has nothing to say)
    that opens the port wider or misses the pods: the cross-checks say so."""
    old, new, want = POLICY_CHANGES[case]
    src = NETPOL.read_text()
    assert src.count(old) == 1, "%s: %r is not in the policy once" % (case, old)
    changed = tmp_path / "networkpolicy.yaml"
    changed.write_text(src.replace(old, new))
    out = validate(MANIFEST, changed, dump=True)
    assert out["ok"], json.dumps(out["errors"], indent=1)
    problems = network_policy_problems(out["dump"][4], out["dump"][2])
    assert any(p.startswith(want) for p in problems), (case, problems)


BROKEN_POLICY = {
    "policy type misspelt": ("    - Egress\n", "    - Egres\n", "schema",
                             "must be equal to one of the allowed values"),
    "peer field misspelt": ("namespaceSelector:", "namespaceSelecter:", "strict",
                            'unknown field "namespaceSelecter" in V1NetworkPolicyPeer'),
    "port a list": ("port: 6060", "port: [6060]", "schema", "port must be integer"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_POLICY))
def test_network_policy_schema_rejects(case, tmp_path):
    check_rejects(NETPOL, "policy", case, BROKEN_POLICY, tmp_path)


# --- TLS and the token, as the manifest's comments show them -------------------

# The commented lines that close the endpoint: serve's arguments, the probes' scheme.
UNCOMMENT = re.compile(r"^(\s*)# (- (?:--tls-[a-z-]+|--token-file|/etc/pyspy-bpf/\S+)"
                       r"|scheme: HTTPS)$", re.M)
AUTH_FLAGS = ("--tls-cert", "--tls-key", "--tls-client-ca", "--token-file")


def test_manifest_closed_when_uncommented(tmp_path):
    """Uncommented, the TLS and token lines make a valid manifest whose
    files are all in the optional Secret's mount, under the names
    docs/deploy.md gives them, with probes that speak HTTPS."""
    closed, n = UNCOMMENT.subn(r"\1\2", MANIFEST.read_text())
    assert n == 2 * len(AUTH_FLAGS) + 2, "want 8 argument lines and 2 probe schemes, got %d" % n
    path = tmp_path / "closed.yaml"
    path.write_text(closed)
    r = run([shutil.which("yamllint") or "yamllint", "--strict", str(path)])
    assert r.returncode == 0, r.stdout + r.stderr
    out = validate(path, dump=True)
    assert out["ok"], json.dumps(out["errors"], indent=1)
    pod = out["dump"][2]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    args = c["args"]
    files = {a: args[i + 1] for i, a in enumerate(args) if a in AUTH_FLAGS}
    assert sorted(files) == sorted(AUTH_FLAGS), args
    (mount,) = [m for m in c["volumeMounts"] if m["name"] == "auth"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "auth"]
    assert mount["readOnly"] is True
    assert volume["secret"] == {"secretName": "pyspy-bpf-auth", "optional": True,
                                "defaultMode": 0o440}, volume
    doc = DEPLOY_DOC.read_text()
    assert "kubectl -n pyspy-bpf create secret generic pyspy-bpf-auth" in doc
    for flag, f in files.items():
        assert os.path.dirname(f) == mount["mountPath"], (flag, f)
        assert "--from-file=%s=" % os.path.basename(f) in doc, (flag, f)
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "pprof", "scheme": "HTTPS"}


# --- the grant: the image's user and file capabilities, the manifest's rights ---

def runtime_setcap(stages):
    """(capability names, flags) of the runtime stage's setcap on the binary."""
    runs = " ".join(a for k, a in stages[1] if k == "RUN")
    m = re.search(r"\bsetcap (\S+) /usr/local/bin/pyspy-bpf\b", runs)
    assert m, "the runtime stage sets no file capabilities on the binary"
    names, _, flags = m.group(1).partition("=")
    return [n.upper() for n in names.split(",")], flags


def manifest_grant():
    """What the DaemonSet grants its container, read from the manifest."""
    out = validate(MANIFEST, dump=True)
    pod = out["dump"][2]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    psc, csc = pod.get("securityContext") or {}, c["securityContext"]
    return {
        "uid": csc.get("runAsUser", psc.get("runAsUser")),
        "gid": csc.get("runAsGroup", psc.get("runAsGroup")),
        "non_root": csc.get("runAsNonRoot", psc.get("runAsNonRoot")),
        "fs_group": psc.get("fsGroup"),
        "drop": csc["capabilities"]["drop"],
        "caps": sorted(csc["capabilities"]["add"]),
        "args": c["args"],
        "memory": c["resources"]["limits"]["memory"],
        "volumes": pod["volumes"],
        "sc": csc,
    }


def quantity(q):
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "k": 10**3, "M": 10**6, "G": 10**9}
    m = re.match(r"^(\d+)(Ki|Mi|Gi|k|M|G)?$", q)
    assert m, "memory quantity %r" % q
    return int(m.group(1)) * units.get(m.group(2) or "", 1)


def test_grant_agrees(stages):
    """The image and the manifest say the same: a non-root user of its own,
    the manifest's capabilities as the binary's file capabilities
    (permitted only, so a short grant gets a clear line, not a failed
    exec), no other capability, nothing that could gain privileges, and
    the Secret readable by that user's group only."""
    g = manifest_grant()
    assert g["non_root"] is True and g["uid"] and g["uid"] != 0 and g["gid"], g
    user = dict(stages[1]).get("USER")
    assert user == "%d:%d" % (g["uid"], g["gid"]), (user, g)
    caps, flags = runtime_setcap(stages)
    assert g["drop"] == ["ALL"] and sorted("CAP_" + c for c in g["caps"]) == sorted(caps), \
        (g["caps"], caps)
    assert flags == "p", flags
    sc = g["sc"]
    assert sc["allowPrivilegeEscalation"] is False and sc["privileged"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert "runAsUser" not in sc or sc["runAsUser"] == g["uid"]
    (auth,) = [v for v in g["volumes"] if v["name"] == "auth"]
    assert auth["secret"]["defaultMode"] == 0o440 and g["fs_group"] == g["gid"], (auth, g)


def cap_numbers():
    """{CAP_NAME: bit} from the kernel's own header."""
    text = Path("/usr/include/linux/capability.h").read_text()
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^#define (CAP_[A-Z_]+)\s+(\d+)\s*$", text, re.M)}


def set_file_caps(path, names, flags):
    """setcap NAMES=FLAGS PATH, by hand (security.capability, revision 2)."""
    bits = cap_numbers()
    mask = 0
    for n in names:
        mask |= 1 << bits[n]
    assert set(flags) <= set("pie"), flags
    prm = mask if "p" in flags else 0
    inh = mask if "i" in flags else 0
    magic = 0x02000000 | (1 if "e" in flags else 0)
    value = struct.pack("<IIIII", magic, prm & 0xffffffff, inh & 0xffffffff,
                        prm >> 32, inh >> 32)
    os.setxattr(str(path), "security.capability", value)


@pytest.fixture(scope="module")
def granted(stages):
    """run(args, env=None, timeout=60) -> CompletedProcess: the binary under
    test with the image's file capabilities, started as the container
    runtime starts it for the manifest: its user and group, no
    supplementary groups, the added capabilities as the bounding set,
    nothing inheritable or ambient, no_new_privs (allowPrivilegeEscalation:
    false)."""
    g = manifest_grant()
    caps, flags = runtime_setcap(stages)
    src = os.environ.get("PYSPY_BIN") or str(BUILD / "san" / "pyspy-bpf")
    # Not under pytest's own directory (0700): the user must reach it.
    d = Path(tempfile.mkdtemp(prefix="pyspy-granted-", dir="/tmp"))
    os.chmod(str(d), 0o755)
    agent = d / "pyspy-bpf"
    shutil.copy(src, str(agent))
    os.chmod(str(agent), 0o755)
    set_file_caps(agent, caps, flags)
    work = d / "work"
    work.mkdir()
    os.chown(str(work), g["uid"], g["gid"])
    bounding = "-all," + ",".join("+" + c.lower() for c in g["caps"])
    prefix = ["setpriv", "--reuid=%d" % g["uid"], "--regid=%d" % g["gid"], "--clear-groups",
              "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=" + bounding,
              "--no-new-privs", "--", str(agent)]

    def run_it(args, env=None, timeout=60, popen=False):
        full = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1",
                    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1", **(env or {}))
        cmd = prefix + [str(a) for a in args]
        if popen:
            return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, universal_newlines=True, env=full,
                                    cwd=str(work))
        try:
            return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, universal_newlines=True,
                                  errors="replace", timeout=timeout, env=full, cwd=str(work))
        except subprocess.TimeoutExpired:
            pytest.fail("%s: still running after %ss" % (" ".join(cmd), timeout))

    run_it.work = work
    run_it.grant = g
    yield run_it
    shutil.rmtree(str(d))


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def start_target(argv, as_nobody=False):
    p = subprocess.Popen((NOBODY if as_nobody else []) + argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, start_new_session=True)
    line = read_line(p.stdout, READY_TIMEOUT)
    if line != "ready":
        kill_group(p)
        pytest.fail("%s: no 'ready' (got %r)" % (argv, line))
    return p


def by_process(stacks):
    out = {}
    for frames, count in stacks:
        m = PROCESS_RE.match(frames[0])
        assert m, frames[0]
        out.setdefault(int(m.group("pid")), []).append((frames[1:], count))
    return out


def test_grant_profiles_python_and_native(granted):
    """With exactly the manifest's rights, the agent profiles a root-owned
    Python, another user's, and one in its own root like a container's,
    with their native frames: libc's qsort between the Python frames,
    found through each target's root (map_files needs CAP_SYS_ADMIN or
    CAP_CHECKPOINT_RESTORE, which the grant does not have)."""
    debian, sid = require_python(PY_DEBIAN), require_python(BY_ID["3.14-sid"])
    script = str(WORKLOADS / "native_mixed.py")
    targets = [start_target(debian.argv + [script, "-", "qsort"]),
               start_target(debian.argv + [script, "-", "qsort"], as_nobody=True),
               start_target(sid.argv + [script, "-", "qsort"])]
    try:
        out = granted.work / "native.folded"
        args = ["record", "--duration", 3, "--native", "--pids", "-o", out]
        for t in targets:
            args += ["--pid", t.pid]
        r = granted(args)
        assert r.returncode == 0, r.stderr
        per = by_process(parse_folded(out.read_text()))
    finally:
        for t in targets:
            kill_group(t)
    for t, who in zip(targets, ("root's", "nobody's", "the chroot's")):
        stacks = per.get(t.pid)
        assert stacks, "%s Python (PID %d) not profiled:\n%s" % (who, t.pid, r.stderr)
        good = sum(c for f, c in stacks if any(x.startswith("cmp (") for x in f) and
                   any("qsort" in x or "msort" in x for x in f))
        assert good / total(stacks) > 0.5, "%s: %s" % (who, stacks[:5])


def test_grant_serves(granted, reader):
    """serve with the manifest's own arguments, under its rights: a pprof
    profile with the target's frames, and /healthz."""
    w = start_target([str(require_python(PY_DEBIAN).path), str(WORKLOADS / "simple.py")])
    args = list(granted.grant["args"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args[args.index("--listen") + 1] = "127.0.0.1:%d" % port
    srv = granted(args, popen=True)
    try:
        url = "http://127.0.0.1:%d" % port
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=5) as h:
                    assert h.read() == b"ok\n"
                break
            except OSError:
                assert srv.poll() is None and time.monotonic() < deadline, \
                    srv.communicate(timeout=10)[1]
                time.sleep(0.2)
        pb = granted.work / "p.pb.gz"
        with urllib.request.urlopen(url + "/debug/pprof/profile?seconds=2&pid=%d" % w.pid,
                                    timeout=30) as resp:
            pb.write_bytes(resp.read())
        folded = reader(pb)
        assert "hot_loop (" in folded, folded[:2000]
    finally:
        srv.terminate()
        _, err = srv.communicate(timeout=30)
        kill_group(w)
    assert srv.returncode == 0, err


def test_grant_cannot_read_a_host_file(granted, tmp_path):
    """A host file of mode 0600: the agent under the manifest's rights
    cannot open it, directly or through a process's root, from inside the
    sandbox it runs in (PYSPY_SANDBOX_PROBE tries both and what a hijacked
    agent would do next); its bytes appear nowhere."""
    secret_dir = Path(tempfile.mkdtemp(prefix="pyspy-secret-", dir="/tmp"))
    try:
        os.chmod(str(secret_dir), 0o755)  # only the file's own mode stands in the way
        secret = secret_dir / "secret"
        token = "pyspy-secret-%s" % os.urandom(8).hex()
        secret.write_text(token + "\n")
        os.chmod(str(secret), 0o600)
        w = start_target([str(require_python(PY_DEBIAN).path), str(WORKLOADS / "simple.py")])
        try:
            out = granted.work / "probe.folded"
            r = granted(["record", "--pid", w.pid, "--duration", 1, "-o", out],
                        env={"PYSPY_SANDBOX_PROBE": str(secret)})
        finally:
            kill_group(w)
        assert r.returncode == 0, r.stderr
        probes = dict(re.findall(r"sandbox probe: ([^:]+): (.*)$", r.stderr, re.M))
        for what in ("open the file", "open it through /proc/PPID/root",
                     "open it inside the parent's root"):
            assert probes.get(what) == "refused (Permission denied)", (what, r.stderr)
        check_probes(probes, r.stderr)
        text = out.read_text()
        assert "hot_loop (" in text, text
        assert token not in r.stdout + r.stderr + text
    finally:
        shutil.rmtree(str(secret_dir))


# --- the memory limit ------------------------------------------------------------

def own_memory_cgroup():
    """(directory of this process's memory cgroup, its version), v2 first."""
    lines = Path("/proc/self/cgroup").read_text().splitlines()
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    for v2 in (True, False):
        for m in mounts:
            fields, _, rest = m.partition(" - ")
            fstype, _, opts = rest.split()[:3] if len(rest.split()) >= 3 else ("", "", "")
            if fstype != ("cgroup2" if v2 else "cgroup") or (not v2 and "memory" not in opts):
                continue
            root, point = fields.split()[3:5]
            for line in lines:
                hier, ctl, path = line.split(":", 2)
                if (v2 and hier == "0" and not ctl) or (not v2 and "memory" in ctl.split(",")):
                    rel = path[len(root):] if root != "/" and path.startswith(root) else path
                    d = Path(point + rel)
                    if (d / ("memory.max" if v2 else "memory.limit_in_bytes")).exists() or \
                            (v2 and "memory" in (d / "cgroup.controllers").read_text()):
                        return d, 2 if v2 else 1
    pytest.fail("no memory cgroup controller to run the agent under")


class LimitedCgroup:
    """A child memory cgroup of this process's own, with the manifest's limit."""

    def __init__(self, limit):
        parent, self.version = own_memory_cgroup()
        self.dir = parent / ("pyspy-test-%d" % os.getpid())
        self.dir.mkdir()
        name = "memory.max" if self.version == 2 else "memory.limit_in_bytes"
        (self.dir / name).write_text(str(limit))

    def enter(self):
        """preexec_fn: the child joins the cgroup before it execs."""
        with open(str(self.dir / "cgroup.procs"), "w") as f:
            f.write("0" if self.version == 2 else str(os.getpid()))

    def oom_kills(self):
        path = self.dir / ("memory.events" if self.version == 2 else "memory.oom_control")
        m = re.search(r"^oom_kill (\d+)$", path.read_text(), re.M)
        return int(m.group(1)) if m else 0

    def remove(self):
        for _ in range(50):
            try:
                self.dir.rmdir()
                return
            except OSError:
                time.sleep(0.1)


def test_grant_memory_limit(release_binary, tmp_path):
    """serve, as the manifest runs it, in a cgroup with the manifest's
    memory limit, against targets at their budgets (two with 64 MB of
    distinct line tables each, one making new 1 KB names forever): it
    derives its budgets from the limit, holds the code caches within them,
    and is not killed."""
    g = manifest_grant()
    limit = quantity(g["memory"])
    py = require_python(BY_ID["3.12"])
    targets = [start_target(py.argv + [str(WORKLOADS / "bigtables.py"), "--functions", "256",
                                       "--table-bytes", str(256 << 10), "--seconds", "60"])
               for _ in range(2)]
    targets.append(start_target(py.argv + [str(WORKLOADS / "namechurn.py"), "--seconds", "60"]))
    args = list(g["args"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args[args.index("--listen") + 1] = "127.0.0.1:%d" % port
    cg = LimitedCgroup(limit)
    log = tmp_path / "serve.log"
    srv = None
    try:
        with open(str(log), "w") as err:
            srv = subprocess.Popen([str(release_binary)] + args, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=err, preexec_fn=cg.enter)
        url = "http://127.0.0.1:%d" % port
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=5).read()
                break
            except OSError:
                assert srv.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        for _ in range(3):
            with urllib.request.urlopen(url + "/debug/pprof/profile?seconds=4",
                                        timeout=30) as resp:
                assert resp.read()
        with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
            metrics = resp.read().decode()
        assert srv.poll() is None, log.read_text()
        assert cg.oom_kills() == 0, log.read_text()
    finally:
        if srv and srv.poll() is None:
            srv.terminate()
            srv.wait(timeout=30)
        for t in targets:
            kill_group(t)
        cg.remove()
    text = log.read_text()
    left = limit - (80 << 20)  # user/engine/memlimit.h: MEMLIMIT_BASE_BYTES
    code, names = min(left // 2, 192 << 20) >> 20, min(left // 4, 64 << 20) >> 20
    assert "memory limit %d MiB (cgroup): code cache %d MB (%d per process), names %d MB" % (
        limit >> 20, code, min(code, 64), names) in text, text
    held = int(float(re.search(r"^pyspy_code_cache_bytes (\S+)$", metrics, re.M).group(1)))
    assert 32 << 20 < held <= code << 20, metrics
    assert srv.returncode == 0, text
