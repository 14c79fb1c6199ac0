#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""seeds.py OUTDIR: seed corpora for tests/fuzz, taken from the real thing.

  debug_offsets  the first 1024 bytes of _PyRuntime of every 3.13+ of
                 tests/interpreters.txt (pyenv's, and Debian sid's)
  linetable      line tables of real code objects of every interpreter of
                 tests/interpreters.txt on the host,
                 in fuzz_linetable's framing (kind byte, offset, table)
  elf            small real ELF files (the fuzzer works on their headers)
  cgroup         this host's /proc/self/cgroup and typical container ones
  stackwalk      registers, a rule table and a stack that walk a few frames
  dwarf          .eh_frame, .debug_frame and .debug_line (DWARF 4 and 5) of
                 small objects gcc builds here, in fuzz_dwarf's framing
  folded, pprof  a small profile in each format
"""
import gzip
import os
import shutil
import struct
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests"))
import interpreters  # noqa: E402  (tests/interpreters.txt)

LINETABLES = r'''
import sys, json, os, argparse
v = sys.version_info[:2]
kind = 0 if v < (3, 10) else 1 if v == (3, 10) else 2
for fn in (json.dumps, os.path.join, argparse.ArgumentParser.parse_args):
    c = fn.__code__
    t = c.co_lnotab if v < (3, 10) else c.co_linetable
    print((bytes([kind]) + (40).to_bytes(4, "little") + t).hex())
'''


def put(path, data):
    with open(path, "wb") as f:
        f.write(data)


def run(argv, stdin):
    p = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       universal_newlines=True, timeout=60)
    return p.stdout if p.returncode == 0 else ""


def varint(n):
    out = b""
    while True:
        b = n & 0x7f
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def field(num, payload):
    """A length-delimited protobuf field."""
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def number(num, v):
    return varint(num << 3) + varint(v)


def pprof():
    """profile.proto: one sample of two frames, with labels, a period, a time."""
    strings = [b"", b"samples", b"count", b"hot", b"app.py", b"main", b"pid", b"thread_name",
               b"w"]
    p = field(1, number(1, 1) + number(2, 2))                     # sample_type
    p += field(2, field(1, varint(1) + varint(2)) + number(2, 5)  # sample: locations, value
               + field(3, number(1, 6) + number(3, 1234))          # numeric label pid
               + field(3, number(1, 7) + number(2, 8)))            # string label
    for i, (fn, line) in enumerate(((1, 9), (2, 3)), 1):
        p += field(4, number(1, i) + field(4, number(1, fn) + number(2, line)))  # location
    p += field(5, number(1, 1) + number(2, 3) + number(4, 4) + number(5, 8))    # function
    p += field(5, number(1, 2) + number(2, 5) + number(4, 4) + number(5, 1))
    for s in strings:
        p += field(6, s)
    p += number(9, 1700000000000000000) + number(10, 2000000000) + number(12, 10000000)
    return p


def elf_objects(out):
    """A small shared object with CFI and DWARF lines, and one with MiniDebugInfo."""
    tmp = tempfile.mkdtemp()
    src = os.path.join(tmp, "s.c")
    with open(src, "w") as f:
        f.write("static int g(int x) { return x * 3; }\n"
                "int f(int x) { return g(x) + 1; }\n")
    so = os.path.join(tmp, "s.so")
    if subprocess.call(["gcc", "-shared", "-fPIC", "-O1", "-g", src, "-o", so]):
        return
    shutil.copy(so, os.path.join(out, "dwarf.so"))
    mini = os.path.join(tmp, "mini")
    if (subprocess.call(["objcopy", "--only-keep-debug", "--strip-debug", so, mini]) or
            subprocess.call(["xz", "-f", mini]) or
            subprocess.call(["strip", "--strip-all", so]) or
            subprocess.call(["objcopy", "--add-section", ".gnu_debugdata=%s.xz" % mini, so])):
        return
    shutil.copy(so, os.path.join(out, "minidebug.so"))


def dwarf_seeds(out):
    """Sections of objects gcc builds now: kind byte, address, bytes."""
    tmp = tempfile.mkdtemp()
    src = os.path.join(tmp, "s.c")
    with open(src, "w") as f:
        f.write("int g(int *v, int n) { int s = 0; for (int i = 0; i < n; i++) s += v[i];\n"
                "  return s; }\nint f(int n) { int v[64]; for (int i = 0; i < 64; i++)\n"
                "  v[i] = i * n; return g(v, n & 63); }\n")
    builds = [("eh", "-gdwarf-5", ".eh_frame", 0), ("df", "-g -fno-asynchronous-unwind-tables "
              "-fno-unwind-tables", ".debug_frame", 1), ("l4", "-gdwarf-4", ".debug_line", 2),
              ("l5", "-gdwarf-5", ".debug_line", 2)]
    for name, flags, section, kind in builds:
        so = os.path.join(tmp, name + ".so")
        if subprocess.call(["gcc", "-shared", "-fPIC", "-O1"] + flags.split() + [src, "-o", so]):
            continue
        for line in run(["readelf", "-SW", so], "").splitlines():
            parts = line.replace("[ ", "[").split()
            if len(parts) > 5 and parts[1] == section:
                addr, off, size = (int(x, 16) for x in parts[3:6])
                with open(so, "rb") as f:
                    f.seek(off)
                    put(os.path.join(out, name),
                        bytes([kind]) + struct.pack("<Q", addr) + f.read(size))


def stackwalk_seed():
    """sp 0x1000: rules for pcs 0x10 (CFA sp+16) and 0x1f (END); RA 0x20 at 0x1008."""
    regs = struct.pack("<QQQ", 0x10, 0x1000, 0x40)
    rule = lambda pc, kind, off: struct.pack("<QBBBBiii", pc, kind, 0, 0, 0, off, -8, 0)
    stack = bytearray(64)
    stack[8:16] = struct.pack("<Q", 0x20)
    return regs + bytes([2]) + rule(0x10, 0, 16) + rule(0x1f, 1, 0) + bytes(stack)


def async_seed():
    """Debian 3.14's AsyncioDebug values, then a record: T's frames, T, P's, P."""
    sec = struct.pack("<13Q", 168, 136, 96, 108, 109, 128, 152, 225864, 10880, 936, 864,
                      872, 880)
    fr = lambda code, lasti: struct.pack("<QiI", code, lasti, 0)
    frames = (fr(0x1000, 2) + fr(0x2001, 4) + fr(0x10004, 7) + fr(0x3000, 6) +
              fr(0x4000, 8) + fr(0x20004, 9))
    return b"\0" + sec + frames


