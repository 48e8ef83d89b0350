/* trial: trial records, ids and states. See trial.h. */
#include "trial.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <xxhash.h>

#include "proto/proto.h"
#include "store.h"

static const char *const state_names[] = {
	"PENDING", "RUNNING", "FINISHED", "EARLY_STOPPED", "FAILED",
};

const char *trial_state_name(enum trial_state s)
{
	return (unsigned)s <= TRIAL_FAILED ? state_names[s] : "UNKNOWN";
}

int trial_state_parse(const char *name)
{
	int i;

	for (i = 0; name && i <= TRIAL_FAILED; i++)
		if (strcmp(name, state_names[i]) == 0)
			return i;
	return -1;
}

int trial_is_final(const struct trial *t)
{
	return t->state >= TRIAL_FINISHED;
}

int trial_id_of(const json_t *params, uint64_t *id, char **canonical)
{
	char *text;

	if (!json_is_object(params))
		return -1;
	text = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS |
					  JSON_REAL_PRECISION(17));
	if (text == NULL)
		return -1;
	*id = XXH3_64bits(text, strlen(text));
	if (*id == 0) /* 0 means "no trial" on the wire */
		*id = 1;
	if (canonical)
		*canonical = text;
	else
		free(text);
	return 0;
}

int trial_better(const char *direction, double a, double b)
{
	return strcmp(direction, "min") == 0 ? a < b : a > b;
}

double trial_now(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

struct trial *trial_new(uint64_t id, uint32_t seq, char *params)
{
	struct trial *t = calloc(1, sizeof *t);

	if (t == NULL) {
		free(params);
		return NULL;
	}
	t->id = id;
	t->seq = seq;
	t->params = params;
	t->state = TRIAL_PENDING;
	t->slot = -1;
	t->created = trial_now();
	return t;
}

void trial_free(struct trial *t)
{
	if (t == NULL)
		return;
	free(t->params);
	json_decref(t->worker_info);
	json_decref(t->outputs);
	json_decref(t->lost_on);
	free(t->error);
	free(t);
}

json_t *trial_params(const struct trial *t)
{
	return json_loads(t->params, 0, NULL);
}

/*
 * A time as JSON: seconds with their microseconds (what trial_now() has),
 * or null when not yet. Written here rather than by jansson: a double at
 * 17 digits costs glibc some 9,000 instructions, and a record holds three
 * times, written twice per trial.
 */
static int time_json(char *buf, size_t size, double t)
{
	long long us;

	if (!(t > 0) || !isfinite(t))
		return snprintf(buf, size, "null");
	if (t >= 9e12) /* past what microseconds in a long long hold */
		return snprintf(buf, size, "%.17g", t);
	us = llround(t * 1e6);
	return snprintf(buf, size, "%lld.%06lld", us / 1000000, us % 1000000);
}

char *trial_record_text(const struct trial *t)
{
	static const char head[] = "{\"params\":";
	char hex[PROTO_TRIAL_HEX], times[128], *rest, *text;
	json_t *rec;
	static const char *const time_names[] = { "created", "started", "ended" };
	const double time_values[] = { t->created, t->started, t->ended };
	size_t plen, rlen, tlen;
	int n, i;

	proto_trial_hex(t->id, hex);
	rec = json_pack(
		"{s:s, s:I, s:I, s:s, s:i, s:O*, s:o, s:O*, s:s*, s:I, s:I}",
		"id", hex, "seq", (json_int_t)t->seq, "end_seq",
		(json_int_t)t->end_seq,
		"state", trial_state_name(t->state), "attempts", t->attempts,
		"worker", t->worker_info, "value",
		t->has_value ? json_real(t->value) : json_null(), "outputs",
		t->outputs, "error", t->error, "points", (json_int_t)t->points,
		"ignored_points", (json_int_t)t->ignored);
	rest = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
	json_decref(rec);
	if (rest == NULL)
		return NULL;
	n = 0;
	for (i = 0; i < 3; i++) {
		n += snprintf(times + n, sizeof times - n, ",\"%s\":",
			      time_names[i]);
		n += time_json(times + n, sizeof times - n, time_values[i]);
	}
	tlen = (size_t)n;
	/* head, the params, a comma, the rest's members between its braces,
	 * the times, "}" and a NUL */
	plen = strlen(t->params);
	rlen = strlen(rest);
	text = malloc(sizeof head + plen + rlen + tlen);
	if (text) {
		char *p = text;

		memcpy(p, head, sizeof head - 1);
		p += sizeof head - 1;
		memcpy(p, t->params, plen);
		p += plen;
		*p++ = ',';
		memcpy(p, rest + 1, rlen - 2);
		p += rlen - 2;
		memcpy(p, times, tlen);
		p += tlen;
		memcpy(p, "}", 2);
	}
	free(rest);
	return text;
}

void trial_head(const struct trial *t, struct store_trial_head *head)
{
	*head = (struct store_trial_head){
		.seq = t->seq, .end_seq = t->end_seq,
		.state = (uint8_t)t->state, .has_value = t->has_value,
		.value = t->has_value ? t->value : 0, .started = t->started,
		.ended = t->ended,
	};
}

static double number_or_zero(const json_t *v)
{
	return json_is_number(v) ? json_number_value(v) : 0;
}

/* A stored count or number: 0 when missing or negative, at most
 * UINT32_MAX. */
static uint32_t uint32_of(const json_t *v)
{
	double n = number_or_zero(v);

	if (!(n > 0))
		return 0;
	return n < UINT32_MAX ? (uint32_t)n : UINT32_MAX;
}

json_t *trial_outputs_keep(json_t *outputs)
{
	static json_t *empty; /* loop thread only, as the trials */

	if (!json_is_object(outputs))
		return NULL;
	if (json_object_size(outputs) > 0)
		return json_incref(outputs);
	if (empty == NULL)
		empty = json_object();
	return json_incref(empty);
}

struct trial *trial_from_record(const json_t *rec)
{
	const char *hex = json_string_value(json_object_get(rec, "id"));
	int state = trial_state_parse(
		json_string_value(json_object_get(rec, "state")));
	json_t *params = json_object_get(rec, "params");
	json_t *value = json_object_get(rec, "value");
	const char *error = json_string_value(json_object_get(rec, "error"));
	uint64_t id, params_id;
	char *canonical;
	struct trial *t;

	if (!hex || proto_trial_parse(hex, &id) < 0 || state < 0 ||
	    trial_id_of(params, &params_id, &canonical) < 0)
		return NULL;
	t = trial_new(id, uint32_of(json_object_get(rec, "seq")),
		      canonical);
	if (t == NULL)
		return NULL;
	t->state = state;
	t->attempts = (int)number_or_zero(json_object_get(rec, "attempts"));
	t->created = number_or_zero(json_object_get(rec, "created"));
	t->started = number_or_zero(json_object_get(rec, "started"));
	t->ended = number_or_zero(json_object_get(rec, "ended"));
	t->has_value = json_is_number(value);
	t->value = number_or_zero(value);
	t->outputs = trial_outputs_keep(json_object_get(rec, "outputs"));
	t->worker_info = json_incref(json_object_get(rec, "worker"));
	t->error = error ? strdup(error) : NULL;
	t->points = uint32_of(json_object_get(rec, "points"));
	t->end_seq = uint32_of(json_object_get(rec, "end_seq"));
	return t;
}
