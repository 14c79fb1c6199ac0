// SPDX-License-Identifier: MIT
/*
 * serve_files.c - serve's --output-dir: one pprof per interval (per
 * container with --split-by container), the oldest pruned past --keep.
 * Prune deletes only what this serve wrote, by the list it keeps: a name
 * in the directory proves nothing (a planted pyspy-bpf-2999....pb.gz would
 * sort after ours and get our fresh file deleted), and files of an earlier
 * run are left to whoever ran it.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "serve.h"
#include "symbolize/base/clock.h"
#include "symbolize/base/fileopen.h"
#include "symbolize/base/grow.h"
#include "symbolize/base/log.h"

/* --- interval files -------------------------------------------------------- */

/* Drop entry i of the written list (its name is freed, not unlinked). */
static void written_drop(struct server *sv, size_t i)
{
	free(sv->written[i]);
	memmove(&sv->written[i], &sv->written[i + 1], (sv->n_written - i - 1) * sizeof(char *));
	sv->n_written--;
}

/*
 * A name comes back only within its second (an --interval under 1 s), so
 * among the newest entries: one interval's files at most (MAX_SPLIT), twice.
 */
#define WRITTEN_RECHECK 512

/* path was just written: the newest.  A name written again moves to the end. */
static void written_add(struct server *sv, const char *path)
{
	char *copy;

	for (size_t i = sv->n_written; i-- > 0 && sv->n_written - i <= WRITTEN_RECHECK;)
		if (!strcmp(sv->written[i], path)) {
			written_drop(sv, i);
			break;
		}
	if (ARRAY_ROOM(sv->written, sv->n_written + 1, sv->cap_written, 64))
		return; /* unlisted: never pruned, never deleted by mistake */
	copy = strdup(path);
	if (copy)
		sv->written[sv->n_written++] = copy;
}

/* Keep the newest `keep` files this serve wrote. */
static void prune(struct server *sv, int keep)
{
	size_t n = sv->n_written > (size_t)keep ? sv->n_written - (size_t)keep : 0;

	if (!n)
		return;
	for (size_t i = 0; i < n; i++) {
		if (!unlink(sv->written[i]))
			log_info("pruned %s", sv->written[i]);
		else if (errno != ENOENT)
			log_warn("cannot prune %s: %s", sv->written[i], strerror(errno));
		free(sv->written[i]);
	}
	/* One move for them all: --keep may be large. */
	memmove(sv->written, sv->written + n, (sv->n_written - n) * sizeof(char *));
	sv->n_written -= n;
}

void serve_files_stop(struct server *sv)
{
	for (size_t i = 0; i < sv->n_written; i++)
		free(sv->written[i]);
	free(sv->written);
	sv->written = NULL;
	sv->n_written = sv->cap_written = 0;
}

static int write_interval_file(struct server *sv, struct profile *view, const char *suffix,
			       double secs)
{
	struct output_opts oo = {
		.rate_hz = sv->so->o.rate_hz,
		.duration_s = secs,
		.start_unix_ns = sv->interval_start_unix_ns,
	};
	char stamp[32], path[PATH_MAX];
	time_t t = sv->interval_start_unix_ns / 1000000000ull;
	struct tm tm;
	int err;

	profile_mode_units(sv->so->o.mode, &oo.value_type, &oo.value_unit);
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(path, sizeof(path), "%s/pyspy-bpf-%s%s.pb.gz", sv->so->output_dir, stamp, suffix);
	err = output__write_file(sv->pprof, view, &oo, path);
	if (err) {
		log_error("cannot write %s: %s", path, fileopen_strerror(-err));
		return err;
	}
	written_add(sv, path);
	log_info("wrote %s (%" PRIu64 " %s, %u stacks, %" PRIu64 " dropped)", path,
		 profile__total_weight(view), oo.value_unit ? oo.value_unit : "samples",
		 profile__n_stacks(view), profile__dropped(view));
	return err;
}

/* --split-by container: one view per container id (or "host"). */
#define MAX_SPLIT 256

struct split {
	struct server *sv;
	char keys[MAX_SPLIT][16];
	struct profile *views[MAX_SPLIT];
	int n;
};

static void split_key(const struct profile *base, uint32_t pid, char key[16])
{
	const char *id = profile__process_label(base, pid, PROFILE_LABEL_CONTAINER_ID);

	/* 12 hex digits, as docker ps and crictl show them. */
	snprintf(key, 16, "%.12s", id ? id : "host");
}

static int split_one(struct split *sp, const struct profile_stack *st)
{
	char key[16];
	int i;

	split_key(sp->sv->base, st->pid, key);
	for (i = 0; i < sp->n && strcmp(sp->keys[i], key); i++)
		;
	if (i == sp->n) {
		if (sp->n == MAX_SPLIT)
			return 0; /* past the cap: left out, and the weight counted */
		sp->views[i] = profile__new_view(sp->sv->base, sp->sv->so->max_stacks);
		if (!sp->views[i])
			return 0;
		memcpy(sp->keys[i], key, sizeof(key));
		sp->n++;
	}
	profile__add(sp->views[i], st->pid, st->tid, st->flags, st->locs, st->n, st->weight);
	return 0;
}

static void write_split(struct server *sv, double secs)
{
	struct profile_stack_iter it;
	struct profile_stack st;
	struct split *sp = calloc(1, sizeof(*sp));
	char suffix[24];

	if (!sp) {
		log_error("out of memory splitting the interval by container");
		return;
	}
	sp->sv = sv;
	it = profile__stacks(sv->interval);
	while (profile_stack_iter__next(&it, &st) && !split_one(sp, &st))
		;
	for (int i = 0; i < sp->n; i++) {
		snprintf(suffix, sizeof(suffix), "-%s", sp->keys[i]);
		write_interval_file(sv, sp->views[i], suffix, secs);
		profile__free(sp->views[i]);
	}
	free(sp);
}

/* Write the interval's profile (split per container if asked) and start anew. */
void serve_files_flush(struct server *sv)
{
	double end;
	uint64_t end_unix_ns;

	sampler__lock(sv->s);
	/*
	 * A wait that spans the boundary: this interval gets its part now,
	 * and the next one starts at this very instant, so that each file's
	 * duration is the time its waits were charged for.
	 */
	sampler__settle_locked(sv->s);
	end = mono_s();
	end_unix_ns = unix_ns();
	sv->dropped_views += profile__dropped(sv->interval);
	if (sv->so->split_by_container)
		write_split(sv, end - sv->interval_start);
	else
		write_interval_file(sv, sv->interval, "", end - sv->interval_start);
	profile__clear_stacks(sv->interval);
	sampler__unlock(sv->s);
	prune(sv, sv->so->keep);
	sv->interval_start = end;
	sv->interval_start_unix_ns = end_unix_ns;
}

int serve_files_start(struct server *sv)
{
	struct stat st;

	if (!sv->so->output_dir)
		return 0;
	if (stat(sv->so->output_dir, &st) || !S_ISDIR(st.st_mode)) {
		log_error("--output-dir %s: not a directory", sv->so->output_dir);
		return -ENOTDIR;
	}
	sv->interval = profile__new_view(sv->base, sv->so->max_stacks);
	if (!sv->interval || sampler__add_sink(sv->s, sv->interval, NULL))
		return -ENOMEM;
	sv->interval_start = mono_s();
	sv->interval_start_unix_ns = unix_ns();
	log_info("writing a profile every %.0f s to %s (keeping %d)", sv->so->interval_s,
		 sv->so->output_dir, sv->so->keep);
	return 0;
}
