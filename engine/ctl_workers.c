/* ctl_workers: what executors do to the experiment, whatever carries their
 * messages: join, report metric points, finish trials, leave. The server's
 * frames (ctl_frames.c) and the simulator (sim.c) both come through here.
 * Part of the controller (see controller.h, ctl_internal.h). */
#include "ctl_internal.h"
#include "console.h"
#include "errtext.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "proto/utf8.h"

/* ---- joining ---------------------------------------------------------- */

/* The trial's last attempt ran in process `pid` on `host`. */
static int last_ran_on(const struct trial *t, const char *host, int pid)
{
	const char *h = json_string_value(json_object_get(t->worker_info,
							   "host"));
	json_int_t p = json_integer_value(json_object_get(t->worker_info,
							  "pid"));

	return h && host && strcmp(h, host) == 0 && p == pid;
}

/*
 * A reconnecting executor takes back the trial it still runs: when that
 * trial waits for its executor (RUNNING, none attached), or went back to
 * PENDING after its last attempt ran in this very process (the executor
 * was declared lost, or the engine restarted). Anything else it runs is
 * foreign: it is told to stop it and is busy until its FINAL.
 */
static void reattach(ctl_t *c, struct worker *w, const char *hex)
{
	uint64_t id;
	struct trial *t;

	if (hex == NULL || proto_trial_parse(hex, &id) < 0)
		return;
	t = ctl_find(c, id);
	if (t && t->state == TRIAL_RUNNING && t->worker == NULL) {
		t->worker = w;
		t->lost_at = 0;
		t->last_worker = w->id;
		w->trial = t;
	} else if (t && t->state == TRIAL_PENDING && !c->ending &&
		   last_ran_on(t, w->host, w->pid)) {
		ctl_unqueue(c, t);
		t->state = TRIAL_RUNNING;
		t->worker = w;
		t->last_worker = w->id;
		w->trial = t;
		c->running++;
		console_changed();
		ctl_store_trial(c, t);
		ctl_event(c, json_pack("{s:s, s:s, s:i}", "e", "run", "id", hex,
				       "attempt", t->attempts));
		ctl_commit_soon(c, 0);
		/* the retry announced when it was lost does not happen */
		console_line(stdout, "[engine] trial %s: taken back by its "
			     "executor %d (%s, pid %d), which came back and "
			     "still runs it", hex, w->id, w->host, w->pid);
	} else {
		w->foreign = id;
		console_line(stdout, "[engine] executor %d (%s, pid %d) still "
			     "runs trial %s, which is no longer its own: told "
			     "to stop it", w->id, w->host, w->pid, hex);
	}
}

ctl_worker_t *ctl_worker_add(ctl_t *c, void *peer, const char *host,
			     int slot, int pid, const char *trial)
{
	struct worker *w = calloc(1, sizeof *w);

	if (w == NULL)
		return NULL;
	w->peer = peer;
	w->id = ++c->next_worker_id;
	w->slot = slot;
	w->pid = pid;
	w->last_heard = ctl_now(c);
	snprintf(w->host, sizeof w->host, "%s", host ? host : "?");
	w->host[utf8_prefix(w->host, strlen(w->host))] = '\0';
	reattach(c, w, trial);
	w->next = c->workers;
	c->workers = w;
	return w;
}

void ctl_worker_heard(ctl_t *c, ctl_worker_t *w)
{
	w->last_heard = ctl_now(c);
}

void ctl_worker_hold(ctl_t *c, ctl_worker_t *w, int hold)
{
	w->held = hold;
	if (!hold)
		ctl_schedule(c);
}

/* ---- metric points ---------------------------------------------------- */

/* The largest step: Lua's numbers, and many JSON readers, hold integers
 * exactly up to 2^53. */
#define MAX_STEP (UINT64_C(1) << 53)

/* Keep a point when its value is finite and its step follows the last
 * one; warn (once per kind and trial) about the others. */
