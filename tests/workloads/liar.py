# SPDX-License-Identifier: MIT
# Workload: a GIL build that lies in its own _Py_DebugOffsets (3.13+).
"""Only out-of-process readers look at _Py_DebugOffsets (the start of
_PyRuntime), so a target can rewrite them at will, with ctypes, and keep
running.  --lie says which lie:

  free-threaded  set _Py_DebugOffsets.free_threaded (the u64 after the
                 cookie and the version): stands in for a real 3.13t/3.14t,
                 which cannot be installed on the test machine; a profiler
                 must refuse it with the free-threaded message;
  ob-type        set pyobject.ob_type to 0xfff0, 64 KiB past any object
                 header: a profiler must refuse the layout by that name and
                 never index a buffer with it.

Prints "ready" once the lie is told, then spins for --seconds (default 60).
"""
import argparse
import ctypes
import sys
import time

# Where pyobject.ob_type sits in _Py_DebugOffsets, per minor version
# (Include/internal/pycore_debug_offsets.h); its true value is 8.
OB_TYPE_AT = {13: 360, 14: 408, 15: 472}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lie", choices=("free-threaded", "ob-type"), default="free-threaded")
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    rt = ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, "_PyRuntime"))
    assert ctypes.string_at(rt, 8) == b"xdebugpy"
    if args.lie == "free-threaded":
        ctypes.c_uint64.from_address(rt + 16).value = 1
    else:
        ob_type = ctypes.c_uint64.from_address(rt + OB_TYPE_AT[sys.version_info[1]])
        assert ob_type.value == 8, "not pyobject.ob_type: %d" % ob_type.value
        ob_type.value = 0xfff0
    print("ready", flush=True)
    end = time.perf_counter() + args.seconds
    while time.perf_counter() < end:
        pass


if __name__ == "__main__":
    main()
