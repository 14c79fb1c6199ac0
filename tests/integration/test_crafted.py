# SPDX-License-Identifier: MIT
"""Files crafted to make the agent load more than a file holds.

Each shape is made here, from real tools' output (/usr/bin/yes, gcc, gas,
objcopy), and then profiled: the agent stays under its budget, says what it
refused in one line, and goes on with what it can read.
- Discovery (every process's executable is a candidate, --pid and --all,
  where a process is looked at once it runs):
  section headers that all name one 24 MiB region (libelf loaded a copy per
  header: 3 GiB in 25 s), and an extended section count of 15 million
  (libelf allocates per header before reading one).
- --native: a line-row bomb (a row per byte of program, and thousands of
  units sharing it: libdw kept every row per unit), a .zdebug_line bomb
  (256 MiB of zeros in 256 KiB; .zdebug_* was not counted at all), and an
  .eh_frame remember_state bomb (libdw kept a state per pair).
"""
import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib

import pytest

from conftest import (BY_ID, NO_QUARANTINE, PEAK, WORKLOADS, peak_kib, require_python,
                      run_pyspy, total)

# Runs alone (conftest.py, serial): peak memory beside crafted files, under --all too.
pytestmark = pytest.mark.serial

SPIN_S = WORKLOADS / "native" / "spin.S"
MIB = 1 << 20
# The agent (ASan build, no quarantine) profiling one target peaks well
# under this; every bomb here made an agent that trusted it pass 3 GiB.
PEAK_MAX_KIB = 192 * 1024
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


# --- crafted executables ------------------------------------------------------

def elf_header(data):
    """(e_shoff, e_shentsize, e_shnum, e_shstrndx) of a 64-bit ELF."""
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3a)
    return shoff, shentsize, shnum, shstrndx


def shdr(name, type_, offset, size, link=0, entsize=0):
    # sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info,
    # sh_addralign, sh_entsize
    return struct.pack("<IIQQQQIIQQ", name, type_, 0, 0, offset, size, link, 0, 1, entsize)


def craft_executable(path, shape):
    """/usr/bin/yes with its section headers replaced.  alias: 64 SHT_SYMTAB
    headers, each its own string table, all naming the same 24 MiB (a
    sparse tail).  count: e_shnum 0 and section 0 claiming 15 million
    headers, a sparse table that fits the file.  The kernel runs it as
    yes: exec reads program headers only."""
    data = bytearray(open("/usr/bin/yes", "rb").read())
    names = b"\0.symtab\0.shstrtab\0"
    names_off = len(data)
    data += names
    while len(data) % 8:
        data += b"\0"
    table = len(data)
    if shape == "alias":
        n = 64
        big = (table + (n + 2) * 64 + 0xfff) & ~0xfff
        headers = shdr(0, 0, 0, 0) + shdr(9, 3, names_off, len(names))
        for i in range(n):
            headers += shdr(1, 2, big, 24 * MIB, link=2 + i, entsize=24)
        data += headers
        size = big + 24 * MIB
        shnum, shstrndx = n + 2, 1
    else:
        count = 15 * 1000 * 1000
        # Section 0 holds the real count in sh_size; the table fits the file.
        data += struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, count, 1, 0, 0, 0)
        size = table + count * 64
        shnum, shstrndx = 0, 1
    struct.pack_into("<Q", data, 0x28, table)
    struct.pack_into("<HHH", data, 0x3a, 64, shnum, shstrndx)
    with open(path, "wb") as f:
        f.write(data)
        f.truncate(size)
    os.chmod(path, 0o755)


@pytest.fixture
def crafted(request):
    """crafted(shape) -> a Popen of the crafted yes, run as nobody, niced: it
    runs, so that --all meets it, without starving the Python beside it."""
    made = []
    d = tempfile.mkdtemp(prefix="pyspy-crafted-")
    os.chmod(d, 0o755)

    def start(shape):
        path = os.path.join(d, "crafted-" + shape)
        craft_executable(path, shape)
        p = subprocess.Popen(["nice", "-n", "10"] + NOBODY + [path], start_new_session=True,
                             stdout=subprocess.DEVNULL)
        made.append(p)
        return p

    yield start
    for p in made:
        p.kill()
        p.wait()
    shutil.rmtree(d)


REASONS = {"alias": "section headers overlap",
           "count": "too many section or program headers"}


def refusals(stderr, pattern):
    return [line for line in stderr.splitlines() if re.search(pattern, line)]


