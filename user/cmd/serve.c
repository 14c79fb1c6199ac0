// SPDX-License-Identifier: MIT
/*
 * serve.c - the `serve` verb: continuous whole-host (or --pid) profiling
 * as a daemon.
 *
 * One sampler runs for the daemon's life; its base profile only holds
 * symbols.  Every consumer is a view of it fed the same samples:
 *   - GET /debug/pprof/profile?seconds=N[&pid=P][&container=ID][&pod=NAME]
 *     registers a view for N seconds and answers with its pprof, so
 *     `go tool pprof http://HOST:PORT/debug/pprof/profile?seconds=5` works;
 *   - GET /healthz and GET /metrics (Prometheus text format);
 *   - --output-dir DIR --interval SECS writes one pprof per interval
 *     (per container with --split-by container), pruned to --keep files.
 * Every view is capped (--max-stacks), with the dropped weight reported.
 * The endpoint can be closed (serve_auth.c): TLS, client certificates and
 * a bearer token, every path but /healthz behind them.
 * SIGTERM/SIGINT flush the current interval and exit; SIGHUP reopens the
 * log file and re-reads the token file.  This file is the daemon: its
 * loop, signals, log and command line (serve.h says where the rest is).
 */
#include <argp.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "sample_opts.h"
#include "serve.h"
#include "symbolize/base/clock.h"
#include "symbolize/base/fileopen.h"
#include "symbolize/base/log.h"
#include "user/engine/memlimit.h"
#include "user/engine/preflight.h"
#include "user/engine/summary.h"

volatile sig_atomic_t serve_stop_requested;
static volatile sig_atomic_t hangup;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		hangup = 1;
	else
		serve_stop_requested = 1;
}

/* --- the daemon ------------------------------------------------------------ */

/*
 * --log-file onto stderr: a regular file appended to, or a new one made
 * 0640; never through a symlink, never a FIFO (it would block) or a tty (it
 * could become our controlling terminal).  If it cannot be opened, stderr
 * stays what it was.
 */
static int open_log(const char *path)
{
	int fd, err = 0;

	if (!path)
		return 0;
	fd = fileopen_append(path, 0640);
	if (fd < 0)
		return -errno;
	fflush(stderr);
	if (dup2(fd, STDERR_FILENO) < 0)
		err = -errno;
	close(fd);
	setvbuf(stderr, NULL, _IOLBF, 0);
	return err;
}

/* SIGHUP: logrotate moved the log, or the token's Secret was rotated. */
static void on_hangup(struct server *sv)
{
	int err;

	/* A daemon that cannot rotate its log keeps profiling, and says so. */
	err = open_log(sv->so->log_file);
	if (err)
		log_error("cannot reopen --log-file %s: %s (still writing the old one)",
			  sv->so->log_file, fileopen_strerror(-err));
	else
		log_info("log reopened");
	/* Likewise with the old token, if the new file will not do. */
	serve_auth_reload_token(sv->so->auth);
}

static void run(struct server *sv)
{
	sv->last_rebuild = mono_s();
	while (!serve_stop_requested) {
		sampler__poll(sv->s, 100);
		if (hangup) {
			hangup = 0;
			on_hangup(sv);
		}
		if (sv->interval && mono_s() - sv->interval_start >= sv->so->interval_s)
			serve_files_flush(sv);
		/* A daemon's names are bounded by the budget; this gives it back. */
		if (mono_s() - sv->last_rebuild >= sv->so->rebuild_s) {
			if (sampler__compact_symbols(sv->s))
				log_warn("out of memory rebuilding the symbols (keeping them)");
			sv->last_rebuild = mono_s();
		}
	}
	log_info("stopping");
	sampler__drain(sv->s);
	if (sv->interval)
		serve_files_flush(sv);
}

