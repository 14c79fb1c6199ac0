# SPDX-License-Identifier: MIT
# Workload: one function grows memory forever, another works steadily.
"""Proves the memory mode: grow() appends fresh 4 KiB bytes objects to a
list that is never freed (new pages, so page faults), while steady()
recomputes a small result in place (no new memory).  Both get the same CPU
time; the memory profile is dominated by grow().  Prints "ready"; runs for
--seconds (default 30), capped at --max-mb of growth (default 400)."""
import argparse
import time

kept = []


def grow(n):
    for _ in range(n):
        kept.append(bytearray(4096))  # GROW


def steady(n):
    total = 0
    for i in range(n * 50):
        total += i % 7  # STEADY
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--max-mb", type=int, default=400)
    args = ap.parse_args()
    print("ready", flush=True)
    stop = time.monotonic() + args.seconds
    while time.monotonic() < stop:
        if len(kept) * 4096 < args.max_mb << 20:
            grow(200)
        steady(200)
        time.sleep(0.001)
    time.sleep(max(0.0, stop - time.monotonic()))


if __name__ == "__main__":
    main()
