/* ctl_frames: what each frame from an executor does to the experiment.
 * Part of the controller (see controller.h, ctl_internal.h). */
#include "ctl_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

static void protocol_error(struct worker *w, const char *what)
{
	fprintf(stderr, "maggy-engine: executor %d (slot %d): %s\n", w->id,
		w->slot, what);
	server_close_conn(w->conn, what);
}

/* ---- HELLO ------------------------------------------------------------ */

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

static void welcome(ctl_t *c, struct worker *w)
{
	json_t *exp = c->cfg->experiment;
	json_t *train = json_object_get(exp, "train");

	ctl_send_json(w, PROTO_WELCOME, 0,
		      json_pack("{s:s, s:O, s:O, s:O, s:s, s:f, s:i}",
				"experiment", c->cfg->name, "module",
				json_object_get(train, "module"), "function",
				json_object_get(train, "function"),
				"python_path",
				json_object_get(train, "python_path"),
				"metric", c->cfg->metric, "hb_interval",
				c->cfg->hb_interval, "worker", w->id));
}

void *ctl_hello(void *arg, conn_t *conn, const char *json, size_t len,
		char *err, size_t errlen)
{
	ctl_t *c = arg;
	json_error_t jerr;
	json_t *id = json_loadb(json, len, 0, &jerr);
	struct worker *w;

	if (!json_is_object(id)) {
		snprintf(err, errlen, "HELLO identity is not a JSON object");
		json_decref(id);
		return NULL;
	}
	w = calloc(1, sizeof *w);
	if (w == NULL) {
		json_decref(id);
		return NULL;
	}
	w->conn = conn;
	w->id = ++c->next_worker_id;
	w->slot = (int)json_integer_value(json_object_get(id, "slot"));
	w->attempt = (int)json_integer_value(json_object_get(id, "attempt"));
	w->pid = (int)json_integer_value(json_object_get(id, "pid"));
	snprintf(w->host, sizeof w->host, "%s",
		 json_string_value(json_object_get(id, "host"))
			 ? json_string_value(json_object_get(id, "host"))
			 : "?");
	reattach(c, w, json_string_value(json_object_get(id, "trial")));
	json_decref(id);
	w->next = c->workers;
	c->workers = w;
	welcome(c, w);
	if (c->ending)
		server_send(conn, PROTO_BYE, 0, NULL, 0);
	else
		ctl_schedule(c);
	return w;
}

/* ---- HEARTBEAT -------------------------------------------------------- */

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
	ctl_commit_soon(c, 0);
}

static void heartbeat(ctl_t *c, struct worker *w, const struct proto_header *h,
		      const uint8_t *body)
{
	static struct proto_point pts[PROTO_MAX_POINTS];
	uint64_t id;
	uint32_t n;
	struct trial *t;
	uint8_t reply[PROTO_TRIAL_BODY_SIZE];
	int stop;

	if (proto_heartbeat_decode(body, h->length, &id, pts, &n) < 0) {
		protocol_error(w, "malformed HEARTBEAT");
		return;
	}
	t = id ? ctl_find(c, id) : NULL;
	if (t && t->state == TRIAL_RUNNING && n > 0)
		record_points(c, t, pts, n);
	/* STOP also ends work on a trial that another executor finished. */
	stop = t && (t->stop_requested || trial_is_final(t));
	proto_trial_encode(reply, id);
	server_send(w->conn, stop ? PROTO_HB_STOP : PROTO_HB_OK, h->id, reply,
		    sizeof reply);
}

/* ---- LOG -------------------------------------------------------------- */

