// SPDX-License-Identifier: MIT
/*
 * serve_guard.c - the table of serve's HTTP connections, their head
 * deadline, and which one goes when slots run short (see serve_guard.h).
 *
 * libmicrohttpd (Debian 12: 0.9.75) runs each connection on its own
 * thread and has no way to close one from outside, nor a deadline for a
 * request head: its only timeout is an idle one, which a byte every few
 * seconds keeps off forever, and at its connection limit it stops
 * accepting, so a probe waits in the listen queue behind whoever holds the
 * table.  What it offers: an accept policy (on its listening thread,
 * before the connection counts), a callback when a connection starts and
 * when it is gone, one when a request is over, and each connection's
 * socket.  Shutting that socket down from here wakes the connection's
 * thread, which then closes the connection as if the client had.  The
 * socket is safe to shut down while its entry is in the table: MHD tells
 * us the connection is gone (under our lock) before it closes the socket,
 * so the descriptor cannot have been reused.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/tcp.h> /* tcpi_bytes_acked, which glibc's struct lacks */
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve_guard.h"
#include "symbolize/base/clock.h"
#include "symbolize/base/log.h"

/* At most one line a minute says that clients are being shed. */
#define WARN_EVERY_S 60

enum phase {
	PHASE_HEAD,   /* the request head (or the TLS handshake before it) is coming */
	PHASE_WORK,   /* the head is in, the request is being worked on */
	PHASE_ANSWER, /* the answer is queued, the client reads it */
};

/* A client address, the unit of the per-address share. */
struct addr_key {
	sa_family_t family;
	uint8_t bytes[16];
};

struct conn {
	struct MHD_Connection *c; /* NULL: a free entry */
	int fd;
	struct addr_key addr;
	enum phase phase;
	bool shed;	/* shut down; MHD has yet to close it */
	double started; /* accepted (mono_s) */
	double since;	/* the phase began */
	double work_s;	/* spent at work on its requests, over its life */
};

struct serve_guard {
	pthread_mutex_t lock;
	pthread_cond_t wake; /* a connection waits for its head, or stop */
	pthread_t reaper;
	bool reaper_running, reaper_idle, stopping;
	/* MHD never holds more than HTTP_MAX_CONNECTIONS at once. */
	struct conn conns[HTTP_MAX_CONNECTIONS];
	uint64_t closed[SERVE_GUARD__COUNT];
	double last_warn;
	bool warn_due;
	struct MHD_OptionItem mhd[3];
};

static struct addr_key key_of(const struct sockaddr *sa)
{
	struct addr_key k = { 0 };

	if (!sa)
		return k;
	k.family = sa->sa_family;
	if (sa->sa_family == AF_INET)
		memcpy(k.bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	else if (sa->sa_family == AF_INET6)
		memcpy(k.bytes, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	return k;
}

static bool same_addr(const struct addr_key *a, const struct addr_key *b)
{
	return a->family == b->family && !memcmp(a->bytes, b->bytes, sizeof(a->bytes));
}

/* Bytes of the answers the client's kernel has acknowledged (0 before Linux 4.1). */
static uint64_t acked(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) ||
	    len < offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof(ti.tcpi_bytes_acked))
		return 0;
	return ti.tcpi_bytes_acked;
}

/* The entry of c, or NULL; under the lock. */
static struct conn *entry_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn *k = ci ? ci->socket_context : NULL;

	/* An entry is reused once its connection is gone: it must still be c's. */
	return k && k->c == c ? k : NULL;
}

static void enter_head(struct serve_guard *g, struct conn *k)
{
	k->phase = PHASE_HEAD;
	k->since = mono_s();
	/* The reaper sleeps until the first deadline; with none it sleeps until told. */
	if (g->reaper_idle)
		pthread_cond_signal(&g->wake);
}

static void shed(struct serve_guard *g, struct conn *k, enum serve_guard_reason why)
{
	shutdown(k->fd, SHUT_RDWR);
	k->shed = true;
	g->closed[why]++;
	if (mono_s() - g->last_warn >= WARN_EVERY_S || !g->last_warn)
		g->warn_due = true;
}

/* Unlock, then say (not holding the lock) that clients are being shed. */
static void unlock_and_warn(struct serve_guard *g)
{
	uint64_t n = 0;
	bool warn = g->warn_due;

	if (warn) {
		g->warn_due = false;
		g->last_warn = mono_s();
		for (int r = 0; r < SERVE_GUARD__COUNT; r++)
			n += g->closed[r];
	}
	pthread_mutex_unlock(&g->lock);
	if (warn)
		log_warn("closing slow HTTP clients to stay reachable: %" PRIu64
			 " so far (pyspy_http_shed_total in /metrics)",
			 n);
}

