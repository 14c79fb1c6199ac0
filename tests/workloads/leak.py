# SPDX-License-Identifier: MIT
# Workload: one function grows memory forever, another works steadily.
"""Proves the memory mode: grow() appends fresh 4 KiB bytes objects to a
list that is never freed (new pages, so page faults), while steady()
recomputes a small result in place (no new memory).  Both get the same CPU
time; the memory profile is dominated by grow().  Prints "ready"; runs for
--seconds (default 30), growing --mb-per-s (default 16) and capped at --max-mb
(default 400): paced by the clock, so a profiler that attaches late on a
loaded machine still finds it growing (unpaced, it reached the cap in about
2 s, before a late recording began)."""
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
    ap.add_argument("--mb-per-s", type=float, default=16.0)
    args = ap.parse_args()
    print("ready", flush=True)
    start = time.monotonic()
    stop = start + args.seconds
    while time.monotonic() < stop:
        owed = min(args.max_mb << 20, int((time.monotonic() - start) * args.mb_per_s * (1 << 20)))
        if len(kept) * 4096 < owed:
            grow(min(200, (owed - len(kept) * 4096) // 4096 + 1))
        steady(200)
        time.sleep(0.001)
    time.sleep(max(0.0, stop - time.monotonic()))


if __name__ == "__main__":
    main()
