# SPDX-License-Identifier: MIT
# Benchmark workload: two processes bouncing a byte over pipes (context switches).
"""Each round trip blocks both sides once, so the pair makes tens of thousands
of context switches a second.  Runs until killed; prints its PIDs."""
import os
import sys


def main():
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    child = os.fork()
    if child == 0:
        while True:
            os.read(a_r, 1)
            os.write(b_w, b"x")
    print(os.getpid(), child, flush=True)
    while True:
        os.write(a_w, b"x")
        os.read(b_r, 1)


if __name__ == "__main__":
    sys.exit(main())
