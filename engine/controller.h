/*
 * controller: runs one experiment on the loop thread.
 *
 * Owns the trials and the executors' sessions: asks the Lua host for
 * suggestions when an executor is idle and pushes each new trial to an idle
 * executor at once, answers heartbeats (OK, or STOP when the early-stop rule
 * said so), finalizes each trial exactly once, retries trials whose executor
 * was lost, and records everything in the store with group commits (a FINAL
 * is acknowledged only once committed). It plugs into the server as its
 * handlers and into the launcher as the one to tell when an executor exits.
 *
 * Threads: loop thread only. The Lua host's results arrive through its
 * wake-up descriptor, watched on the same loop.
 */
#pragma once

#include <event2/event.h>
#include <jansson.h>

#include "lhost.h"
#include "proto/proto.h"
#include "server.h"
#include "store.h"

typedef struct ctl ctl_t;
typedef struct worker ctl_worker_t;

/* The experiment's settings, as returned by maggy.runtime.load(). */
struct ctl_config {
	json_t *experiment;    /* the whole config object, borrowed */
	const char *name;
	const char *direction; /* "max" or "min" */
	const char *metric;
	long num_trials;
	double hb_interval, es_interval;
	int max_attempts;
	/* An executor silent this long is lost (0: never), and so is the
	 * trial of one that disconnected and did not come back in time. */
	double liveness_timeout;
	double trial_timeout;  /* a trial running longer FAILS (0: no limit) */
	int exclude_after;     /* strikes that exclude a host (0: never) */
	int fail_fast;	       /* the first N trials failing alike end the
				  run (0: never) */
	const char *local_host; /* this machine's name (local executors) */
	int local_executors;   /* the engine starts executors on local_host */
	int quiet;	       /* the trials' and strategies' output is stored,
				  not echoed on the console */
	int trial_lines;       /* a console line per ended trial */
	/* Simulated runs: time comes from `clock` (seconds since the epoch),
	 * and early-stop checks happen when the simulator calls
	 * ctl_check_now(), not on a wall-clock timer. */
	int simulated;
	double (*clock)(void *arg);
	void *clock_arg;
	/* Seconds of wall time between store commits; 0: every commit goes
	 * to the store, and an acknowledgement waits for its commit (any run
	 * with executors). A simulation sets it: nothing in it needs to be
	 * durable trial by trial (no fsync, and it is run again, not resumed),
	 * and a commit per trial end rewrote the B-tree pages of every running
	 * trial's points each time. Acknowledgements then go out at once. */
	double commit_interval;
};

/* How an experiment ended. */
enum ctl_outcome {
	CTL_RUNNING = 0,
	CTL_FINISHED,	 /* every trial done */
	CTL_FAILED,	 /* a strategy or executor error ended it */
	CTL_INTERRUPTED, /* a signal ended it */
};

/*
 * Create the controller. Borrowed: base, store, lhost (already started), the
 * config (must outlive the controller). Returns NULL with `err` on failure.
 */
ctl_t *ctl_new(struct event_base *base, store_t *store, lhost_t *lhost,
	       const struct ctl_config *cfg, char *err, size_t errlen);

/*
 * Where the controller's messages to executors go. By default, to the
 * server's connections (the peer is a conn_t); the simulator sets its own
 * port and drives its virtual executors through the ctl_worker_* calls.
 */
struct ctl_port {
	void *arg;
	/* Run a trial: `msg` is the TRIAL object {id, params, attempt}. */
	void (*trial)(void *arg, void *peer, json_t *msg);
	/* The FINAL of `trial` is committed. */
	void (*ack)(void *arg, void *peer, uint64_t trial, uint32_t req);
	/* The experiment is over. */
	void (*bye)(void *arg, void *peer);
	/* Close the executor's connection without a word (it was declared
	 * lost); ctl_worker_gone() follows later. */
	void (*drop)(void *arg, void *peer);
	/* `trial` ran out of time (trial_timeout): the executor ends its
	 * process if it still runs it. NULL where executors cannot hang. */
	void (*recycle)(void *arg, void *peer, uint64_t trial);
};
void ctl_set_port(ctl_t *c, const struct ctl_port *port);

/* ---- what executors do, whatever carries their messages -------------- */

/* An executor joined. `trial` (hex, may be NULL) is the trial it was
 * running before it reconnected. */
ctl_worker_t *ctl_worker_add(ctl_t *c, void *peer, const char *host,
			     int slot, int pid, const char *trial);

/* The executor was heard from (any frame): it is alive. */
void ctl_worker_heard(ctl_t *c, ctl_worker_t *w);

