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
 * log file and re-reads the token file.
 */
#include <argp.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "serve_auth.h"
#include "user/base/cli.h"
#include "user/base/clock.h"
#include "user/base/log.h"
#include "user/engine/options.h"
#include "user/engine/preflight.h"
#include "user/engine/sampler.h"
#include "user/engine/summary.h"
#include "user/model/profile.h"
#include "user/output/output.h"

#define MAX_REQUEST_SECONDS 3600
#define DEFAULT_MAX_STACKS  100000
/*
 * The server must stay reachable for probes and scrapes whatever clients
 * do: connections well past the profile slots, so that /healthz and
 * /metrics always find one; a per-address share, so one client cannot take
 * them all; idle ones closed after a while.
 */
#define HTTP_MAX_CONNECTIONS	(4 * SAMPLER_MAX_SINKS)
#define HTTP_PER_IP_CONNECTIONS SAMPLER_MAX_SINKS
#define HTTP_IDLE_TIMEOUT_S	5

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

static volatile sig_atomic_t stop_requested, hangup;

struct server {
	struct serve_opts *so;
	struct sampler *s;
	struct profile *base;
	const struct output_writer *pprof;
	struct MHD_Daemon *http;
	uint64_t requests, dropped_views;
	uint64_t refused[SERVE_AUTH__COUNT]; /* by reason; [SERVE_AUTH_OK] unused */
	double t0;
	/* --output-dir */
	struct profile *interval;
	double interval_start;
	uint64_t interval_start_unix_ns;
	double last_rebuild;
};

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		hangup = 1;
	else
		stop_requested = 1;
}

static uint64_t unix_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* --- pprof of a view ------------------------------------------------------- */

/*
 * Take the sink view out and render it as pprof into a malloc'd buffer, in
 * one hold of the sampler: a symbol rebuild (which renumbers only what
 * sinks hold) cannot come between.
 */
static int take_pprof(struct server *sv, struct profile *view, double secs, uint64_t start_ns,
		      char **buf, size_t *len)
{
	struct output_opts oo = {
		.rate_hz = sv->so->o.rate_hz,
		.duration_s = secs,
		.start_unix_ns = start_ns,
	};
	FILE *f = open_memstream(buf, len);
	int err;

	if (!f) {
		err = -errno;
		sampler__remove_sink(sv->s, view);
		return err;
	}
	profile_mode_units(sv->so->o.mode, &oo.value_type, &oo.value_unit);
	sampler__lock(sv->s);
	sampler__remove_sink_locked(sv->s, view);
	__atomic_add_fetch(&sv->dropped_views, profile__dropped(view), __ATOMIC_RELAXED);
	err = sv->pprof->write(view, &oo, f);
	sampler__unlock(sv->s);
	if (fclose(f) && !err)
		err = -EIO;
	if (err) {
		free(*buf);
		*buf = NULL;
	}
	return err;
}

/* --- HTTP ------------------------------------------------------------------ */

struct req_filter {
	const struct profile *base; /* holds each process's container labels */
	uint32_t pid;		    /* 0: any */
	char container[72];	    /* a prefix of the container id */
	char pod[256];		    /* pod name, namespace/name or uid */
};

static bool match_pod(const struct profile *base, uint32_t pid, const char *want)
{
	const char *name = profile__process_label(base, pid, PROFILE_LABEL_POD_NAME);
	const char *ns = profile__process_label(base, pid, PROFILE_LABEL_POD_NAMESPACE);
	const char *uid = profile__process_label(base, pid, PROFILE_LABEL_POD_UID);
	const char *slash = strchr(want, '/');

	if (uid && !strcmp(uid, want))
		return true;
	if (!name)
		return false;
	if (!slash)
		return !strcmp(name, want);
	return ns && !strncmp(ns, want, slash - want) && !ns[slash - want] &&
	       !strcmp(name, slash + 1);
}

/* Runs with the sampler's lock held (see sampler__add_sink). */
static bool filter_match(uint32_t pid, uint32_t tid, void *ctx)
{
	const struct req_filter *f = ctx;
	const char *id;

	(void)tid;
	if (f->pid && f->pid != pid)
		return false;
	if (f->container[0]) {
		id = profile__process_label(f->base, pid, PROFILE_LABEL_CONTAINER_ID);
		if (!id || strncmp(id, f->container, strlen(f->container)))
			return false;
	}
	return !f->pod[0] || match_pod(f->base, pid, f->pod);
}

