# SPDX-License-Identifier: MIT
# Workload: asyncio tasks in known shapes, for --async and dump --async.
"""asyncio tasks whose stacks and CPU shares are known.

--shape gather: three named workers (worker-a, worker-b, worker-c) under
  asyncio.gather in main(); each burns CPU in burn() for 3, 2 and 1 units
  per turn and yields (asyncio.sleep(0)), so their CPU split is 3:2:1.
  The real split is measured with time.thread_time_ns() and written to
  --truth FILE on exit.
--shape group: a TaskGroup in main() runs `parent`, whose own TaskGroup
  runs `child`, which burns CPU; the nesting main > parent > child is
  what a profile must show.
--shape waiter: `waiter` awaits the task `sleeper`, which sleeps; a
  third task `spinner` burns CPU.
--shape idle: --idle N tasks sleeping forever (idle-0 ...), and one busy
  task `busy` burning CPU.
--shape chain: `outer` awaits a coroutine mid(), which awaits inner(),
  which burns CPU in the task itself (no second task).
--shape waitfor: main awaits asyncio.wait_for() on the task `timed`,
  which burns CPU: main > wait_for > timed.
--shape switch: --idle N tasks (switch-0 ...) that each burn a moment and
  yield, in turn: the running task changes many times while a dump reads.
--shape flood: --idle N idle tasks (flood-0 ...), each said to be awaited
  by the --awaiters tasks after it (asyncio.future_add_to_awaited_by):
  a graph of N nodes and N * awaiters edges, with cycles, for dump --async.
--shape hostile: what a profiler reads of tasks made to lie, with ctypes:
  `spinner` burns CPU and says it is awaited by itself (an await cycle);
  `liar` has a name pointer into nowhere; `loop-b`'s list node says the
  task after it is `loop-a` again (a cycle in the thread's task list).
  Only the task list is corrupted, which asyncio itself does not walk
  while the loop runs; the process must be killed, not let to exit.
Prints "ready" once every task is running.
"""
import argparse
import asyncio
import json
import os
import signal
import sys
import time

UNIT = 20000
clock = time.thread_time_ns
spent = {}


def burn(units):
    for _ in range(units * UNIT): pass  # HOT-BURN


async def worker(name, units, stop):
    while not stop.is_set():
        t0 = clock()
        burn(units)  # WORKER-BURN
        spent[name] = spent.get(name, 0) + clock() - t0
        await asyncio.sleep(0)  # WORKER-YIELD


async def gather_main(stop):
    ready(0)
    await asyncio.gather(  # MAIN-GATHER
        asyncio.create_task(worker("worker-a", 3, stop), name="worker-a"),
        asyncio.create_task(worker("worker-b", 2, stop), name="worker-b"),
        asyncio.create_task(worker("worker-c", 1, stop), name="worker-c"))


async def child(stop):
    while not stop.is_set():
        burn(2)  # CHILD-BURN
        await asyncio.sleep(0)


async def parent(stop):
    async with asyncio.TaskGroup() as tg:  # PARENT-GROUP
        tg.create_task(child(stop), name="child")


async def group_main(stop):
    ready(0)
    async with asyncio.TaskGroup() as tg:  # MAIN-GROUP
        tg.create_task(parent(stop), name="parent")


async def sleeper(stop):
    while not stop.is_set():
        await asyncio.sleep(0.05)  # SLEEPER-SLEEP


async def spinner(stop):
    while not stop.is_set():
        burn(1)
        await asyncio.sleep(0)


async def waiter(stop):
    s = asyncio.create_task(sleeper(stop), name="sleeper")
    await s  # WAITER-AWAIT


async def waiter_main(stop):
    ready(0)
    await asyncio.gather(asyncio.create_task(waiter(stop), name="waiter"),
                         asyncio.create_task(spinner(stop), name="spinner"))


async def idle(stop):
    await stop.wait()  # IDLE-WAIT


