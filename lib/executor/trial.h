/*
 * trial: one trial from TRIAL to FINAL, and the FINAL until its FINAL_ACK.
 *
 * Runs the training function on the trial's params (pyrun), then makes sure
 * the driver sees, in this order, every line the trial printed (LOG), its
 * last metric points (HEARTBEAT) and its result (FINAL). The FINAL stays in
 * flight until the driver acknowledges it (once it is committed to the
 * store), and goes again on each new connection until then. The executor
 * need not wait for that: it runs its next trials meanwhile, with at most
 * PROTO_FINALS_IN_FLIGHT FINALs unacknowledged (the driver keeps that many
 * acknowledgements per executor).
 *
 * Threads: the main thread, holding the GIL in trial_run (released while it
 * waits); trial_on_event and trial_settle take no Python.
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
	/* FINALs sent and not yet acknowledged, oldest first */
	struct final_in_flight {
		uint64_t trial;
		json_t *final;
	} in_flight[PROTO_FINALS_IN_FLIGHT];
	int n_in_flight;
};

enum trial_outcome {
	TRIAL_ACKED = 0,      /* the driver has the result */
	TRIAL_CLOSED = 1,     /* the driver said BYE and closed first: exit */
};

/* Run the trial `msg` (a TRIAL body whose id the I/O thread checked, id
 * `trial`) and send its FINAL, once fewer than PROTO_FINALS_IN_FLIGHT are
 * in flight; with env->last, wait until every one is acknowledged.
 * Returns an enum trial_outcome. */
int trial_run(struct trial_env *env, uint64_t trial, const json_t *msg);

/* An event the main thread took from the inbox: a FINAL_ACK ends the
 * FINAL in flight it names, a new connection (INBOX_CONNECTED) gets every
 * FINAL in flight again, in order. Others are ignored. */
void trial_on_event(struct trial_env *env, const struct inbox_event *ev);

/* Wait until no FINAL is in flight. Returns TRIAL_ACKED, or TRIAL_CLOSED
 * when the connection closed for good first. */
int trial_settle(struct trial_env *env);

/* Drop the FINALs in flight (the process is ending). */
void trial_env_clear(struct trial_env *env);