static void log_line(ctl_t *c, struct worker *w, const struct proto_header *h,
		     const uint8_t *body)
{
	uint64_t id;
	enum proto_stream stream;
	const char *text;
	size_t len;
	struct trial *t;
	char hex[PROTO_TRIAL_HEX];
	uint32_t seq;

	if (proto_log_decode(body, h->length, &id, &stream, &text, &len) < 0) {
		protocol_error(w, "malformed LOG");
		return;
	}
	t = id ? ctl_find(c, id) : NULL;
	seq = t ? t->log_seq++ : c->executor_log_seq++;
	store_log_put(c->store, t ? id : 0, seq, trial_now(), stream, text,
		      len);
	ctl_commit_soon(c, 0);
	if (c->cfg->quiet)
		return;
	proto_trial_hex(id, hex);
	if (t)
		printf("[%s] %.*s\n", hex, (int)len, text);
	else
		printf("[executor %d slot %d] %.*s\n", w->id, w->slot, (int)len,
		       text);
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

/* Apply a FINAL's fields to a trial; returns 0 or -1 if malformed. */
static int apply_final(struct trial *t, json_t *msg)
{
	int state = trial_state_parse(
		json_string_value(json_object_get(msg, "state")));
	json_t *value = json_object_get(msg, "value");
	json_t *outputs = json_object_get(msg, "outputs");
	const char *error = json_string_value(json_object_get(msg, "error"));

	if (state < TRIAL_FINISHED)
		return -1;
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
	return 0;
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

static void final(ctl_t *c, struct worker *w, const struct proto_header *h,
		  const uint8_t *body)
{
	json_t *msg = json_loadb((const char *)body, h->length, 0, NULL);
	const char *hex = json_string_value(json_object_get(msg, "id"));
	struct trial *t = NULL;
	uint64_t id;

	if (hex && proto_trial_parse(hex, &id) == 0)
		t = ctl_find(c, id);
	if (t == NULL) {
		protocol_error(w, "FINAL for an unknown trial");
		goto out;
	}
	if (!trial_is_final(t)) {
		settle(c, t);
		if (apply_final(t, msg) < 0) {
			protocol_error(w, "FINAL with a bad state");
			goto out;
		}
		ctl_trial_ended(c, t);
	}
	if (w->trial == t)
		w->trial = NULL;
	w->ack_pending = 1;
	w->ack_trial = id;
	w->ack_req = h->id;
	ctl_commit_soon(c, 1);
out:
	json_decref(msg);
}

/* ---- ERROR ------------------------------------------------------------ */

static void executor_error(ctl_t *c, struct worker *w,
			   const struct proto_header *h, const uint8_t *body)
{
	json_t *msg = json_loadb((const char *)body, h->length, 0, NULL);
	const char *text = json_string_value(json_object_get(msg, "error"));
	char why[4096];

	snprintf(why, sizeof why, "executor on %s (slot %d) reported: %s",
		 w->host, w->slot, text ? text : "an unreadable error");
	fprintf(stderr, "maggy-engine: %s\n", why);
	if (json_is_true(json_object_get(msg, "fatal")))
		ctl_abort(c, CTL_FAILED, why);
	json_decref(msg);
}

void ctl_frame(void *arg, void *peer, const struct proto_header *h,
	       const uint8_t *body)
{
	ctl_t *c = arg;
	struct worker *w = peer;

	switch (h->type) {
	case PROTO_HEARTBEAT:
		heartbeat(c, w, h, body);
		break;
	case PROTO_LOG:
		log_line(c, w, h, body);
		break;
	case PROTO_FINAL:
		final(c, w, h, body);
		break;
	case PROTO_ERROR:
		executor_error(c, w, h, body);
		break;
	default:
		protocol_error(w, "unexpected message type from an executor");
	}
}

void ctl_closed(void *arg, void *peer)
{
	ctl_t *c = arg;
	struct worker *w = peer, **p;

	for (p = &c->workers; *p && *p != w; p = &(*p)->next)
		;
	if (*p)
		*p = w->next;
	if (w->trial && w->trial->worker == w &&
	    w->trial->state == TRIAL_RUNNING) {
		w->trial->worker = NULL;
		w->trial->lost_at = trial_now();
		c->lost = 1;
	}
	free(w);
	ctl_schedule(c);
}
