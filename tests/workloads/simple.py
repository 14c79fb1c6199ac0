# SPDX-License-Identifier: MIT
# Workload: one thread, one known stack, one hot source line.
"""Proves exact frame names and line numbers.

The main thread spends nearly all its time in this stack, root first:

    <module>        (this file, line marked "# ROOT")
    main            (line marked "# CALL-COMPUTE")
    Worker.compute  (line marked "# CALL-HOT"; plain "compute" before 3.11,
                     which has no co_qualname)
    hot_loop        (line marked "# HOT")

The whole busy loop of hot_loop() is on the "# HOT" line, so every sample
taken in it must carry exactly that line.  Prints "ready" once main() runs
(with --say-when, then the time it did on CLOCK_MONOTONIC, on a line of its
own), then spins for --seconds (default 30) or until killed.  Runs on 3.7+.
"""
import argparse
import sys
import time


def hot_loop(seconds):
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end: n += 1  # HOT
    return n


class Worker:
    def compute(self, seconds):
        return hot_loop(seconds)  # CALL-HOT


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--say-when", action="store_true")
    args = ap.parse_args()
    when = time.monotonic()
    print("ready", flush=True)
    if args.say_when:
        print("%.6f" % when, flush=True)
    return Worker().compute(args.seconds)  # CALL-COMPUTE


if __name__ == "__main__":
    main()  # ROOT
    sys.exit(0)
