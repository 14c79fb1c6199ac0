# SPDX-License-Identifier: MIT
# Workload: names that would drive a terminal if printed raw.
"""Proves that dump, top and the record summary escape control characters.

The main thread spins in a function whose co_name (and co_qualname, 3.11+)
is EVIL below: an OSC that retitles the window, BEL, a CSI that clears the
screen, and C1 CSI (U+009B).  Its kernel thread name (comm) starts with ESC
too.  Prints "ready", then spins for --seconds (default 30).

--async (3.14+): the spinning is done in an asyncio task named EVIL, in
turns with sleeps, and the main task awaits it: its rows (`task EVIL`) and
its waits' reason (`[await task EVIL]`) carry the name too.
"""
import argparse
import sys
import time

EVIL = "\x1b]0;OWNED\x07\x1b[2Jevil\x9b"


def spin(end):
    while time.perf_counter() < end: pass  # HOT


names = {"co_name": EVIL}
if sys.version_info >= (3, 11):
    names["co_qualname"] = EVIL
spin.__code__ = spin.__code__.replace(**names)


async def evil_task(end):
    import asyncio
    while time.perf_counter() < end:
        spin(time.perf_counter() + 0.01)
        await asyncio.sleep(0.01)


async def async_main(seconds):
    import asyncio
    task = asyncio.create_task(evil_task(time.perf_counter() + seconds), name=EVIL)
    await asyncio.sleep(0)
    print("ready", flush=True)
    await task


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--async", dest="use_async", action="store_true")
    args = ap.parse_args()
    with open("/proc/self/comm", "wb") as f:
        f.write(b"\x1b[2Jcomm")
    if args.use_async:
        import asyncio
        asyncio.run(async_main(args.seconds))
        return
    print("ready", flush=True)
    spin(time.perf_counter() + args.seconds)


if __name__ == "__main__":
    main()
