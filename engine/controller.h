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
#include "server.h"
#include "store.h"

typedef struct ctl ctl_t;

/* The experiment's settings, as returned by maggy.runtime.load(). */
struct ctl_config {
	json_t *experiment;    /* the whole config object, borrowed */
	const char *name;
	const char *direction; /* "max" or "min" */
	const char *metric;
	long num_trials;
	double hb_interval, es_interval;
	int max_attempts;
	double lost_timeout;   /* how long a vanished executor may come back */
	int quiet;	       /* no per-trial lines on the console */
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

/* The handlers to give server_new(). */
struct server_handlers ctl_server_handlers(ctl_t *c);

/* Attach the server (for sending BYE at the end). */
void ctl_set_server(ctl_t *c, server_t *s);

/* Start asking for suggestions; trials flow as executors connect. */
int ctl_start(ctl_t *c);

/* An executor process of `slot` exited (local executors): its trial, if
 * any, is lost now rather than after the lost timeout. */
void ctl_slot_exited(ctl_t *c, int slot);

/* End the experiment now with `outcome` and a reason (NULL for none). The
 * loop is asked to stop once executors have been told BYE. */
void ctl_abort(ctl_t *c, enum ctl_outcome outcome, const char *reason);

/* The outcome once the loop has stopped, and the error text if any
 * (owned by the controller). */
enum ctl_outcome ctl_outcome(const ctl_t *c, const char **error);

/* Called with the outcome when the experiment has ended and the store is
 * committed; the caller stops the loop when its executors are gone. */
typedef void (*ctl_done_cb)(enum ctl_outcome outcome, void *arg);
void ctl_on_done(ctl_t *c, ctl_done_cb cb, void *arg);

void ctl_free(ctl_t *c);
