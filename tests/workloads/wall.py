# SPDX-License-Identifier: MIT
# Workload: one thread that sleeps 70 % of the time and computes 30 %.
"""Proves wall-clock and off-CPU profiles: compute() busy-loops 30 ms, then
nap() sleeps 70 ms, forever, so a wall profile shows ~70 % under nap() with
the reason [sleep] and ~30 % under compute().  Prints "ready"; runs for
--seconds (default 30)."""
import argparse
import time


def compute(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end: pass  # HOT


def nap(seconds):
    time.sleep(seconds)  # NAP


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    print("ready", flush=True)
    stop = time.monotonic() + args.seconds
    while time.monotonic() < stop:
        compute(0.030)
        nap(0.070)


if __name__ == "__main__":
    main()
