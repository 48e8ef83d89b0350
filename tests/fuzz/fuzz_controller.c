/*
 * fuzz_controller: the real controller (engine/controller.c, ctl_workers.c,
 * ctl_frames.c) driven by arbitrary executor input, with the server, the
 * store and the Lua host replaced by stub_engine.c. The input is a script of
 * operations: executors connect with a HELLO identity and send frames of
 * any type and body, connections close or drop, the strategies answer
 * (suggestions, stops, errors), the clock advances, the store fails and
 * recovers. In trial ids, "#k" in JSON text and the 64-bit id k+1 in binary
 * bodies stand for the k-th trial, so the fuzzer can name real trials.
 * After every operation the controller's state must hold together: the
 * running count, trial <-> executor links (never to a freed executor), the
 * pending queue, a trial finalized once and never changed after; the events
 * sent to the Lua side must be ones maggy.runtime accepts (no event for an
 * unknown trial, no run/end/retry of a finished one); a FINAL_ACK goes out
 * only once the trial's record is committed; nothing is sent on a freed
 * connection and no store write is lost to a NULL JSON. The liveness and
 * trial-time limits on the controller's own timers are not reached (their
 * callbacks are static): liveness is driven through ctl_check_liveness().
 */
#include <event2/event.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "ctl_internal.h"
#include "fuzz_check.h"
#include "stub_engine.h"

#define MAX_TRIALS 64

static const char EXPERIMENT[] =
	"{\"name\":\"fuzz\",\"train\":{\"module\":\"m\",\"function\":\"f\","
	"\"python_path\":[\"/tmp\"]},\"space\":[{\"name\":\"x\",\"type\":"
	"\"DOUBLE\",\"low\":0,\"high\":1,\"log\":false}]}";

/* The script being played. Reads past its end give zeros. */
struct script {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct script *s)
{
	uint8_t v = s->n ? *s->p : 0;

	if (s->n)
		s->p++, s->n--;
	return v;
}

static const uint8_t *take(struct script *s, size_t *len)
{
	const uint8_t *p = s->p;

	if (*len > s->n)
		*len = s->n;
	s->p += *len;
	s->n -= *len;
	return p;
}

/* ---- the Lua side's view of the trials (maggy.runtime's mirror) ----------- */

enum { M_PENDING, M_RUNNING, M_FINAL };

static struct mirror {
	char id[PROTO_TRIAL_HEX];
	int state;
} mirror[MAX_TRIALS];
static int nmirror;

static struct mirror *mirror_find(const char *id)
{
	for (int i = 0; id && i < nmirror; i++)
		if (strcmp(mirror[i].id, id) == 0)
			return &mirror[i];
	return NULL;
}

/* One event as maggy.runtime.handle() would apply it (see runtime.lua). */
static void mirror_apply(const json_t *ev)
{
	const char *e = json_string_value(json_object_get(ev, "e"));
	const char *id = json_string_value(json_object_get(ev, "id"));
	const char *state = json_string_value(json_object_get(ev, "state"));
	struct mirror *m = mirror_find(id);

	FUZZ_CHECK(e && id, "an event without e or id");
	if (strcmp(e, "new") == 0) {
		FUZZ_CHECK(m == NULL, "'new' for existing trial %s", id);
		FUZZ_CHECK(nmirror < MAX_TRIALS, "too many trials");
		m = &mirror[nmirror++];
		snprintf(m->id, sizeof m->id, "%s", id);
		m->state = M_PENDING;
		return;
	}
	FUZZ_CHECK(m != NULL, "'%s' for unknown trial %s", e, id);
	if (strcmp(e, "pts") == 0)
		return;
	FUZZ_CHECK(m->state != M_FINAL, "'%s' for trial %s, already final", e, id);
	if (strcmp(e, "run") == 0)
		m->state = M_RUNNING;
	else if (strcmp(e, "retry") == 0)
		m->state = M_PENDING;
	else if (strcmp(e, "end") == 0) {
		FUZZ_CHECK(state && trial_state_parse(state) >= TRIAL_FINISHED,
			   "'end' of %s with state %s", id, state ? state : "none");
		m->state = M_FINAL;
	} else
		FUZZ_CHECK(0, "unknown event '%s'", e);
}

