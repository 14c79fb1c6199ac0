# SPDX-License-Identifier: MIT
# Workload: the target the engine's unit tests drive (tests/unit/test_session.c,
# test_targets.c, test_watch.c, test_sampler.c), on CPython 3.8+.
"""Says what it is and where it stops, then obeys its stdin.

First line, from the interpreter itself:

    pid PID tid TID hex SYS.HEXVERSION comm COMM

then, each time it parks (blocked reading stdin) or starts to spin, its
stack as the interpreter sees it, innermost first, one frame a line

    F QUALNAME<TAB>FILE<TAB>LINE

(QUALNAME is co_name before 3.11, which has no co_qualname), then "ready"
(parked) or "spinning".  The line of the innermost frame is the one it
blocks or spins on.  Commands, one a line:

    wake        run, print the stack again, park again at the same line
    spin        spin for ever on one line
    name NAME   rename its thread (/proc/thread-self/comm), then as wake
    exec        exec itself again (the same PID, a new image)
    EOF         exit
"""
import os
import sys
import threading


def qualname(code):
    return getattr(code, "co_qualname", code.co_name)


def stack(what, ahead=0):
    """Print the caller's stack (its line moved ahead by `ahead`), then what."""
    f = sys._getframe(1)
    line = f.f_lineno + ahead
    while f is not None:
        print("F %s\t%s\t%d" % (qualname(f.f_code), f.f_code.co_filename, line))
        f = f.f_back
        line = f.f_lineno if f is not None else 0
    print(what, flush=True)


class Worker:
    def park(self):
        while True:
            cmd = stack("ready") or sys.stdin.readline()  # PARK
            if not cmd:
                return
            cmd = cmd.split()
            if cmd[0] == "spin":
                self.spin()
            elif cmd[0] == "name":
                with open("/proc/thread-self/comm", "w") as f:
                    f.write(cmd[1])
            elif cmd[0] == "exec":
                os.execv(sys.executable, [sys.executable, "-u"] + sys.argv)

    def spin(self):
        stack("spinning", 1)
        while True: pass  # SPIN


def main():
    with open("/proc/thread-self/comm") as f:
        comm = f.read().strip()
    print("pid %d tid %d hex %d comm %s" % (os.getpid(), threading.get_native_id(),
                                           sys.hexversion, comm), flush=True)
    Worker().park()


main()