@pytest.mark.parametrize("shape", ["alias", "count"])
def test_crafted_executable_pid(shape, crafted, pyspy, tmp_path):
    """record --pid of a process (not Python, run by nobody) whose executable
    lies in its section headers: one line that says which file and why, a
    non-zero exit, and the agent's peak memory within its budget."""
    p = crafted(shape)
    out = tmp_path / "p.folded"
    r = run_pyspy("/usr/bin/python3", ["-c", PEAK, pyspy, "record", "--pid", p.pid,
                                       "--duration", 1, "-o", out], out, env=NO_QUARANTINE)
    assert r.rc != 0, str(r)
    lines = refusals(r.stderr, r"crafted-%s" % shape)
    assert len(lines) == 1, str(r)
    assert re.search(r"PID %d \(crafted-%s\): refusing .*/crafted-%s: %s$" % (
        p.pid, shape, shape, REASONS[shape]), lines[0]), lines
    assert peak_kib(r) < PEAK_MAX_KIB, str(r)


def test_crafted_executable_all(crafted, workload, pyspy, tmp_path):
    """record --all with both crafted processes running beside a Python:
    the Python is profiled, each crafted one skipped in one line, and the
    agent's peak memory within its budget."""
    python = require_python(BY_ID["3.11-debian"])
    procs = {shape: crafted(shape) for shape in REASONS}
    w = workload(python, "simple.py", "--seconds", 60)
    out = tmp_path / "p.folded"
    r = run_pyspy("/usr/bin/python3", ["-c", PEAK, pyspy, "record", "--all", "--pids",
                                       "--duration", 3, "-o", out], out, env=NO_QUARANTINE, timeout=90)
    stacks = r.profile()
    mine = [(f, c) for f, c in stacks if f[0].startswith("process %d " % w.pid)]
    assert total(mine) > 10, str(r)
    for shape, p in procs.items():
        lines = refusals(r.stderr, r"skipping PID %d:" % p.pid)
        assert len(lines) == 1, str(r)
        assert lines[0].endswith("crafted-%s: %s" % (shape, REASONS[shape])), lines
    assert peak_kib(r) < PEAK_MAX_KIB, str(r)


# --- crafted libraries, for --native -----------------------------------------

def uleb(v):
    out = bytearray()
    while True:
        b = v & 0x7f
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def text_addr(so):
    out = subprocess.run(["nm", so], stdout=subprocess.PIPE, universal_newlines=True,
                         check=True).stdout
    m = re.search(r"^([0-9a-f]+) T hx_spin$", out, re.M)
    assert m, out
    return int(m.group(1), 16)


def row_bomb(addr, rows):
    """.debug_line (DWARF 4): one sequence at addr with `rows` DW_LNS_copy
    rows, one byte each."""
    files = b"spin.S\0\0\0\0\0"
    header = (struct.pack("<BBBbBB", 1, 1, 1, -5, 14, 13) +
              bytes([0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1]) + b"\0" + files)
    body = (b"\0\x09\x02" + struct.pack("<Q", addr) + b"\x01" * rows +
            b"\x02\x04" + b"\0\x01\x01")
    unit = struct.pack("<H", 4) + struct.pack("<I", len(header)) + header + body
    return struct.pack("<I", len(unit)) + unit


def cu_bomb(units):
    """.debug_info and .debug_abbrev: `units` compile units, each pointing
    at the same line table (DW_AT_stmt_list 0)."""
    abbrev = uleb(1) + uleb(0x11) + b"\0" + uleb(0x10) + uleb(0x17) + b"\0\0" + b"\0"
    cu = struct.pack("<HIB", 4, 0, 8) + uleb(1) + struct.pack("<I", 0)
    info = (struct.pack("<I", len(cu)) + cu) * units
    return info, abbrev


