/* ctl_frames: executor frames on server connections, turned into the
 * controller's ctl_worker_* calls, and the port that sends the controller's
 * messages back on those connections. Part of the controller (see
 * controller.h, ctl_internal.h). */
#include "ctl_internal.h"
#include "console.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "proto/utf8.h"

static void protocol_error(struct worker *w, const char *what)
{
	console_line(stderr, "maggy-engine: executor %d (slot %d): %s", w->id,
		     w->slot, what);
	server_close_conn(w->peer, what);
}

/* ---- the port: messages to connected executors ------------------------ */

void ctl_send_json(void *conn, unsigned type, uint32_t id, json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(17));

	if (text)
		server_send(conn, type, id, text, strlen(text));
	free(text);
	json_decref(obj);
}

static void send_trial(void *arg, void *peer, json_t *msg)
{
	ctl_send_json(peer, PROTO_TRIAL, 0, json_incref(msg));
}

static void send_ack(void *arg, void *peer, uint64_t trial, uint32_t req)
{
	uint8_t body[PROTO_TRIAL_BODY_SIZE];

	proto_trial_encode(body, trial);
	server_send(peer, PROTO_FINAL_ACK, req, body, sizeof body);
}

static void send_bye(void *arg, void *peer)
{
	server_send(peer, PROTO_BYE, 0, NULL, 0);
}

static void drop(void *arg, void *peer)
{
	server_drop_conn(peer);
}

static void send_recycle(void *arg, void *peer, uint64_t trial)
{
	uint8_t body[PROTO_TRIAL_BODY_SIZE];

	proto_trial_encode(body, trial);
	server_send(peer, PROTO_RECYCLE, 0, body, sizeof body);
}

const struct ctl_port ctl_conn_port = { NULL, send_trial, send_ack, send_bye,
					drop, send_recycle };

/* ---- HELLO ------------------------------------------------------------ */

static void welcome(ctl_t *c, struct worker *w)
{
	json_t *exp = c->cfg->experiment;
	json_t *train = json_object_get(exp, "train");

	json_t *settings = json_pack("{s:s, s:O, s:O, s:O, s:s, s:f, s:i, s:I}",
				"experiment", c->cfg->name, "module",
				json_object_get(train, "module"), "function",
				json_object_get(train, "function"),
				"python_path",
				json_object_get(train, "python_path"),
				"metric", c->cfg->metric, "hb_interval",
				c->cfg->hb_interval, "worker", w->id,
				"max_trials", json_integer_value(json_object_get(
					exp, "max_trials_per_executor")));
	char *text = settings ? json_dumps(settings, JSON_COMPACT) : NULL;

	if (text)
		server_send_welcome(w->peer, text, strlen(text));
	free(text);
	json_decref(settings);
}

