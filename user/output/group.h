/* SPDX-License-Identifier: MIT */
/*
 * group.h - the leading frames that group stacks (record --group-by):
 * `container <short-id> (<runtime>)`, `pod <namespace>/<name>`,
 * `process PID (COMM)`, `thread TID (NAME)`, outermost first.
 *
 * Owns: parsing the --group-by list, the frame text of each kind (from the
 * profile's process names and PROFILE_LABEL_* labels), and the list in
 * effect when none was given (--pids / --threads, as before --group-by).
 * Any writer that shows grouping frames takes them from here.
 */
#ifndef PYSPY_OUTPUT_GROUP_H
#define PYSPY_OUTPUT_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbolize/model/profile.h"

enum output_group {
	OUTPUT_GROUP_NONE = 0, /* ends a list shorter than OUTPUT_MAX_GROUPS */
	OUTPUT_GROUP_CONTAINER,
	OUTPUT_GROUP_POD,
	OUTPUT_GROUP_PROCESS,
	OUTPUT_GROUP_THREAD,
};
/* Each kind at most once, so a full list needs no terminator. */
#define OUTPUT_MAX_GROUPS 4

struct output_opts;

/*
 * Append the comma-separated kinds of s ("container,pod") to list, each
 * once.  0, or -EINVAL with the first unknown word copied to bad.
 */
int output_group__parse(const char *s, uint8_t list[OUTPUT_MAX_GROUPS], char *bad, size_t badlen);
/* Append kind unless it is there. */
void output_group__add(uint8_t list[OUTPUT_MAX_GROUPS], enum output_group kind);
bool output_group__has(const uint8_t list[OUTPUT_MAX_GROUPS], enum output_group kind);
/* "container, pod, process, thread", for messages. */
const char *output_group__names(void);

/*
 * The grouping in effect: o->group_by when set, else process (show_pids)
 * then thread (show_threads).  Returns how many kinds out holds.
 */
int output_group__effective(const struct output_opts *o, uint8_t out[OUTPUT_MAX_GROUPS]);

/*
 * The frame text of kind for (pid, tid); not escaped for any format.  A
 * process outside containers shows `container - (host)`, outside pods
 * `pod -`; a pod whose name is unknown shows `pod <uid>`.
 */
void output_group__frame(const struct profile *p, enum output_group kind, uint32_t pid,
			 uint32_t tid, char *buf, size_t len);

#endif /* PYSPY_OUTPUT_GROUP_H */
