/* SPDX-License-Identifier: MIT */
/*
 * serve_guard.h - who holds a connection of `serve`'s HTTP server, and for
 * how long.
 *
 * Owns the table of open connections (each one's address and phase: still
 * sending its request head, being answered, or reading the answer) and the
 * rules that keep /healthz and /metrics answered whatever other clients
 * do, with no credentials at all (probes bring none):
 *   - a deadline for a request's head: HTTP_HEAD_DEADLINE_S from accept
 *     (TLS handshake included) or from the end of the previous request on
 *     the connection, however steadily its bytes trickle in;
 *   - a share per client address (HTTP_PER_IP_CONNECTIONS);
 *   - slots kept free: past HTTP_MAX_CONNECTIONS - HTTP_RESERVED_CONNECTIONS
 *     open connections, each new one closes the slowest one, so that a
 *     probe is let in at once and never waits behind a full table;
 *   - the slowest first: a connection whose head has been coming for a
 *     while (the longest first), then one reading its answer (the one that
 *     has taken the fewest bytes per second), then one whose head has just
 *     begun; never one whose request is being worked on (profiles hold at
 *     most SAMPLER_MAX_SINKS).
 * A connection is closed by shutting its socket down, which wakes the
 * thread libmicrohttpd runs it on; libmicrohttpd then closes it.
 *
 * serve_http.c starts the daemon with these hooks and tells the guard
 * when a request's head is in and when its answer is queued.
 */
#ifndef PYSPY_SERVE_GUARD_H
#define PYSPY_SERVE_GUARD_H

#include <microhttpd.h>
#include <stdint.h>
#include <sys/socket.h>

#include "user/engine/sampler.h"

/*
 * Connections well past the profile slots, so that profiles alone never
 * fill the table; one address may hold all the profile slots, no more.
 * Each connection is a thread of libmicrohttpd's.
 */
#define HTTP_MAX_CONNECTIONS	  (4 * SAMPLER_MAX_SINKS)
#define HTTP_RESERVED_CONNECTIONS 32
#define HTTP_PER_IP_CONNECTIONS	  SAMPLER_MAX_SINKS
/*
 * Every client we know of sends its request head in one go, within a
 * round trip of the handshake; 10 s is room for a slow network, and for
 * a TLS handshake on a loaded node.  The deadline also closes kept-alive
 * connections that stay idle that long.
 */
#define HTTP_HEAD_DEADLINE_S 10
/*
 * libmicrohttpd's own timeout, which any byte restarts: past the head,
 * it closes a client that takes nothing of its answer for this long.  The
 * kernel lets it write again only once a good part of the socket's send
 * buffer (which grows to megabytes) has drained, so a short timeout cuts
 * an honest reader of a big profile on a slow link (5 s cut readers of
 * 16 KB/s here); slow readers that hold slots are shed by pace instead.
 */
#define HTTP_IDLE_TIMEOUT_S 30
/*
 * A head is slow, and a reader has a pace, only after this long: before,
 * neither has had time to show how fast it is (serve_guard.c).
 */
#define HTTP_GRACE_S 1

/* Why the guard closed a connection, for /metrics. */
enum serve_guard_reason {
	SERVE_GUARD_HEAD_DEADLINE, /* its request head took too long */
	SERVE_GUARD_TABLE_FULL,	   /* the slowest, to keep slots free */
	SERVE_GUARD_ADDRESS_FULL,  /* the slowest of an address at its share */
	SERVE_GUARD_REFUSED,	   /* a new one, its address's share all at work */
	SERVE_GUARD__COUNT,
};

struct serve_guard_counts {
	unsigned open; /* connections in the table now */
	uint64_t closed[SERVE_GUARD__COUNT];
};

struct serve_guard;

/* The table and its deadline thread.  0 or -errno (logged). */
int serve_guard_new(struct serve_guard **out);
/* After MHD_stop_daemon (which closes every connection). */
void serve_guard_free(struct serve_guard *g);

/* MHD_start_daemon's accept policy (its cls: the guard). */
enum MHD_Result serve_guard_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);
/* MHD_OPTION_ARRAY items (ending in MHD_OPTION_END), valid as long as g. */
const struct MHD_OptionItem *serve_guard_mhd_options(struct serve_guard *g);

/* From the access handler, on the connection's thread: the head is in. */
void serve_guard_head_done(struct serve_guard *g, struct MHD_Connection *c);
/* The answer is queued (or the connection is about to close). */
void serve_guard_answering(struct serve_guard *g, struct MHD_Connection *c);

void serve_guard_counts(struct serve_guard *g, struct serve_guard_counts *out);
/* "head_deadline", "table_full", ...: the reason label in /metrics. */
const char *serve_guard_reason_name(enum serve_guard_reason r);

#endif /* PYSPY_SERVE_GUARD_H */
