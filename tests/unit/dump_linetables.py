# SPDX-License-Identifier: MIT
# dump_linetables.py - print code objects' line tables and CPython's own line for every offset.
#
# Run by tests/unit/test_linetable.c under each interpreter.  Output, one
# record per line, fields separated by single spaces:
#   V <major> <minor>
#   C <firstlineno> <code bytes> <line table hex or -> <name>
#   L <line at offset 0> <line at offset 2> ...   (one per code unit)
#   E <number of C records>
# The expected lines come from PyCode_Addr2Line itself, so the test checks
# the C decoders against the interpreter rather than against a re-reading
# of the format.
import ctypes
import sys

addr2line = ctypes.pythonapi.PyCode_Addr2Line
addr2line.restype = ctypes.c_int
addr2line.argtypes = [ctypes.py_object, ctypes.c_int]

# Varied constructs whose tables exercise every entry form: loops (negative
# deltas), nested scopes, handlers (no-line ranges), multi-line expressions
# (column and end-line info), generators and coroutines.
BASE_SRC = '''
import functools

def plain(a, b):
    c = a + b
    for i in range(10):
        if i % 2:
            c += i
        else:
            c -= i
    while c > 0:
        c -= 3
    return c

def nested(x):
    def inner(y):
        def innermost(z):
            return x + y + z
        return innermost
    return inner(x)(x)

def comps(n):
    a = [i * 2 for i in range(n) if i % 3]
    b = {i: i ** 2 for i in range(n)}
    c = {i for i in a}
    d = list(i for i in b
             if i > 2)
    return a, b, c, d

def handlers(f):
    try:
        f()
    except ValueError as e:
        print(e)
    except (KeyError,
            IndexError):
        pass
    else:
        return 1
    finally:
        print("done")
    with open(__file__) as fh:
        fh.read()
    return 0

def multiline(a,
              b,
              c):
    return (a +
            b *
            c -
            plain(a,
                  b)
            )

square = lambda v: v * v
pick = lambda *a, **k: (a,
                         k)

def deco(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)
    return wrapper

@deco
@functools.lru_cache(maxsize=None)
def decorated(q):
    return q + 1

class Klass:
    attr = 1

    @staticmethod
    def smeth():
        return 2

    @property
    def prop(self):
        return self.attr

    class Inner:
        def meth(self):
            return [x for x in range(3)]

def gen(n):
    for i in range(n):
        yield i
    yield from range(n)

async def coro(aw):
    r = await aw
    async for v in aw:
        r += v
    async with aw as m:
        r += m
    return r

def chained(o):
    return (o.a
             .b
             .c()
             .d[0])

def assert_and_raise(v):
    assert v, (
        "message")
    if v is None:
        raise ValueError(
            "bad")
    del v
'''


def gap_src():
    # More than 300 lines between statements: line deltas > 127 in every
    # format, and a long backward jump to a while header.
    blank = '\n' * 310
    return ('def gap(x):\n    y = x\n' + blank + '    y += 1\n' + blank +
            '    while y:\n        y -= 1\n' + '        # pad\n' * 400 +
            '        y += 0\n    return y\n'
            'def call_gap():\n    return gap(\n' + blank + '        1)\n')


def big_src():
    # One line with hundreds of instructions (address deltas > 255 on a
    # single line) and a body long enough for big varints.
    items = ', '.join('v%d + %d' % (i % 7, i) for i in range(400))
    lines = ['def big(v0, v1, v2, v3, v4, v5, v6):',
             '    t = (' + items + ')']
    for i in range(600):
        lines.append('    v%d = v%d * %d + t[%d]' % (i % 7, (i + 3) % 7, i, i % 400))
        if i % 50 == 0:
            lines.append('    if v0 > %d:\n        v1 = [v2 for _ in range(3)]' % i)
    lines.append('    return v0')
    return '\n'.join(lines) + '\n'


def far_src():
    # A function starting far down a file (large firstlineno) whose body
    # jumps by thousands of lines.
    return ('\n' * 70000 + 'def far():\n    a = 1\n' + '\n' * 5000 +
            '    return a\n')


def sources():
    yield '<base>', BASE_SRC
    yield '<gap>', gap_src()
    yield '<big>', big_src()
    yield '<far>', far_src()
    import argparse
    import asyncio.base_events
    import collections
    import dataclasses
    import email._header_value_parser
    import inspect
    import json.decoder
    import typing
    for mod in (inspect, argparse, typing, json.decoder, collections,
                dataclasses, asyncio.base_events, email._header_value_parser):
        with open(mod.__file__, encoding='utf-8') as f:
            yield mod.__file__, f.read()


def walk(code):
    yield code
    for c in code.co_consts:
        if isinstance(c, type(code)):
            yield from walk(c)


def table(code):
    if sys.version_info < (3, 10):
        return code.co_lnotab
    return code.co_linetable


def dump(code, out):
    t = table(code)
    n = len(code.co_code)
    out.append('C %d %d %s %s' % (code.co_firstlineno, n, t.hex() or '-',
                                  code.co_name.encode('ascii', 'replace').decode()
                                  .replace(' ', '_') or '-'))
    out.append('L ' + ' '.join(str(addr2line(code, off)) for off in range(0, n, 2)))


def main():
    out = ['V %d %d' % sys.version_info[:2]]
    count = 0
    for name, src in sources():
        for code in walk(compile(src, name, 'exec')):
            dump(code, out)
            count += 1
    out.append('E %d' % count)
    sys.stdout.write('\n'.join(out) + '\n')


if __name__ == '__main__':
    main()
