# SPDX-License-Identifier: MIT
# bench: a process with N threads blocked on one Event (default 100), for the registration cost.
import sys
import threading
import time

n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
ev = threading.Event()
for _ in range(n):
    threading.Thread(target=ev.wait, daemon=True).start()
print("ready", flush=True)
time.sleep(600)