/*
 * The order in which connections are shed when slots run short, first
 * class first.  A head is "slow" once it has been coming for
 * HTTP_GRACE_S: before, it is most likely a client that sends its head in
 * one go and has not been scheduled yet (a probe), so it goes last.  A
 * reader is judged on its pace (the bytes it has acknowledged per second
 * the server waited on it: its life but for the work on its requests,
 * since a client that pipelines requests starts a new answer at every few
 * bytes it reads) once it has had HTTP_GRACE_S of waiting.  Connections at
 * work are never shed: those are requests that were let in, bounded by
 * the profile slots.
 */
enum shed_class {
	SHED_SLOW_HEAD, /* the oldest first */
	SHED_PACED,	/* the slowest first */
	SHED_UNPACED,	/* a reader without a pace yet: the oldest first */
	SHED_FRESH_HEAD,
	SHED_NEVER,
};

/* k's class, and *key, which orders a class (smaller first). */
static enum shed_class shed_class(const struct conn *k, double now, double *key)
{
	double waited;

	if (!k->c || k->shed)
		return SHED_NEVER;
	*key = k->since;
	if (k->phase == PHASE_HEAD)
		return now - k->since >= HTTP_GRACE_S ? SHED_SLOW_HEAD : SHED_FRESH_HEAD;
	if (k->phase != PHASE_ANSWER)
		return SHED_NEVER;
	waited = now - k->started - k->work_s;
	if (waited < HTTP_GRACE_S)
		return SHED_UNPACED;
	*key = acked(k->fd) / waited;
	return SHED_PACED;
}

/* The connection to shed first, of one address or of all; NULL if none may go. */
static struct conn *slowest(struct serve_guard *g, const struct addr_key *only)
{
	enum shed_class best = SHED_NEVER, cls;
	struct conn *victim = NULL;
	double now = mono_s(), key, best_key = 0;

	for (int i = 0; i < HTTP_MAX_CONNECTIONS; i++) {
		struct conn *k = &g->conns[i];

		if (only && !same_addr(&k->addr, only))
			continue;
		/* A reader cannot beat a slow head: spare the getsockopt. */
		if (best == SHED_SLOW_HEAD && k->phase != PHASE_HEAD)
			continue;
		cls = shed_class(k, now, &key);
		if (cls < best ||
		    (cls == best && cls != SHED_NEVER &&
		     (key < best_key || (key == best_key && k->since < victim->since)))) {
			victim = k;
			best = cls;
			best_key = key;
		}
	}
	return victim;
}

enum MHD_Result serve_guard_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct serve_guard *g = cls;
	struct addr_key key = key_of(addrlen ? addr : NULL);
	unsigned open = 0, mine = 0;
	struct conn *victim;

	pthread_mutex_lock(&g->lock);
	/* Those already shut down are on their way out: they do not count. */
	for (int i = 0; i < HTTP_MAX_CONNECTIONS; i++) {
		const struct conn *k = &g->conns[i];

		if (k->c && !k->shed) {
			open++;
			mine += same_addr(&k->addr, &key);
		}
	}
	if (mine >= HTTP_PER_IP_CONNECTIONS) {
		victim = slowest(g, &key);
		if (!victim) {
			/* Its whole share is at work on requests: this one may come back. */
			g->closed[SERVE_GUARD_REFUSED]++;
			unlock_and_warn(g);
			return MHD_NO;
		}
		shed(g, victim, SERVE_GUARD_ADDRESS_FULL);
		open--;
	}
	/*
	 * The table never fills, for MHD at its limit stops accepting and a
	 * probe would wait in the listen queue: past the reserve, each new
	 * connection sheds the slowest.  One shut down here is gone within
	 * milliseconds; the reserve absorbs the overlap, and the connections
	 * at work should nothing else be left (the profile slots bound them).
	 */
	if (open >= HTTP_MAX_CONNECTIONS - HTTP_RESERVED_CONNECTIONS) {
		victim = slowest(g, NULL);
		if (victim)
			shed(g, victim, SERVE_GUARD_TABLE_FULL);
	}
	unlock_and_warn(g);
	return MHD_YES;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct serve_guard *g = cls;
	const union MHD_ConnectionInfo *fd_info, *addr_info;
	struct conn *k = *socket_context;

	pthread_mutex_lock(&g->lock);
	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		/* MHD closes the socket after this returns: forget it first. */
		if (k && k->c == c)
			memset(k, 0, sizeof(*k));
		*socket_context = NULL;
		pthread_mutex_unlock(&g->lock);
		return;
	}
	fd_info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	addr_info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	k = NULL;
	for (int i = 0; i < HTTP_MAX_CONNECTIONS && !k; i++)
		if (!g->conns[i].c)
			k = &g->conns[i];
	if (k && fd_info) {
		*k = (struct conn){
			.c = c,
			.fd = fd_info->connect_fd,
			.addr = key_of(addr_info ? addr_info->client_addr : NULL),
			.started = mono_s(),
		};
		*socket_context = k;
		enter_head(g, k);
	} else if (fd_info) {
		/* MHD holds no more than the table; were it to, none goes unguarded. */
		shutdown(fd_info->connect_fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&g->lock);
}

