// SPDX-License-Identifier: MIT
/*
 * serve_auth.c - TLS material, client certificates and the bearer token
 * of `serve` (see serve_auth.h).
 */
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "serve_auth.h"
#include "symbolize/base/fileopen.h"
#include "symbolize/base/log.h"
#include "user/output/bytes.h"

/* A certificate chain or a CA bundle is kilobytes; anything bigger is a mistake. */
#define PEM_MAX (1u << 20)
/*
 * TLS 1.2 and 1.3 only, what Go's clients (Parca, Alloy, go tool pprof)
 * accept by default; GnuTLS's NORMAL alone would still take 1.0 and 1.1.
 */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
/* Any real token fits; a request header larger than this is suspect anyway. */
#define TOKEN_MAX 4096

struct serve_auth {
	/* NUL-terminated PEM (what MHD takes), kept for the daemon's life. */
	char *cert, *key, *client_ca;
	struct MHD_OptionItem mhd[5];
	const char *token_file;
	/* Request threads compare against the token while SIGHUP replaces it. */
	pthread_mutex_t token_lock;
	char *token; /* NULL: no token asked for */
	size_t token_len;
};

/* Free a buffer that held a secret, wiped first so no copy outlives its use. */
static void free_secret(char *p, size_t len)
{
	if (!p)
		return;
	explicit_bzero(p, len);
	free(p);
}

/*
 * A small whole file as a NUL-terminated string: -EFBIG past max bytes,
 * -EBADMSG if a NUL is inside (a C string would silently end there).
 */
static int read_text(const char *path, size_t max, char **out, size_t *len)
{
	uint8_t *buf = NULL;
	char *s;
	int err = bytes_read_file(path, max, &buf, len);

	if (err)
		return err;
	/* bytes_read_file may return up to its first buffer's size: cap here. */
	if (*len > max)
		err = -EFBIG;
	else if (memchr(buf, 0, *len))
		err = -EBADMSG;
	s = err ? NULL : malloc(*len + 1);
	if (!err && !s)
		err = -ENOMEM;
	if (s) {
		memcpy(s, buf, *len);
		s[*len] = 0;
		*out = s;
	}
	free_secret((char *)buf, *len);
	return err;
}

static int read_pem(const char *opt, const char *path, char **out)
{
	size_t len = 0;
	int err = read_text(path, PEM_MAX, out, &len);

	if (!err && !len) {
		free(*out);
		*out = NULL;
		err = -ENODATA;
	}
	if (err == -EFBIG)
		log_error("%s %s: over 1 MiB, so not a certificate or key", opt, path);
	else if (err == -EBADMSG)
		log_error("%s %s: holds a NUL byte, so it is not PEM text", opt, path);
	else if (err == -ENODATA)
		log_error("%s %s: is empty", opt, path);
	else if (err)
		log_error("cannot read %s %s: %s", opt, path, fileopen_strerror(-err));
	return err;
}

static gnutls_datum_t datum(const char *s)
{
	return (gnutls_datum_t){ .data = (unsigned char *)s, .size = strlen(s) };
}

/*
 * Load the PEM into throwaway GnuTLS credentials, as MHD will at start:
 * a key that does not match its certificate, or a CA file with no
 * certificate in it, is named here rather than failing inside MHD, which
 * would only say that it cannot start.
 */
static int try_tls(const struct serve_auth *a, const struct serve_auth_opts *o)
{
	gnutls_certificate_credentials_t cred;
	gnutls_datum_t cert = datum(a->cert), key = datum(a->key), ca;
	int ret;

	if (gnutls_certificate_allocate_credentials(&cred) < 0) {
		log_error("out of memory loading --tls-cert");
		return -ENOMEM;
	}
	ret = gnutls_certificate_set_x509_key_mem(cred, &cert, &key, GNUTLS_X509_FMT_PEM);
	if (ret < 0)
		log_error("--tls-cert %s with --tls-key %s: %s", o->tls_cert, o->tls_key,
			  gnutls_strerror(ret));
	if (ret >= 0 && a->client_ca) {
		ca = datum(a->client_ca);
		/* The number of certificates it took: 0 means none was found. */
		ret = gnutls_certificate_set_x509_trust_mem(cred, &ca, GNUTLS_X509_FMT_PEM);
		if (ret <= 0)
			log_error("--tls-client-ca %s: %s", o->tls_client_ca,
				  ret < 0 ? gnutls_strerror(ret) : "no certificate in it");
		ret = ret <= 0 ? -1 : 0;
	}
	gnutls_certificate_free_credentials(cred);
	return ret < 0 ? -EBADMSG : 0;
}