static int serve(struct serve_opts *so)
{
	struct server sv = { .so = so };
	int err;

	sv.pprof = output__by_name("pprof");
	if (!sv.pprof) {
		log_error("this build has no pprof writer");
		return -ENOTSUP;
	}
	sv.base = profile__new(0);
	if (!sv.base)
		return -ENOMEM;
	sv.s = sampler__start(&so->o, sv.base);
	err = sv.s ? 0 : -errno;
	if (!err) {
		/* The base only names things; views hold the stacks. */
		sampler__set_base_sink(sv.s, false);
		err = serve_files_start(&sv);
	}
	if (!err)
		err = serve_http_start(&sv);
	if (!err) {
		log_info("profiling %s at %u Hz (%s)",
			 so->o.all ? "every Python process" : "the given PIDs", so->o.rate_hz,
			 profile_mode_name(so->o.mode));
		run(&sv);
	}
	if (sv.http)
		MHD_stop_daemon(sv.http);
	serve_guard_free(sv.guard);
	if (sv.interval && sv.s)
		sampler__remove_sink(sv.s, sv.interval);
	sampler__stop(sv.s);
	serve_files_stop(&sv);
	profile__free(sv.interval);
	profile__free(sv.base);
	return err;
}

/* --- command line ---------------------------------------------------------- */

static const char doc[] =
	"Continuous profiling as a daemon: every Python process on the host (or the "
	"given PIDs), served as pprof over HTTP and/or written to files per interval.\n"
	"\n"
	"EXAMPLES:\n"
	"  sudo pyspy-bpf serve\n"
	"  go tool pprof http://127.0.0.1:6060/debug/pprof/profile?seconds=10\n"
	"  curl -s 127.0.0.1:6060/metrics\n"
	"  sudo pyspy-bpf serve --output-dir /var/lib/pyspy --interval 60 --keep 60\n"
	"  sudo pyspy-bpf serve --listen 0.0.0.0:6060 --tls-cert tls.crt \\\n"
	"      --tls-key tls.key --tls-client-ca ca.crt --token-file token\n"
	"  curl --cacert ca.crt --cert client.crt --key client.key \\\n"
	"      -H \"Authorization: Bearer $(cat token)\" https://HOST:6060/metrics\n"
	"\nOnly /healthz is open to every client: --tls-client-ca makes every other path "
	"need a client certificate from that CA (else 403), --token-file the token (else "
	"401).\n"
	"\nOPTIONS:";

enum {
	OPT_LISTEN = 0x200,
	OPT_OUTPUT_DIR,
	OPT_INTERVAL,
	OPT_KEEP,
	OPT_SPLIT_BY,
	OPT_MAX_STACKS,
	OPT_LOG_FILE,
	OPT_REBUILD_SYMBOLS,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_TLS_CLIENT_CA,
	OPT_TOKEN_FILE,
};

static const struct argp_option opts[] = {
	{ "listen", OPT_LISTEN, "ADDR:PORT", 0, "HTTP address (default 127.0.0.1:6060)", 0 },
	{ "output-dir", OPT_OUTPUT_DIR, "DIR", 0, "Also write one pprof file per interval", 0 },
	{ "interval", OPT_INTERVAL, "SECS", 0, "Interval of --output-dir files (default 60)", 0 },
	{ "keep", OPT_KEEP, "N", 0,
	  "Keep the newest N files this serve wrote in --output-dir (default 60; others are left alone)",
	  0 },
	{ "split-by", OPT_SPLIT_BY, "container", 0, "One file per container per interval", 0 },
	{ "max-stacks", OPT_MAX_STACKS, "N", 0,
	  "Distinct stacks kept per profile; more are dropped and counted (default 100000)", 0 },
	{ "log-file", OPT_LOG_FILE, "FILE", 0, "Log here (reopened on SIGHUP) instead of stderr",
	  0 },
	{ "rebuild-symbols", OPT_REBUILD_SYMBOLS, "SECS", 0,
	  "Every SECS, keep only the names still in use, so that names dropped past "
	  "--symbol-budget come back once targets stop making new ones (default 600)",
	  0 },
	{ "tls-cert", OPT_TLS_CERT, "FILE", 0,
	  "Serve HTTPS with this PEM certificate (chain); needs --tls-key", 0 },
	{ "tls-key", OPT_TLS_KEY, "FILE", 0, "The PEM private key of --tls-cert", 0 },
	{ "tls-client-ca", OPT_TLS_CLIENT_CA, "FILE", 0,
	  "Require a client certificate that chains to this PEM CA (needs --tls-cert)", 0 },
	{ "token-file", OPT_TOKEN_FILE, "FILE", 0,
	  "Require 'Authorization: Bearer TOKEN', TOKEN the file's one line (re-read on "
	  "SIGHUP)",
	  0 },
	{ "verbose", 'v', NULL, 0, "More messages", 0 },
	{},
};

