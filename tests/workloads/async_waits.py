# SPDX-License-Identifier: MIT
# Workload: asyncio tasks parked in known waits, for tests/unit/test_asyncwait.c
# (CPython 3.14+).
"""An event loop parked (blocked reading stdin) while its main task runs,
with tasks suspended around it:

    deep    outer -> inner, which awaits a future
    boss    awaits the task deep
    solo    awaits the same future
    later   created, never started

With --many N, N more tasks (default names) await a future of their own.
Prints, from the loop's thread while it is parked, what the interpreter
says:

    tid TID                 the loop thread's native id
    task NAME STATE         each task but the --many ones: pending,
                            suspended or running
    await NAME              ..the task awaiting it, if one
    F QUALNAME<TAB>FILE<TAB>LINE   ..its coroutines, outermost first
    many N                  the --many tasks, all suspended
    ready

On the line "next" the future is resolved, the tasks it held end (later
runs and ends too), and it parks again, printing what is left; EOF exits.
"""
import argparse
import asyncio
import inspect
import sys
import threading

STATES = {inspect.CORO_CREATED: "pending", inspect.CORO_RUNNING: "running",
          inspect.CORO_SUSPENDED: "suspended", inspect.CORO_CLOSED: "done"}


async def inner(fut):
    await fut


async def outer(fut):
    await inner(fut)


async def parent(t):
    await t


async def child(fut):
    await fut


async def never():
    pass


async def held(fut):
    await fut


def coros(task):
    """The coroutines a task is suspended in, outermost first."""
    out = []
    c = task.get_coro()
    while c is not None and getattr(c, "cr_frame", None) is not None:
        f = c.cr_frame
        out.append((f.f_code.co_qualname, f.f_code.co_filename, f.f_lineno))
        c = c.cr_await
    return out


def report(tasks, many):
    print("tid %d" % threading.get_native_id())
    for t in tasks:
        if t.done():
            continue
        print("task %s %s" % (t.get_name(), STATES[inspect.getcoroutinestate(t.get_coro())]))
        for a in sorted(x.get_name() for x in (t._asyncio_awaited_by or ())):
            print("await %s" % a)
        for name, filename, line in coros(t):
            print("F %s\t%s\t%d" % (name, filename, line))
    print("many %d" % many)
    print("ready", flush=True)


async def main(many):
    loop = asyncio.get_running_loop()
    fut, hold = loop.create_future(), loop.create_future()
    deep = asyncio.create_task(outer(fut), name="deep")
    boss = asyncio.create_task(parent(deep), name="boss")
    solo = asyncio.create_task(child(fut), name="solo")
    kept = [asyncio.create_task(held(hold)) for _ in range(many)]
    await asyncio.sleep(0)
    later = asyncio.create_task(never(), name="later")
    tasks = [asyncio.current_task(), deep, boss, solo, later]
    report(tasks, many)
    if sys.stdin.readline() != "next\n":
        return
    fut.set_result(None)
    await asyncio.gather(deep, boss, solo, later)
    report(tasks, many)
    sys.stdin.readline()
    hold.set_result(None)
    await asyncio.gather(*kept)


ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--many", type=int, default=0)
asyncio.run(main(ap.parse_args().many), debug=False)
