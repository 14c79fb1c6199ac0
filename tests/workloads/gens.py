# SPDX-License-Identifier: MIT
# Workload: hot code reached through a generator or through coroutines.
"""Generator and coroutine frames live in their own objects, not in the
thread's data stack (3.11+), so a walk goes in and out of the stack.

--kind gen: the sampled stack is, root first,

    <module>; main; consume; producer (a generator); spin ("# HOT")

--kind async (asyncio.run, a Task driving the coroutines): the stack starts
with <module>; main and ends with

    outer (a coroutine); inner (a coroutine); spin ("# HOT")

with asyncio's own frames in between.  Prints "ready" first; spins for
--seconds (default 30) or until killed.
"""
import argparse
import asyncio
import time


def spin(end):
    while time.perf_counter() < end: pass  # HOT


def producer(end):
    while time.perf_counter() < end:
        spin(time.perf_counter() + 0.05)  # GEN-CALL
        yield 1


def consume(seconds):
    for _ in producer(time.perf_counter() + seconds):  # CONSUME
        pass


async def inner(seconds):
    spin(time.perf_counter() + seconds)  # INNER-CALL


async def outer(seconds):
    await inner(seconds)  # OUTER-AWAIT


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", choices=("gen", "async"), default="gen")
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    print("ready", flush=True)
    if args.kind == "gen":
        consume(args.seconds)  # CALL-CONSUME
    else:
        asyncio.run(outer(args.seconds))  # CALL-ASYNC


if __name__ == "__main__":
    main()  # ROOT
