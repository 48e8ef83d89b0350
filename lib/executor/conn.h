/*
 * conn: the executor's TCP connection to the driver.
 *
 * Owns the socket, the CHALLENGE/HELLO/WELCOME handshake, framing on both directions
 * (headers and limits from proto.h), the send mutex and a bounded backlog of
 * frames written while the connection was down (LOG lines and HEARTBEATs
 * are kept there and go out first on the next connection, so a short driver
 * outage loses nothing).
 *
 * Threads: conn_send*() from any thread (one mutex serialises whole frames;
 * writes block until the frame is out or the send timeout expires).
 * Everything else (conn_open, conn_read, conn_frame, conn_close) belongs to
 * the I/O thread, which owns the receive side and is the only one to open,
 * close or replace the socket.
 *
 * Errors: functions return 0 (or a count) or a negative CONN_E* code and,
 * where they take `err`, a one-line reason. errno and getaddrinfo codes are
 * translated here and nowhere else.
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "proto/proto.h"

enum conn_err {
	CONN_OK = 0,
	CONN_EIO = -1,       /* network failure or EOF: reconnect */
	CONN_EREJECTED = -2, /* the driver sent ERROR: do not retry */
	CONN_EPROTO = -3,    /* the driver broke the protocol: reconnect */
	CONN_ENOTCONN = -4,  /* no connection now (frame queued if asked) */
	CONN_ETIMEDOUT = -5, /* no answer in time: reconnect */
	CONN_ENOMEM = -6,
};

struct conn {
	const struct exec_config *cfg;
	/* Trial reported in HELLO (0: none). The I/O thread sets it as the
	 * TRIAL frame arrives, before the main thread even sees it: a
	 * reconnect in between must still claim the trial. It is cleared
	 * once the trial's FINAL is acknowledged. */
	_Atomic uint64_t hello_trial;

	pthread_mutex_t send_lock; /* guards fd for writers, the backlog and
				      the FINALs in flight */
	int fd;                    /* -1 while down */
	uint8_t *backlog;
	size_t blen, bcap;
	uint64_t dropped;          /* frames lost to a full backlog */
	/* FINALs sent and not yet acknowledged, whole frames, oldest first:
	 * they go again, after the backlog, on each new connection. */
	struct conn_final {
		uint64_t trial;
		uint8_t *frame;
		size_t len;
	} finals[PROTO_FINALS_IN_FLIGHT];
	int nfinals;

	/* the handshake's nonces: the owning thread only */
	uint8_t server_nonce[PROTO_NONCE_SIZE], nonce[PROTO_NONCE_SIZE];

	/* receive side: the owning thread only */
	int rfd;
	uint8_t *rbuf;
	size_t rlen, roff, rcap;
};

/* Prepare a closed connection for the driver in `cfg` (kept by pointer). */
void conn_init(struct conn *c, const struct exec_config *cfg);
/* Close and free everything. No thread may use `c` any more. */
void conn_destroy(struct conn *c);

/*
 * Connect, wait for CHALLENGE, send HELLO (identity with "trial" when
 * hello_trial is set), wait for a WELCOME signed with the secret (proto.h);
 * `timeout` seconds bound the whole exchange. On success the
 * connection is up, the backlog has been sent first, and *welcome holds the
 * WELCOME object (caller decrefs). Returns 0, CONN_EREJECTED (err holds the
 * driver's message), or CONN_EIO / CONN_ETIMEDOUT / CONN_EPROTO /
 * CONN_ENOMEM (worth retrying later).
 */
int conn_open(struct conn *c, double timeout, json_t **welcome, char *err,
	      size_t errlen);

/* Close the socket (idempotent). Frames buffered for reading are dropped. */
void conn_close(struct conn *c);

/* The socket to poll for reading, -1 while down. */
int conn_fd(const struct conn *c);

/* Options of conn_send(). */
enum conn_send_flags {
	CONN_QUEUE = 1, /* when down or failing, keep the frame for the next
			   connection instead of dropping it */
};

/*
 * Send one frame (header built here). Returns 0, CONN_ENOTCONN (down; frame
 * queued with CONN_QUEUE), CONN_EIO (write failed: the socket is shut down so
 * the reader sees it; queued with CONN_QUEUE) or CONN_ENOMEM.
 */
int conn_send(struct conn *c, unsigned type, const void *body, size_t len,
	      unsigned flags);
/*
 * Send a LOG line of `trial` (CONN_QUEUE implied); text longer than
 * CONN_MAX_LOG_TEXT goes out as several LOG frames. Returns as conn_send().
 */
#define CONN_MAX_LOG_TEXT 65536
int conn_send_log(struct conn *c, uint64_t trial, enum proto_stream stream,
		  const char *text, size_t len);
/* conn_send() of a JSON object (compact encoding). */
int conn_send_json(struct conn *c, unsigned type, const json_t *body,
		   unsigned flags);
/* Send ERROR {"error": msg} plus "fatal": true when `fatal`. */
int conn_send_error(struct conn *c, const char *msg, int fatal);

/*
 * Send the FINAL of `trial` and keep it in flight until conn_final_acked():
 * it goes again, right after the backlog, on every new connection, also
 * while the main thread runs the next trial. The caller keeps fewer than
 * PROTO_FINALS_IN_FLIGHT in flight (conn_finals_in_flight). Returns as
 * conn_send() (kept in flight also when down or failing), or CONN_ENOMEM
 * (not kept).
 */
int conn_send_final(struct conn *c, uint64_t trial, const json_t *body);
/* The driver acknowledged `trial`'s FINAL: it leaves the flight, and HELLO
 * no longer names the trial (unless another TRIAL came since). */
void conn_final_acked(struct conn *c, uint64_t trial);
int conn_finals_in_flight(struct conn *c);

/*
 * Read what the socket has (one read(2); call when poll says readable).
 * Returns the number of bytes read (> 0), or CONN_EIO on EOF / error.
 */
int conn_read(struct conn *c);

/*
 * Take the next complete frame out of the read buffer. Returns 1 with *h and
 * *body set (valid until the next conn_read/conn_frame/conn_close), 0 when
 * no complete frame is buffered, or CONN_EPROTO when the driver sent a frame
 * we must refuse (bad magic/version/type, over PROTO_DEFAULT_MAX_BODY); err
 * says which. After CONN_EPROTO, send an ERROR and close.
 */
int conn_frame(struct conn *c, struct proto_header *h, const uint8_t **body,
	       char *err, size_t errlen);
