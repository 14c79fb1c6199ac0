# SPDX-License-Identifier: MIT
"""Python -> C -> Python -> C, for the --native tests.

native_mixed.py DIR MODE: DIR holds hx.so (tests/workloads/native/hx.c).
MODE mixed: caller -> hx.outer -> py_cb -> hx.leaf, forever.
MODE split: 2/3 of the time in hx.leaf, 1/3 in py_spin, by the clock.
MODE qsort: libc's qsort through ctypes, with a Python comparator.
"""
import sys
import time

sys.path.insert(0, sys.argv[1])
MODE = sys.argv[2]


def py_cb():
    hx.leaf(0.02)  # LINE py_cb


def caller():
    hx.outer(py_cb)  # LINE caller


def py_spin(secs):
    end = time.perf_counter() + secs
    n = 0
    while time.perf_counter() < end:  # LINE py_spin
        n += 1
    return n


def split():
    hx.leaf(0.02)  # LINE split_c
    py_spin(0.01)  # LINE split_py


def cmp(a, b):
    x, y = a[0], b[0]
    n = 0
    for _ in range(40):  # LINE cmp
        n += 1
    return (x > y) - (x < y)


def sorter(libc, CMP, arr_t, values):
    arr = arr_t(*values)
    libc.qsort(arr, len(values), 4, CMP(cmp))  # LINE sorter


if MODE == "qsort":
    import ctypes
    import random

    libc = ctypes.CDLL("libc.so.6")
    CMP = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int),
                           ctypes.POINTER(ctypes.c_int))
    values = [random.randrange(1 << 30) for _ in range(3000)]
    arr_t = ctypes.c_int * len(values)
    print("ready", flush=True)
    while True:
        sorter(libc, CMP, arr_t, values)
else:
    import hx

    print("ready", flush=True)
    while True:
        if MODE == "split":
            split()
        else:
            caller()
