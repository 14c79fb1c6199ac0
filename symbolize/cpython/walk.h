/* SPDX-License-Identifier: MIT */
/*
 * walk.h - the one frame walk and coroutine step (bpf/pywalk.h,
 * bpf/pycoro.h), the BPF side's own code, as userspace runs it: every read
 * is process_vm_readv of b->pid (procmem, which a test's tap serves from a
 * saved image).
 *
 * Owns: the userspace hooks of that code, once.  An includer may define
 * before it PW_MARKS (default: the walk's own marks flag), PW_COUNT
 * (default: nothing counted) and PW_ON_TSTATE (default: every thread
 * state is passed over).
 */
#ifndef PYSPY_CPYTHON_WALK_H
#define PYSPY_CPYTHON_WALK_H

#include <stdbool.h>

#include <linux/types.h>

#include "symbolize/proc/procmem.h"

#define PW_READ(b, dst, len, addr) procmem_read((b)->pid, (addr), (dst), (len))
#ifndef PW_MARKS
#define PW_MARKS(w) ((w)->marks)
#endif
#ifndef PW_COUNT
#define PW_COUNT(err) ((void)0)
#endif
#ifndef PW_ON_TSTATE
#define PW_ON_TSTATE(c) 0
#endif
#include "bpf/pycoro.h"

#endif /* PYSPY_CPYTHON_WALK_H */
