/* SPDX-License-Identifier: MIT */
/*
 * svg.h - interactive flame graph SVG: the `svg` writer and the
 * differential mode that the `diff` verb uses.
 *
 * Root at the bottom, width = weight (samples; nanoseconds or bytes with
 * output_opts.value_unit), frames in name order at each level (so equal
 * stacks merge, as in the folded output), warm colours hashed from the
 * function name.  The SVG carries its own small script: hover
 * shows a frame's details, click zooms, Ctrl-F (or "Search") highlights
 * matches and shows their share of all samples.
 */
#ifndef PYSPY_OUTPUT_SVG_H
#define PYSPY_OUTPUT_SVG_H

#include <stdio.h>

#include "output.h"

#define SVG_WIDTH	1200 /* px, the whole image */
#define SVG_MIN_FRAME_W 0.1  /* px: narrower frames are merged into one box */

/*
 * A flame graph of `after` (widths are its samples) where each frame is
 * red if its share of all samples grew since `before` and blue if it
 * shrank, the stronger the bigger the change.  Frames match across the
 * two profiles by name, file and line.  0 or -errno.
 */
int svg_write_diff(const struct profile *before, const struct profile *after,
		   const struct output_opts *o, FILE *f);

#endif /* PYSPY_OUTPUT_SVG_H */
