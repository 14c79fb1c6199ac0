# SPDX-License-Identifier: MIT
# Workload: a process that moves into a root it does not fully trust the profiler with.
"""Imports what it needs, then chroot()s into ROOT (given as the first
argument) and spins there.  Its mappings were made before the chroot, so
/proc/PID/maps names them by host paths, which a profiler must open inside
ROOT (where the test plants symlinks to host files), or exactly as mapped
(/proc/PID/map_files), never by following a symlink out.  Spins in
    <module> ("# ROOT"); spin ("# HOT")
Prints "ready" once inside ROOT; runs for --seconds (default 30).
"""
import argparse
import os
import time


def spin(end):
    while time.perf_counter() < end: pass  # HOT


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    os.chroot(args.root)
    os.chdir("/")
    print("ready", flush=True)
    spin(time.perf_counter() + args.seconds)


main()  # ROOT