/* Metric points of a trial (id 0: an idle executor). Only the trial's own
 * executor is heard; steps must increase and values be finite (others are
 * ignored with a warning in the trial's log). Returns 1 when the executor
 * should stop that trial: early stop, already final, or not its own. */
int ctl_worker_points(ctl_t *c, ctl_worker_t *w, uint64_t trial,
		      const struct proto_point *pts, uint32_t n);

/* A trial's FINAL {id, state, value, outputs, error}. Returns 0, or -1 with
 * `err` when it has no valid trial id or a bad state, or when the executor
 * has PROTO_FINALS_IN_FLIGHT acknowledgements owed already. It decides the
 * trial only when it comes from the trial's executor, or from the process
 * that ran a trial left without one (anything else, an unknown trial too,
 * is logged and ignored); either way the ack goes out through the port
 * once committed. */
int ctl_worker_final(ctl_t *c, ctl_worker_t *w, const json_t *msg,
		     uint32_t req, char *err, size_t errlen);

/* The executor is gone: its trial is lost unless it comes back in time. */
void ctl_worker_gone(ctl_t *c, ctl_worker_t *w);

/* A held executor gets no new trial (synchronous waves). */
void ctl_worker_hold(ctl_t *c, ctl_worker_t *w, int hold);

/* Ask the early-stop rule now (simulated runs; real runs use a timer).
 * Does nothing when nothing changed since the last check. */
void ctl_check_now(ctl_t *c);

/* 1 when nothing is in flight: no strategy call outstanding, no result
 * awaiting its commit, no pending trial that an idle executor could take. */
int ctl_settled(const ctl_t *c);

/* Called (from ctl_schedule) whenever the controller is settled. */
void ctl_on_settled(ctl_t *c, void (*cb)(void *arg), void *arg);

/* The controller's clock: wall time, or the simulator's. */
double ctl_now(const ctl_t *c);

/* Where the experiment stands, for the console's progress status: a
 * console_status_fn, `ctl` is the controller. */
struct console_status;
void ctl_console_status(void *ctl, struct console_status *out);

/* The handlers to give server_new(). */
struct server_handlers ctl_server_handlers(ctl_t *c);

/* Start asking for suggestions; trials flow as executors connect. */
int ctl_start(ctl_t *c);

/* The local executor process `pid` exited (`how`: "exit code 1", "signal
 * 11 (...)"): its trial, if any, is lost now rather than after the
 * liveness timeout, and its error says how. Returns 1 when it was running
 * a trial (which then answers for its death, up to max_attempts), else 0. */
int ctl_executor_exited(ctl_t *c, int pid, const char *how);

/* Called with an executor's host and pid when the engine is done with that
 * process: its trial ran out of time (trial_timeout), or it was declared
 * lost. `cb` ends the process and returns 0 if it is one the engine
 * started (a fresh one takes its slot), else -1. After a time-out, an
 * executor it did not end is told to end itself (the port's recycle), as
 * one started by Spark must be. */
void ctl_on_recycle(ctl_t *c, int (*cb)(void *arg, const char *host,
					int pid), void *arg);

/* Take the trials of an interrupted run back from the store (resume),
 * before ctl_start(): finished ones count as they were, the others go
 * back to PENDING in their original order. Returns 0 or -1 with `err`. */
int ctl_restore(ctl_t *c, char *err, size_t errlen);

/* The hosts excluded so far, as a new JSON array of names. */
json_t *ctl_excluded_hosts(const ctl_t *c);

/* End the experiment now with `outcome` and a reason (NULL for none). The
 * loop is asked to stop once executors have been told BYE. */
void ctl_abort(ctl_t *c, enum ctl_outcome outcome, const char *reason);

/* The outcome once the loop has stopped, and the error text if any
 * (owned by the controller). A run that ended with no trial FINISHED or
 * EARLY_STOPPED is CTL_FAILED. */
enum ctl_outcome ctl_outcome(const ctl_t *c, const char **error);

/* Called with the outcome when the experiment has ended and the store is
 * committed; the caller stops the loop when its executors are gone. */
typedef void (*ctl_done_cb)(enum ctl_outcome outcome, void *arg);
void ctl_on_done(ctl_t *c, ctl_done_cb cb, void *arg);

/* Queue the records of the trials changed since the last commit into the
 * store's batch (every commit of the controller does it first; the caller
 * of a last store_commit after the loop calls it before). */
void ctl_flush_trials(ctl_t *c);

void ctl_free(ctl_t *c);