static int valid_point(ctl_t *c, struct trial *t, const struct proto_point *p)
{
	if (!isfinite(p->value)) {
		count_up(&t->ignored, 1);
		if (!(t->warned & 1))
			ctl_trial_log(c, t, "warning: metric value %g at step "
				      "%llu ignored: not a finite number "
				      "(further ones are ignored silently)",
				      p->value, (unsigned long long)p->step);
		t->warned |= 1;
		return 0;
	}
	if (t->has_step && p->step <= t->last_step) {
		if (!(t->warned & 2))
			ctl_trial_log(c, t, "warning: metric at step %llu "
				      "ignored: steps must increase (the last "
				      "was %llu; further ones are ignored "
				      "silently)", (unsigned long long)p->step,
				      (unsigned long long)t->last_step);
		t->warned |= 2;
		count_up(&t->ignored, 1);
		return 0;
	}
	if (p->step > MAX_STEP) {
		if (!(t->warned & 4))
			ctl_trial_log(c, t, "warning: metric at step %llu "
				      "ignored: steps go up to 2^53 (further "
				      "ones are ignored silently)",
				      (unsigned long long)p->step);
		t->warned |= 4;
		count_up(&t->ignored, 1);
		return 0;
	}
	t->has_step = 1;
	t->last_step = p->step;
	return 1;
}

/*
 * Whether the next valid point is left out. A trial's first
 * CTL_POINTS_LEVEL valid points are all kept; then every 2nd of the next
 * 2 x CTL_POINTS_LEVEL, every 4th of the 4 x CTL_POINTS_LEVEL after that,
 * and so on. A curve of n points keeps its whole shape in about
 * CTL_POINTS_LEVEL x log2(n / CTL_POINTS_LEVEL) points, which bounds what
 * one trial holds in the engine, its strategies and the store: a training
 * function that reports every batch of a long run cannot exhaust them.
 */
static int thinned_out(ctl_t *c, struct trial *t, uint64_t step)
{
	uint64_t r = t->valid, start = 0, stride = 1;

	count_up(&t->valid, 1);
	while (r - start >= (uint64_t)CTL_POINTS_LEVEL * stride) {
		start += (uint64_t)CTL_POINTS_LEVEL * stride;
		stride *= 2;
	}
	if ((r - start) % stride == 0)
		return 0;
	if (!(t->warned & 8))
		ctl_trial_log(c, t, "note: more than %u metric points: from "
			      "step %llu on, every 2nd point is kept, then "
			      "every 4th, and so on, so that the curve keeps "
			      "its shape in bounded memory", CTL_POINTS_LEVEL,
			      (unsigned long long)step);
	t->warned |= 8;
	return 1;
}

static void keep_point(ctl_t *c, struct trial *t, uint64_t step,
		       double value, json_t *steps, json_t *values)
{
	store_metric_put(c->store, t->id, step, value, ctl_now(c));
	json_array_append_new(steps, json_integer((json_int_t)step));
	json_array_append_new(values, json_real(value));
	count_up(&t->points, 1);
}

/* The kept points (stolen) to the strategies, and soon to the disk. */
static void hand_points(ctl_t *c, struct trial *t, json_t *steps,
			json_t *values)
{
	char hex[PROTO_TRIAL_HEX];

	proto_trial_hex(t->id, hex);
	ctl_event(c, json_pack("{s:s, s:s, s:o, s:o}", "e", "pts", "id", hex,
			       "steps", steps, "values", values));
	c->check_dirty = 1;
	ctl_commit_soon(c, 0);
}

/* Stores the points and hands them to the strategies. */
static void record_points(ctl_t *c, struct trial *t,
			  const struct proto_point *pts, uint32_t n)
{
	/* two flat lists, not a [step, value] pair per point: the Lua side
	   then decodes two tables per event instead of one per point */
	json_t *steps = json_array(), *values = json_array();
	uint32_t i;

	for (i = 0; i < n; i++) {
		if (!valid_point(c, t, &pts[i]))
			continue;
		if (thinned_out(c, t, pts[i].step)) {
			t->has_held = 1;
			t->held_step = pts[i].step;
			t->held_value = pts[i].value;
			continue;
		}
		t->has_held = 0;
		keep_point(c, t, pts[i].step, pts[i].value, steps, values);
	}
	hand_points(c, t, steps, values);
}

/* A trial's curve ends where the trial did: its last point is kept even
 * when thinning left it out. */
