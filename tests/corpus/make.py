#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make.py [BIN] [ID...]: take a corpus image of every interpreter of
tests/interpreters.txt (or those named): tests/corpus/ID.img and ID.expected.

Each interpreter runs tests/corpus/target.py, which parks its threads in
the shapes a walk must get right and prints every thread's stack as the
interpreter itself sees it (ID.expected: "thread IDENT", then one
"qualname<TAB>file<TAB>line" per frame, innermost first).  The target is
then stopped (SIGSTOP: a picture of one instant; the profiler itself never
stops a target), `BIN dump --save-image` keeps every byte of memory its
walk and its names read (ID.img), and the target is killed.
tests/unit/test_walk.c replays the walk over each image, without the
process or root, and holds it to ID.expected.  On 3.14+ a second image,
ID-async.img, is of tests/corpus/target_async.py (an event loop parked
while a task runs under an await chain) taken with `dump --async`;
tests/unit/test_coro.c replays the coroutine step over it.  Run as root, after a change
to what the walk reads (the image must hold it): the images are data, kept
in the tree.
"""
import os
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests"))
import interpreters  # noqa: E402

INROOT = os.path.join(REPO, "tests", "helpers", "inroot.sh")


def take(binary, it, target="target.py", name=None, dump_args=()):
    name = name or it.id
    argv = ([INROOT, it.root, it.path] if it.root else [it.host_path]) + ["-"]
    with open(os.path.join(HERE, target), "rb") as src:
        p = subprocess.Popen(argv, stdin=src, stdout=subprocess.PIPE, universal_newlines=True,
                             start_new_session=True)
    try:
        lines = []
        for line in p.stdout:
            if line.strip() == "ready":
                break
            lines.append(line)
        else:
            raise SystemExit("%s: the target ended without its stacks" % it.id)
        os.kill(p.pid, signal.SIGSTOP)
        img = os.path.join(HERE, name + ".img")
        if os.path.exists(img):
            os.unlink(img)
        dump = subprocess.run([binary, "dump", "--pid", str(p.pid), "--save-image", img] +
                              list(dump_args),
                              stdout=subprocess.PIPE, universal_newlines=True)
        if dump.returncode:
            raise SystemExit("%s: dump failed" % name)
        with open(os.path.join(HERE, name + ".expected"), "w") as f:
            f.writelines(lines)
        print("%s: %d threads, %d tasks, image %d bytes" % (
            name, sum(1 for x in lines if x.startswith("thread ")),
            sum(1 for x in lines if x.startswith("task ")), os.path.getsize(img)))
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "build", "pyspy-bpf")
    want = set(sys.argv[2:])
    for it in interpreters.load():
        if not want or it.id in want:
            take(binary, it)
            if it.version_tuple >= (3, 14):
                take(binary, it, "target_async.py", it.id + "-async", ["--async"])


if __name__ == "__main__":
    main()
