// SPDX-License-Identifier: MIT
/*
 * serve_http.c - serve's HTTP endpoints: a profile of the next N seconds
 * (filtered by pid, container or pod), /metrics, /healthz; the server
 * stays reachable whatever clients do (serve_guard.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "serve.h"
#include "symbolize/base/cli.h"
#include "symbolize/base/clock.h"
#include "symbolize/base/log.h"
#include "user/engine/summary.h"

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

static int parse_filter(struct MHD_Connection *c, struct profile_filter *f, long *secs)
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
	for (long i = 0; i < secs * 10 && !serve_stop_requested; i++) {
		if (client_gone(c))
			return false;
		usleep(100 * 1000);
	}
	return true;
}

static enum MHD_Result handle_profile(struct server *sv, struct MHD_Connection *c)
{
	struct profile_filter f;
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
	view = profile__new_view(sv->base, sv->so->max_stacks);
	if (!view || sampler__add_sink(sv->s, view, &f)) {
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
	struct serve_guard_counts gc;
	uint64_t names_dropped;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	sampler__counts(sv->s, &rc);
	serve_guard_counts(sv->guard, &gc);
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
	fprintf(f,
		"# HELP pyspy_http_connections Open HTTP connections.\n"
		"# TYPE pyspy_http_connections gauge\npyspy_http_connections %u\n",
		gc.open);
	fprintf(f, "# HELP pyspy_http_shed_total Connections the server closed to stay "
		   "reachable: a request head past its deadline, the slowest client when slots "
		   "ran short (table_full, address_full), a new one whose address had its "
		   "share at work (refused).\n# TYPE pyspy_http_shed_total counter\n");
	for (int r = 0; r < SERVE_GUARD__COUNT; r++)
		fprintf(f, "pyspy_http_shed_total{reason=\"%s\"} %" PRIu64 "\n",
			serve_guard_reason_name(r), gc.closed[r]);
	if (fclose(f)) {
		free(buf);
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	}
	return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4", buf, len, MHD_RESPMEM_MUST_FREE);
}

/* Does the request announce a body?  None of ours takes one. */
static bool has_body(struct MHD_Connection *c)
{
	const char *len =
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

	return (len && strcmp(len, "0")) ||
	       MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
}

/* The answer to a GET whose head is in (the second call of MHD's). */
static enum MHD_Result route(struct server *sv, struct MHD_Connection *c, const char *url)
{
	enum serve_auth_verdict verdict;

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

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *data_len, void **state)
{
	struct server *sv = cls;
	enum MHD_Result ret;

	(void)version;
	(void)data;
	(void)data_len;
	/* MHD calls twice; the first call, once the head is in, only sets up the request. */
	if (!*state) {
		*state = sv;
		serve_guard_head_done(sv->guard, c);
		if (!strcmp(method, "GET") && !has_body(c))
			return MHD_YES;
		/*
		 * Answered before the body (MHD then closes the connection):
		 * waiting for one that trickles in would keep the request at
		 * work, which the guard never sheds.
		 */
		ret = strcmp(method, "GET")
			      ? reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only\n")
			      : reply_text(c, MHD_HTTP_BAD_REQUEST, "a GET takes no body\n");
		serve_guard_answering(sv->guard, c);
		return ret;
	}
	ret = route(sv, c, url);
	serve_guard_answering(sv->guard, c);
	return ret;
}

int serve_http_parse_listen(const char *s, struct sockaddr_in *sa)
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

int serve_http_start(struct server *sv)
{
	struct serve_auth *auth = sv->so->auth;
	bool tls = serve_auth_tls(auth);
	/*
	 * A thread per connection: a profile request sleeps out its seconds
	 * without holding up the others.  Its loop uses select(), not poll():
	 * 0.9.75's poll loop rounds its wait down to whole seconds and spins
	 * through the last second of every idle timeout.
	 */
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;
	struct sockaddr_in sa;
	int err;

	if (serve_http_parse_listen(sv->so->listen, &sa)) {
		log_error("bad --listen '%s' (want IPV4:PORT, e.g. 127.0.0.1:6060)",
			  sv->so->listen);
		return -EINVAL;
	}
	err = serve_guard_new(&sv->guard);
	if (err)
		return err;
	if (tls)
		flags |= MHD_USE_TLS;
	/*
	 * The guard admits each connection (its per-address share replaces
	 * MHD's, which refuses outright where the guard makes room) and
	 * follows it; the TLS options come as an array (empty without TLS),
	 * so one call serves both.
	 */
	sv->http = MHD_start_daemon(flags, 0, serve_guard_accept, sv->guard, on_request, sv,
				    MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_CONNECTION_LIMIT,
				    (unsigned)HTTP_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
				    (unsigned)HTTP_IDLE_TIMEOUT_S, MHD_OPTION_ARRAY,
				    serve_guard_mhd_options(sv->guard), MHD_OPTION_ARRAY,
				    serve_auth_mhd_options(auth), MHD_OPTION_END);
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
