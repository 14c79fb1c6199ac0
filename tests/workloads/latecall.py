# SPDX-License-Identifier: MIT
# Workload: a C thread that spins with no Python thread state, then calls into Python and sleeps.
"""latecall.py LATE_SO: LATE_SO is tests/workloads/native/late.c built as a
shared object.  Prints "ready"; on SIGUSR1 a C thread starts, spins --spin
seconds in C (a thread a profiler sees with no PyThreadState), then calls
napper() through ctypes, which sleeps --nap seconds ("# NAP") and returns.
The thread's first Python act is that wait.  Runs for --seconds.
"""
import argparse
import ctypes
import signal
import sys
import time

CB = ctypes.CFUNCTYPE(None)


def napper(secs):
    time.sleep(secs)  # NAP


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("so")
    ap.add_argument("--spin", type=float, default=0.3)
    ap.add_argument("--nap", type=float, default=0.6)
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    lib = ctypes.CDLL(args.so)
    lib.late_start.argtypes = [CB, ctypes.c_double]
    cb = CB(lambda: napper(args.nap))

    def go(*_):
        if lib.late_start(cb, args.spin):
            sys.exit("pthread_create failed")

    signal.signal(signal.SIGUSR1, go)
    print("ready", flush=True)
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        time.sleep(0.05)  # MAIN


if __name__ == "__main__":
    main()
