# SPDX-License-Identifier: MIT
# The asyncio target a corpus image is taken of (tests/corpus/make.py), on
# CPython 3.14+: an event loop parked while a task runs, with an await
# chain above it and tasks suspended around it.  Read on stdin; prints
# what the interpreter itself says, then "ready":
#   loop THREAD_IDENT       the thread running the loop (and the task),
#   QUALNAME<TAB>FILE<TAB>LINE   ..its stack, innermost first;
#   task NAME STATE         every task: pending, suspended or running,
#   await NAME              ..each task awaiting it,
#   QUALNAME<TAB>FILE<TAB>LINE   ..and its coroutines, outermost first
# The tasks:
#   runner   running: runner -> middle -> leaf, which parks the loop
#   waiter   awaits runner, from inside a coroutine it awaits
#   top      awaits waiter; Task-1 (main) awaits top
#   sleeper  suspended two coroutines deep in asyncio.sleep, awaited by
#            two tasks at once (its awaiters are a set): nap-1, nap-2
#   later    created, not started
import asyncio
import inspect
import sys
import threading
import time

TASKS = []


def park():
    threading.Event().wait()


async def leaf():
    TASKS.append(asyncio.get_running_loop().create_task(never(), name="later"))
    threading.Thread(target=report, args=(threading.get_ident(),), daemon=True).start()
    park()


async def middle():
    await leaf()


async def runner(go):
    await go.wait()
    await middle()


async def waiter_inner(t):
    await t


async def waiter(t):
    await waiter_inner(t)


async def top(t):
    await t


async def sleeper_inner():
    await asyncio.sleep(1000)


async def sleeper():
    await sleeper_inner()


async def nap(t):
    await t


async def never():
    pass


STATES = {inspect.CORO_CREATED: "pending", inspect.CORO_RUNNING: "running",
          inspect.CORO_SUSPENDED: "suspended", inspect.CORO_CLOSED: "done"}


def coros(task):
    """The coroutines a task is suspended in, outermost first."""
    out = []
    c = task.get_coro()
    while c is not None and getattr(c, "cr_frame", None) is not None:
        f = c.cr_frame
        out.append((f.f_code.co_qualname, f.f_code.co_filename, f.f_lineno))
        c = c.cr_await
    return out


def report(loop_ident):
    while True:
        f = sys._current_frames().get(loop_ident)
        if f is not None and f.f_code.co_name == "wait":
            break
        time.sleep(0.05)
    time.sleep(0.2)
    print("loop %d" % loop_ident)
    f = sys._current_frames()[loop_ident]
    while f:
        print("%s\t%s\t%d" % (f.f_code.co_qualname, f.f_code.co_filename, f.f_lineno))
        f = f.f_back
    for t in TASKS:
        print("task %s %s" % (t.get_name(), STATES[inspect.getcoroutinestate(t.get_coro())]))
        for a in sorted(x.get_name() for x in (t._asyncio_awaited_by or ())):
            print("await %s" % a)
        for name, filename, line in coros(t):
            print("%s\t%s\t%d" % (name, filename, line))
    print("ready", flush=True)


async def main():
    go = asyncio.Event()
    r = asyncio.create_task(runner(go), name="runner")
    w = asyncio.create_task(waiter(r), name="waiter")
    t = asyncio.create_task(top(w), name="top")
    s = asyncio.create_task(sleeper(), name="sleeper")
    n1 = asyncio.create_task(nap(s), name="nap-1")
    n2 = asyncio.create_task(nap(s), name="nap-2")
    TASKS.extend([asyncio.current_task(), r, w, t, s, n1, n2])
    await asyncio.sleep(0.1)
    go.set()
    await t


asyncio.run(main())
