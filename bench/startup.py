# SPDX-License-Identifier: MIT
"""make bench: how soon `record --pid` starts sampling.

Runs `record --pid PID --duration 0.2` RUNS times and prints, per run, the
wall time of the whole command and the time from its start to its first
sample (when the BPF side took it, as `-v` reports it on CLOCK_MONOTONIC),
then the medians.  Not a test.

With --native (passed on), also the time to the first sample handled:
symbolized through every object its stack runs in.

Usage: startup.py --pyspy BIN --pid PID [--runs N] [--native]
"""
import argparse
import re
import statistics
import subprocess
import tempfile
import time

FIRST_RE = re.compile(r"first sample taken at ([0-9.]+) s \(CLOCK_MONOTONIC\), handled ([0-9.]+) ms")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pyspy", required=True)
    ap.add_argument("--pid", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--native", action="store_true")
    a = ap.parse_args()
    walls, firsts, handled = [], [], []
    with tempfile.TemporaryDirectory() as d:
        for _ in range(a.runs):
            t0 = time.monotonic()
            r = subprocess.run([a.pyspy, "record", "--pid", a.pid, "--duration", "0.2", "-v",
                                "-q", "-o", d + "/p.folded"] + (["--native"] if a.native else []),
                               stderr=subprocess.PIPE, universal_newlines=True)
            walls.append(time.monotonic() - t0)
            m = FIRST_RE.search(r.stderr)
            if r.returncode or not m:
                raise SystemExit("startup: no first sample:\n" + r.stderr[-2000:])
            firsts.append(float(m.group(1)) - t0)
            handled.append(firsts[-1] + float(m.group(2)) / 1e3)
            print("startup run wall_ms=%.1f first_sample_ms=%.1f first_handled_ms=%.1f" % (
                walls[-1] * 1e3, firsts[-1] * 1e3, handled[-1] * 1e3))
    print("startup median_wall_ms=%.1f median_first_sample_ms=%.1f max_first_sample_ms=%.1f "
          "median_first_handled_ms=%.1f max_first_handled_ms=%.1f"
          % (statistics.median(walls) * 1e3, statistics.median(firsts) * 1e3,
             max(firsts) * 1e3, statistics.median(handled) * 1e3, max(handled) * 1e3))


if __name__ == "__main__":
    main()