/* ---- the strategies' answers ------------------------------------------------ */

static json_t *suggestions(int n, uint8_t b)
{
	json_t *list = json_array();

	for (int i = 0; i < n; i++)
		json_array_append_new(list, json_pack("{s:f}", "x", b == 0xFF ? 2.0
				      : (double)(((b >> 4) + i) % 16) / 16));
	return list;
}

static json_t *stops(uint8_t b)
{
	json_t *list = json_array();

	for (int i = 0; i < nmirror && i < 8; i++)
		if (mirror[i].state == M_RUNNING && (b >> i & 1))
			json_array_append_new(list, json_string(mirror[i].id));
	return list;
}

/* Answer one posted job; the next byte of the script shapes the answer. */
static void answer(struct stub_job *j, struct script *s)
{
	uint8_t b = u8(s);
	static const char *const status[] = { "done", "wait", "ok", "ok" };
	json_t *job = json_loads(j->json, 0, NULL), *ev, *reply;
	json_t *request = json_object_get(job, "request");
	char *text;
	size_t i;

	FUZZ_CHECK(job != NULL, "a job that is not JSON: %.100s", j->json);
	json_array_foreach(json_object_get(job, "events"), i, ev)
		mirror_apply(ev);
	if (b == 0xFE) { /* the error text: the next 1-8 bytes, as they are */
		size_t len = 1 + u8(s) % 8;
		char text[9] = "";
		memcpy(text, take(s, &len), len);
		stub_lua_result(j->tag, NULL, text);
		json_decref(job);
		return;
	}
	if (j->tag == TAG_SUGGEST) {
		int n = (int)json_integer_value(json_object_get(request, "n"));
		reply = json_pack("{s:o, s:s}", "suggestions",
				  suggestions(n < b % 4 ? n : b % 4, b),
				  "status", status[b >> 2 & 3]);
	} else if (j->tag == TAG_CHECK) {
		reply = json_pack("{s:o}", "stop", stops(b));
	} else {
		reply = json_pack("{s:b}", "ok", 1);
	}
	text = json_dumps(reply, JSON_COMPACT);
	stub_lua_result(j->tag, text, NULL);
	free(text);
	json_decref(reply);
	json_decref(job);
}

/* ---- executor messages ------------------------------------------------------ */

/* JSON text with each "#k" replaced by the id of the k-th trial. */
static char *expand_json(ctl_t *c, const uint8_t *p, size_t n, size_t *out_len)
{
	char *out = malloc(n * 8 + 1), *o = out;

	for (size_t i = 0; i < n; i++) {
		size_t k = i + 1 < n ? (size_t)(p[i + 1] - '0') : 10;
		if (p[i] == '#' && k < c->trials.n) {
			proto_trial_hex(c->trials.by_seq[k]->id, o);
			o += 16;
			i++;
		} else {
			*o++ = (char)p[i];
		}
	}
	*out_len = (size_t)(o - out);
	return out;
}

/* A binary body whose leading trial id k+1 becomes the k-th trial's id. */
static uint8_t *expand_binary(ctl_t *c, const uint8_t *p, size_t n)
{
	uint8_t *out = malloc(n ? n : 1);
	uint64_t k;

	memcpy(out, p, n);
	if (n >= 8 && (k = get_u64(out)) >= 1 && k <= c->trials.n)
		put_u64(out, c->trials.by_seq[k - 1]->id);
	return out;
}

static int is_json_type(unsigned type)
{
	return type == PROTO_WELCOME || type == PROTO_TRIAL ||
	       type == PROTO_FINAL || type == PROTO_ERROR;
}

static void hello(ctl_t *c, struct script *s)
{
	size_t len = u8(s), n;
	const uint8_t *p = take(s, &len);
	char *json, err[256];
	struct conn *conn;

	if (stub.nconns == STUB_MAX_CONNS)
		return;
	conn = &stub.conns[stub.nconns++];
	conn->used = 1;
	json = expand_json(c, p, len, &n);
	conn->peer = ctl_hello(c, conn, json, n, err, sizeof err);
	if (conn->peer == NULL) /* refused: the server closes it */
		conn->closing = conn->freed = 1;
	free(json);
}