static void keep_last_point(ctl_t *c, struct trial *t)
{
	json_t *steps, *values;

	if (!t->has_held)
		return;
	t->has_held = 0;
	steps = json_array();
	values = json_array();
	keep_point(c, t, t->held_step, t->held_value, steps, values);
	hand_points(c, t, steps, values);
}

static void refused(ctl_t *c, struct worker *w, uint64_t id, const char *what)
{
	char hex[PROTO_TRIAL_HEX];

	proto_trial_hex(id, hex);
	console_line(stdout, "[engine] %s of trial %s from executor %d (%s, "
		     "pid %d) ignored: it does not run that trial", what, hex,
		     w->id, w->host, w->pid);
}

int ctl_worker_points(ctl_t *c, ctl_worker_t *w, uint64_t id,
		      const struct proto_point *pts, uint32_t n)
{
	struct trial *t = id ? ctl_find(c, id) : NULL;

	if (id == 0)
		return 0; /* an idle executor's heartbeat */
	if (t == NULL || t->worker != w) {
		if (w->foreign != id && w->trial != t)
			refused(c, w, id, "metric points");
		return 1; /* whatever it is, it is not this executor's work */
	}
	if (t->state == TRIAL_RUNNING && n > 0)
		record_points(c, t, pts, n);
	return t->stop_requested || trial_is_final(t);
}

/* ---- FINAL ------------------------------------------------------------ */

void ctl_unqueue(ctl_t *c, struct trial *t)
{
	struct trial **p = &c->pending, *prev = NULL;

	while (*p && *p != t) {
		prev = *p;
		p = &(*p)->next_pending;
	}
	if (*p == NULL)
		return;
	*p = t->next_pending;
	if (c->pending_tail == t)
		c->pending_tail = prev;
	t->next_pending = NULL;
}

/* Apply a FINAL's fields (with its checked final state) to a trial. */
static void apply_final(struct trial *t, const json_t *msg, int state)
{
	json_t *value = json_object_get(msg, "value");
	json_t *outputs = json_object_get(msg, "outputs");
	const char *error = json_string_value(json_object_get(msg, "error"));

	t->state = state;
	t->has_value = json_is_number(value) && isfinite(json_number_value(value));
	t->value = t->has_value ? json_number_value(value) : 0;
	if (state == TRIAL_FINISHED && !t->has_value) {
		t->state = TRIAL_FAILED;
		error = "the executor reported FINISHED without a value";
	}
	json_decref(t->outputs);
	t->outputs = trial_outputs_keep(outputs);
	free(t->error);
	t->error = error ? strdup(error) : NULL;
}

static void settle(ctl_t *c, struct trial *t)
{
	if (t->state == TRIAL_RUNNING)
		c->running--;
	else
		ctl_unqueue(c, t);
	if (t->worker && t->worker->trial == t)
		t->worker->trial = NULL;
	t->worker = NULL;
}

/*
 * Whether `w`'s FINAL decides trial `t`: it must come from the trial's
 * executor, or, for a trial left without one (put back in the queue when
 * the run ended, or by a restarted engine, or waiting for its executor to
 * come back), from the process that ran its last attempt, with a real
 * result (an EARLY_STOPPED then is the engine's own BYE cutting it short:
 * the trial stays PENDING for resume). An executor may already run its
 * next trial when it sends a FINAL again after a reconnection: its HELLO
 * then names that trial, not this one.
 */
static int final_counts(const struct trial *t, const struct worker *w,
			int state)
{
	if (trial_is_final(t))
		return 0;
	if (t->state == TRIAL_RUNNING && t->worker)
		return t->worker == w;
	if (state == TRIAL_EARLY_STOPPED && t->state == TRIAL_PENDING)
		return 0;
	return t->last_worker == w->id || last_ran_on(t, w->host, w->pid);
}

