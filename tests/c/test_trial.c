/* test_trial: unit tests of engine/trial.c's stored record: it is valid
 * JSON, its times are null until they happen and keep their microseconds,
 * and trial_from_record reads back what trial_record_text wrote; and of
 * engine/trial_table.c: every trial found by id, in creation order, also
 * when ids share their low bits. Exit status 0 when every check holds. */
#include "trial.h"
#include "trial_table.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

static struct trial *new_trial(void)
{
	json_t *params = json_pack("{s:f, s:s}", "lr", 0.01, "act", "relu");
	uint64_t id;
	char *canonical;

	if (trial_id_of(params, &id, &canonical) < 0)
		return NULL;
	json_decref(params);
	return trial_new(id, 7, canonical);
}

/* The record of t, parsed; NULL (and a failure) when it is not JSON. */
static json_t *record_of(const struct trial *t)
{
	char *text = trial_record_text(t);
	json_error_t error;
	json_t *rec = text ? json_loads(text, 0, &error) : NULL;

	if (rec == NULL) {
		fprintf(stderr, "not JSON (%s): %s\n", text ? error.text : "",
			text ? text : "(null)");
		failures++;
	}
	free(text);
	return rec;
}

/* n trials whose ids are id_of(k), k = 1..n: each found, in order. */
static void check_table(size_t n, uint64_t (*id_of)(uint64_t k))
{
	struct trial_table tt = { 0 };
	size_t k, found = 0, absent = 0;

	for (k = 1; k <= n; k++) {
		struct trial *t = trial_new(id_of(k), (uint32_t)k, strdup("{}"));
		int added = t != NULL && trial_table_add(&tt, t) == 0;

		CHECK(added);
		if (!added)
			trial_free(t);
	}
	CHECK(tt.n == n);
	for (k = 1; k <= n; k++) {
		struct trial *t = trial_table_find(&tt, id_of(k));
		found += t != NULL && t->id == id_of(k) && t->seq == k &&
			 tt.by_seq[k - 1] == t;
		absent += trial_table_find(&tt, id_of(k + n)) == NULL;
	}
	CHECK(found == n);
	CHECK(absent == n);
	CHECK((tt.mask + 1) * 3 >= n * 4); /* at most three quarters full */
	trial_table_free(&tt);
	CHECK(tt.n == 0 && trial_table_find(&tt, id_of(1)) == NULL);
}

static uint64_t spread_id(uint64_t k) { return k * 0x9e3779b97f4a7c15ull; }
static uint64_t high_bits_id(uint64_t k) { return k << 40; }

int main(void)
{
	struct trial *t = new_trial(), *back;

	check_table(0, spread_id);
	check_table(1, spread_id);
	check_table(20000, spread_id);
	check_table(3000, high_bits_id); /* every id in the same first slot */

	json_t *rec;

	CHECK(t != NULL);
	if (t == NULL)
		return 1;

	t->created = 0;
	rec = record_of(t);
	CHECK(json_is_null(json_object_get(rec, "created")));
	CHECK(json_is_null(json_object_get(rec, "started")));
	CHECK(json_is_null(json_object_get(rec, "ended")));
	CHECK(json_real_value(json_object_get(json_object_get(rec, "params"),
					      "lr")) == 0.01);
	CHECK(json_integer_value(json_object_get(rec, "seq")) == 7);
	json_decref(rec);

	t->created = 1795715210.365767;
	t->started = 1795715211.000001;
	t->ended = 1795715299.5;
	t->state = TRIAL_FINISHED;
	t->has_value = 1;
	t->value = 0.1 + 0.2; /* every digit of the value is kept */
	t->attempts = 2;
	t->end_seq = 41;
	rec = record_of(t);
	CHECK(fabs(json_number_value(json_object_get(rec, "created")) -
		   1795715210.365767) < 1e-6);
	CHECK(fabs(json_number_value(json_object_get(rec, "started")) -
		   1795715211.000001) < 1e-6);
	CHECK(json_number_value(json_object_get(rec, "ended")) == 1795715299.5);
	CHECK(json_real_value(json_object_get(rec, "value")) == 0.1 + 0.2);

	back = rec ? trial_from_record(rec) : NULL;
	CHECK(back != NULL);
	if (back) {
		CHECK(back->id == t->id && back->seq == t->seq);
		CHECK(back->state == TRIAL_FINISHED && back->attempts == 2);
		CHECK(back->end_seq == 41);
		CHECK(back->has_value && back->value == t->value);
		CHECK(fabs(back->created - t->created) < 1e-6);
		CHECK(fabs(back->started - t->started) < 1e-6);
		CHECK(back->ended == t->ended);
		CHECK(strcmp(back->params, t->params) == 0);
		trial_free(back);
	}
	json_decref(rec);

	/* times no clock gives, read from a damaged store: still JSON */
	t->created = 1e300;
	t->started = INFINITY;
	t->ended = NAN;
	rec = record_of(t);
	CHECK(json_number_value(json_object_get(rec, "created")) == 1e300);
	CHECK(json_is_null(json_object_get(rec, "started")));
	CHECK(json_is_null(json_object_get(rec, "ended")));
	json_decref(rec);

	trial_free(t);
	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	return failures ? 1 : 0;
}
