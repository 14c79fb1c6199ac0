# SPDX-License-Identifier: MIT
# Workload: a Python parent that spawns a Python child, both busy.
"""Proves "record -- COMMAND" follows Python children.

The parent starts simple.py under the same interpreter (sys.executable) as
a child process, waits for the child's "ready", prints its own "ready" and
spins in parent_spin() ("# HOT-PARENT"); the child spins in hot_loop().  So
a profile of the command must show two processes: the parent with
parent_spin and the child with hot_loop.  Both run for --seconds (default
30); the parent then waits for the child, and kills it if it is killed.
With --truth FILE it writes the CPU seconds each of them used, by PID: the
samples a profile should hold of each, on a quiet machine or a loaded one.
"""
import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def parent_spin(end):
    while time.perf_counter() < end: pass  # HOT-PARENT


def on_signal(signum, frame):
    raise SystemExit(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--truth")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    child = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "simple.py"),
         "--seconds", str(args.seconds)],
        stdout=subprocess.PIPE)
    try:
        # Our "ready" promises that both processes are in their hot loops.
        line = child.stdout.readline()
        if line.strip() != b"ready":
            sys.exit("launcher: child did not get ready: %r" % line)
        print("ready", flush=True)
        parent_spin(time.perf_counter() + args.seconds)
        child.wait(timeout=args.seconds + 30)
        if args.truth:
            kids = resource.getrusage(resource.RUSAGE_CHILDREN)
            with open(args.truth, "w") as f:
                json.dump({str(os.getpid()): time.process_time(),
                           str(child.pid): kids.ru_utime + kids.ru_stime}, f)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return child.returncode


if __name__ == "__main__":
    sys.exit(main())