int ctl_worker_final(ctl_t *c, ctl_worker_t *w, const json_t *msg,
		     uint32_t req, char *err, size_t errlen)
{
	const char *hex = json_string_value(json_object_get(msg, "id"));
	int state = trial_state_parse(
		json_string_value(json_object_get(msg, "state")));
	struct trial *t;
	uint64_t id;
	int i;

	if (hex == NULL || proto_trial_parse(hex, &id) < 0 || id == 0) {
		snprintf(err, errlen, "FINAL without a valid trial id");
		return -1;
	}
	/* An unknown trial is acknowledged and not applied: a driver that
	 * restarted may never have stored a trial it had handed out, and the
	 * executor still has that trial's result in flight. */
	t = ctl_find(c, id);
	if (state < TRIAL_FINISHED) {
		snprintf(err, errlen, "FINAL with a bad state");
		return -1;
	}
	/* The same FINAL again is answered by the acknowledgement owed. */
	for (i = 0; i < w->nacks; i++)
		if (w->acks[i].trial == id)
			return 0;
	if (w->nacks == PROTO_FINALS_IN_FLIGHT) {
		snprintf(err, errlen, "more than %d FINALs before an "
			 "acknowledgement", PROTO_FINALS_IN_FLIGHT);
		return -1;
	}
	if (t && final_counts(t, w, state)) {
		keep_last_point(c, t);
		settle(c, t);
		apply_final(t, msg, state);
		ctl_trial_ended(c, t);
	} else if (w->foreign != id && !(t && (w->trial == t ||
		   t->last_worker == w->id ||
		   last_ran_on(t, w->host, w->pid)))) {
		refused(c, w, id, "the result"); /* a repeat of its own is not */
	}
	if (t && w->trial == t)
		w->trial = NULL;
	if (w->foreign == id)
		w->foreign = 0;
	/* Its last trial (max_trials_per_executor): it leaves after the ack. */
	if (json_is_true(json_object_get(msg, "leaving")))
		w->held = 1;
	/* Acknowledged whether it counted or not: the executor may move on. */
	if (w->nacks++ == 0)
		c->acks_pending++;
	w->acks[w->nacks - 1] = (struct owed_ack){ id, store_batch_id(c->store),
						   req };
	ctl_commit_soon(c, 1);
	return 0;
}

/* ---- leaving ---------------------------------------------------------- */

void ctl_worker_gone(ctl_t *c, ctl_worker_t *w)
{
	struct worker **p;

	for (p = &c->workers; *p && *p != w; p = &(*p)->next)
		;
	if (*p)
		*p = w->next;
	if (w->trial && w->trial->worker == w &&
	    w->trial->state == TRIAL_RUNNING) {
		w->trial->worker = NULL;
		w->trial->lost_at = ctl_now(c);
		c->lost = 1;
	}
	if (w->nacks > 0)
		c->acks_pending--;
	json_decref(w->info);
	free(w);
	ctl_schedule(c);
}

/* Silent for longer than the liveness timeout: its trial goes back to the
 * queue now and its connection is dropped. */
static void declare_lost(ctl_t *c, struct worker *w, double silent)
{
	char why[160];

	console_line(stdout, "[engine] executor %d (%s, pid %d, slot %d) "
		     "silent for %.1f s: declared lost", w->id, w->host,
		     w->pid, w->slot, silent);
	w->lost = 1;
	snprintf(why, sizeof why, "its executor went silent for %.1f s",
		 silent);
	if (w->trial && w->trial->worker == w)
		ctl_lose_trial(c, w->trial, why);
	w->trial = NULL;
	c->port.drop(c->port.arg, w->peer);
	/* One the engine started (stopped, or stuck) would hold its slot
	 * for good: a fresh one takes its place. */
	if (c->recycle_cb)
		c->recycle_cb(c->recycle_arg, w->host, w->pid);
}

void ctl_check_liveness(ctl_t *c)
{
	double now = ctl_now(c), timeout = c->cfg->liveness_timeout;
	struct worker *w;

	if (timeout <= 0)
		return;
	for (w = c->workers; w; w = w->next)
		if (!w->lost && now - w->last_heard > timeout)
			declare_lost(c, w, now - w->last_heard);
}

/* ---- hosts that keep losing trials ------------------------------------ */

static struct host_record *host_record(ctl_t *c, const char *name)
{
	struct host_record *h;