async def idle_main(stop, n):
    tasks = [asyncio.create_task(idle(stop), name="idle-%d" % i) for i in range(n)]
    tasks.append(asyncio.create_task(spinner(stop), name="busy"))
    ready(0)
    await asyncio.gather(*tasks)


async def switcher(stop):
    while not stop.is_set():
        for _ in range(1000): pass  # SWITCH-BURN
        await asyncio.sleep(0)  # SWITCH-YIELD


async def switch_main(stop, n):
    tasks = [asyncio.create_task(switcher(stop), name="switch-%d" % i) for i in range(n)]
    ready(0)
    await asyncio.gather(*tasks)


async def flood_main(stop, n, awaiters):
    tasks = [asyncio.create_task(idle(stop), name="flood-%d" % i) for i in range(n)]
    await asyncio.sleep(0)
    for i, t in enumerate(tasks):
        for k in range(1, awaiters + 1):
            asyncio.future_add_to_awaited_by(t, tasks[(i + k) % n])
    ready(0)
    await stop.wait()


async def inner(stop):
    while not stop.is_set():
        burn(1)  # INNER-BURN
        await asyncio.sleep(0)


async def mid(stop):
    await inner(stop)  # MID-AWAIT


async def outer(stop):
    await mid(stop)  # OUTER-AWAIT


async def waitfor_main(stop):
    ready(0)
    t = asyncio.create_task(worker("timed", 1, stop), name="timed")
    await asyncio.wait_for(t, timeout=1000)  # MAIN-WAITFOR


async def chain_main(stop):
    ready(0)
    await asyncio.create_task(outer(stop), name="outer")


# TaskObj offsets (Modules/_asynciomodule.c) in 3.14 and 3.15 GIL builds: the
# section's values, checked against the task list below before any write.
TASK_NAME, TASK_AWAITED_BY, TASK_NODE = 136, 96, 152


def poke(addr, value):
    import ctypes
    ctypes.c_uint64.from_address(addr).value = value


def peek(addr):
    import ctypes
    return ctypes.c_uint64.from_address(addr).value


async def hostile_main(stop):
    a = asyncio.create_task(idle(stop), name="loop-a")
    b = asyncio.create_task(idle(stop), name="loop-b")
    liar = asyncio.create_task(idle(stop), name="liar")
    s = asyncio.create_task(spinner(stop), name="spinner")
    await asyncio.sleep(0.1)
    # The list is in creation order: a's node is followed by b's.
    assert peek(id(a) + TASK_NODE) == id(b) + TASK_NODE, "TaskObj offsets moved"
    poke(id(s) + TASK_AWAITED_BY, id(s))
    poke(id(liar) + TASK_NAME, 0x10)
    poke(id(b) + TASK_NODE, id(a) + TASK_NODE)
    ready(0)
    await stop.wait()


def ready(_):
    print("ready", flush=True)


async def run(args):
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.call_later(args.seconds, stop.set)
    shapes = {"gather": gather_main, "group": group_main, "waiter": waiter_main,
              "chain": chain_main, "waitfor": waitfor_main}
    if args.shape == "idle":
        await idle_main(stop, args.idle)  # RUN-IDLE
    elif args.shape == "switch":
        await switch_main(stop, args.idle)
    elif args.shape == "flood":
        await flood_main(stop, args.idle, args.awaiters)
    elif args.shape == "hostile":
        await hostile_main(stop)  # RUN-HOSTILE
    else:
        await shapes[args.shape](stop)  # RUN-SHAPE


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="gather")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--awaiters", type=int, default=16)
    ap.add_argument("--truth")
    args = ap.parse_args()
    try:
        asyncio.run(run(args))
    finally:
        if args.truth:
            tmp = args.truth + ".tmp"
            with open(tmp, "w") as f:
                json.dump(spent, f)
            os.replace(tmp, args.truth)


if __name__ == "__main__":
    main()
    sys.exit(0)
