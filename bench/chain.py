# SPDX-License-Identifier: MIT
# Benchmark workload: a stack of N distinct functions, spinning at the bottom.
"""A recursion repeats one small code object in every frame, which flatters
anything that caches per code object and packs frames tightly.  Real
stacks are made of different functions with their own locals, so this
builds fn_0 .. fn_{N-1}, each with a few locals of its own (frames of
different sizes, distinct code objects), each calling the next; the last
spins.  With the module and main() the stack is N + 2 Python frames.

Usage: chain.py --frames N [--seconds S]
"""
import argparse
import time

TEMPLATE = """
def fn_{i}(end, a, b):
    x{i} = a + {i}
    y{i} = b * 2
    z{i} = [x{i}, y{i}] * {k}
    return fn_{j}(end, x{i} % 1000, len(z{i}))
"""

LEAF = """
def fn_{i}(end, a, b):
    while perf_counter() < end:
        a = (a * 3 + b) % 1000
    return a
"""


def build(n):
    src = []
    for i in range(n - 1):
        src.append(TEMPLATE.format(i=i, j=i + 1, k=i % 5 + 1))
    src.append(LEAF.format(i=n - 1))
    ns = {"perf_counter": time.perf_counter}
    exec(compile("".join(src), "<chain>", "exec"), ns)
    return ns["fn_0"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    n = max(1, args.frames - 2)  # <module> and main are frames too
    first = build(n)
    first(time.perf_counter() + args.seconds, 1, 2)


if __name__ == "__main__":
    main()
