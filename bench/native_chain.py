# SPDX-License-Identifier: MIT
"""make bench: a stack of FRAMES Python frames with NATIVE C frames in the middle.

native_chain.py HXDIR [--frames 32] [--native 20] [--libs N] [--seconds S]

Half the Python frames, then hx.deep (tests/workloads/native/hx.c, built
into HXDIR) NATIVE frames down, then the other half, then hx.leaf spinning.
--libs N first loads N copies of hx.so under other names, for a process
with that many more objects mapped.  Not a test.
"""
import argparse
import ctypes
import os
import shutil
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("hxdir")
ap.add_argument("--frames", type=int, default=32)
ap.add_argument("--native", type=int, default=20)
ap.add_argument("--libs", type=int, default=0)
ap.add_argument("--seconds", type=float, default=60)
a = ap.parse_args()
sys.path.insert(0, a.hxdir)
import hx  # noqa: E402

keep = []
if a.libs:
    tmp = tempfile.mkdtemp()
    for i in range(a.libs):
        p = os.path.join(tmp, "libx%d.so" % i)
        shutil.copy(os.path.join(a.hxdir, "hx.so"), p)
        keep.append(ctypes.CDLL(p))
end = time.monotonic() + a.seconds


def upper(k):
    if k > 1:
        return upper(k - 1)
    while time.monotonic() < end:
        hx.leaf(0.05)


def lower(k):
    if k > 1:
        return lower(k - 1)
    return hx.deep(a.native, lambda: upper(a.frames - a.frames // 2))


print("ready", flush=True)
lower(a.frames // 2)
