# SPDX-License-Identifier: MIT
# Workload: threads blocked for different reasons, each in its own function.
"""Proves off-CPU reasons.  Threads and where they block:

    read_slow_socket()  recv() from a local server that sends a byte every
                        300 ms                          -> [io: recv]
    wait_for_lock()     a threading.Lock that hold_lock() keeps for 200 ms
                        at a time                       -> [lock: futex]
    spin_a(), spin_b()  two pure-Python loops fighting over the GIL
                                                        -> [gil]
    hold_lock()         sleeps while holding the lock   -> [sleep]

Prints "ready" once every thread runs; runs for --seconds (default 30)."""
import argparse
import socket
import threading
import time

lock = threading.Lock()


def hold_lock():
    while True:
        with lock:
            time.sleep(0.2)
        time.sleep(0.001)


def wait_for_lock():
    while True:
        with lock:  # LOCK
            pass


def serve_slowly(listener):
    conn, _ = listener.accept()
    while True:
        time.sleep(0.3)
        conn.sendall(b"x")


def read_slow_socket(port):
    conn = socket.create_connection(("127.0.0.1", port))
    while True:
        conn.recv(1)  # RECV


def spin_a():
    while True:
        sum(range(1000))  # SPIN-A


def spin_b():
    while True:
        sum(range(1000))  # SPIN-B


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    for target, fargs in ((hold_lock, ()), (wait_for_lock, ()), (serve_slowly, (listener,)),
                          (read_slow_socket, (port,)), (spin_a, ()), (spin_b, ())):
        threading.Thread(target=target, args=fargs, daemon=True).start()
    print("ready", flush=True)
    time.sleep(args.seconds)


if __name__ == "__main__":
    main()
