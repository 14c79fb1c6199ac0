# SPDX-License-Identifier: MIT
# Workload: threads that wait for the whole recording, each in its own function.
"""Proves that wall time adds up for threads that are already blocked when
recording starts, or still blocked when it stops.  Threads and where they
wait (each on a line with a marker comment):

    main thread  main() -> time.sleep                 "# SLEEP"  (root "# ROOT")
    locker       lock_wait() -> Lock.acquire          "# LOCK"   (the lock is never released)
    receiver     recv_wait() -> socket.recv           "# RECV"   (nothing is ever sent)
    late         late() waits for SIGUSR1 ("# GO"), then spins --spin seconds
                 ("# SPIN"), then sleeps past the end in nap() ("# NAP")

The workers set their kernel thread name (comm) to their Python name.
Prints "ready" once every thread waits, then runs for --seconds (default 60).
"""
import argparse
import signal
import socket
import threading
import time

from osthread import name_os_thread

held = threading.Lock()
held.acquire()
go = threading.Event()


def lock_wait(started):
    name_os_thread("locker")
    started.release()
    held.acquire()  # LOCK


def recv_wait(started, sock):
    name_os_thread("receiver")
    started.release()
    sock.recv(1)  # RECV


def nap():
    time.sleep(3600)  # NAP


def late(started, spin):
    name_os_thread("late")
    started.release()
    go.wait()  # GO
    end = time.perf_counter() + spin
    while time.perf_counter() < end: pass  # SPIN
    nap()  # CALL-NAP


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--spin", type=float, default=0.5)
    args = ap.parse_args()
    signal.signal(signal.SIGUSR1, lambda *_: go.set())
    a, b = socket.socketpair()
    started = threading.Semaphore(0)
    for target, extra in ((lock_wait, ()), (recv_wait, (a,)), (late, (args.spin,))):
        threading.Thread(target=target, args=(started,) + extra, daemon=True).start()
    for _ in range(3):
        started.acquire()
    time.sleep(0.1)  # each worker is now in its wait
    print("ready", flush=True)
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        time.sleep(end - time.monotonic())  # SLEEP


if __name__ == "__main__":
    main()  # ROOT
