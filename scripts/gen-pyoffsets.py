#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# gen-pyoffsets.py - measure CPython 3.8-3.15 layouts from headers into
# symbolize/cpython/pyoffsets_table.c.
#
# For each CPython minor of tests/interpreters.txt (the first interpreter of
# that minor whose headers are installed: pyenv's 3.8..3.13, then Debian
# sid's 3.14 and 3.15, the -dev packages in the root that
# scripts/provision-sid.sh builds), this compiles a tiny probe against that
# version's own headers (including internal/, with Py_BUILD_CORE) that
# prints offsetof()/sizeof() for every field of struct py_layout, then
# writes the table.  Numbers come only from the compiler, so the table
# cannot drift from the headers by hand-editing.  3.13+ are sampled from
# the target's own _Py_DebugOffsets; their rows are the cross-check the
# unit test compares each live interpreter against.  The debug build
# (python3.14-dbg, Py_DEBUG) is probed too and must lay out every field
# the same as 3.14, or this fails naming the field (the list's `debug` tag).
#
# Usage: scripts/gen-pyoffsets.py [--out FILE] [--allow-missing]
# (PYENV_ROOT and PYSPY_SID_ROOT say where the interpreters are.)
# Runs under any python3; needs gcc.  Output is deterministic: it depends only
# on the headers found, never on time, paths or dictionary order.

import argparse
import os
import re
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))
import interpreters  # noqa: E402  (tests/interpreters.txt)

CC = os.environ.get("CC_PROBE", "gcc")

# struct py_layout fields after major/minor/frame_model/linetable_kind, in
# declaration order (symbolize/cpython/pyoffsets.h).  The probe must produce each one or
# the version must list it as absent.
OFFSET_FIELDS = [
    "runtime_interp_head",
    "interp_next",
    "interp_threads_head",
    "tstate_next",
    "tstate_interp",
    "tstate_thread_id",
    "tstate_native_thread_id",
    "tstate_frame",
    "tstate_datastack_chunk",
    "cframe_current",
    "frame_back",
    "frame_code",
    "frame_instr",
    "frame_owner",
    "frame_size",
    "object_type",
    "varobject_size",
    "code_filename",
    "code_name",
    "code_qualname",
    "code_firstlineno",
    "code_linetable",
    "code_code",
    "code_adaptive",
    "code_size",
    "bytes_size",
    "bytes_sval",
    "unicode_length",
    "unicode_state",
    "unicode_ascii_data",
    "unicode_compact_data",
    "gil_runtime",
    "gil_interp_ptr",
    "gil_last_holder",
    "gil_locked",
    "gil_size",
]

COMMON = {
    "runtime_interp_head": "offsetof(_PyRuntimeState, interpreters.head)",
    "interp_next": "offsetof(PyInterpreterState, next)",
    "tstate_next": "offsetof(PyThreadState, next)",
    "tstate_interp": "offsetof(PyThreadState, interp)",
    "tstate_thread_id": "offsetof(PyThreadState, thread_id)",
    "object_type": "offsetof(PyObject, ob_type)",
    "varobject_size": "offsetof(PyVarObject, ob_size)",
    "code_filename": "offsetof(PyCodeObject, co_filename)",
    "code_name": "offsetof(PyCodeObject, co_name)",
    "code_firstlineno": "offsetof(PyCodeObject, co_firstlineno)",
    "bytes_size": "offsetof(PyBytesObject, ob_base.ob_size)",
    "bytes_sval": "offsetof(PyBytesObject, ob_sval)",
    "unicode_length": "offsetof(PyASCIIObject, length)",
    "unicode_state": "offsetof(PyASCIIObject, state)",
    "unicode_ascii_data": "sizeof(PyASCIIObject)",
    "unicode_compact_data": "sizeof(PyCompactUnicodeObject)",
    "gil_last_holder": "offsetof(struct _gil_runtime_state, last_holder)",
    "gil_locked": "offsetof(struct _gil_runtime_state, locked)",
    "gil_size": "sizeof(struct _gil_runtime_state)",
}

# Where the GIL is: inside _PyRuntime up to 3.11, behind the interpreter's
# ceval.gil pointer from 3.12 (per-interpreter GIL).
GIL_RUNTIME = {"gil_runtime": "offsetof(_PyRuntimeState, ceval.gil)"}
GIL_INTERP = {"gil_interp_ptr": "offsetof(PyInterpreterState, ceval.gil)"}

