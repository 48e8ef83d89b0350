/*
 * server: the RPC server executors connect to.
 *
 * Owns the listening socket and every executor connection: the
 * challenge-response handshake (proto.h), reading frames from each input
 * buffer, answering protocol errors with an ERROR frame and closing that one
 * connection. What a frame means is the controller's business: the server
 * hands frames of authenticated connections to the handlers below.
 *
 * Nothing a peer does holds more than a bounded share of the engine: until
 * its HELLO is verified a connection may buffer one HELLO of at most
 * PROTO_MAX_HELLO bytes and must send it within the handshake deadline;
 * at most SERVER_MAX_HANDSHAKES connections wait in the handshake: then
 * accepting pauses until one ends, or until the oldest has waited
 * SERVER_HANDSHAKE_GRACE_S and a newcomer may close it (so that silent
 * peers cannot hold every slot, and a burst of executors starting at once is
 * never turned away); accepting also pauses at `max_connections` and while
 * the process is out of descriptors (meanwhile the kernel's queue holds
 * up to SERVER_LISTEN_BACKLOG newcomers, within its somaxconn); a peer that
 * stops reading is dropped once SERVER_MAX_OUTPUT bytes wait for it, and a
 * closing connection is freed after SERVER_CLOSE_TIMEOUT_S even if its peer
 * never reads the ERROR.
 * Failed handshakes cost their source address tokens of a bucket
 * (SERVER_AUTH_BURST, refilled at SERVER_AUTH_RATE per second); an address
 * with an empty bucket is closed at accept until it refills.
 *
 * Threads: everything here runs on the loop thread that owns `base`.
 */
#pragma once

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

#define SERVER_DEFAULT_MAX_CONNECTIONS 1024
#define SERVER_MAX_HANDSHAKES 512
#define SERVER_HANDSHAKE_GRACE_S 1.0
#define SERVER_LISTEN_BACKLOG 4096
#define SERVER_HELLO_TIMEOUT_S 5
#define SERVER_CLOSE_TIMEOUT_S 5
#define SERVER_MAX_OUTPUT (8u << 20)
#define SERVER_AUTH_BURST 20
#define SERVER_AUTH_RATE 2.0

typedef struct server server_t;
typedef struct conn conn_t;

struct server_handlers {
	void *arg;
	/* A verified HELLO: `json` (not NUL-terminated) is the identity.
	 * Return the peer's handle (opaque to the server), or NULL to refuse
	 * it with `err` as the reason. The handler answers with
	 * server_send_welcome() before any other frame. */
	void *(*hello)(void *arg, conn_t *c, const char *json, size_t len,
		       char *err, size_t errlen);
	/* Any later frame of an authenticated connection. */
	void (*frame)(void *arg, void *peer, const struct proto_header *h,
		      const uint8_t *body);
	/* The connection of an authenticated peer is gone. */
	void (*closed)(void *arg, void *peer);
};

struct server_options {
	const char *listen;      /* "HOST:PORT"; port 0 picks a free one */
	uint32_t max_body;       /* frame body limit after the handshake */
	int max_connections;     /* 0: SERVER_DEFAULT_MAX_CONNECTIONS */
	int auth_burst;          /* failed handshakes an address may have at
				    once; 0: SERVER_AUTH_BURST */
	int listen_fd;           /* > 0: a socket already listening on
				    `listen` (netaddr_listen), served and
				    closed by the server instead of binding */
};

/*
 * Listen and serve connections on `base`. The secret is copied.
 * max_connections is lowered to what the descriptor limit allows (with a
 * note on stderr). Returns NULL with `err` set on failure (bad address,
 * port taken).
 */
server_t *server_new(struct event_base *base, const struct server_options *o,
		     const uint8_t secret[PROTO_SECRET_SIZE],
		     const struct server_handlers *handlers, char *err,
		     size_t errlen);

/* The address actually bound, as "HOST:PORT". Owned by the server. */
const char *server_address(const server_t *s);

/* What server_send() may return besides 0. */
enum server_err {
	SERVER_ECLOSED = -1,  /* closing, dropped, or out of memory */
	SERVER_ETOOBIG = -2,  /* body over the peer's frame limit: not sent */
};

/* Queue one frame on a connection. Returns 0 or an enum server_err. A peer
 * that has SERVER_MAX_OUTPUT bytes waiting is dropped (SERVER_ECLOSED). */
int server_send(conn_t *c, unsigned type, uint32_t id, const void *body,
		size_t len);

/* Queue the WELCOME (its MAC prepended) with `json` as the settings. */
int server_send_welcome(conn_t *c, const char *json, size_t len);

/* Send an ERROR frame {"error": message} and close once it is flushed.
 * The peer's `closed` handler runs. */
void server_close_conn(conn_t *c, const char *message);

/* Close a connection at once without a word (a peer declared lost: what
 * it would still read is of no use). The peer's `closed` handler runs
 * later, from the loop, never from inside this call. */
void server_drop_conn(conn_t *c);

/* Bytes queued for sending on a connection. */
size_t server_pending(const conn_t *c);

/* Number of connections (authenticated or not). */
int server_connections(const server_t *s);

/* Counters since start, for the log, the summary and benchmarks. */
struct server_stats {
	uint64_t frames_in, frames_out;
	uint64_t auth_failures;   /* handshakes that failed (any reason) */
	uint64_t rate_limited;    /* closed at accept: address over its rate */
	uint64_t hello_timeouts;  /* no HELLO within the deadline */
	uint64_t evicted;         /* handshakes closed for a newer one */
	uint64_t protocol_errors; /* authenticated peers that broke framing */
	uint64_t slow_readers;    /* dropped: too much output waiting */
	uint64_t accept_pauses;   /* out of descriptors or at the cap */
};
void server_stats(const server_t *s, struct server_stats *out);

/* Close every connection and the listener. NULL is accepted. */
void server_free(server_t *s);
