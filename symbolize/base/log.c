// SPDX-License-Identifier: MIT
/* log.c - one-line messages on stderr. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "escape.h"
#include "log.h"

int log_verbose;
bool log_timestamps;

static void vlog(const char *level, const char *fmt, va_list ap)
{
	char stamp[32] = "", line[1024], safe[4096];
	struct timespec ts;
	FILE *f;
	struct tm tm;

	if (log_timestamps) {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ ", &tm);
	}
	/*
	 * Messages carry names a target chose (comm, paths): escaped, they
	 * cannot drive the terminal.  One fprintf per line: lines from
	 * several threads do not interleave.
	 */
	vsnprintf(line, sizeof(line), fmt, ap);
	safe[0] = safe[sizeof(safe) - 1] = 0;
	f = fmemopen(safe, sizeof(safe) - 1, "w");
	if (f) {
		term_put(f, line);
		fclose(f);
	}
	fprintf(stderr, "%spyspy-bpf: %s%s\n", stamp, level, safe);
}

void log_at(enum log_level level, const char *fmt, ...)
{
	static const char *const prefix[] = {
		[LOGLEVEL_ERROR] = "",
		[LOGLEVEL_WARN] = "warning: ",
		[LOGLEVEL_INFO] = "",
		[LOGLEVEL_DEBUG] = "debug: ",
	};
	va_list ap;

	if (level == LOGLEVEL_DEBUG && log_verbose < 1)
		return;
	va_start(ap, fmt);
	vlog(prefix[level], fmt, ap);
	va_end(ap);
}