/* A request is over: on a kept-alive connection the next head is awaited. */
static void on_completed(void *cls, struct MHD_Connection *c, void **req,
			 enum MHD_RequestTerminationCode toe)
{
	struct serve_guard *g = cls;
	struct conn *k;

	(void)req;
	(void)toe;
	pthread_mutex_lock(&g->lock);
	k = entry_of(c);
	if (k)
		enter_head(g, k);
	pthread_mutex_unlock(&g->lock);
}

void serve_guard_head_done(struct serve_guard *g, struct MHD_Connection *c)
{
	struct conn *k;

	pthread_mutex_lock(&g->lock);
	k = entry_of(c);
	if (k) {
		k->phase = PHASE_WORK;
		k->since = mono_s();
	}
	pthread_mutex_unlock(&g->lock);
}

void serve_guard_answering(struct serve_guard *g, struct MHD_Connection *c)
{
	struct conn *k;

	pthread_mutex_lock(&g->lock);
	k = entry_of(c);
	if (k && k->phase == PHASE_WORK) {
		k->phase = PHASE_ANSWER;
		k->work_s += mono_s() - k->since;
		k->since = mono_s();
	}
	pthread_mutex_unlock(&g->lock);
}

/*
 * The head deadline: shut down every connection whose head is late, then
 * sleep until the next one is due (or until a connection starts waiting
 * for one, when none was).
 */
static void *reaper(void *arg)
{
	struct serve_guard *g = arg;

	pthread_mutex_lock(&g->lock);
	while (!g->stopping) {
		double now = mono_s(), next = 0;
		struct timespec ts;

		for (int i = 0; i < HTTP_MAX_CONNECTIONS; i++) {
			struct conn *k = &g->conns[i];

			if (!k->c || k->shed || k->phase != PHASE_HEAD)
				continue;
			if (now - k->since >= HTTP_HEAD_DEADLINE_S)
				shed(g, k, SERVE_GUARD_HEAD_DEADLINE);
			else if (!next || k->since + HTTP_HEAD_DEADLINE_S < next)
				next = k->since + HTTP_HEAD_DEADLINE_S;
		}
		if (g->warn_due) {
			unlock_and_warn(g);
			pthread_mutex_lock(&g->lock);
			continue;
		}
		g->reaper_idle = !next;
		if (!next) {
			pthread_cond_wait(&g->wake, &g->lock);
			continue;
		}
		/* A little past the deadline, so that one wake-up is enough. */
		next += 0.01;
		ts.tv_sec = (time_t)next;
		ts.tv_nsec = (long)((next - (double)ts.tv_sec) * 1e9);
		pthread_cond_timedwait(&g->wake, &g->lock, &ts);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

int serve_guard_new(struct serve_guard **out)
{
	struct serve_guard *g = calloc(1, sizeof(*g));
	pthread_condattr_t ca;
	sigset_t all, old;
	int err;

	*out = NULL;
	if (!g) {
		log_error("out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&g->lock, NULL);
	/* The deadlines are on the monotonic clock, as mono_s() is. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->wake, &ca);
	pthread_condattr_destroy(&ca);
	g->mhd[0] =
		(struct MHD_OptionItem){ MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, g };
	g->mhd[1] =
		(struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, g };
	g->mhd[2] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	/* Signals are the main loop's: this thread never takes one. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(&g->reaper, NULL, reaper, g);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		log_error("cannot start the HTTP deadline thread: %s", strerror(-err));
		serve_guard_free(g);
		return err;
	}
	g->reaper_running = true;
	*out = g;
	return 0;
}

void serve_guard_free(struct serve_guard *g)
{
	if (!g)
		return;
	if (g->reaper_running) {
		pthread_mutex_lock(&g->lock);
		g->stopping = true;
		pthread_cond_signal(&g->wake);
		pthread_mutex_unlock(&g->lock);
		pthread_join(g->reaper, NULL);
	}
	pthread_cond_destroy(&g->wake);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

const struct MHD_OptionItem *serve_guard_mhd_options(struct serve_guard *g)
{
	return g->mhd;
}

void serve_guard_counts(struct serve_guard *g, struct serve_guard_counts *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&g->lock);
	for (int i = 0; i < HTTP_MAX_CONNECTIONS; i++)
		out->open += !!g->conns[i].c;
	memcpy(out->closed, g->closed, sizeof(out->closed));
	pthread_mutex_unlock(&g->lock);
}

const char *serve_guard_reason_name(enum serve_guard_reason r)
{
	static const char *const names[SERVE_GUARD__COUNT] = {
		[SERVE_GUARD_HEAD_DEADLINE] = "head_deadline",
		[SERVE_GUARD_TABLE_FULL] = "table_full",
		[SERVE_GUARD_ADDRESS_FULL] = "address_full",
		[SERVE_GUARD_REFUSED] = "refused",
	};

	return (unsigned)r < SERVE_GUARD__COUNT ? names[r] : "?";
}
