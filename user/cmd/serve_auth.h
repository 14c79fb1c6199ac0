/* SPDX-License-Identifier: MIT */
/*
 * serve_auth.h - who may talk to `serve`.
 *
 * Owns: the TLS material of --tls-cert, --tls-key and --tls-client-ca
 * (read once, bounded, and tried with GnuTLS before the daemon starts, so
 * that a bad file is one clear line and not a daemon that cannot listen);
 * the check of a client's certificate against --tls-client-ca, which
 * libmicrohttpd asks for but never verifies; and the bearer token of
 * --token-file (compared in constant time, re-read on SIGHUP).
 *
 * serve.c decides which paths are open (/healthz, for probes) and builds
 * the answers; this module only says whether a request may go on.
 */
#ifndef PYSPY_SERVE_AUTH_H
#define PYSPY_SERVE_AUTH_H

#include <microhttpd.h>
#include <stdbool.h>

struct serve_auth_opts {
	const char *tls_cert;	   /* PEM certificate (chain) of the server */
	const char *tls_key;	   /* its PEM private key */
	const char *tls_client_ca; /* PEM CA(s) a client certificate must chain to */
	const char *token_file;	   /* the bearer token, one line */
};

enum serve_auth_verdict {
	SERVE_AUTH_OK,
	SERVE_AUTH_NO_CERT,   /* --tls-client-ca, and the client sent no certificate */
	SERVE_AUTH_BAD_CERT,  /* it sent one that does not verify against that CA */
	SERVE_AUTH_NO_TOKEN,  /* --token-file, and no Bearer credentials */
	SERVE_AUTH_BAD_TOKEN, /* Bearer credentials that are not the token */
	SERVE_AUTH__COUNT,
};

struct serve_auth;

/*
 * Check that the options go together and read every file they name into
 * *out (also when none is given: then every request may go on).  0, or
 * -EINVAL when the options do not go together (a usage error, and only
 * then), -ENOTSUP when libmicrohttpd has no TLS, another -errno for a
 * file; every failure is one log line.
 */
int serve_auth_load(const struct serve_auth_opts *o, struct serve_auth **out);
void serve_auth_free(struct serve_auth *a);

/* Whether the daemon speaks TLS; then MHD_USE_TLS and these options. */
bool serve_auth_tls(const struct serve_auth *a);
/* MHD_OPTION_ARRAY items (ending in MHD_OPTION_END), valid as long as a. */
const struct MHD_OptionItem *serve_auth_mhd_options(const struct serve_auth *a);

/* May this request go on?  Called on the connection's own thread. */
enum serve_auth_verdict serve_auth_check(struct serve_auth *a, struct MHD_Connection *c);
/* "no_cert", "bad_cert", ...: the reason label in /metrics. */
const char *serve_auth_verdict_name(enum serve_auth_verdict v);

/*
 * Re-read --token-file (for a rotated Secret).  0, also when there is no
 * token; on failure -errno, logged, and the old token stays in force.
 */
int serve_auth_reload_token(struct serve_auth *a);

#endif /* PYSPY_SERVE_AUTH_H */
