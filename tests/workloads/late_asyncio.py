# SPDX-License-Identifier: MIT
# Workload: asyncio imported only after a while, as a profiler is already attached.
"""Prints "ready", spins for --before seconds without asyncio (3.14 maps its
AsyncioDebug section only with `import asyncio`), then runs a task `late`
that burns CPU until --seconds have passed."""
import argparse
import sys
import time


def burn():
    for _ in range(20000): pass  # LATE-BURN


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", type=float, default=1.5)
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    print("ready", flush=True)
    end = time.monotonic() + args.before
    while time.monotonic() < end:
        burn()
    import asyncio

    async def late():
        stop = time.monotonic() + args.seconds
        while time.monotonic() < stop:
            burn()
            await asyncio.sleep(0)

    async def main_task():
        await asyncio.create_task(late(), name="late")

    asyncio.run(main_task())


if __name__ == "__main__":
    main()
    sys.exit(0)