# PyFrameObject era.  frame_size stops at the end of f_lineno: the sampler
# reads no further than f_lasti, and the whole object (with f_localsplus)
# would not fit PYSPY_FRAME_BUF.
FRAMEOBJECT = {
    "interp_threads_head": "offsetof(PyInterpreterState, tstate_head)",
    "tstate_frame": "offsetof(PyThreadState, frame)",
    "frame_back": "offsetof(PyFrameObject, f_back)",
    "frame_code": "offsetof(PyFrameObject, f_code)",
    "frame_instr": "offsetof(PyFrameObject, f_lasti)",
    "frame_size": "offsetof(PyFrameObject, f_lineno) + sizeof(int)",
    "code_code": "offsetof(PyCodeObject, co_code)",
}

# _PyInterpreterFrame era.  sizeof() leaves out the localsplus flexible array.
INTERPFRAME = {
    "interp_threads_head": "offsetof(PyInterpreterState, threads.head)",
    "tstate_native_thread_id": "offsetof(PyThreadState, native_thread_id)",
    "tstate_datastack_chunk": "offsetof(PyThreadState, datastack_chunk)",
    "frame_back": "offsetof(_PyInterpreterFrame, previous)",
    "frame_owner": "offsetof(_PyInterpreterFrame, owner)",
    "frame_size": "sizeof(_PyInterpreterFrame)",
    "code_qualname": "offsetof(PyCodeObject, co_qualname)",
    "code_linetable": "offsetof(PyCodeObject, co_linetable)",
    "code_adaptive": "offsetof(PyCodeObject, co_code_adaptive)",
}

CFRAME = {
    "tstate_frame": "offsetof(PyThreadState, cframe)",
    "cframe_current": "offsetof(_PyCFrame, current_frame)",
    "frame_code": "offsetof(_PyInterpreterFrame, f_code)",
    "frame_instr": "offsetof(_PyInterpreterFrame, prev_instr)",
}

CURRENT = {
    "tstate_frame": "offsetof(PyThreadState, current_frame)",
    "frame_code": "offsetof(_PyInterpreterFrame, f_executable)",
    "frame_instr": "offsetof(_PyInterpreterFrame, instr_ptr)",
}

HDR_OLD = ["Python.h", "frameobject.h"]
HDR_38 = HDR_OLD + ["internal/pycore_pystate.h"]
HDR_39 = HDR_OLD + ["internal/pycore_runtime.h", "internal/pycore_interp.h"]
HDR_311 = ["Python.h", "internal/pycore_runtime.h", "internal/pycore_interp.h",
           "internal/pycore_frame.h"]

# Sizes the readers assume; the probe checks them so a header surprise fails
# here rather than as garbage at run time.
SIZE_OLD = {"f_lasti": "sizeof(((PyFrameObject *)0)->f_lasti) == 4"}
SIZE_NEW = {"owner": "sizeof(((_PyInterpreterFrame *)0)->owner) == 1"}
SIZE_ALL = {
    "thread_id": "sizeof(((PyThreadState *)0)->thread_id) == 8",
    "co_firstlineno": "sizeof(((PyCodeObject *)0)->co_firstlineno) == 4",
    "state": "sizeof(((PyASCIIObject *)0)->state) == 4",
}


def spec(minor):
    """Headers, field expressions and constants for 3.<minor>."""
    f = dict(COMMON)
    f.update(GIL_RUNTIME if minor <= 11 else GIL_INTERP)
    checks = dict(SIZE_ALL)
    if minor <= 10:
        f.update(FRAMEOBJECT)
        checks.update(SIZE_OLD)
        hdrs = HDR_38 if minor == 8 else HDR_39
        if minor <= 9:
            f["code_linetable"] = "offsetof(PyCodeObject, co_lnotab)"
            lt = "PY_LT_LNOTAB"
        else:
            f["code_linetable"] = "offsetof(PyCodeObject, co_linetable)"
            lt = "PY_LT_LINETABLE"
        fm = "PYSPY_FM_FRAMEOBJECT"
    else:
        f.update(INTERPFRAME)
        checks.update(SIZE_NEW)
        hdrs = HDR_311
        lt = "PY_LT_LOCATIONS"
        if minor <= 12:
            f.update(CFRAME)
            fm = "PYSPY_FM_CFRAME"
        else:
            f.update(CURRENT)
            fm = "PYSPY_FM_CURRENT"
    return hdrs, f, checks, fm, lt


