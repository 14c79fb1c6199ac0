# SPDX-License-Identifier: MIT
# Workload: one program in two releases; --slow FUNC makes that function do twice the work.
"""A known regression for `pyspy-bpf diff`.

Each round calls parse(), transform() and render() in turn.  They run the
same loop for UNIT iterations each, so each gets about a third of the CPU.
--slow NAME gives that one 2 * UNIT iterations on the same lines (more work,
not sleep), so its share grows to about a half and the other two shrink to
about a quarter each.  Runs for --seconds (default 30), or until SIGTERM or
SIGINT.
"""
import argparse
import signal
import sys
import time

# Long enough that a call spans several sampling periods at 99-999 Hz.
UNIT = 200000
FUNCS = ("parse", "transform", "render")
work = dict.fromkeys(FUNCS, UNIT)


def parse():
    for _ in range(work["parse"]): pass  # HOT-PARSE


def transform():
    for _ in range(work["transform"]): pass  # HOT-TRANSFORM


def render():
    for _ in range(work["render"]): pass  # HOT-RENDER


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--slow", choices=FUNCS)
    args = ap.parse_args()
    if args.slow:
        work[args.slow] = 2 * UNIT
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    end = time.perf_counter() + args.seconds
    print("ready", flush=True)
    while time.perf_counter() < end:
        parse()
        transform()
        render()


if __name__ == "__main__":
    main()  # ROOT
