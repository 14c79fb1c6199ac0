# SPDX-License-Identifier: MIT
# The target a corpus image is taken of (tests/corpus/make.py): threads
# parked in the shapes a walk must get right, on every CPython 3.8-3.15.
# Read on stdin, so that inside a root it needs no file; prints each
# thread's stack as the interpreter itself sees it, then "ready".
#   deep      400 frames of recursion: 3.11+ data-stack chunks crossed
#   gen       a generator's frame, suspended in its caller's call
#   coro      a coroutine driven by hand, waiting inside
#   shim      sorted()'s key function: Python called back from C
#   nested    a method of a nested class calling a closure
#   sleeper   in time.sleep, a C function
#   main      the main thread, waiting for the others
import sys
import threading
import time

PARKED = []


def park():
    ev = threading.Event()
    PARKED.append(threading.get_ident())
    ev.wait()


def deep(n):
    if n:
        return deep(n - 1)
    park()


def gen():
    yield 1
    park()
    yield 2


def drive_gen():
    g = gen()
    next(g)
    next(g)


async def coro_inner():
    park()


async def coro_outer():
    await coro_inner()


def drive_coro():
    c = coro_outer()
    try:
        c.send(None)
    except StopIteration:
        pass


def shim():
    sorted([3, 1, 2], key=lambda x: park() if x == 2 else x)


class Outer:
    class Inner:
        def method(self):
            def closure():
                park()
            closure()


def nested():
    Outer.Inner().method()


def sleeper():
    PARKED.append(threading.get_ident())
    while True:
        time.sleep(1000)


def stack(frame):
    out = []
    while frame:
        code = frame.f_code
        out.append((getattr(code, "co_qualname", code.co_name), code.co_filename, frame.f_lineno))
        frame = frame.f_back
    return out


def settled(frames, ident):
    """Is the thread where it stays: inside Event.wait, or time.sleep?"""
    f = frames.get(ident)
    return f is not None and f.f_code.co_name in ("wait", "sleeper")


def main():
    threads = [threading.Thread(target=fn, name=fn.__name__, daemon=True)
               for fn in (lambda: deep(400), drive_gen, drive_coro, shim, nested, sleeper)]
    for t in threads:
        t.start()
    reporter = threading.Thread(target=report, args=(threading.get_ident(), threads),
                                daemon=True)
    reporter.start()
    park()


def report(main_ident, threads):
    idents = [main_ident] + [t.ident for t in threads]
    while True:
        frames = sys._current_frames()
        if len(PARKED) == len(idents) and all(settled(frames, i) for i in idents):
            break
        time.sleep(0.05)
    time.sleep(0.2)
    frames = sys._current_frames()
    for i in idents:
        print("thread %d" % i)
        for name, filename, line in stack(frames[i]):
            print("%s\t%s\t%d" % (name, filename, line))
    print("ready", flush=True)


main()
