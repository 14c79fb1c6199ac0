# SPDX-License-Identifier: MIT
"""Python -> C -> Python -> C, for the --native tests.

native_mixed.py DIR MODE: DIR holds hx.so (tests/workloads/native/hx.c).
MODE mixed: caller -> hx.outer -> py_cb -> hx.leaf, forever.
MODE split [TRUTH]: 2/3 of the time in hx.leaf, 1/3 in py_spin, by the
     clock; the CPU time each part really got (time.thread_time_ns) is
     written to TRUTH as JSON {"c": ns, "py": ns} about 5 times a second.
MODE qsort: libc's qsort through ctypes, with a Python comparator.
MODE pipe: a thread blocks in read() on a pipe, fed a byte every 20 ms.
MODE pipe-idle: a thread blocks in read() on a pipe never written, and the
     main thread sleeps: both are blocked before a profiler looks.
MODE lib LIB: LIB (a shared object built by the tests) exports hx_spin(n),
     called through ctypes; with --reload each round loads a fresh copy and
     unloads it after, so the mapping changes under the profiler.
"""
import os
import sys
import time

sys.path.insert(0, sys.argv[1])
MODE = sys.argv[2]


def py_cb():
    hx.leaf(0.02)  # LINE:py_cb


def caller():
    hx.outer(py_cb)  # LINE:caller


def py_spin(secs):
    end = time.perf_counter() + secs
    n = 0
    while time.perf_counter() < end:  # LINE:py_spin
        n += 1
    return n


SPENT = {"c": 0, "py": 0}


def split():
    t0 = time.thread_time_ns()
    hx.leaf(0.02)  # LINE:split_c
    t1 = time.thread_time_ns()
    py_spin(0.01)  # LINE:split_py
    SPENT["c"] += t1 - t0
    SPENT["py"] += time.thread_time_ns() - t1


def write_truth(path):
    import json
    with open(path + ".tmp", "w") as f:
        json.dump(SPENT, f)
    os.replace(path + ".tmp", path)


def cmp(a, b):
    x, y = a[0], b[0]
    n = 0
    for _ in range(200):  # LINE:cmp
        n += 1
    return (x > y) - (x < y)


def sorter(libc, fn, arr):
    libc.qsort(arr, len(arr), 4, fn)  # LINE:sorter


def reader(fd):
    while True:
        os.read(fd, 1)  # LINE:read


def run_lib(path, reload):
    import ctypes
    import shutil
    import tempfile

    tmp = tempfile.mkdtemp()
    n = 0
    lib = None
    print("ready", flush=True)
    while True:
        if lib is None or reload:
            n += 1
            copy = os.path.join(tmp, "lib%d.so" % (n % 4))
            shutil.copy(path, copy)
            lib = ctypes.CDLL(copy)
        lib.hx_spin(ctypes.c_long(20000000))  # LINE:lib
        if reload:
            _ctypes.dlclose(lib._handle)
            lib = None


if MODE == "pipe":
    import threading

    r, w = os.pipe()
    threading.Thread(target=reader, args=(r,), daemon=True).start()
    print("ready", flush=True)
    while True:
        time.sleep(0.02)
        os.write(w, b"x")
elif MODE == "pipe-idle":
    import threading

    r, w = os.pipe()
    threading.Thread(target=reader, args=(r,), daemon=True).start()
    time.sleep(0.2)
    print("ready", flush=True)
    while True:
        time.sleep(3600)
elif MODE == "lib":
    import _ctypes

    run_lib(sys.argv[3], "--reload" in sys.argv)
elif MODE == "qsort":
    import ctypes
    import random

    libc = ctypes.CDLL("libc.so.6")
    CMP = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int),
                           ctypes.POINTER(ctypes.c_int))
    arr = (ctypes.c_int * 1000)(*[random.randrange(1 << 30) for _ in range(1000)])
    fn = CMP(cmp)
    print("ready", flush=True)
    while True:
        sorter(libc, fn, arr)
else:
    import hx

    truth = sys.argv[3] if MODE == "split" and len(sys.argv) > 3 else None
    if truth:
        write_truth(truth)
    print("ready", flush=True)
    last = time.monotonic()
    while True:
        if MODE == "split":
            split()
            if truth and time.monotonic() - last > 0.2:
                write_truth(truth)
                last = time.monotonic()
        else:
            caller()
