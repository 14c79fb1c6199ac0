# SPDX-License-Identifier: MIT
# Workload: many functions with huge line tables, all on the stack at once.
"""Costs the agent memory through line tables, which a target chooses.

--functions N functions (f0 .. f{N-1}) call each other in a chain, the last
one spinning, so every sample holds all of them.  Each has a line table of
--table-bytes: its real one padded with entries for code past its end
(never consulted), either one table object shared by all (--shared, as a
code generator might) or a different one each.  Prints "ready" once the
chain spins; runs for --seconds (default 60).
"""
import argparse
import sys
import time


def template(k, until):
    if k + 1 < len(FUNCS):
        return FUNCS[k + 1](k + 1, until)  # CALL
    while time.perf_counter() < until:  # SPIN
        pass
    return 0


FUNCS = []


def padded(real, size, salt):
    """The real table, then entries for code units past the bytecode."""
    n = size - len(real)
    if sys.version_info >= (3, 11):
        # Location entries "no location" for 1 or 2 code units (0xf8/0xf9).
        cycle = bytes(0xF8 | ((salt >> k) & 1) for k in range(12))
    else:
        # (address, line) delta pairs of 0 or 1 address step, no line step.
        cycle = b"".join(bytes(((salt >> k) & 1, 0)) for k in range(12))
    return real + (cycle * (n // len(cycle) + 1))[:n]


def make(n, size, shared):
    co = template.__code__
    field = "co_linetable" if sys.version_info >= (3, 10) else "co_lnotab"
    one = padded(getattr(co, field), size, 0)
    for i in range(n):
        table = one if shared else padded(getattr(co, field), size, i + 1)
        kw = {"co_name": "f%d" % i, field: table}
        if sys.version_info >= (3, 11):
            kw["co_qualname"] = "f%d" % i
        FUNCS.append(type(template)(co.replace(**kw), globals(), "f%d" % i))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--functions", type=int, default=1000)
    ap.add_argument("--table-bytes", type=int, default=(1 << 20) - 64)
    ap.add_argument("--shared", action="store_true")
    ap.add_argument("--seconds", type=float, default=60)
    a = ap.parse_args()
    sys.setrecursionlimit(a.functions + 100)
    make(a.functions, a.table_bytes, a.shared)
    end = time.time() + a.seconds
    print("ready", flush=True)
    while time.time() < end:
        FUNCS[0](0, time.perf_counter() + 0.05)


if __name__ == "__main__":
    main()