static struct conn *pick_conn(struct script *s)
{
	uint8_t k = u8(s);

	return stub.nconns ? &stub.conns[k % stub.nconns] : NULL;
}

static void frame(ctl_t *c, struct script *s)
{
	struct conn *conn = pick_conn(s);
	struct proto_header h = { PROTO_VERSION, 0, 0, 0, 0 };
	size_t len, n;
	const uint8_t *p;
	void *body;

	h.type = (uint8_t)(1 + u8(s) % PROTO_TYPE_MAX);
	h.id = u8(s);
	len = u8(s);
	len |= (size_t)u8(s) << 8;
	p = take(s, &len);
	if (conn == NULL || conn->closing || conn->peer == NULL)
		return; /* the server reads nothing more from it */
	if (is_json_type(h.type)) {
		body = expand_json(c, p, len, &n);
		h.length = (uint32_t)n;
	} else {
		body = expand_binary(c, p, len);
		h.length = (uint32_t)len;
	}
	ctl_frame(c, conn->peer, &h, body);
	free(body);
}

/* The server frees a connection: the closed handler runs for a peer. */
static void conn_free(ctl_t *c, struct conn *conn)
{
	if (conn == NULL || conn->freed)
		return;
	conn->closing = conn->freed = 1;
	if (conn->peer)
		ctl_closed(c, conn->peer);
}

/* ---- the whole state, checked after every operation ------------------------- */

static struct seen {
	int final, state, has_value;
	double value;
} seen[MAX_TRIALS];

static int worker_listed(const ctl_t *c, const struct worker *w)
{
	for (const struct worker *x = c->workers; x; x = x->next)
		if (x == w)
			return 1;
	return 0;
}

static void check_trial(const ctl_t *c, size_t i, const struct trial *t)
{
	struct seen *was = &seen[i];

	if (t->worker) {
		FUZZ_CHECK(worker_listed(c, t->worker), "trial %zu: its executor "
			   "is gone", i);
		FUZZ_CHECK(t->state == TRIAL_RUNNING, "trial %zu: an executor "
			   "but %s", i, trial_state_name(t->state));
		FUZZ_CHECK(t->worker->trial == t, "trial %zu: its executor runs "
			   "another", i);
	}
	/* The host name is cut to 63 bytes between characters, so the
	 * identity JSON can always be built. */
	if (t->state == TRIAL_RUNNING && t->worker)
		FUZZ_CHECK(t->worker_info != NULL, "trial %zu: RUNNING without "
			   "the identity of its executor", i);
	if (was->final)
		FUZZ_CHECK((int)t->state == was->state &&
			   t->has_value == was->has_value
			   && (!t->has_value || t->value == was->value),
			   "trial %zu: final as %s, now %s", i,
			   trial_state_name(was->state), trial_state_name(t->state));
	if (trial_is_final(t) && !was->final) {
		*was = (struct seen){ 1, t->state, t->has_value, t->value };
	}
}

