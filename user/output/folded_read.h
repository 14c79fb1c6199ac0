/* SPDX-License-Identifier: MIT */
/*
 * folded_read.h - load folded stacks (ours, or flamegraph.pl-style from
 * other tools) into the profile model, e.g. to compare two recordings.
 *
 * Each non-blank line is `FRAME;FRAME;... COUNT`, frames root first.  A
 * frame `name (file:line)` becomes function (name, file) at that line;
 * `name (file)` the same with no line (-1); anything else a function with
 * no file (a marker such as [unknown] or an off-CPU reason like [sleep]).
 * Function start lines are unknown in this format and read as 0.
 *
 * Leading frames before the first code frame, each kind at most once:
 *   `process PID (COMM)` -> the stack's pid, and COMM as its name;
 *   `thread TID (NAME)`  -> the stack's tid, and NAME as its name
 *       (a name "?" is the writer's "unknown" and sets none);
 *   `container ...`, `pod ...` -> dropped: they say where code ran, which
 *       the profile keeps as per-process labels that a folded file cannot
 *       give back without a pid;
 *   `[truncated]`, `[partial]` -> the stack's PROFILE_STACK_* flag.
 * A count of 0 adds nothing; blank lines and a trailing '\r' are ignored.
 * Input is untrusted: line length, frames per stack and the summed counts
 * are bounded, and a bad line is an error naming its number.
 */
#ifndef PYSPY_FOLDED_READ_H
#define PYSPY_FOLDED_READ_H

#include <stddef.h>

#include "symbolize/model/profile.h"

/* Longest line: 64k frames of long paths is far past any real stack. */
#define FOLDED_READ_MAX_LINE (16u << 20)
/* Frames kept per stack; deeper stacks keep their innermost frames and are flagged truncated. */
#define FOLDED_READ_MAX_FRAMES 65536u

struct folded_read_error {
	unsigned long line; /* 1-based line of the error, 0 if not about a line */
	char why[96];	    /* what is wrong with it */
};

/*
 * Add every stack of buf (len bytes, no terminator needed) to into.
 * 0, -EINVAL (malformed, including counts that add up past 2^63: err
 * says where and why) or -ENOMEM.  Stacks past the profile's cap are
 * counted as dropped, as profile__add does.  err may be NULL.
 */
int folded_read_mem(const char *buf, size_t len, struct profile *into,
		    struct folded_read_error *err);

#endif /* PYSPY_FOLDED_READ_H */
