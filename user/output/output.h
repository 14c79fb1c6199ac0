/* SPDX-License-Identifier: MIT */
/*
 * output.h - one small interface behind which every profile format sits.
 *
 * Owns: choosing a writer by --format or by the -o extension, and writing
 * a file whole (temporary file + rename) or to stdout for "-".
 */
#ifndef PYSPY_OUTPUT_H
#define PYSPY_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "group.h"
#include "symbolize/model/profile.h"

struct output_opts {
	bool show_pids;	   /* leading `process PID (COMM)` frame */
	bool show_threads; /* leading `thread TID (NAME)` frame */
	/* enum output_group, outermost first, 0-ended; when set it decides the
	 * leading frames instead of show_pids/show_threads (see group.h) */
	uint8_t group_by[OUTPUT_MAX_GROUPS];
	unsigned rate_hz;	/* sampling rate, for time-based units */
	double duration_s;	/* recording length */
	uint64_t start_unix_ns; /* wall-clock start of the recording */
	/* What a weight is when it is not a sample count (--mode offcpu,
	 * wall: "offcpu"/"wall" in "nanoseconds"; memory: "memory" in
	 * "bytes"); NULL: CPU samples. */
	const char *value_type, *value_unit;
	/* A writer's own input besides the profile, for writers a verb makes
	 * (diff's table reads its rows here); the built-in ones ignore it. */
	const void *ctx;
};

struct output_writer {
	const char *name;	 /* --format value */
	const char *const *exts; /* -o suffixes, NULL-terminated */
	int (*write)(const struct profile *p, const struct output_opts *o, FILE *f);
};

const struct output_writer *output__by_name(const char *name);
const struct output_writer *output__by_path(const char *path);
/* "folded, ..." for messages. */
const char *output__names(void);

/*
 * May path be written?  "-" (stdout), a new name or a regular file (also
 * through a symlink): 0; anything else, a FIFO, device, socket or
 * directory or a symlink to one: -FILEOPEN_NOT_REGULAR, without opening
 * it.  Callers ask before they sample, so a bad -o costs nothing.
 */
int output__check_path(const char *path);

/*
 * Write whole: "-" is stdout; else, if output__check_path allows it, a new
 * file path.tmp.XXXXXX (O_EXCL, mode 0600) renamed over path, so a reader
 * never sees half a profile and a planted symlink never redirects the
 * write.  0 or -errno.
 */
int output__write_file(const struct output_writer *w, const struct profile *p,
		       const struct output_opts *o, const char *path);

/* Writers. */
extern const struct output_writer output_folded;
extern const struct output_writer output_pprof;
extern const struct output_writer output_speedscope;
extern const struct output_writer output_svg;

#endif /* PYSPY_OUTPUT_H */
