# SPDX-License-Identifier: MIT
# Workload: a program whose first act is to sleep, then spin, then sleep again.
"""For launch mode: the first sleep starts before any profiler could have
found the process, so only watching it from before its exec charges it
whole.  Stacks, root first:

    <module> ("# ROOT"); first ("# FIRST") -> [sleep]
    <module>; spin ("# SPIN")
    <module>; last ("# LAST") -> [sleep]

--truth FILE gets the seconds each took and their total, as the program
measured them itself (time.monotonic(), from main()'s start), written
after (in write()).
"""
import json
import sys
import time


def first():
    time.sleep(0.3)  # FIRST


def spin():
    end = time.perf_counter() + 0.3
    while time.perf_counter() < end: pass  # SPIN


def last():
    time.sleep(0.3)  # LAST


def timed(fn):
    t = time.monotonic()
    fn()
    return time.monotonic() - t


def write(out, truth):
    with open(out, "w") as f:  # WRITE
        json.dump(truth, f)


def main():
    # Timed from here, all of it under ROOT (the module's own lines are not).
    t0 = time.monotonic()  # T0
    out = sys.argv[sys.argv.index("--truth") + 1]
    truth = {"first": timed(first), "spin": timed(spin), "last": timed(last)}
    truth["total"] = time.monotonic() - t0
    write(out, truth)  # CALL-WRITE


main()  # ROOT
