#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The interpreters of tests/interpreters.txt, resolved on this machine.

As a module (conftest.py, scripts/gen-pyoffsets.py, bench): load() gives
the list.  As a command (the C unit tests, bench/*.sh):

    tests/interpreters.py [--all] [--tag TAG] [--kind KIND] [--format FMT]

prints one line per interpreter, FMT a str.format of the fields below
(default: "{id}\\t{host_path}"); --all adds the unsupported ones.

Fields: id, kind, version ("3.12"), major, minor, path (as the target sees
it), root (the sid root, or "" on the host), host_path (path on this
machine), prefix (its installation prefix on this machine: a pyenv
version's directory, or the root's /usr), tags ("behaviour,static").
A pyenv interpreter that is not installed resolves to a path that does
not exist, so that a test says what is missing.
"""
import argparse
import glob
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LIST = os.path.join(HERE, "interpreters.txt")
SID_ROOT = os.environ.get("PYSPY_SID_ROOT", "/var/cache/pyspy-bpf/sid")


class Interp:
    def __init__(self, ident, kind, what, tags):
        self.id = ident
        self.kind = kind
        self.tags = set(tags)
        self.root = SID_ROOT if kind == "sid" else ""
        if kind == "pyenv":
            self.version = what
            self.prefix = pyenv_prefix(what)
            self.path = os.path.join(self.prefix, "bin", "python" + what)
        else:
            m = re.search(r"python(\d+\.\d+)", what)
            assert m, "%s: no version in %s" % (LIST, what)
            self.version = m.group(1)
            self.path = what
            self.prefix = self.root + "/usr"
        self.major, self.minor = (int(x) for x in self.version.split("."))
        self.host_path = self.root + self.path

    @property
    def version_tuple(self):
        return (self.major, self.minor)

    def fields(self):
        return dict(id=self.id, kind=self.kind, version=self.version, major=self.major,
                    minor=self.minor, path=self.path, root=self.root, host_path=self.host_path,
                    prefix=self.prefix, tags=",".join(sorted(self.tags)))


_ROOT = []


def pyenv_root():
    """$PYENV_ROOT, else what `pyenv root` says, else ~/.pyenv."""
    if not _ROOT:
        root = os.environ.get("PYENV_ROOT")
        if not root:
            try:
                root = subprocess.run(["pyenv", "root"], stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL,
                                      universal_newlines=True).stdout.strip()
            except OSError:
                root = ""
        _ROOT.append(root or os.path.expanduser("~/.pyenv"))
    return _ROOT[0]


def pyenv_prefix(minor):
    """The newest X.Y.Z installed for minor X.Y (3.10 is not 3.1)."""
    best = None
    for d in glob.glob(os.path.join(pyenv_root(), "versions", minor + ".*")):
        m = re.fullmatch(re.escape(minor) + r"\.(\d+)", os.path.basename(d))
        if m and (best is None or int(m.group(1)) > best[0]):
            best = (int(m.group(1)), d)
    return best[1] if best else os.path.join(pyenv_root(), "versions", minor + ".missing")


def load(unsupported=False):
    out = []
    with open(LIST) as f:
        for line in f:
            line = line.split("#", 1)[0].split()
            if not line:
                continue
            ident, kind, what, tags = line
            tags = [] if tags == "-" else tags.split(",")
            if "unsupported" in tags and not unsupported:
                continue
            out.append(Interp(ident, kind, what, tags))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--tag")
    ap.add_argument("--kind")
    ap.add_argument("--format", default="{id}\t{host_path}")
    args = ap.parse_args()
    for it in load(unsupported=args.all):
        if args.tag and args.tag not in it.tags:
            continue
        if args.kind and args.kind != it.kind:
            continue
        print(args.format.format(**it.fields()))


if __name__ == "__main__":
    sys.exit(main())