static const struct cmd_store stores[] = {
	CMD_ARG(OPT_LISTEN, struct serve_opts, listen),
	CMD_ARG(OPT_OUTPUT_DIR, struct serve_opts, output_dir),
	CMD_ARG(OPT_LOG_FILE, struct serve_opts, log_file),
	CMD_ARG(OPT_TLS_CERT, struct serve_opts, auth_opts.tls_cert),
	CMD_ARG(OPT_TLS_KEY, struct serve_opts, auth_opts.tls_key),
	CMD_ARG(OPT_TLS_CLIENT_CA, struct serve_opts, auth_opts.tls_client_ca),
	CMD_ARG(OPT_TOKEN_FILE, struct serve_opts, auth_opts.token_file),
	{ 0 },
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct serve_opts *so = state->input;

	switch (key) {
	case OPT_REBUILD_SYMBOLS:
		so->rebuild_s = cmd_secs(state, "--rebuild-symbols", arg);
		break;
	case OPT_INTERVAL:
		so->interval_s = cmd_secs(state, "--interval", arg);
		break;
	case OPT_KEEP:
		so->keep = cmd_long(state, "--keep", arg, 1, 100000);
		break;
	case OPT_SPLIT_BY:
		if (strcmp(arg, "container"))
			argp_error(state, "--split-by takes 'container'");
		so->split_by_container = true;
		break;
	case OPT_MAX_STACKS:
		so->max_stacks = cmd_long(state, "--max-stacks", arg, 1, 100000000);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct sample_spec sampling = {
	.takes = SOPT(PID) | SOPT_SAMPLER,
	.doc = {
		[SOPT_PID] = "Profile only this process (repeatable; default: all)",
		[SOPT_MODE] = "cpu (default), offcpu, wall or memory, as for record; waits that "
			      "span an interval or a request are split at its ends",
	},
};

int serve_main(int argc, char **argv)
{
	static const struct argp argp = { opts, parse_opt, NULL, doc, NULL, NULL, NULL };
	struct serve_opts so = {
		.o = { OPTIONS_DEFAULTS, .quiet = true },
		.listen = "127.0.0.1:6060",
		.interval_s = 60,
		.rebuild_s = 600,
		.keep = 60,
		.max_stacks = DEFAULT_MAX_STACKS,
	};
	int err;

	if (sample_opts_parse(&argp, stores, &sampling, &so.o, argc, argv, &so))
		return 2;
	if (so.split_by_container && !so.output_dir) {
		log_error("--split-by container needs --output-dir");
		return 2;
	}
	so.o.all = so.o.n_pids == 0;
	if (serve_http_parse_listen(so.listen, &(struct sockaddr_in){})) {
		log_error("bad --listen '%s' (want IPV4:PORT, e.g. 127.0.0.1:6060)", so.listen);
		return 2;
	}
	/* Before --log-file takes stderr: a bad key or token is seen where serve was started. */
	err = serve_auth_load(&so.auth_opts, &so.auth);
	if (err)
		return err == -EINVAL ? 2 : 1;
	log_timestamps = true;
	err = open_log(so.log_file);
	if (err) {
		log_error("cannot open --log-file %s: %s%s", so.log_file, fileopen_strerror(-err),
			  err == -ELOOP ? " (a symlink is refused)" : "");
		err = 1;
	}
	if (!err) {
		cmd_catch_signals(on_signal, (const int[]){ SIGINT, SIGTERM, SIGHUP, 0 });
		/* A container's limit and the budgets cannot disagree. */
		memlimit__budgets(&so.o, memlimit__own());
		/* Confined before the server's threads: they parse what clients send. */
		so.o.sandbox = true;
		so.o.measure_bpf = true;
		err = preflight_privileges() || preflight_btf() || serve(&so) ? 1 : 0;
	}
	serve_auth_free(so.auth);
	return err;
}
