#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# check-layers.py - includes only point down: every #include "..." of a file
# in one of the Makefile's LAYERS names a header on its own floor or a lower
# one (bpf/ is the contract under them all; build/ holds generated headers),
# and every file that includes <uthash.h> includes user/base/hash.h before
# it, so that its tables hash with the run's key, not uthash's unkeyed one.
# Prints each include that breaks a rule and exits 1 if there is any.
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def layers():
    text = open(os.path.join(REPO, "Makefile")).read()
    m = re.search(r"^LAYERS\s*:=((?:.*\\\n)*.*)$", text, re.M)
    if not m:
        sys.exit("check-layers: no LAYERS in the Makefile")
    return m.group(1).replace("\\\n", " ").split()


def floor_of(path, order):
    d = os.path.dirname(path)
    if d == "bpf":
        return -1
    return order.index(d) if d in order else None


def main():
    order = layers()
    bad = []
    for d in order:
        for name in sorted(os.listdir(os.path.join(REPO, d))):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(d, name)
            mine = floor_of(path, order)
            keyed = False
            for n, line in enumerate(open(os.path.join(REPO, path)), 1):
                if re.match(r'\s*#\s*include\s+"user/base/hash\.h"', line):
                    keyed = True
                if re.match(r'\s*#\s*include\s+<uthash\.h>', line) and not keyed:
                    bad.append("%s:%d: includes <uthash.h> without user/base/hash.h before it"
                               " (its tables would hash unkeyed)" % (path, n))
                m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                if not m:
                    continue
                inc = m.group(1)
                target = inc if "/" in inc else os.path.join(d, inc)
                if not os.path.exists(os.path.join(REPO, target)):
                    continue  # generated into build/ (skeleton, protobuf)
                theirs = floor_of(target, order)
                if theirs is None:
                    bad.append("%s:%d: includes %s, which is in no layer" % (path, n, inc))
                elif theirs > mine:
                    bad.append("%s:%d: includes %s from %s, above %s" % (
                        path, n, inc, os.path.dirname(target), d))
    for b in bad:
        print("check-layers: " + b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