static void check(const ctl_t *c)
{
	long running = 0, final = 0;
	size_t queued = 0;
	const struct trial *t, *last = NULL;

	FUZZ_CHECK(c->trials.n <= MAX_TRIALS, "%zu trials", c->trials.n);
	for (size_t i = 0; i < c->trials.n; i++) {
		t = c->trials.by_seq[i];
		check_trial(c, i, t);
		running += t->state == TRIAL_RUNNING;
		final += trial_is_final(t);
	}
	FUZZ_CHECK(c->running == running, "running %d, counted %ld",
		   c->running, running);
	FUZZ_CHECK(c->finished + c->stopped + c->failed == final,
		   "%ld + %ld + %ld ended, %ld final", c->finished, c->stopped,
		   c->failed, final);
	for (t = c->pending; t; last = t, t = t->next_pending) {
		FUZZ_CHECK(++queued <= c->trials.n, "the pending queue loops");
		FUZZ_CHECK(t->state == TRIAL_PENDING, "a %s trial queued",
			   trial_state_name(t->state));
	}
	FUZZ_CHECK(c->pending_tail == last, "pending_tail is not the last");
	int acks = 0;
	for (const struct worker *w = c->workers; w; w = w->next) {
		if (w->trial)
			FUZZ_CHECK(ctl_find((ctl_t *)c, w->trial->id) == w->trial,
				   "an executor runs an unknown trial");
		FUZZ_CHECK(w->nacks >= 0 && w->nacks <= PROTO_FINALS_IN_FLIGHT,
			   "%d acknowledgements owed", w->nacks);
		acks += w->nacks != 0;
	}
	FUZZ_CHECK(c->acks_pending == acks, "acks_pending %d, counted %d",
		   c->acks_pending, acks);
	/* finish() repairs its error text (an executor's fatal error cut at
	 * 4 KiB, a strategy's raw bytes): the status JSON is always built. */
	FUZZ_CHECK(stub.lost_meta == 0, "%d meta write(s) lost",
		   stub.lost_meta);
}

/* ---- one input -------------------------------------------------------------- */

static double now_s;

static double fake_clock(void *arg)
{
	return now_s;
}

static json_t *experiment;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	stub_init();
	experiment = json_loads(EXPERIMENT, 0, NULL);
	return 0;
}

/* The first byte chooses among the settings that change what a failure or
 * a lost executor leads to. */
static void configure(struct ctl_config *cfg, uint8_t b)
{
	*cfg = (struct ctl_config){
		.experiment = experiment, .name = "fuzz",
		.direction = b & 1 ? "min" : "max", .metric = "m",
		.num_trials = 6, .hb_interval = 1, .es_interval = 1,
		.max_attempts = 1 + (b >> 1 & 3) % 3, .liveness_timeout = 5,
		.exclude_after = (b >> 3) & 1, .fail_fast = (b >> 4) & 2,
		.local_host = "h1", .quiet = 1, .simulated = 1,
		.clock = fake_clock,
	};
}

static void play(ctl_t *c, struct event_base *base, struct script *s)
{
	struct stub_job *j;

	while (s->n) {
		switch (u8(s) % 10) {
		case 0: hello(c, s); break;
		case 1: frame(c, s); break;
		case 2: /* the strategies answer the oldest job */
			if ((j = stub_next_job()) != NULL) {
				answer(j, s);
				free(j->json);
				free(j);
			}
			break;
		case 3: { /* the ERROR is flushed: the server frees it */
			struct conn *conn = pick_conn(s);
			if (conn && conn->closing)
				conn_free(c, conn);
			break;
		}
		case 4: conn_free(c, pick_conn(s)); break; /* EOF */
		case 5:
			now_s += u8(s);
			ctl_check_liveness(c);
			ctl_schedule(c);
			break;
		case 6: ctl_check_now(c); break;
		case 7: ctl_executor_exited(c, u8(s), "signal 9 (Killed)"); break;
		case 8: stub.store_fails = !stub.store_fails; break;
		case 9: event_active(c->commit_ev, EV_TIMEOUT, 0); break;
		}
		event_base_loop(base, EVLOOP_NONBLOCK);
		check(c);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct script s = { data, size };
	struct ctl_config cfg;
	struct event_base *base = event_base_new();
	char err[256];
	ctl_t *c;

	stub_reset();
	nmirror = 0;
	memset(seen, 0, sizeof seen);
	now_s = 1e9;
	configure(&cfg, u8(&s));
	c = ctl_new(base, stub.store, stub.lhost, &cfg, err, sizeof err);
	FUZZ_CHECK(c != NULL, "ctl_new: %s", err);
	ctl_start(c);
	play(c, base, &s);
	for (int i = 0; i < stub.nconns; i++)
		conn_free(c, &stub.conns[i]);
	check(c);
	ctl_free(c);
	event_base_free(base);
	stub_reset();
	return 0;
}