static int load_tls(struct serve_auth *a, const struct serve_auth_opts *o)
{
	int n = 0, err;

	if (!o->tls_cert)
		return 0;
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		log_error("--tls-cert: this libmicrohttpd was built without TLS");
		return -ENOTSUP;
	}
	err = read_pem("--tls-cert", o->tls_cert, &a->cert);
	if (!err)
		err = read_pem("--tls-key", o->tls_key, &a->key);
	if (!err && o->tls_client_ca)
		err = read_pem("--tls-client-ca", o->tls_client_ca, &a->client_ca);
	if (!err)
		err = try_tls(a, o);
	if (err)
		return err;
	a->mhd[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, a->cert };
	a->mhd[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, a->key };
	a->mhd[n++] =
		(struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES };
	/* MHD then asks each client for a certificate; serve_auth_check verifies it. */
	if (a->client_ca)
		a->mhd[n++] =
			(struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST, 0, a->client_ca };
	a->mhd[n] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	return 0;
}

/*
 * The token file: one line, its newline (LF or CRLF) not part of it.  What
 * a header cannot carry (spaces, control bytes, non-ASCII) is refused, so
 * that a token that could never match is an error at start, not a 401
 * for everyone.  note ends each error line (what happens next).
 */
static int read_token(const char *path, const char *note, char **out, size_t *out_len)
{
	char *t = NULL;
	size_t len = 0;
	int err = read_text(path, TOKEN_MAX + 2, &t, &len);

	if (!err) {
		if (len && t[len - 1] == '\n')
			len--;
		if (len && t[len - 1] == '\r')
			len--;
		t[len] = 0;
		err = !len ? -ENODATA : len > TOKEN_MAX ? -EFBIG : 0;
		for (size_t i = 0; !err && i < len; i++)
			if (t[i] < 0x21 || t[i] > 0x7e)
				err = -EILSEQ;
	}
	if (err == -EFBIG)
		log_error("--token-file %s: over 4 KiB%s", path, note);
	else if (err == -ENODATA)
		log_error("--token-file %s: is empty%s", path, note);
	else if (err == -EILSEQ || err == -EBADMSG)
		log_error("--token-file %s: holds a space, a control or a non-ASCII byte, which "
			  "an Authorization header cannot carry%s",
			  path, note);
	else if (err)
		log_error("cannot read --token-file %s: %s%s", path, fileopen_strerror(-err), note);
	if (err) {
		free_secret(t, len);
		return err;
	}
	*out = t;
	*out_len = len;
	return 0;
}

