# SPDX-License-Identifier: MIT
# Benchmark workload: a fixed amount of CPU-bound Python work, timed inside.
"""Runs a fixed number of iterations of a pure-Python loop ten frames deep
and prints the wall and CPU seconds it took, so that runs with and without
the profiler can be compared.  Usage: loop.py [ITERATIONS]"""
import sys
import time


def work(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def nest(depth, n):
    if depth == 0:
        return work(n)
    return nest(depth - 1, n)


def main():
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    t0 = time.perf_counter()
    c0 = time.process_time()
    for _ in range(iterations):
        nest(8, 20000)
    # Wall seconds, then CPU seconds of this process (time a sampler's
    # interrupt handler steals from it is charged here too).
    print("%.6f %.6f" % (time.perf_counter() - t0, time.process_time() - c0))


if __name__ == "__main__":
    main()
