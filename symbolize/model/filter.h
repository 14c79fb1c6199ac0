/* SPDX-License-Identifier: MIT */
/*
 * filter.h - which processes a view of a profile takes.
 *
 * Owns: the match of a process against serve's request filters (?pid=,
 * ?container=, ?pod=), read from the labels the profile keeps per
 * process.  It is data, so the sampler, which feeds each view, applies it
 * itself and calls nothing of the command that asked for the view.
 */
#ifndef PYSPY_FILTER_H
#define PYSPY_FILTER_H

#include <stdbool.h>
#include <stdint.h>

#include "profile.h"

struct profile_filter {
	uint32_t pid;	    /* 0: any */
	char container[72]; /* a prefix of the container id; "": any */
	char pod[256];	    /* pod name, namespace/name or uid; "": any */
};

/* Does process pid of p (a base or any of its views) pass f? */
bool profile_filter__match(const struct profile *p, const struct profile_filter *f, uint32_t pid);

#endif /* PYSPY_FILTER_H */
