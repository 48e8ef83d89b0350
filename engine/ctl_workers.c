/* ctl_workers: what executors do to the experiment, whatever carries their
 * messages: join, report metric points, finish trials, leave. The server's
 * frames (ctl_frames.c) and the simulator (sim.c) both come through here.
 * Part of the controller (see controller.h, ctl_internal.h). */
#include "ctl_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

/* ---- joining ---------------------------------------------------------- */

/* A reconnecting executor takes back the trial it was running. */
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
		w->trial = t;
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
	snprintf(w->host, sizeof w->host, "%s", host ? host : "?");
	reattach(c, w, trial);
	w->next = c->workers;
	c->workers = w;
	return w;
}

void ctl_worker_hold(ctl_t *c, ctl_worker_t *w, int hold)
{
	w->held = hold;
	if (!hold)
		ctl_schedule(c);
}

/* ---- metric points ---------------------------------------------------- */

static void record_points(ctl_t *c, struct trial *t,
			  const struct proto_point *pts, uint32_t n)
{
	char hex[PROTO_TRIAL_HEX];
	json_t *list = json_array();
	uint32_t i;

	for (i = 0; i < n; i++) {
		if (!isfinite(pts[i].value))
			continue;
		store_metric_put(c->store, t->id, pts[i].step, pts[i].value);
		json_array_append_new(list, json_pack("[I, f]",
						      (json_int_t)pts[i].step,
						      pts[i].value));
	}
	t->points += n;
	proto_trial_hex(t->id, hex);
	ctl_event(c, json_pack("{s:s, s:s, s:o}", "e", "pts", "id", hex,
			       "pts", list));
	c->check_dirty = 1;
	ctl_commit_soon(c, 0);
}

int ctl_worker_points(ctl_t *c, uint64_t id, const struct proto_point *pts,
		      uint32_t n)
{
	struct trial *t = id ? ctl_find(c, id) : NULL;

	if (t && t->state == TRIAL_RUNNING && n > 0)
		record_points(c, t, pts, n);
	/* STOP also ends work on a trial that another executor finished. */
	return t && (t->stop_requested || trial_is_final(t));
}

/* ---- FINAL ------------------------------------------------------------ */

static void unqueue(ctl_t *c, struct trial *t)
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
	t->outputs = json_is_object(outputs) ? json_incref(outputs) : NULL;
	free(t->error);
	t->error = error ? strdup(error) : NULL;
}

static void settle(ctl_t *c, struct trial *t)
{
	if (t->state == TRIAL_RUNNING)
		c->running--;
	else
		unqueue(c, t); /* lost and queued again, but it did finish */
	if (t->worker && t->worker->trial == t)
		t->worker->trial = NULL;
	t->worker = NULL;
}

int ctl_worker_final(ctl_t *c, ctl_worker_t *w, const json_t *msg,
		     uint32_t req, char *err, size_t errlen)
{
	const char *hex = json_string_value(json_object_get(msg, "id"));
	int state = trial_state_parse(
		json_string_value(json_object_get(msg, "state")));
	struct trial *t = NULL;
	uint64_t id;

	if (hex && proto_trial_parse(hex, &id) == 0)
		t = ctl_find(c, id);
	if (t == NULL) {
		snprintf(err, errlen, "FINAL for an unknown trial");
		return -1;
	}
	if (state < TRIAL_FINISHED) {
		snprintf(err, errlen, "FINAL with a bad state");
		return -1;
	}
	if (!trial_is_final(t)) {
		settle(c, t);
		apply_final(t, msg, state);
		ctl_trial_ended(c, t);
	}
	if (w->trial == t)
		w->trial = NULL;
	w->ack_pending = 1;
	w->ack_trial = id;
	w->ack_req = req;
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
	free(w);
	ctl_schedule(c);
}