def probe_source(hdrs, fields, checks):
    lines = ["/* generated probe, not part of the tree */"]
    lines += ['#include "%s"' % h for h in hdrs]
    lines += ["#include <stddef.h>", "#include <stdio.h>", "",
              "int main(void)", "{",
              '\tprintf("version %s\\n", PY_VERSION);']
    for name in sorted(fields):
        lines.append('\tprintf("%s %%zu\\n", (size_t)(%s));' % (name, fields[name]))
    for name in sorted(checks):
        lines.append('\tprintf("check_%s %%d\\n", (int)(%s));' % (name, checks[name]))
    lines += ["\treturn 0;", "}", ""]
    return "\n".join(lines)


def die(msg):
    sys.stderr.write("gen-pyoffsets: error: %s\n" % msg)
    sys.exit(1)


def run_probe(inc, extra, minor, tmp, tag=None):
    if not os.path.isdir(os.path.join(inc, "internal")):
        die("%s: no internal headers" % inc)
    hdrs, fields, checks, fm, lt = spec(minor)
    tag = tag or "3%d" % minor
    src = os.path.join(tmp, "probe%s.c" % tag)
    exe = os.path.join(tmp, "probe%s" % tag)
    with open(src, "w") as fp:
        fp.write(probe_source(hdrs, fields, checks))
    # Py_BUILD_CORE unlocks the internal headers; each version's own
    # pyconfig.h sits in inc, so no other defines are needed.
    cmd = [CC, "-std=gnu11", "-O0", "-I", inc, "-I", os.path.join(inc, "internal"),
           "-DPy_BUILD_CORE"] + extra + [src, "-o", exe]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    if r.returncode != 0:
        die("probe for 3.%d failed to compile:\n%s\n%s" % (minor, " ".join(cmd), r.stdout))
    r = subprocess.run([exe], stdout=subprocess.PIPE, universal_newlines=True)
    if r.returncode != 0:
        die("probe for 3.%d exited %d" % (minor, r.returncode))
    out = {}
    for line in r.stdout.splitlines():
        k, v = line.split(" ", 1)
        out[k] = v
    for name in checks:
        if out.get("check_" + name) != "1":
            die("3.%d: size check failed: %s" % (minor, checks[name]))
    vals = {k: int(out[k]) for k in fields}
    return out["version"], vals, fm, lt


def finish(minor, vals):
    """Derived fields and sanity limits."""
    code = [vals[k] for k in ("code_filename", "code_name", "code_qualname",
                              "code_firstlineno", "code_linetable", "code_code",
                              "code_adaptive") if k in vals]
    # The symbolizer reads the code header in one go: stop just past the
    # last field it needs instead of reading the whole object.
    vals["code_size"] = max(code) + 8
    return vals


def buf_limits():
    with open(os.path.join(REPO, "bpf", "pyspy.h")) as fp:
        text = fp.read()
    lim = {}
    for name in ("PYSPY_FRAME_BUF", "PYSPY_TSTATE_BUF"):
        m = re.search(r"#define\s+%s\s+(\d+)" % name, text)
        if not m:
            die("bpf/pyspy.h: no %s" % name)
        lim[name] = int(m.group(1))
    return lim["PYSPY_FRAME_BUF"], lim["PYSPY_TSTATE_BUF"]


def check_limits(minor, vals, frame_buf, tstate_buf):
    for k, v in vals.items():
        if v >= 0xffff:
            die("3.%d: %s = %d does not fit u16" % (minor, k, v))
    if vals["frame_size"] > frame_buf:
        die("3.%d: frame_size %d > PYSPY_FRAME_BUF" % (minor, vals["frame_size"]))
    for k, w in (("frame_back", 8), ("frame_code", 8), ("frame_instr", 8),
                 ("frame_owner", 1)):
        if k in vals and vals[k] + w > vals["frame_size"]:
            die("3.%d: %s outside the frame read" % (minor, k))
    for k in ("tstate_next", "tstate_frame", "tstate_thread_id",
              "tstate_datastack_chunk"):
        if k in vals and vals[k] + 8 > tstate_buf:
            die("3.%d: %s outside PYSPY_TSTATE_BUF" % (minor, k))


def include_dir(it):
    """An interpreter's headers and the extra flags they need.  Debian's
    pyconfig.h includes <x86_64-linux-gnu/python3.X/...>, found in the
    root's /usr/include after the host's own system headers."""
    name = "python%s%s" % (it.version, "d" if "debug" in it.tags else "")
    if it.root:
        return (os.path.join(it.prefix, "include", name),
                ["-idirafter", os.path.join(it.prefix, "include")])
    return os.path.join(it.prefix, "include", name), []