def main():
    out = sys.argv[1]
    for d in ("debug_offsets", "linetable", "elf", "cgroup", "folded", "pprof", "stackwalk",
              "async", "dwarf"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    dumper = open(os.path.join(REPO, "tests", "unit", "dump_debug_offsets.py")).read()
    pys = [["chroot", it.root, it.path] if it.root else [it.host_path]
           for it in interpreters.load() if it.version_tuple >= (3, 13)
           and os.access(it.host_path, os.X_OK)]
    for i, argv in enumerate(pys):
        lines = run(argv + ["-", "1024"], dumper).split()
        if len(lines) == 2:
            put(os.path.join(out, "debug_offsets", "seed%d" % i), bytes.fromhex(lines[1]))
    n = 0
    for it in interpreters.load():
        if it.root or not os.access(it.host_path, os.X_OK):
            continue
        for hexed in run([it.host_path, "-"], LINETABLES).split():
            put(os.path.join(out, "linetable", "seed%d" % n), bytes.fromhex(hexed))
            n += 1
    shutil.copy("/bin/true", os.path.join(out, "elf", "true"))
    elf_objects(os.path.join(out, "elf"))
    put(os.path.join(out, "stackwalk", "chain"), stackwalk_seed())
    dwarf_seeds(os.path.join(out, "dwarf"))
    shutil.copy("/proc/self/cgroup", os.path.join(out, "cgroup", "host"))
    cid = "3f2a9c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b"
    put(os.path.join(out, "cgroup", "k8s"), (
        "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_5f60_7182_"
        "93a4_b5c6d7e8f901.slice/cri-containerd-%s.scope\n" % cid).encode())
    put(os.path.join(out, "cgroup", "docker-v1"), (
        "12:pids:/docker/%s\n1:name=systemd:/docker/%s\n0::/\n" % (cid, cid)).encode())
    put(os.path.join(out, "folded", "simple"),
        b"<module> (app.py:1);main (app.py:5);hot (app.py:9) 42\n"
        b"process 7 (py);thread 8 (w);[truncated];f (x.py:2) 1\n")
    put(os.path.join(out, "async", "split"), async_seed())
    put(os.path.join(out, "pprof", "raw"), pprof())
    put(os.path.join(out, "pprof", "gz"), gzip.compress(pprof()))


if __name__ == "__main__":
    main()
