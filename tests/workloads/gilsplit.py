# SPDX-License-Identifier: MIT
# Workload: one thread holding the GIL, one computing without it.
"""Proves the GIL flag: py_loop() spins in pure Python (always holding the
GIL) while hash_loop() hashes 32 MB buffers with hashlib, which releases
the GIL for large inputs.  Both are on the CPU; with --gil only py_loop()
remains.  Prints "ready"; runs for --seconds (default 30)."""
import argparse
import hashlib
import threading
import time

DATA = b"\0" * (32 << 20)


def py_loop():
    while True:
        sum(range(1000))  # PY


def hash_loop():
    while True:
        hashlib.sha256(DATA).digest()  # HASH


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    for target in (py_loop, hash_loop):
        threading.Thread(target=target, daemon=True).start()
    print("ready", flush=True)
    time.sleep(args.seconds)


if __name__ == "__main__":
    main()
