/*
 * io_thread: the executor's one I/O thread.
 *
 * Owns, after start-up, the receive side of the connection and everything
 * timed: it polls the socket, the stdout/stderr capture pipes and a wake-up
 * pipe, and
 *   - hands TRIAL, FINAL_ACK and BYE to the main thread (inbox), sets the
 *     stop flag on HB_STOP for the current trial, exits 2 on ERROR, and 5
 *     on RECYCLE of the trial it still runs;
 *   - sends each captured line as a LOG frame of the current trial;
 *   - sends a HEARTBEAT every hb_interval seconds while a trial runs, with
 *     the points broadcast since the last one (several frames if needed);
 *   - connects, and when the driver goes away reconnects, with exponential
 *     backoff (0.1 s doubling up to 5 s, each wait a random 50-100% of
 *     it) and HELLO (with the trial it runs, or last ran while a result
 *     waits for its ack); posts "connected"
 *     with each WELCOME; exits 2 when the driver refuses the HELLO, exits 3
 *     with a message after the reconnect
 *     timeout. After BYE it does not reconnect (posts "closed").
 * It never touches Python, so it never needs the GIL.
 *
 * Threads: io_start(), io_wake(), io_sync(), io_end_trial() and io_stop()
 * from the main thread; everything else runs on the I/O thread. The
 * barriers io_sync() and io_end_trial() send what is left on the main
 * thread itself, under out_lock: the end of a trial costs no round trip
 * through the I/O thread.
 */
#pragma once

#include <pthread.h>
#include <stdint.h>

#include "capture.h"
#include "config.h"
#include "conn.h"
#include "inbox.h"

struct io_thread {
	const struct exec_config *cfg;
	struct conn *conn;
	struct capture *cap;
	struct inbox *inbox;
	pthread_t thread;
	int wake[2];

	pthread_mutex_t lock;      /* guards stop_req */
	int stop_req;

	/* Held while captured lines, points and heartbeats go out: by the I/O
	 * thread, and by the main thread in io_sync() and io_end_trial(), which
	 * so need not wait for the I/O thread. Guards the two buffers below
	 * and the capture streams' state. */
	pthread_mutex_t out_lock;
	struct proto_point *points;  /* PROTO_MAX_POINTS scratch entries */
	uint8_t *hb_buf;             /* one encoded HEARTBEAT body */

	/* I/O thread only */
	double hb_interval;
	int connected, ever_connected, bye;
	uint64_t hb_trial;
	double next_hb, down_since, next_try, backoff;
	unsigned jitter_seed; /* each executor's own share of a backoff */
};

/*
 * Start the thread, which connects at once (with the same backoff and
 * timeout as a reconnect) and posts INBOX_CONNECTED with the WELCOME each
 * time a connection is up. The structures passed must outlive io_stop().
 * Returns 0, or -1 with err set.
 */
int io_start(struct io_thread *io, const struct exec_config *cfg,
	     struct conn *conn, struct capture *cap, struct inbox *inbox,
	     char *err, size_t errlen);

/* A trial started (reporter_begin() done): schedule its heartbeats. */
void io_wake(struct io_thread *io);

/*
 * Barrier: returns once everything written to fds 1 and 2 before the call
 * has been read, unfinished lines included, and sent as LOG (or queued for
 * the next connection), and the points still buffered have gone out in a
 * last HEARTBEAT. The caller's thread does it, under out_lock. Call with
 * the GIL released.
 */
void io_sync(struct io_thread *io);

/* io_sync(), then reporter_end() under the same hold of out_lock: the
 * trial is over and no HEARTBEAT of it follows. Call before sending the
 * trial's FINAL. */
void io_end_trial(struct io_thread *io);

/* io_sync(), then stop and join the thread. */
void io_stop(struct io_thread *io);
