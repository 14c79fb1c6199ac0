#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# check-layers.py - calls point down, through includes and callbacks alike.
#
# The Makefile's LAYERS lists the floors, lowest first; bpf/ is the contract
# under them all and build/ holds generated headers.  Rules:
#  1. Folders show the floors: the floors of one top-level folder are
#     contiguous, and the top-level folders stand bpf < symbolize < user,
#     so no folder includes or calls one above it.
#  2. Every #include "..." names a header on its own floor or a lower one.
#  3. No callback runs up: a function of one floor is not handed, as a
#     value, to a function of a lower floor (as an argument, or stored in a
#     field whose function-pointer type a lower floor's header declares),
#     which would then call it.  Data goes down instead (a cursor the caller
#     pulls, a table it fills).  Found by reading the C text: a function
#     defined in the file (or its .c, for a header) and named without a
#     call, inside the argument list of a call or on the right of
#     `.field =` / `->field =`.
#  4. A file that includes <uthash.h> includes symbolize/base/hash.h before it,
#     so that its tables hash with the run's key, not uthash's unkeyed one.
# Prints each break of a rule and exits 1 if there is any.
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOP_ORDER = ["bpf", "symbolize", "user"]
HASH_H = "hash.h"


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


def strip(text):
    """Comments and literals blanked, line numbers kept."""
    text = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(\\.|[^"\\\n])*"', '""', text)
    return re.sub(r"'(\\.|[^'\\\n])*'", "''", text)


def check_folders(order, bad):
    tops = [d.split("/")[0] for d in order]
    seen = []
    for t in tops:
        if seen and seen[-1] == t:
            continue
        if t in seen:
            bad.append("LAYERS: the floors of %s/ are not contiguous" % t)
        seen.append(t)
    ranks = [TOP_ORDER.index(t) if t in TOP_ORDER else None for t in seen]
    if None in ranks or ranks != sorted(ranks):
        bad.append("LAYERS: top-level folders stand %s, not in the order %s" % (
            " < ".join(seen), " < ".join(TOP_ORDER)))


def check_includes(order, raw, bad):
    for path, text in raw.items():
        d = os.path.dirname(path)
        mine = floor_of(path, order)
        keyed = False
        for n, line in enumerate(text.split("\n"), 1):
            m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
            if re.match(r"\s*#\s*include\s+<uthash\.h>", line) and not keyed:
                bad.append("%s:%d: includes <uthash.h> without %s before it"
                           " (its tables would hash unkeyed)" % (path, n, HASH_H))
            if not m:
                continue
            inc = m.group(1)
            keyed = keyed or inc.endswith("base/" + HASH_H) or (inc == HASH_H and d.endswith("/base"))
            target = inc if "/" in inc else os.path.join(d, inc)
            if not os.path.exists(os.path.join(REPO, target)):
                continue  # generated into build/ (skeleton, protobuf)
            theirs = floor_of(target, order)
            if theirs is None:
                bad.append("%s:%d: includes %s, which is in no layer" % (path, n, inc))
            elif theirs > mine:
                bad.append("%s:%d: includes %s from %s, above %s" % (
                    path, n, inc, os.path.dirname(target), d))


DEF = re.compile(r"^[A-Za-z_][\w \t*]*?\b(\w+)\s*\(([^;{}()]*(?:\([^()]*\)[^;{}()]*)*)\)\s*\n\{", re.M)


def receiver(text, at):
    """What the name at offset `at` is handed to: ('call', f), ('field', x) or None."""
    depth = 0
    for i in range(at - 1, -1, -1):
        c = text[i]
        if c == ")":
            depth += 1
        elif c == "(":
            if depth == 0:
                m = re.search(r"(\w+)\s*$", text[:i])
                return ("call", m.group(1)) if m else None
            depth -= 1
        elif c in ";{}" and depth == 0:
            m = re.search(r"(?:\.|->)\s*(\w+)\s*=\s*$", text[:at])
            return ("field", m.group(1)) if m else None
    return None


def check_callbacks(order, files, bad):
    defs = {}  # function name -> files defining it
    for path, text in files.items():
        for m in DEF.finditer(text):
            defs.setdefault(m.group(1), set()).add(path)
    fields = {}  # function-pointer member or parameter name -> header declaring it
    for path, text in files.items():
        if path.endswith(".h"):
            for m in re.finditer(r"\(\s*\*\s*(\w+)\s*\)\s*\(", text):
                fields.setdefault(m.group(1), path)
    for path, text in files.items():
        home = path[:-2] + ".c" if path.endswith(".h") else path
        for m in re.finditer(r"\b([A-Za-z_]\w*)\b", text):
            name = m.group(1)
            if home not in defs.get(name, ()) or text[m.end():].lstrip().startswith("("):
                continue
            r = receiver(text, m.start())
            if not r:
                continue
            if r[0] == "call":
                if r[1] not in defs:
                    continue  # libc, libbpf, a macro: not a floor of ours
                theirs = min(floor_of(p, order) for p in defs[r[1]])
            elif r[1] in fields:
                theirs = floor_of(fields[r[1]], order)
            else:
                continue
            if theirs < floor_of(home, order):
                bad.append("%s:%d: hands %s to %s %s of %s, a lower floor, which would call"
                           " back up" % (path, text.count("\n", 0, m.start()) + 1, name, r[0],
                                         r[1], order[theirs]))


def main():
    order = layers()
    bad = []
    raw = {}
    for d in order:
        for name in sorted(os.listdir(os.path.join(REPO, d))):
            if name.endswith((".c", ".h")):
                path = os.path.join(d, name)
                raw[path] = open(os.path.join(REPO, path)).read()
    check_folders(order, bad)
    check_includes(order, raw, bad)
    check_callbacks(order, {p: strip(t) for p, t in raw.items()}, bad)
    for b in bad:
        print("check-layers: " + b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
