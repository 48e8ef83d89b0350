/*
 * trial: one trial from TRIAL to FINAL.
 *
 * Runs the training function on the trial's params (pyrun), then makes sure
 * the driver sees, in this order, every line the trial printed (LOG), its
 * last metric points (HEARTBEAT) and its result (FINAL). The executor does
 * not wait for the FINAL_ACK (the result committed to the store): it runs
 * its next trials meanwhile, with at most PROTO_FINALS_IN_FLIGHT FINALs
 * unacknowledged, which the connection sends again on each reconnect
 * (conn_send_final).
 *
 * Threads: the main thread, holding the GIL (released while it waits).
 */
#pragma once

#include <stdint.h>

#include <jansson.h>

#include "conn.h"
#include "inbox.h"
#include "io_thread.h"

struct trial_env {
	struct conn *conn;
	struct io_thread *io;
	struct inbox *inbox;
	const char *metric;   /* key of the metric in a dict result */
	int last;	      /* the last trial of this process: its FINAL
				 says "leaving", so it gets no other */
};

enum trial_outcome {
	TRIAL_SENT = 0,       /* its FINAL is sent (kept until acknowledged) */
	TRIAL_CLOSED = 1,     /* the driver said BYE and closed first: exit */
};

/* Run the trial `msg` (a TRIAL body whose id the I/O thread checked, id
 * `trial`) and send its FINAL once fewer than PROTO_FINALS_IN_FLIGHT are
 * in flight; with env->last, wait until every one is acknowledged.
 * Returns an enum trial_outcome. */
int trial_run(const struct trial_env *env, uint64_t trial, const json_t *msg);
