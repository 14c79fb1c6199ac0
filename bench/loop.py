# SPDX-License-Identifier: MIT
# Benchmark workload: CPU-bound pure-Python work, ten frames deep.
"""Two ways to run it:

  loop.py [ITERATIONS]     a fixed amount of work; prints the wall and CPU
                           seconds it took
  loop.py --counter FILE   works until killed, counting work units (one
                           nest() call, about a millisecond) in the first 8
                           bytes of FILE, so another process can measure its
                           rate while it runs (bench/paired.py)
"""
import mmap
import struct
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


def count_forever(path):
    with open(path, "r+b") as fp:
        mm = mmap.mmap(fp.fileno(), 8)
    done = 0
    while True:
        nest(8, 2000)
        done += 1
        struct.pack_into("Q", mm, 0, done)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--counter":
        count_forever(sys.argv[2])
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
