# SPDX-License-Identifier: MIT
# Workload: a Python process that becomes another CPython version by exec.
"""The same PID first runs this script, then (os.execv) another interpreter
running deep.py, so its layout changes under the profiler's feet.

Before the exec the sampled stack is, root first,

    <module>; main; before_exec ("# HOT")

and after it deep.py's with --depth 5.  Prints "ready" first; spins until
SIGUSR1 (or --before seconds, default 30, have passed), then execs --into
PYTHON: the test says when, so a slow start of the profiler cannot leave
the first half too short to see.
"""
import argparse
import os
import signal
import time

go = []


def before_exec(end):
    while not go and time.perf_counter() < end: pass  # HOT


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--into", required=True)
    ap.add_argument("--before", type=float, default=30.0)
    args = ap.parse_args()
    signal.signal(signal.SIGUSR1, lambda *_: go.append(1))
    print("ready", flush=True)
    before_exec(time.perf_counter() + args.before)  # CALL-BEFORE
    deep = os.path.join(os.path.dirname(os.path.abspath(__file__)), "deep.py")
    os.execv(args.into, [args.into, deep, "--depth", "5", "--seconds", "30"])


if __name__ == "__main__":
    main()  # ROOT
