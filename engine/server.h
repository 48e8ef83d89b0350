/*
 * server: the RPC server executors connect to.
 *
 * Owns the listening socket and every executor connection: reading frames
 * from each input buffer (bounded), checking the HELLO secret in constant
 * time before anything else is decoded, answering protocol errors with an
 * ERROR frame and closing that one connection. What a frame means is the
 * controller's business: the server hands authenticated frames to the
 * handlers below.
 *
 * Threads: everything here runs on the loop thread that owns `base`.
 */
#pragma once

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

typedef struct server server_t;
typedef struct conn conn_t;

struct server_handlers {
	void *arg;
	/* A HELLO with the right secret: `json` (not NUL-terminated) is the
	 * identity. Return the peer's handle (opaque to the server), or NULL
	 * to refuse it with `err` as the reason. */
	void *(*hello)(void *arg, conn_t *c, const char *json, size_t len,
		       char *err, size_t errlen);
	/* Any later frame of an authenticated connection. */
	void (*frame)(void *arg, void *peer, const struct proto_header *h,
		      const uint8_t *body);
	/* The connection of an authenticated peer is gone. */
	void (*closed)(void *arg, void *peer);
};

/*
 * Listen on `listen` ("HOST:PORT"; port 0 picks a free one) and serve
 * connections on `base`. The secret is copied. Returns NULL with `err` set
 * on failure (bad address, port taken).
 */
server_t *server_new(struct event_base *base, const char *listen,
		     const uint8_t secret[PROTO_SECRET_SIZE], uint32_t max_body,
		     const struct server_handlers *handlers, char *err,
		     size_t errlen);

/* The address actually bound, as "HOST:PORT". Owned by the server. */
const char *server_address(const server_t *s);

/* Queue one frame on a connection. Returns 0, or -1 if the connection is
 * closing or out of memory. */
int server_send(conn_t *c, unsigned type, uint32_t id, const void *body,
		size_t len);

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

/* Counters since start, for the log and benchmarks. */
struct server_stats {
	uint64_t frames_in, frames_out, refused, protocol_errors;
};
void server_stats(const server_t *s, struct server_stats *out);

/* Close every connection and the listener. NULL is accepted. */
void server_free(server_t *s);
