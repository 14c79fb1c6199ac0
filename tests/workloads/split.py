# SPDX-License-Identifier: MIT
# Workload: two functions with a 3:1 CPU split and measured ground truth.
"""Proves sample counts are proportional to CPU time.

The main loop alternates heavy() and light(); heavy() runs the same loop
as light() for three times as many iterations, so it gets ~75% of the CPU
time of the pair.  The real split is measured with time.thread_time_ns()
around each call and written as {"heavy_ns": ..., "light_ns": ...} to
--truth FILE on exit (end of --seconds, default 30, SIGTERM or SIGINT),
so a test compares the profile against what actually happened.
"""
import argparse
import json
import os
import signal
import sys
import time

# Iterations of light(); big enough that a call spans several sampling
# periods at 99-999 Hz on any supported version.
UNIT = 200000


def light():
    for _ in range(UNIT): pass  # HOT-LIGHT


def heavy():
    for _ in range(3 * UNIT): pass  # HOT-HEAVY


def on_signal(signum, frame):
    # Unwind through main()'s finally so the truth file gets written.
    raise SystemExit(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--truth", required=True)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    clock = time.thread_time_ns
    heavy_ns = light_ns = 0
    end = time.perf_counter() + args.seconds
    print("ready", flush=True)
    try:
        while time.perf_counter() < end:
            t0 = clock()
            heavy()
            t1 = clock()
            light()
            t2 = clock()
            heavy_ns += t1 - t0
            light_ns += t2 - t1
    finally:
        tmp = args.truth + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"heavy_ns": heavy_ns, "light_ns": light_ns}, f)
        # Atomic, so a reader never sees half a file.
        os.replace(tmp, args.truth)


if __name__ == "__main__":
    main()  # ROOT
    sys.exit(0)