def zdebug_bomb(claimed):
    """.zdebug_line: GNU's form, "ZLIB" + the size (big-endian) + a zlib
    stream of that many zeros."""
    z = zlib.compressobj(9)
    chunk = bytes(MIB)
    data = b"".join(z.compress(chunk) for _ in range(claimed // MIB)) + z.flush()
    return b"ZLIB" + struct.pack(">Q", claimed) + data


def build_lib(tmp_path, shape):
    """spin.so (tests/workloads/native/spin.S) with the bomb of `shape`."""
    so = str(tmp_path / "spin.so")
    defs = ["-DCFI_BOMB=2000000"] if shape == "ehframe" else []
    subprocess.run(["gcc", "-shared", "-fPIC"] + defs + [str(SPIN_S), "-o", so], check=True)
    if shape == "ehframe":
        return so
    sections = {}
    if shape == "rows":
        sections[".debug_line"] = row_bomb(text_addr(so), 4 * MIB)
        sections[".debug_info"], sections[".debug_abbrev"] = cu_bomb(20000)
    else:
        sections[".zdebug_line"] = zdebug_bomb(256 * MIB)
    args = []
    for name, data in sections.items():
        path = str(tmp_path / (name.strip(".") + ".bin"))
        with open(path, "wb") as f:
            f.write(data)
        args += ["--add-section", "%s=%s" % (name, path)]
    bomb = str(tmp_path / "bomb.so")
    subprocess.run(["objcopy"] + args + [so, bomb], check=True)
    return bomb


REFUSED = {
    "rows": None,  # nothing to refuse: memory is the section and a few checkpoints
    "zdebug": r"lib1\.so: \.debug_line: larger than 32 MiB, not read$",
    "ehframe": r"lib1\.so: \.eh_frame: 1 FDEs with more than 16384 bytes of instructions",
}


@pytest.mark.parametrize("shape", sorted(REFUSED))
def test_native_bombs(shape, workload, pyspy, tmp_path):
    """A Python calling into a library whose DWARF is a bomb, profiled with
    --native: the Python frames are all there, the library's frames are
    named by its symbols, the agent's peak memory is within its budget, and
    what was refused is said once."""
    python = require_python(BY_ID["3.12"])
    so = build_lib(tmp_path, shape)
    libdir = tmp_path / "lib"
    libdir.mkdir()
    lib = str(libdir / "spin.so")
    shutil.copy(so, lib)
    w = workload(python, "native_mixed.py", "-", "lib", lib)
    out = tmp_path / "p.folded"
    r = run_pyspy("/usr/bin/python3", ["-c", PEAK, pyspy, "record", "--pid", w.pid, "--native",
                                       "--duration", 3, "--rate", 199, "-o", out], out,
                  env=NO_QUARANTINE)
    stacks = r.profile()
    run_lib = [c for f, c in stacks if any(x.startswith("run_lib (") for x in f)]
    assert sum(run_lib) > 0.9 * total(stacks), stacks[:5]
    named = [c for f, c in stacks if any(x.startswith("hx_spin (") for x in f)]
    assert sum(named) > 0.5 * total(stacks), stacks[:5]
    # native_mixed.py loads the library as lib1.so.
    lines = [x for x in r.stderr.splitlines() if "lib1.so:" in x]
    if REFUSED[shape]:
        assert len(lines) == 1 and re.search(REFUSED[shape], lines[0]), str(r)
    else:
        assert not lines, str(r)
    assert peak_kib(r) < PEAK_MAX_KIB, str(r)


def test_native_bombs_all(workload, pyspy, tmp_path):
    """The three bombs at once, each loaded by a Python of its own, under
    record --all --native: every one of them profiled with its Python
    frames, what is refused said once per library, and the agent's peak
    memory within its budget."""
    python = require_python(BY_ID["3.12"])
    ws = {}
    for shape in sorted(REFUSED):
        d = tmp_path / shape
        (d / "lib").mkdir(parents=True)
        lib = str(d / "lib" / "spin.so")
        shutil.copy(build_lib(d, shape), lib)
        ws[shape] = workload(python, "native_mixed.py", "-", "lib", lib)
    out = tmp_path / "p.folded"
    r = run_pyspy("/usr/bin/python3", ["-c", PEAK, pyspy, "record", "--all", "--pids", "--native",
                                       "--duration", 3, "--rate", 199, "-o", out], out,
                  env=NO_QUARANTINE, timeout=120)
    stacks = r.profile()
    for shape, w in ws.items():
        mine = [(f, c) for f, c in stacks if f[0].startswith("process %d " % w.pid)]
        run_lib = [c for f, c in mine if any(x.startswith("run_lib (") for x in f)]
        assert total(mine) > 0 and sum(run_lib) > 0.9 * total(mine), (shape, mine[:5], str(r))
        # Each process loads its copy as lib1.so (native_mixed.py); each
        # shape's refusal is its own, said once.
        if REFUSED[shape]:
            assert len(refusals(r.stderr, REFUSED[shape])) == 1, (shape, str(r))
    assert peak_kib(r) < PEAK_MAX_KIB, str(r)
