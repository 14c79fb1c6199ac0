#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# dump_debug_offsets.py - print sys.hexversion and the first bytes of _PyRuntime in hex.
#
# Run by python3.13+ for tests/unit/test_pyoffsets.c: _Py_DebugOffsets is the
# first member of _PyRuntime, so these bytes are exactly what pyspy-bpf
# reads from a target.  Output: line 1 "%08x" hexversion, line 2 the bytes.
import ctypes
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
addr = ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, "_PyRuntime"))
sys.stdout.write("%08x\n%s\n" % (sys.hexversion, ctypes.string_at(addr, n).hex()))
