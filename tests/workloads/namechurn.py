# SPDX-License-Identifier: MIT
# Workload: a new function with a unique 1 KB name every few milliseconds, forever.
"""Makes a profiler's symbol tables grow with the target's whim.

Each round defines a function whose name is 1000 characters, unique (a
counter and random letters), runs it for a millisecond so samples see it,
and drops it.  Nothing is asserted on by name: it exists to show that the
agent's memory levels off.  SIGUSR1 makes it stop churning (and spin in
one function, steady_sss..., instead).  Prints "ready"; runs for --seconds
(default 60).
"""
import argparse
import random
import signal
import string
import time

STOP = []


def steady(until):
    while time.perf_counter() < until:  # STEADY
        pass


# Named after the churn's names but longer (the agent keeps 1024 bytes of
# a name), so that no room the churn left over fits it.
STEADY = "steady_" + "s" * 1017
steady.__code__ = steady.__code__.replace(
    co_name=STEADY, **({"co_qualname": STEADY} if hasattr(steady.__code__, "co_qualname") else {}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    a = ap.parse_args()
    signal.signal(signal.SIGUSR1, lambda *_: STOP.append(1))
    rng = random.Random(1)
    t0 = time.time()
    end = t0 + a.seconds
    i = 0
    print("ready", flush=True)
    while time.time() < end:
        if STOP:
            steady(time.perf_counter() + 0.05)
            continue
        i += 1
        tail = "".join(rng.choice(string.ascii_letters) for _ in range(990))
        name = "f%08d_%s" % (i, tail)
        ns = {"time": time}
        exec("def %s(until):\n    while time.perf_counter() < until:\n        pass\n" % name,
             ns)
        ns[name](time.perf_counter() + 0.001)


if __name__ == "__main__":
    main()