def find_headers(allow_missing):
    """(minor, include dir, flags) per minor, the first of the list with
    internal headers; and the debug builds' (it, include dir, flags)."""
    rows, debug, missing = {}, [], []
    for it in interpreters.load():
        inc, extra = include_dir(it)
        have = os.path.isdir(os.path.join(inc, "internal"))
        if "debug" in it.tags:
            if have:
                debug.append((it, inc, extra))
            continue
        if it.minor in rows:
            continue
        if have:
            rows[it.minor] = (it.minor, inc, extra)
        else:
            missing.append((it.minor, inc))
    missing = [m for m in missing if m[0] not in rows]
    if missing and not allow_missing:
        die("no headers for %s (pyenv installs them; scripts/provision-sid.sh builds the sid "
            "root)" % ", ".join("3.%d at %s" % m for m in missing))
    if not rows:
        die("no CPython headers for any interpreter of tests/interpreters.txt")
    return [rows[m] for m in sorted(rows)], debug


def check_debug_build(it, inc, extra, tmp, ref):
    """A Py_DEBUG build must agree with the release build on every field."""
    version, vals, _, _ = run_probe(inc, extra, it.minor, tmp, tag=it.id)
    vals = finish(it.minor, vals)
    diff = ["%s: %d in %s, %d in 3.%d" % (k, vals[k], it.id, ref[k], it.minor)
            for k in sorted(vals) if vals[k] != ref.get(k)]
    if diff:
        die("the %s debug build lays out fields differently: %s" % (it.id, "; ".join(diff)))
    return version


def render(entries):
    out = [
        "/* SPDX-License-Identifier: MIT */",
        "/* pyoffsets_table.c - GENERATED by scripts/gen-pyoffsets.py; do not edit. */",
        "/*",
        " * Every number below is offsetof()/sizeof() printed by a probe compiled",
        " * against that CPython version's own headers (x86_64, GIL build, no",
        " * Py_DEBUG).  Regenerate with: python3 scripts/gen-pyoffsets.py",
        " * frame_size: 3.8-3.10 stop after f_lineno (the sampler reads up to",
        " * f_lasti), 3.11+ are sizeof(_PyInterpreterFrame) without localsplus;",
        " * all are <= PYSPY_FRAME_BUF.  code_size: just past the last code",
        " * object field the symbolizer reads (+8), not sizeof(PyCodeObject).",
        " */",
        '#include "pyoffsets.h"',
        "",
        "const struct py_layout py_layouts_table[] = {",
    ]
    for minor, version, vals, fm, lt in entries:
        out.append("\t{ /* measured on CPython %s */" % version)
        out.append("\t\t.major = 3,")
        out.append("\t\t.minor = %d," % minor)
        out.append("\t\t.frame_model = %s," % fm)
        out.append("\t\t.linetable_kind = %s," % lt)
        for k in OFFSET_FIELDS:
            v = vals.get(k)
            out.append("\t\t.%s = %s," % (k, "PY_OFF_NONE" if v is None else str(v)))
        out.append("\t},")
    out += [
        "};",
        "",
        "const unsigned py_layouts_table_len =",
        "\tsizeof(py_layouts_table) / sizeof(py_layouts_table[0]);",
        "",
    ]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=os.path.join(REPO, "symbolize", "cpython", "pyoffsets_table.c"))
    ap.add_argument("--allow-missing", action="store_true",
                    help="write a table without the minors that are not installed")
    args = ap.parse_args()

    frame_buf, tstate_buf = buf_limits()
    entries = []
    with tempfile.TemporaryDirectory(prefix="gen-pyoffsets.") as tmp:
        found, debug = find_headers(args.allow_missing)
        for minor, inc, extra in found:
            version, vals, fm, lt = run_probe(inc, extra, minor, tmp)
            if not version.startswith("3.%d." % minor):
                die("%s: headers say %s" % (inc, version))
            vals = finish(minor, vals)
            check_limits(minor, vals, frame_buf, tstate_buf)
            entries.append((minor, version, vals, fm, lt))
        for it, inc, extra in debug:
            ref = [e[2] for e in entries if e[0] == it.minor]
            if ref:
                dbg = check_debug_build(it, inc, extra, tmp, ref[0])
                print("gen-pyoffsets: %s debug build (%s) matches 3.%d" % (
                    it.id, dbg, it.minor))

    text = render(entries)
    tmp_out = args.out + ".tmp"
    with open(tmp_out, "w") as fp:
        fp.write(text)
    os.replace(tmp_out, args.out)
    print("gen-pyoffsets: wrote %s (%s)" %
          (os.path.relpath(args.out), ", ".join(e[1] for e in entries)))


if __name__ == "__main__":
    main()