/* challenge: a WWW-Authenticate header to send along, or NULL. */
static enum MHD_Result reply_with(struct MHD_Connection *c, unsigned status, const char *type,
				  void *body, size_t len, enum MHD_ResponseMemoryMode mode,
				  const char *challenge)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	if (challenge)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, challenge);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
			     void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	return reply_with(c, status, type, body, len, mode, NULL);
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *msg)
{
	return reply(c, status, "text/plain; charset=utf-8", (void *)msg, strlen(msg),
		     MHD_RESPMEM_MUST_COPY);
}

/* 401 with a Bearer challenge (RFC 6750). */
static enum MHD_Result reply_unauthorized(struct MHD_Connection *c, const char *msg,
					  const char *challenge)
{
	return reply_with(c, MHD_HTTP_UNAUTHORIZED, "text/plain; charset=utf-8", (void *)msg,
			  strlen(msg), MHD_RESPMEM_MUST_COPY, challenge);
}

/*
 * A request serve_auth refused: 403 for the certificate (it belongs to the
 * TLS session, which no header of a new request can change), 401 for the
 * token, which the client may send next time.
 */
static enum MHD_Result reply_refused(struct MHD_Connection *c, enum serve_auth_verdict v)
{
	switch (v) {
	case SERVE_AUTH_NO_CERT:
	case SERVE_AUTH_BAD_CERT:
		return reply_text(
			c, MHD_HTTP_FORBIDDEN,
			"a client certificate from the CA of --tls-client-ca is needed\n");
	case SERVE_AUTH_BAD_TOKEN:
		return reply_unauthorized(c, "wrong bearer token\n",
					  "Bearer realm=\"pyspy-bpf\", error=\"invalid_token\"");
	default:
		return reply_unauthorized(
			c, "a bearer token is needed (Authorization: Bearer TOKEN)\n",
			"Bearer realm=\"pyspy-bpf\"");
	}
}

/*
 * One query argument: 0 and *v NULL if absent; -EINVAL if present but
 * empty or holding a NUL (`pod=%00x`), which would otherwise read as no
 * filter at all and answer with every target's profile.
 */
static int query_arg(struct MHD_Connection *c, const char *key, const char **v)
{
	size_t len = 0;

	*v = NULL;
	if (MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, key, strlen(key), v, &len) !=
	    MHD_YES) {
		*v = NULL;
		return 0;
	}
	return *v && len && strlen(*v) == len ? 0 : -EINVAL;
}

static int parse_filter(struct MHD_Connection *c, struct req_filter *f, long *secs)
{
	const char *v;
	long pid;

	memset(f, 0, sizeof(*f));
	*secs = 30; /* Go's default for /debug/pprof/profile */
	if (query_arg(c, "seconds", &v) || (v && cli_parse_long(v, 1, MAX_REQUEST_SECONDS, secs)))
		return -EINVAL;
	if (query_arg(c, "pid", &v))
		return -EINVAL;
	if (v) {
		if (cli_parse_long(v, 1, INT_MAX, &pid))
			return -EINVAL;
		f->pid = pid;
	}
	if (query_arg(c, "container", &v) || (v && snprintf(f->container, sizeof(f->container),
							    "%s", v) >= (int)sizeof(f->container)))
		return -EINVAL;
	if (query_arg(c, "pod", &v) ||
	    (v && snprintf(f->pod, sizeof(f->pod), "%s", v) >= (int)sizeof(f->pod)))
		return -EINVAL;
	return 0;
}

