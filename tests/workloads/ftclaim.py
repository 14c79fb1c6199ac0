# SPDX-License-Identifier: MIT
# Workload: a GIL build whose _Py_DebugOffsets claim it is free-threaded.
"""No free-threaded CPython can be installed on the test machine, so this
stands in for one: it sets _Py_DebugOffsets.free_threaded (the u64 after
the cookie and the version, at the start of _PyRuntime) in its own memory,
which only out-of-process readers look at, then spins.  A profiler must
refuse it with the free-threaded message, as it would a real 3.13t/3.14t.
Prints "ready" once the flag is set; runs for --seconds (default 60).
"""
import argparse
import ctypes
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    rt = ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, "_PyRuntime"))
    assert ctypes.string_at(rt, 8) == b"xdebugpy"
    ctypes.c_uint64.from_address(rt + 16).value = 1
    print("ready", flush=True)
    end = time.perf_counter() + args.seconds
    while time.perf_counter() < end:
        pass


if __name__ == "__main__":
    main()
