# SPDX-License-Identifier: MIT
# Workload: a process that moves into a root it does not fully trust the profiler with.
"""Imports what it needs, then chroot()s into ROOT (given as the first
argument) and spins there.  Its mappings were made before the chroot, so
/proc/PID/maps names them by host paths, which a profiler must open inside
ROOT (where the test plants symlinks to host files), or exactly as mapped
(/proc/PID/map_files), never by following a symlink out.  Spins in
    <module> ("# ROOT"); spin ("# HOT")
Prints "ready" once inside ROOT; runs for --seconds (default 30).
With --devpts, it first enters a mount namespace of its own and binds the
host's /dev/pts at ROOT/dev/pts, as a container has its own: a symlink in
ROOT to /dev/pts/N then leads to a real pty.
"""
import argparse
import ctypes
import os
import time

MS_BIND, MS_REC, MS_PRIVATE, CLONE_NEWNS = 0x1000, 0x4000, 0x40000, 0x20000


def bind_devpts(root):
    libc = ctypes.CDLL(None, use_errno=True)
    for ok in (libc.unshare(CLONE_NEWNS) == 0,
               libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) == 0,
               os.makedirs(os.path.join(root, "dev/pts"), exist_ok=True) is None,
               libc.mount(b"/dev/pts", os.path.join(root, "dev/pts").encode(), None,
                          MS_BIND, None) == 0):
        if not ok:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


def spin(end):
    while time.perf_counter() < end: pass  # HOT


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--devpts", action="store_true")
    args = ap.parse_args()
    if args.devpts:
        bind_devpts(args.root)
    os.chroot(args.root)
    os.chdir("/")
    print("ready", flush=True)
    spin(time.perf_counter() + args.seconds)


main()  # ROOT