void *ctl_hello(void *arg, conn_t *conn, const char *json, size_t len,
		char *err, size_t errlen)
{
	ctl_t *c = arg;
	json_error_t jerr;
	json_t *id = json_loadb(json, len, 0, &jerr);
	const char *excluded;
	struct worker *w;

	if (!json_is_object(id)) {
		snprintf(err, errlen, "HELLO identity is not a JSON object");
		json_decref(id);
		return NULL;
	}
	excluded = ctl_host_exclusion(c, json_string_value(json_object_get(id,
								   "host")));
	if (excluded) {
		snprintf(err, errlen, "this host was excluded from the "
			 "experiment: %s", excluded);
		json_decref(id);
		return NULL;
	}
	w = ctl_worker_add(
		c, conn, json_string_value(json_object_get(id, "host")),
		(int)json_integer_value(json_object_get(id, "slot")),
		(int)json_integer_value(json_object_get(id, "pid")),
		json_string_value(json_object_get(id, "trial")));
	json_decref(id);
	if (w == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	welcome(c, w);
	if (c->ending)
		send_bye(c, conn);
	else
		ctl_schedule(c);
	return w;
}

/* ---- HEARTBEAT -------------------------------------------------------- */

static void heartbeat(ctl_t *c, struct worker *w, const struct proto_header *h,
		      const uint8_t *body)
{
	static struct proto_point pts[PROTO_MAX_POINTS];
	uint64_t id;
	uint32_t n;
	uint8_t reply[PROTO_TRIAL_BODY_SIZE];
	int stop;

	if (proto_heartbeat_decode(body, h->length, &id, pts, &n) < 0) {
		protocol_error(w, "malformed HEARTBEAT");
		return;
	}
	stop = ctl_worker_points(c, w, id, pts, n);
	proto_trial_encode(reply, id);
	server_send(w->peer, stop ? PROTO_HB_STOP : PROTO_HB_OK, h->id, reply,
		    sizeof reply);
}

/* ---- LOG -------------------------------------------------------------- */

/* 1 when `len` more bytes of output may be stored: a trial, or an executor
 * outside trials, stores at most CTL_MAX_LOG_BYTES. The first line over it
 * leaves a note; ctl_trial_ended() says how much was dropped. */
static int within_log_budget(ctl_t *c, struct worker *w, struct trial *t,
			     size_t len)
{
	uint32_t *used = t ? &t->log_bytes : &w->log_bytes;

	if ((uint64_t)*used + len <= CTL_MAX_LOG_BYTES) {
		*used += (uint32_t)len;
		return 1;
	}
	if (t && t->log_dropped == 0)
		ctl_trial_log(c, t, "output over %u MiB: the rest of this "
			      "trial's output is dropped",
			      CTL_MAX_LOG_BYTES >> 20);
	else if (!t && w->log_bytes <= CTL_MAX_LOG_BYTES) {
		console_line(stderr, "maggy-engine: executor %d (slot %d) "
			     "printed over %u MiB outside trials: the rest is "
			     "dropped", w->id, w->slot, CTL_MAX_LOG_BYTES >> 20);
		w->log_bytes = CTL_MAX_LOG_BYTES + 1;
	}
	if (t)
		count_up(&t->log_dropped, len);
	return 0;
}

static void log_line(ctl_t *c, struct worker *w, const struct proto_header *h,
		     const uint8_t *body)
{
	uint64_t id;
	enum proto_stream stream;
	const char *text;
	char *repaired = NULL;
	size_t len;
	struct trial *t;
	char hex[PROTO_TRIAL_HEX];
	uint32_t seq;

	if (proto_log_decode(body, h->length, &id, &stream, &text, &len) < 0) {
		protocol_error(w, "malformed LOG");
		return;
	}
	t = id ? ctl_find(c, id) : NULL;
	if (!within_log_budget(c, w, t, len))
		return;
	/* Bytes that are no text (a binary print): '?', so that every reader
	 * of the log, the dashboard's JSON included, can show the line. */
	text = utf8_text(text, len, &repaired);
	seq = t ? t->log_seq++ : c->executor_log_seq++;
	store_log_put(c->store, t ? id : 0, seq, ctl_now(c), stream, text,
		      len);
	ctl_commit_soon(c, 0);
	if (!c->cfg->quiet) {
		char prefix[64];

		proto_trial_hex(id, hex);
		if (t)
			snprintf(prefix, sizeof prefix, "[%s] ", hex);
		else
			snprintf(prefix, sizeof prefix, "[executor %d slot "
				 "%d] ", w->id, w->slot);
		console_lines(stdout, prefix, text, len);
	}
	free(repaired);
}

/* ---- FINAL ------------------------------------------------------------ */

static void final(ctl_t *c, struct worker *w, const struct proto_header *h,
		  const uint8_t *body)
{
	json_error_t jerr;
	json_t *msg = json_loadb((const char *)body, h->length, 0, &jerr);
	char err[256];

	if (msg == NULL) {
		snprintf(err, sizeof err, "FINAL is not valid JSON: %s (at "
			 "byte %d)", jerr.text, jerr.position);
		protocol_error(w, err);
		return;
	}
	if (ctl_worker_final(c, w, msg, h->id, err, sizeof err) < 0)
		protocol_error(w, err);
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
	/* A fatal one ends the run or excludes the host, which says why. */
	if (json_is_true(json_object_get(msg, "fatal")))
		ctl_host_fatal(c, w, why);
	else
		console_line(stderr, "maggy-engine: %s", why);
	json_decref(msg);
}

void ctl_frame(void *arg, void *peer, const struct proto_header *h,
	       const uint8_t *body)
{
	ctl_t *c = arg;
	struct worker *w = peer;

	ctl_worker_heard(c, w);
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
	ctl_worker_gone(arg, peer);
}
