# SPDX-License-Identifier: MIT
# Workload: threads that are off-CPU (sleeping, blocked) next to one that spins.
"""Proves that `dump` shows threads the BPF sampler never sees.

Threads and where they stay (each on a line with a marker comment):

    main thread  main() -> time.sleep          "# SLEEP-MAIN" (root "# ROOT")
    sleeper      nap() -> time.sleep           "# SLEEP"
    waiter       wait_forever() -> Event.wait  "# WAIT"
    spinner      spin()                        "# HOT"

The workers set their kernel thread name (comm) to their Python name.
Prints "ready" once all of them are in place, then one JSON line mapping
each thread name (and "main") to its threading.get_native_id().  Runs for
--seconds (default 60) or until killed.
"""
import argparse
import json
import threading
import time

from osthread import name_os_thread


def nap(seconds):
    time.sleep(seconds)  # SLEEP


def wait_forever(event, seconds):
    event.wait(seconds)  # WAIT


def spin(end):
    while time.perf_counter() < end: pass  # HOT


def worker(fn, args, ids, started):
    name = threading.current_thread().name
    name_os_thread(name)
    ids[name] = threading.get_native_id()
    started.set()
    fn(*args)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    end = time.perf_counter() + args.seconds
    ids = {"main": threading.get_native_id()}
    never = threading.Event()
    for name, fn, fargs in (("sleeper", nap, (args.seconds,)),
                            ("waiter", wait_forever, (never, args.seconds)),
                            ("spinner", spin, (end,))):
        started = threading.Event()
        t = threading.Thread(target=worker, name=name, args=(fn, fargs, ids, started))
        t.daemon = True
        t.start()
        started.wait()
    # Let each worker reach its blocking call before saying ready.
    time.sleep(0.3)
    print("ready", flush=True)
    print(json.dumps(ids), flush=True)
    time.sleep(args.seconds)  # SLEEP-MAIN


if __name__ == "__main__":
    main()  # ROOT
