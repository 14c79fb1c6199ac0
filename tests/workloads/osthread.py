# SPDX-License-Identifier: MIT
"""What the workloads share about their OS threads (imported from the
script's own directory, which Python puts first on sys.path)."""
import threading


def name_os_thread(name):
    """The calling thread's comm, as /proc and the profiles show it.

    /proc/self/task/TID/comm is writable by the thread group itself; this
    avoids ctypes, which some builds lack."""
    try:
        with open("/proc/self/task/%d/comm" % threading.get_native_id(), "w") as f:
            f.write(name)
    except (OSError, AttributeError):
        pass