	for (h = c->hosts; h; h = h->next)
		if (strcmp(h->name, name) == 0)
			return h;
	h = calloc(1, sizeof *h);
	if (h == NULL)
		return NULL;
	snprintf(h->name, sizeof h->name, "%s", name);
	h->next = c->hosts;
	c->hosts = h;
	return h;
}

const char *ctl_host_exclusion(const ctl_t *c, const char *host)
{
	const struct host_record *h;

	for (h = c->hosts; h && host; h = h->next)
		if (h->excluded && strcmp(h->name, host) == 0)
			return h->why;
	return NULL;
}

static void exclude(ctl_t *c, struct host_record *h, const char *why)
{
	struct worker *w;
	char brief[1024];

	h->excluded = 1;
	errtext_brief(why, brief, sizeof brief);
	snprintf(h->why, sizeof h->why, "%s", brief);
	console_line(stdout, "[engine] host %s excluded: %s", h->name, brief);
	for (w = c->workers; w; w = w->next) {
		if (w->lost || strcmp(w->host, h->name) != 0)
			continue;
		w->lost = 1;
		if (w->trial && w->trial->worker == w)
			ctl_lose_trial(c, w->trial, "its host was excluded");
		w->trial = NULL;
		c->port.drop(c->port.arg, w->peer);
	}
	ctl_record_hosts(c);
}

/* `t` finished: each other host that lost an attempt of it gets a strike. */
void ctl_host_strike(ctl_t *c, struct trial *t)
{
	const char *done = json_string_value(json_object_get(t->worker_info,
							      "host"));
	json_t *host;
	size_t i;

	json_array_foreach(t->lost_on, i, host) {
		const char *name = json_string_value(host);
		struct host_record *h;
		if (!name || (done && strcmp(name, done) == 0))
			continue;
		h = host_record(c, name);
		if (h && !h->excluded && ++h->strikes >= c->cfg->exclude_after &&
		    c->cfg->exclude_after > 0) {
			char why[160];
			snprintf(why, sizeof why, "%d trials lost there "
				 "finished on other hosts (exclude_after = %d)",
				 h->strikes, c->cfg->exclude_after);
			exclude(c, h, why);
		}
	}
}

void ctl_host_works(ctl_t *c, const char *host)
{
	struct host_record *h = host ? host_record(c, host) : NULL;

	if (h)
		h->works = 1;
}

/*
 * An executor that cannot work at all (its training module does not
 * import, say). Local executors all share this machine's set-up, so the
 * run ends at once with the error. An executor elsewhere costs its host
 * only: the run goes on with the others, and ends when for a whole
 * liveness_timeout no executor is left and no trial has finished since
 * (ctl_check_fatal_hosts). A host where trials have finished keeps its
 * other executors: their set-up works, only this one's does not.
 */
void ctl_host_fatal(ctl_t *c, struct worker *w, const char *why)
{
	struct host_record *h;
	char brief[1024];

	if (c->cfg->local_executors && c->cfg->local_host &&
	    strcmp(w->host, c->cfg->local_host) == 0) {
		ctl_abort(c, CTL_FAILED, why);
		return;
	}
	if (c->fatal[0] == '\0')
		snprintf(c->fatal, sizeof c->fatal, "%s", why);
	c->fatal_at = ctl_now(c);
	h = host_record(c, w->host);
	if (h && h->works) {
		if (h->said_kept++)
			return;
		errtext_brief(why, brief, sizeof brief);
		console_line(stdout, "[engine] an executor on %s cannot work "
			     "(%s); the host stays, its other executors "
			     "finish trials", h->name, brief);
		return;
	}
	if (h && !h->excluded)
		exclude(c, h, why);
}

void ctl_check_fatal_hosts(ctl_t *c, double now)
{
	char msg[700];
	struct worker *w;
	double grace = c->cfg->liveness_timeout > 0 ? c->cfg->liveness_timeout
						    : 10;

	if (c->fatal_at == 0 || now - c->fatal_at < grace)
		return;
	for (w = c->workers; w; w = w->next)
		if (!w->lost)
			return;
	snprintf(msg, sizeof msg, "no executor is left: every host they ran "
		 "on reported a fatal error (the first: %s)", c->fatal);
	ctl_abort(c, CTL_FAILED, msg);
}
