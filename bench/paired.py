# SPDX-License-Identifier: MIT
"""Slowdown of a profiled Python process, measured side by side.

Timing a loop with and without the profiler in turn cannot see a 0.5 %
effect on a shared VM: identical runs differ by tens of percent, and each
vCPU's speed swings by as much from one second to the next.  So two
identical CPU-bound loops (bench/loop.py --counter) share one CPU, where
the scheduler gives them equal CPU time and any change of the CPU's speed
hits both; the profiler's own process runs on the other CPUs.  In each
round `pyspy-bpf record --pid` profiles one of the loops, both count work
units, and the round's ratio is the profiled loop's rate over the other's:
the sampler's interrupt time is charged to the task it interrupts, so the
profiled loop does less work in its equal share.  The roles swap every
round, so a loop that happens to be faster weighs the same on both sides,
and the geometric mean of the ratios is the slowdown.  Control rounds run
no profiler and show what the method reads when there is nothing to read.

Usage: paired.py --python PY --pyspy BIN [--rounds N] [--seconds S] [--rates 99,999]
Prints one line per condition: name=... rounds=... slowdown_pct=... ci95_pct=...
"""
import argparse
import math
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# The loops share the last CPU; everything else (this script, the profiler's
# process) stays off it.
LOOP_CPU = max(os.sched_getaffinity(0))
OTHER_CPUS = set(os.sched_getaffinity(0)) - {LOOP_CPU}


def read_counter(path):
    with open(path, "rb") as fp:
        return struct.unpack("Q", fp.read(8))[0]


class Loop:
    def __init__(self, python, tmp, name):
        self.path = os.path.join(tmp, name)
        with open(self.path, "wb") as fp:
            fp.write(b"\0" * 8)
        self.proc = subprocess.Popen([python, os.path.join(HERE, "loop.py"), "--counter",
                                      self.path])
        os.sched_setaffinity(self.proc.pid, {LOOP_CPU})

    def count(self):
        return read_counter(self.path)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def one_round(loops, profiled, pyspy, rate, secs, tmp):
    """Ratio of the profiled loop's rate to the other's (profiled=None: control,
    loop 0 plays the profiled one)."""
    prof = None
    if profiled is not None and rate:
        out = os.path.join(tmp, "round.folded")
        prof = subprocess.Popen([pyspy, "record", "-q", "--pid", str(loops[profiled].proc.pid),
                                 "--rate", str(rate), "--duration", str(secs + 2), "-o", out],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Past the profiler's start-up: measure its steady state only.
    time.sleep(1.0)
    a0, b0 = loops[0].count(), loops[1].count()
    time.sleep(secs)
    a1, b1 = loops[0].count(), loops[1].count()
    if prof is not None:
        prof.wait()
    if a1 <= a0 or b1 <= b0:
        return None
    ra, rb = a1 - a0, b1 - b0
    mine = profiled if profiled is not None else 0
    return (ra / rb) if mine == 0 else (rb / ra)


def summarize(name, ratios):
    logs = [math.log(r) for r in ratios]
    mean = statistics.fmean(logs)
    sd = statistics.stdev(logs) if len(logs) > 1 else 0.0
    half = 1.96 * sd / math.sqrt(len(logs)) if logs else 0.0
    slow = 100 * (1 - math.exp(mean))
    ci = 100 * (math.exp(mean + half) - math.exp(mean))
    print("name=%s rounds=%d slowdown_pct=%.3f ci95_pct=%.3f round_sd_pct=%.2f" %
          (name, len(ratios), slow, ci, 100 * sd), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", required=True)
    ap.add_argument("--pyspy", required=True)
    ap.add_argument("--rounds", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rates", default="99,999")
    args = ap.parse_args()
    if not OTHER_CPUS:
        sys.exit("paired.py: needs at least two CPUs")
    os.sched_setaffinity(0, OTHER_CPUS)  # inherited by the profiler
    rates = [int(r) for r in args.rates.split(",") if r]

    with tempfile.TemporaryDirectory(prefix="pyspy-paired.") as tmp:
        loops = [Loop(args.python, tmp, "a"), Loop(args.python, tmp, "b")]
        try:
            time.sleep(1.0)
            # Interleave the conditions so that slow drifts hit them all alike.
            res = {"control": []}
            res.update({"%dhz" % r: [] for r in rates})
            for i in range(args.rounds):
                side = i % 2
                for name in res:
                    rate = 0 if name == "control" else int(name[:-2])
                    r = one_round(loops, side if rate else None, args.pyspy, rate,
                                  args.seconds, tmp)
                    if r is not None:
                        # Control: alternate which loop plays "profiled" too.
                        res[name].append(r if rate or side == 0 else 1 / r)
                print(".", end="", file=sys.stderr, flush=True)
            print(file=sys.stderr)
            for name, ratios in res.items():
                summarize(name, ratios)
        finally:
            for lp in loops:
                lp.stop()


if __name__ == "__main__":
    main()
