/* SPDX-License-Identifier: MIT */
/*
 * serve.h - what the parts of `serve` share (not a public interface).
 *
 * serve.c is the daemon (its loop, signals, log, command line);
 * serve_http.c the HTTP endpoints (profiles, /metrics, /healthz);
 * serve_files.c the --output-dir files, one per interval;
 * serve_guard.c keeps the server reachable (its connection table);
 * serve_auth.c says who may ask.
 */
#ifndef PYSPY_SERVE_H
#define PYSPY_SERVE_H

#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "serve_auth.h"
#include "serve_guard.h"
#include "user/engine/options.h"
#include "user/engine/sampler.h"
#include "symbolize/model/profile.h"
#include "user/output/output.h"

#define MAX_REQUEST_SECONDS 3600
#define DEFAULT_MAX_STACKS  100000

struct serve_opts {
	struct options o; /* sampling: --pid filter (else --all), --rate */
	const char *listen;
	const char *output_dir;
	double interval_s;
	double rebuild_s; /* symbol rebuild period */
	int keep;
	bool split_by_container;
	uint32_t max_stacks;
	const char *log_file;
	struct serve_auth_opts auth_opts;
	struct serve_auth *auth; /* the files auth_opts name, read at start */
};

/* Set by the signal handler: the daemon stops (waits for requests end early). */
extern volatile sig_atomic_t serve_stop_requested;

struct server {
	struct serve_opts *so;
	struct sampler *s;
	struct profile *base;
	const struct output_writer *pprof;
	struct MHD_Daemon *http;
	struct serve_guard *guard; /* who holds a connection */
	uint64_t requests, dropped_views;
	uint64_t refused[SERVE_AUTH__COUNT]; /* by reason; [SERVE_AUTH_OK] unused */
	double t0;
	/* --output-dir */
	struct profile *interval;
	double interval_start;
	uint64_t interval_start_unix_ns;
	/* The names this serve wrote there, oldest first: all that prune deletes. */
	char **written;
	size_t n_written, cap_written;
	double last_rebuild;
};

/* serve_http.c: listen on so->listen. 0 or -errno (logged). */
int serve_http_start(struct server *sv);
/* --listen IPV4:PORT (":PORT" for any address). 0 or -EINVAL. */
int serve_http_parse_listen(const char *s, struct sockaddr_in *sa);

/* serve_files.c: start writing intervals (if --output-dir), write one, forget them. */
int serve_files_start(struct server *sv);
void serve_files_flush(struct server *sv);
void serve_files_stop(struct server *sv);

#endif /* PYSPY_SERVE_H */
