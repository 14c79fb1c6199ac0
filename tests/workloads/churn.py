# SPDX-License-Identifier: MIT
# Workload: threads that start, recurse to a random depth and exit, nonstop.
"""Races a reader of the thread list and the frame chains.

Up to 8 threads at a time each recurse to a random depth (1-300), spin a
little at the bottom, unwind and exit; new ones replace them at once.  The
main thread sleeps in time.sleep.  Nothing here is asserted on by name:
it exists so that a dump meets thread states and frames freed under it.
Prints "ready" once churning; runs for --seconds (default 60).
"""
import argparse
import random
import threading
import time


def recurse(n, until):
    if n > 0:
        return recurse(n - 1, until)
    while time.perf_counter() < until: pass
    return 0


def one(rng):
    recurse(rng.randint(1, 300), time.perf_counter() + rng.random() * 0.002)


def churn(end, rng):
    while time.perf_counter() < end:
        ts = [threading.Thread(target=one, args=(rng,), daemon=True) for _ in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    end = time.perf_counter() + args.seconds
    threading.Thread(target=churn, args=(end, random.Random(1)), daemon=True).start()
    print("ready", flush=True)
    time.sleep(args.seconds)


if __name__ == "__main__":
    main()
