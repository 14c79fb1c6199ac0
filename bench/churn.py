# SPDX-License-Identifier: MIT
"""make bench: what the agent makes of code objects freed and reused.

Runs tests/workloads/genfree.py at its usual churn (a function every
20 ms) and at ten times it (every 2 ms, after 3 s making none, at
1000 Hz), records each with the given binary, and prints one key=value
line per run: samples, the share in correctly named gen_<k> frames, the
mislabelled ones (must be 0) and the [unknown] share.  Not a test.

Usage: churn.py --pyspy BIN --python PY [--label L]
"""
import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from conftest import genfree_verdict, parse_folded, total  # noqa: E402

RUNS = (("usual", ["--slice", "0.020"], 499, 4),
        ("10x", ["--slice", "0.002", "--steady", "3"], 1000, 7))


def one(pyspy, python, args, rate, secs, out):
    w = subprocess.Popen([python, str(REPO / "tests/workloads/genfree.py"),
                          "--seconds", str(secs + 8)] + args, stdout=subprocess.PIPE)
    try:
        w.stdout.readline()
        subprocess.run([pyspy, "record", "--pid", str(w.pid), "--duration", str(secs),
                        "--rate", str(rate), "--format", "folded", "-o", out, "-q"],
                       check=True)
    finally:
        w.kill()
        w.wait()
    with open(out) as f:
        return parse_folded(f.read())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pyspy", required=True)
    ap.add_argument("--python", required=True)
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        for name, args, rate, secs in RUNS:
            stacks = one(a.pyspy, a.python, args, rate, secs, os.path.join(d, "p.folded"))
            good, bad = genfree_verdict(stacks)
            n = total(stacks)
            unknown = sum(c for f, c in stacks if "[unknown]" in f)
            print("churn label=%s run=%s rate=%d samples=%d good_pct=%.1f mislabelled=%d "
                  "unknown_pct=%.2f" % (a.label, name, rate, n, 100.0 * good / max(n, 1),
                                        sum(c for c, _ in bad), 100.0 * unknown / max(n, 1)))


if __name__ == "__main__":
    main()
