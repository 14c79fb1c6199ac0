# SPDX-License-Identifier: MIT
# Workload: many functions whose names the caller chooses, each sampled once or twice.
"""Makes the agent learn a chosen set of names as fast as it can sample them.

--names FILE holds fixed-length records (--width bytes each, ASCII, no
NUL): one function per record, named by it.  The functions are made from
one template (code.replace), so they differ by name alone, and are strung
into chains of --depth: the first calls the second, and so on, and the
last spins for --spin-ms.  The chains run one after the other, round and
round, so every sample holds --depth names, most of them new to the agent
the first time round.  Prints "ready" when every function exists; spins
for --seconds (default 60).
"""
import argparse
import sys
import time


def link(chain, i, spin):
    if i + 1 < len(chain):
        return chain[i + 1](chain, i + 1, spin)  # CALL
    end = time.perf_counter() + spin
    while time.perf_counter() < end:  # SPIN
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
    ap.add_argument("--seconds", type=float, default=60.0)
    a = ap.parse_args()
    with open(a.names, "rb") as f:
        raw = f.read()
    names = [raw[i:i + a.width].decode("ascii") for i in range(0, len(raw), a.width)]
    fns = [make(n) for n in names]
    chains = [fns[i:i + a.depth] for i in range(0, len(fns), a.depth)]
    sys.setrecursionlimit(a.depth + 200)
    spin = a.spin_ms / 1e3
    print("ready", flush=True)
    end = time.time() + a.seconds
    while time.time() < end:
        for chain in chains:
            chain[0](chain, 0, spin)


if __name__ == "__main__":
    main()
