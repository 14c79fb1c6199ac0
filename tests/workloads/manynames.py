# SPDX-License-Identifier: MIT
# Workload: many functions whose names the caller chooses, each sampled a few times.
"""Makes the agent learn a chosen set of names, all of them, in one go.

--names FILE holds fixed-length records (--width bytes each, printable
ASCII): one function per record, named by it.  The functions are made
from one template (code.replace), so they differ by name alone, and are
strung into chains of --depth: the first calls the second, and so on,
and the last spins for --spin-ms of CPU time (not wall time: on a loaded
host each chain still gets its samples).  Every sample thus holds --depth
names, new to the agent.

Prints "ready" when every function exists; on SIGUSR1 runs each chain
once (--cycles times), prints "cycled in CPU s of CPU, WALL s", and then
sleeps until killed.
"""
import argparse
import signal
import sys
import time

GO = []


def link(chain, i, spin):
    if i + 1 < len(chain):
        return chain[i + 1](chain, i + 1, spin)  # CALL
    end = time.thread_time() + spin
    while time.thread_time() < end:  # SPIN
        pass


def make(name):
    code = link.__code__
    kw = {"co_name": name}
    if hasattr(code, "co_qualname"):
        kw["co_qualname"] = name
    return type(link)(code.replace(**kw), link.__globals__, name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--names", required=True)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--depth", type=int, default=100)
    ap.add_argument("--spin-ms", type=float, default=2.0)
    ap.add_argument("--cycles", type=int, default=1)
    a = ap.parse_args()
    signal.signal(signal.SIGUSR1, lambda *_: GO.append(1))
    with open(a.names, "rb") as f:
        raw = f.read()
    names = [raw[i:i + a.width].decode("ascii") for i in range(0, len(raw), a.width)]
    fns = [make(n) for n in names]
    chains = [fns[i:i + a.depth] for i in range(0, len(fns), a.depth)]
    sys.setrecursionlimit(a.depth + 200)
    spin = a.spin_ms / 1e3
    print("ready", flush=True)
    while not GO:
        time.sleep(0.01)
    cpu, wall = time.thread_time(), time.time()
    for _ in range(a.cycles):
        for chain in chains:
            chain[0](chain, 0, spin)
    print("cycled in %.2f s of CPU, %.2f s" % (time.thread_time() - cpu, time.time() - wall),
          flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