/* Has the client closed its end (it will never read the answer)? */
static bool client_gone(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct pollfd p;

	if (!ci)
		return false;
	p = (struct pollfd){ .fd = ci->connect_fd, .events = POLLIN | POLLRDHUP };
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/*
 * Sleep up to secs, waking early when the daemon stops; false if the
 * client went away meanwhile, so that its profile slot is free at once.
 */
static bool wait_secs(struct MHD_Connection *c, long secs)
{
	for (long i = 0; i < secs * 10 && !stop_requested; i++) {
		if (client_gone(c))
			return false;
		usleep(100 * 1000);
	}
	return true;
}

static enum MHD_Result handle_profile(struct server *sv, struct MHD_Connection *c)
{
	struct req_filter f;
	struct profile *view;
	uint64_t start_ns = unix_ns();
	char *buf = NULL;
	size_t len = 0;
	long secs;
	int err;

	if (parse_filter(c, &f, &secs))
		return reply_text(c, MHD_HTTP_BAD_REQUEST,
				  "bad query: seconds=1..3600, pid=N, container=ID, pod=NAME "
				  "(none of them empty)\n");
	f.base = sv->base;
	view = profile__new_view(sv->base, sv->so->max_stacks);
	if (!view || sampler__add_sink(sv->s, view, filter_match, &f)) {
		profile__free(view);
		return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "too many profiles at once\n");
	}
	log_info("profile request: %ld s%s%s", secs, f.pid ? " (pid filter)" : "",
		 f.container[0] || f.pod[0] ? " (container/pod filter)" : "");
	if (!wait_secs(c, secs)) {
		sampler__remove_sink(sv->s, view);
		profile__free(view);
		log_info("profile request: the client went away");
		return MHD_NO; /* close the connection */
	}
	err = take_pprof(sv, view, secs, start_ns, &buf, &len);
	profile__free(view);
	if (err)
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot encode the profile\n");
	return reply(c, MHD_HTTP_OK, "application/octet-stream", buf, len, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result handle_metrics(struct server *sv, struct MHD_Connection *c)
{
	struct run_counts rc;
	uint64_t names_dropped;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	sampler__counts(sv->s, &rc);
	sampler__lock(sv->s);
	names_dropped = profile__symbols_dropped(sv->base);
	sampler__unlock(sv->s);
	fprintf(f,
		"# HELP pyspy_samples_total Python stack samples taken.\n"
		"# TYPE pyspy_samples_total counter\npyspy_samples_total %" PRIu64 "\n",
		rc.samples);
	fprintf(f,
		"# HELP pyspy_lost_samples_total Samples lost (ring buffer full).\n"
		"# TYPE pyspy_lost_samples_total counter\npyspy_lost_samples_total %" PRIu64 "\n",
		rc.bpf_err[PYSPY_ERR_RINGBUF_FULL]);
	fprintf(f, "# HELP pyspy_unwind_errors_total Unwinding errors by kind.\n"
		   "# TYPE pyspy_unwind_errors_total counter\n");
	for (int e = 1; e < PYSPY_ERR__COUNT; e++)
		if (e != PYSPY_ERR_RINGBUF_FULL)
			fprintf(f, "pyspy_unwind_errors_total{kind=\"%s\"} %" PRIu64 "\n",
				summary__error_name(e), rc.bpf_err[e]);
	fprintf(f, "pyspy_unwind_errors_total{kind=\"symbolization\"} %" PRIu64 "\n",
		rc.bad_frames);
	fprintf(f,
		"# HELP pyspy_processes Python processes sampled since start.\n"
		"# TYPE pyspy_processes gauge\npyspy_processes %d\n",
		rc.processes);
	fprintf(f,
		"# HELP pyspy_bpf_run_time_seconds_total CPU time spent in the BPF sampler.\n"
		"# TYPE pyspy_bpf_run_time_seconds_total counter\n"
		"pyspy_bpf_run_time_seconds_total %.6f\n",
		sampler__bpf_run_time_ns(sv->s) / 1e9);
	fprintf(f,
		"# HELP pyspy_dropped_samples_total Samples dropped by full stack tables.\n"
		"# TYPE pyspy_dropped_samples_total counter\n"
		"pyspy_dropped_samples_total %" PRIu64 "\n",
		sv->dropped_views);
	fprintf(f,
		"# HELP pyspy_dropped_names_total Names, functions and locations past the "
		"symbol budget.\n# TYPE pyspy_dropped_names_total counter\n"
		"pyspy_dropped_names_total %" PRIu64 "\n",
		names_dropped);
	fprintf(f,
		"# HELP pyspy_code_cache_bytes Memory of the code caches (code objects, line "
		"tables).\n# TYPE pyspy_code_cache_bytes gauge\n"
		"pyspy_code_cache_bytes %" PRIu64 "\n",
		rc.code_bytes);
	fprintf(f,
		"# HELP pyspy_code_cache_evictions_total Line tables and code objects let go "
		"to stay within the code cache budget.\n"
		"# TYPE pyspy_code_cache_evictions_total counter\n"
		"pyspy_code_cache_evictions_total %" PRIu64 "\n",
		rc.code_evicted + rc.code_refused);
	fprintf(f,
		"# HELP pyspy_profile_requests_total Profiles served over HTTP.\n"
		"# TYPE pyspy_profile_requests_total counter\n"
		"pyspy_profile_requests_total %" PRIu64 "\n",
		sv->requests);
	fprintf(f, "# HELP pyspy_http_refused_total Requests refused for their client "
		   "certificate or bearer token.\n# TYPE pyspy_http_refused_total counter\n");
	for (int v = SERVE_AUTH_OK + 1; v < SERVE_AUTH__COUNT; v++)
		fprintf(f, "pyspy_http_refused_total{reason=\"%s\"} %" PRIu64 "\n",
			serve_auth_verdict_name(v),
			__atomic_load_n(&sv->refused[v], __ATOMIC_RELAXED));
	if (fclose(f)) {
		free(buf);
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	}
	return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4", buf, len, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *data_len, void **state)
{
	struct server *sv = cls;
	enum serve_auth_verdict verdict;

	(void)version;
	(void)data;
	(void)data_len;
	/* MHD calls twice; the first call only sets up the request. */
	if (!*state) {
		*state = sv;
		return MHD_YES;
	}
	if (strcmp(method, "GET"))
		return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only\n");
	/* Open to all: kubelet probes bring neither a certificate nor a token. */
	if (!strcmp(url, "/healthz"))
		return reply_text(c, MHD_HTTP_OK, "ok\n");
	/* Before any work: a refused client never takes a profile slot. */
	verdict = serve_auth_check(sv->so->auth, c);
	if (verdict != SERVE_AUTH_OK) {
		__atomic_add_fetch(&sv->refused[verdict], 1, __ATOMIC_RELAXED);
		log_debug("refused %s: %s", url, serve_auth_verdict_name(verdict));
		return reply_refused(c, verdict);
	}
	if (!strcmp(url, "/metrics"))
		return handle_metrics(sv, c);
	if (!strcmp(url, "/debug/pprof/profile")) {
		__atomic_add_fetch(&sv->requests, 1, __ATOMIC_RELAXED);
		return handle_profile(sv, c);
	}
	return reply_text(c, MHD_HTTP_NOT_FOUND,
			  "not found: try /debug/pprof/profile?seconds=N, /metrics, /healthz\n");
}

static int parse_listen(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	long port;

	if (!colon || (size_t)(colon - s) >= sizeof(host) ||
	    cli_parse_long(colon + 1, 1, 65535, &port))
		return -EINVAL;
	memcpy(host, s, colon - s);
	host[colon - s] = 0;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(port);
	if (!host[0])
		strcpy(host, "0.0.0.0");
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -EINVAL;
}

static int start_http(struct server *sv)
{
	struct serve_auth *auth = sv->so->auth;
	bool tls = serve_auth_tls(auth);
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;
	struct sockaddr_in sa;

	if (parse_listen(sv->so->listen, &sa)) {
		log_error("bad --listen '%s' (want IPV4:PORT, e.g. 127.0.0.1:6060)",
			  sv->so->listen);
		return -EINVAL;
	}
	if (tls)
		flags |= MHD_USE_TLS;
	/* The TLS options come as an array (empty without TLS), so one call serves both. */
	sv->http = MHD_start_daemon(flags, 0, NULL, NULL, on_request, sv, MHD_OPTION_SOCK_ADDR, &sa,
				    MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNECTIONS,
				    MHD_OPTION_PER_IP_CONNECTION_LIMIT,
				    (unsigned)HTTP_PER_IP_CONNECTIONS,
				    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT_S,
				    MHD_OPTION_ARRAY, serve_auth_mhd_options(auth), MHD_OPTION_END);
	if (!sv->http) {
		log_error("cannot listen on %s: %m", sv->so->listen);
		return -EADDRINUSE;
	}
	log_info("listening on %s://%s (/debug/pprof/profile, /metrics, /healthz)%s%s",
		 tls ? "https" : "http", sv->so->listen,
		 sv->so->auth_opts.tls_client_ca ? ", client certificates required" : "",
		 sv->so->auth_opts.token_file ? ", bearer token required" : "");
	return 0;
}

/* --- interval files -------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Keep the newest `keep` files we wrote; names sort by time. */
static void prune(const char *dir, int keep)
{
	char *names[4096], path[PATH_MAX];
	int n = 0;
	struct dirent *d;
	DIR *dh = opendir(dir);

	if (!dh)
		return;
	while ((d = readdir(dh)) && n < 4096)
		if (!strncmp(d->d_name, "pyspy-bpf-", 10) && strstr(d->d_name, ".pb.gz") &&
		    !strstr(d->d_name, ".tmp."))
			names[n++] = strdup(d->d_name);
	closedir(dh);
	qsort(names, n, sizeof(*names), cmp_str);
	for (int i = 0; i < n; i++) {
		if (names[i] && i < n - keep) {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
			if (!unlink(path))
				log_info("pruned %s", path);
		}
		free(names[i]);
	}
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
	if (err)
		log_error("cannot write %s: %s", path, strerror(-err));
	else
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

static int split_one(const struct profile_stack *st, void *ctx)
{
	struct split *sp = ctx;
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
	struct split *sp = calloc(1, sizeof(*sp));
	char suffix[24];

	if (!sp) {
		log_error("out of memory splitting the interval by container");
		return;
	}
	sp->sv = sv;
	profile__for_each_stack(sv->interval, split_one, sp);
	for (int i = 0; i < sp->n; i++) {
		snprintf(suffix, sizeof(suffix), "-%s", sp->keys[i]);
		write_interval_file(sv, sp->views[i], suffix, secs);
		profile__free(sp->views[i]);
	}
	free(sp);
}

/* Write the interval's profile (split per container if asked) and start anew. */
static void flush_interval(struct server *sv)
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
	prune(sv->so->output_dir, sv->so->keep);
	sv->interval_start = end;
	sv->interval_start_unix_ns = end_unix_ns;
}

static int start_intervals(struct server *sv)
{
	struct stat st;

	if (!sv->so->output_dir)
		return 0;
	if (stat(sv->so->output_dir, &st) || !S_ISDIR(st.st_mode)) {
		log_error("--output-dir %s: not a directory", sv->so->output_dir);
		return -ENOTDIR;
	}
	sv->interval = profile__new_view(sv->base, sv->so->max_stacks);
	if (!sv->interval || sampler__add_sink(sv->s, sv->interval, NULL, NULL))
		return -ENOMEM;
	sv->interval_start = mono_s();
	sv->interval_start_unix_ns = unix_ns();
	log_info("writing a profile every %.0f s to %s (keeping %d)", sv->so->interval_s,
		 sv->so->output_dir, sv->so->keep);
	return 0;
}

/* --- the daemon ------------------------------------------------------------ */

/*
 * --log-file onto stderr: appended to, never through a symlink, created
 * 0640.  If it cannot be opened, stderr stays what it was.
 */
static int open_log(const char *path)
{
	int fd, err = 0;

	if (!path)
		return 0;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
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
			  sv->so->log_file, strerror(-err));
	else
		log_info("log reopened");
	/* Likewise with the old token, if the new file will not do. */
	serve_auth_reload_token(sv->so->auth);
}

static void run(struct server *sv)
{
	sv->last_rebuild = mono_s();
	while (!stop_requested) {
		sampler__poll(sv->s, 20);
		if (hangup) {
			hangup = 0;
			on_hangup(sv);
		}
		if (sv->interval && mono_s() - sv->interval_start >= sv->so->interval_s)
			flush_interval(sv);
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
		flush_interval(sv);
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
		if (sampler__measure_bpf(sv.s))
			log_warn("cannot measure the BPF side's run time (/metrics shows 0)");
		err = start_intervals(&sv);
	}
	if (!err)
		err = start_http(&sv);
	if (!err) {
		log_info("profiling %s at %u Hz (%s)",
			 so->o.all ? "every Python process" : "the given PIDs", so->o.rate_hz,
			 profile_mode_name(so->o.mode));
		run(&sv);
	}
	if (sv.http)
		MHD_stop_daemon(sv.http);
	if (sv.interval && sv.s)
		sampler__remove_sink(sv.s, sv.interval);
	sampler__stop(sv.s);
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
	{ "pid", 'p', "PID", 0, "Profile only this process (repeatable; default: all)", 0 },
	{ "rate", 'r', "HZ", 0, "Samples per second per CPU (default 99)", 0 },
	{ "mode", 'm', "MODE", 0,
	  "cpu (default), offcpu, wall or memory, as for record; waits that span an interval "
	  "or a request are split at its ends",
	  0 },
	{ "gil", 'g', NULL, 0, "Only samples whose thread held the GIL", 0 },
	{ "output-dir", OPT_OUTPUT_DIR, "DIR", 0, "Also write one pprof file per interval", 0 },
	{ "interval", OPT_INTERVAL, "SECS", 0, "Interval of --output-dir files (default 60)", 0 },
	{ "keep", OPT_KEEP, "N", 0, "Keep the newest N files in --output-dir (default 60)", 0 },
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

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct serve_opts *so = state->input;
	long v;

	switch (key) {
	case OPT_LISTEN:
		so->listen = arg;
		break;
	case 'p':
		cmd_add_pid(state, &so->o, arg, OPT_MAX_PIDS);
		break;
	case 'r':
		if (cli_parse_long(arg, 1, 10000, &v))
			argp_error(state, "invalid rate (1-10000 Hz): %s", arg);
		so->o.rate_hz = v;
		break;
	case 'm':
		so->o.mode = cmd_parse_mode(state, arg, true);
		break;
	case 'g':
		so->o.gil_only = true;
		break;
	case OPT_OUTPUT_DIR:
		so->output_dir = arg;
		break;
	case OPT_REBUILD_SYMBOLS:
		if (cli_parse_secs(arg, &so->rebuild_s))
			argp_error(state, "invalid --rebuild-symbols (seconds > 0): %s", arg);
		break;
	case OPT_INTERVAL:
		if (cli_parse_secs(arg, &so->interval_s))
			argp_error(state, "invalid --interval (seconds > 0): %s", arg);
		break;
	case OPT_KEEP:
		if (cli_parse_long(arg, 1, 100000, &v))
			argp_error(state, "invalid --keep: %s", arg);
		so->keep = v;
		break;
	case OPT_SPLIT_BY:
		if (strcmp(arg, "container"))
			argp_error(state, "--split-by takes 'container'");
		so->split_by_container = true;
		break;
	case OPT_MAX_STACKS:
		if (cli_parse_long(arg, 1, 100000000, &v))
			argp_error(state, "invalid --max-stacks: %s", arg);
		so->max_stacks = v;
		break;
	case OPT_LOG_FILE:
		so->log_file = arg;
		break;
	case OPT_TLS_CERT:
		so->auth_opts.tls_cert = arg;
		break;
	case OPT_TLS_KEY:
		so->auth_opts.tls_key = arg;
		break;
	case OPT_TLS_CLIENT_CA:
		so->auth_opts.tls_client_ca = arg;
		break;
	case OPT_TOKEN_FILE:
		so->auth_opts.token_file = arg;
		break;
	case 'v':
		log_verbose++;
		break;
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &so->o; /* cli_limits_argp */
		break;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

int serve_main(int argc, char **argv)
{
	static const struct argp_child children[] = { { &cli_limits_argp, 0, NULL, 0 }, { 0 } };
	static const struct argp argp = { opts, parse_opt, NULL, doc, children, NULL, NULL };
	struct serve_opts so = {
		.o = { OPTIONS_DEFAULTS, .quiet = true },
		.listen = "127.0.0.1:6060",
		.interval_s = 60,
		.rebuild_s = 600,
		.keep = 60,
		.max_stacks = DEFAULT_MAX_STACKS,
	};
	int err;

	if (argp_parse(&argp, argc, argv, 0, NULL, &so))
		return 2;
	if (so.split_by_container && !so.output_dir) {
		log_error("--split-by container needs --output-dir");
		return 2;
	}
	so.o.all = so.o.n_pids == 0;
	if (parse_listen(so.listen, &(struct sockaddr_in){})) {
		log_error("bad --listen '%s' (want IPV4:PORT, e.g. 127.0.0.1:6060)", so.listen);
		return 2;
	}
	/* Before --log-file takes stderr: a bad key or token is seen where serve was started. */
	err = serve_auth_load(&so.auth_opts, &so.auth);
	if (err)
		return err == -EINVAL ? 2 : 1;
	log_timestamps = true;
	if (open_log(so.log_file)) {
		log_error("cannot open --log-file %s: %m (a symlink is refused)", so.log_file);
		err = 1;
	}
	if (!err) {
		cmd_catch_signals(on_signal, (const int[]){ SIGINT, SIGTERM, SIGHUP, 0 });
		err = preflight_privileges() || preflight_btf() || serve(&so) ? 1 : 0;
	}
	serve_auth_free(so.auth);
	return err;
}
