# SPDX-License-Identifier: MIT
# Workload: names that output formats must escape, run from a hostile file name.
"""Proves escaping end to end (JSON, XML) with real frame names.

The tests copy this file to a name with a quote, a backslash, '<', '>',
'&', DEL and a non-ASCII character, and run it from there, so co_filename
carries all of them.  The main thread spins in, root first:

    <module>                 (line marked "# ROOT")
    main                     (line marked "# CALL")
    main.<locals>.<lambda>   (plain "<lambda>" before 3.11)
    Ünïcödé.naïve_spin       (line marked "# HOT"; "naïve_spin" before 3.11)

Prints "ready", then spins for --seconds (default 30) or until killed.
"""
import argparse
import time


class Ünïcödé:
    def naïve_spin(self, end):
        while time.perf_counter() < end: pass  # HOT


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    end = time.perf_counter() + args.seconds
    go = lambda: Ünïcödé().naïve_spin(end)  # noqa: E731 - a lambda frame is the point
    print("ready", flush=True)
    go()  # CALL


if __name__ == "__main__":
    main()  # ROOT
