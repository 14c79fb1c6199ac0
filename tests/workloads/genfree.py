# SPDX-License-Identifier: MIT
# Workload: short-lived generated functions whose code objects get freed.
"""Proves code objects are never mislabelled after being freed and reused.

For k = 0, 1, 2, ... this compiles, with filename "<gen>", a function named
gen_<k> whose one-line busy loop sits at line

    k % 50 + 10        of "<gen>"  (the def is the line before it)

runs it for about 20 ms (--slice), then drops every reference and calls gc.collect(),
so its code object is freed and the allocator hands that memory to the next
one.  gen_<k> is always called from via_even() if k is even and from
via_odd() if k is odd, so a frame still labelled with a stale code object
(typically k - 1, the previous occupant of the memory) shows the wrong
parity under its caller.  A correct profile therefore only has frames
"gen_<k> (<gen>:<k % 50 + 10>)" directly under "via_even" for even k and
under "via_odd" for odd k (or the def line, k % 50 + 9, for a frame
caught before its first instruction, as CPython itself reports it).  With
--steady S, it first spins for S seconds in steady() making no code, so
that the churn starts in a process the profiler has come to trust.  Prints
"ready" before the first function; runs for --seconds (default 30) or until
killed.
"""
import argparse
import gc
import time

SLICE = 0.020


def source_for(k):
    hot = k % 50 + 10
    # hot - 2 blank lines, the def on line hot - 1, the loop on line hot.
    return ("\n" * (hot - 2) +
            "def gen_%d(end):\n" % k +
            "    while perf_counter() < end: pass\n")


def via_even(fn, end):
    fn(end)


def via_odd(fn, end):
    fn(end)


def steady(end):
    while time.perf_counter() < end:
        pass


def run_one(k, slice_s):
    code = compile(source_for(k), "<gen>", "exec")
    ns = {"perf_counter": time.perf_counter}
    exec(code, ns)
    fn = ns["gen_%d" % k]
    (via_odd if k % 2 else via_even)(fn, time.perf_counter() + slice_s)
    # Drop the module code (its co_consts holds the function's code), the
    # namespace and the function, so the code object really dies here.
    del code, ns, fn
    gc.collect()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--slice", type=float, default=SLICE)
    ap.add_argument("--steady", type=float, default=0.0)
    args = ap.parse_args()
    end = time.perf_counter() + args.seconds
    print("ready", flush=True)
    steady(time.perf_counter() + args.steady)
    k = 0
    while time.perf_counter() < end:
        run_one(k, args.slice)
        k += 1


if __name__ == "__main__":
    main()  # ROOT