int serve_auth_load(const struct serve_auth_opts *o, struct serve_auth **out)
{
	struct serve_auth *a;
	int err;

	*out = NULL;
	if (!o->tls_cert != !o->tls_key) {
		log_error("--tls-cert and --tls-key go together");
		return -EINVAL;
	}
	if (o->tls_client_ca && !o->tls_cert) {
		log_error("--tls-client-ca needs --tls-cert and --tls-key (client certificates "
			  "are a part of TLS)");
		return -EINVAL;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		log_error("out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&a->token_lock, NULL);
	a->mhd[0] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	a->token_file = o->token_file;
	err = load_tls(a, o);
	if (!err && o->token_file)
		err = read_token(o->token_file, "", &a->token, &a->token_len);
	if (err) {
		serve_auth_free(a);
		return err;
	}
	*out = a;
	return 0;
}

void serve_auth_free(struct serve_auth *a)
{
	if (!a)
		return;
	free(a->cert);
	free_secret(a->key, a->key ? strlen(a->key) : 0);
	free(a->client_ca);
	free_secret(a->token, a->token_len);
	pthread_mutex_destroy(&a->token_lock);
	free(a);
}

bool serve_auth_tls(const struct serve_auth *a)
{
	return a->cert;
}

const struct MHD_OptionItem *serve_auth_mhd_options(const struct serve_auth *a)
{
	return a->mhd;
}

/*
 * The client's certificate against --tls-client-ca.  MHD only asks for
 * one (GNUTLS_CERT_REQUEST) and GnuTLS, as a server, checks nothing but
 * that the client holds its key: the chain, its dates and its purpose
 * (TLS client; a certificate with no purpose listed may serve any) are
 * checked here, on every request, since one connection carries many.
 */
static enum serve_auth_verdict check_peer(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	gnutls_typed_vdata_st purpose = {
		.type = GNUTLS_DT_KEY_PURPOSE_OID,
		.data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT,
	};
	gnutls_session_t s = ci ? ci->tls_session : NULL;
	gnutls_datum_t why = { 0 };
	unsigned int n = 0, status = 0;
	int ret;

	if (!s || !gnutls_certificate_get_peers(s, &n) || !n)
		return SERVE_AUTH_NO_CERT;
	ret = gnutls_certificate_verify_peers(s, &purpose, 1, &status);
	if (!ret && !status)
		return SERVE_AUTH_OK;
	/* Why, for whoever debugs a scraper's configuration with -v. */
	if (log_verbose && !ret &&
	    !gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why, 0)) {
		log_debug("client certificate refused: %s", why.data);
		gnutls_free(why.data);
	} else if (ret) {
		log_debug("client certificate refused: %s", gnutls_strerror(ret));
	}
	return SERVE_AUTH_BAD_CERT;
}

/* Equal, in a time that depends on the token's length only, never on where they differ. */
static bool same_secret(const char *given, size_t given_len, const char *token, size_t len)
{
	volatile unsigned char diff = given_len != len;

	for (size_t i = 0; i < len; i++)
		diff |= (unsigned char)token[i] ^ (unsigned char)(i < given_len ? given[i] : 0);
	return !diff;
}

/* `Authorization: Bearer TOKEN`; the scheme's name is case-insensitive (RFC 7235). */
static enum serve_auth_verdict check_token(struct serve_auth *a, struct MHD_Connection *c)
{
	const char *v = NULL;
	size_t len = 0;
	bool ok;

	if (MHD_lookup_connection_value_n(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION,
					  strlen(MHD_HTTP_HEADER_AUTHORIZATION), &v,
					  &len) != MHD_YES ||
	    !v || len < 7 || strncasecmp(v, "Bearer ", 7))
		return SERVE_AUTH_NO_TOKEN;
	v += 7;
	len -= 7;
	while (len && *v == ' ') {
		v++;
		len--;
	}
	pthread_mutex_lock(&a->token_lock);
	ok = same_secret(v, len, a->token, a->token_len);
	pthread_mutex_unlock(&a->token_lock);
	return ok ? SERVE_AUTH_OK : SERVE_AUTH_BAD_TOKEN;
}

enum serve_auth_verdict serve_auth_check(struct serve_auth *a, struct MHD_Connection *c)
{
	enum serve_auth_verdict v = SERVE_AUTH_OK;

	if (a->client_ca)
		v = check_peer(c);
	/* token_file, unlike token, never changes: no lock to ask whether there is one. */
	if (v == SERVE_AUTH_OK && a->token_file)
		v = check_token(a, c);
	return v;
}

const char *serve_auth_verdict_name(enum serve_auth_verdict v)
{
	static const char *const names[SERVE_AUTH__COUNT] = {
		[SERVE_AUTH_OK] = "ok",
		[SERVE_AUTH_NO_CERT] = "no_cert",
		[SERVE_AUTH_BAD_CERT] = "bad_cert",
		[SERVE_AUTH_NO_TOKEN] = "no_token",
		[SERVE_AUTH_BAD_TOKEN] = "bad_token",
	};

	return (unsigned)v < SERVE_AUTH__COUNT ? names[v] : "?";
}

int serve_auth_reload_token(struct serve_auth *a)
{
	char *t, *old;
	size_t len, old_len;
	int err;

	if (!a->token_file)
		return 0;
	err = read_token(a->token_file, " (keeping the old token)", &t, &len);
	if (err)
		return err;
	pthread_mutex_lock(&a->token_lock);
	old = a->token;
	old_len = a->token_len;
	a->token = t;
	a->token_len = len;
	pthread_mutex_unlock(&a->token_lock);
	free_secret(old, old_len);
	log_info("token re-read from %s", a->token_file);
	return 0;
}
