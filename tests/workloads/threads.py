# SPDX-License-Identifier: MIT
# Workload: three Python threads, each spinning in its own function.
"""Proves per-thread stacks and thread names.

Threads and where they spin (each loop is one line with a marker comment):

    main thread   main_spin()  "# HOT-MAIN"
    worker-a      spin_a()     "# HOT-A"
    worker-b      spin_b()     "# HOT-B"

A thread's samples must only ever show its own spin function.  The workers
set their kernel thread name (comm) to their Python name, because CPython
before 3.14 does not, so both naming sources agree.  Prints "ready" once
all three are spinning; runs for --seconds (default 30) or until killed.
"""
import argparse
import threading
import time

from osthread import name_os_thread


def spin_a(end, started):
    started.set()
    while time.perf_counter() < end: pass  # HOT-A


def spin_b(end, started):
    started.set()
    while time.perf_counter() < end: pass  # HOT-B


def main_spin(end):
    while time.perf_counter() < end: pass  # HOT-MAIN


def worker(fn, end, started):
    name_os_thread(threading.current_thread().name)
    fn(end, started)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    end = time.perf_counter() + args.seconds
    threads = []
    for name, fn in (("worker-a", spin_a), ("worker-b", spin_b)):
        started = threading.Event()
        t = threading.Thread(target=worker, name=name, args=(fn, end, started))
        # Daemon: a kill of the main thread's loop must not hang on join.
        t.daemon = True
        t.start()
        started.wait()
        threads.append(t)
    print("ready", flush=True)
    main_spin(end)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()  # ROOT
