# SPDX-License-Identifier: MIT
# Workload: a recursion of known depth with a hot leaf at the bottom.
"""Proves deep stacks are walked whole (or flagged truncated).

With --depth N the sampled stack is, root first:

    <module>; main; recurse x N; leaf ("# HOT" line)

that is N + 3 Python frames.  The profiler keeps 1024 frames, so N = 500
must come out whole and N = 1100 must start with "[truncated]".  Prints
"ready" from leaf(); spins for --seconds (default 30) or until killed.
"""
import argparse
import sys
import time


def leaf(seconds):
    print("ready", flush=True)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end: pass  # HOT


def recurse(n, seconds):
    if n > 1:
        return recurse(n - 1, seconds)  # RECURSE
    return leaf(seconds)  # CALL-LEAF


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depth", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    if args.depth < 1:
        ap.error("--depth must be >= 1")
    sys.setrecursionlimit(args.depth + 200)
    recurse(args.depth, args.seconds)  # CALL-RECURSE


if __name__ == "__main__":
    main()  # ROOT
