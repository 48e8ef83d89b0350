/*
 * test_summary: engine/summary.c reads a store the same way whether its
 * trials have heads (store.h: the counts, best and order come from them,
 * and only the records listed are parsed) or not (a store of an older
 * engine: every record is parsed). The same trials go into two real LMDB
 * stores, one with heads and one without, and every read must give the
 * same answer, and the right one. Exit status 0 when every check holds.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif
#include "store.h"
#include "summary.h"
#include "trial.h"

#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "proto/proto.h"

#define NTRIALS 6

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	return remove(path);
}

static store_t *open_store(char *dir)
{
	char err[256];
	store_t *s = NULL;

	if (!mkdtemp(dir) || store_open(&s, dir, STORE_WRITE, err, sizeof err)) {
		fprintf(stderr, "store in %s: %s\n", dir, err);
		exit(2);
	}
	return s;
}

/* The trials: created in the order of the table; their ids (hashes of the
 * params) are in another order. Trials 2 and 3 tie on the best value: the
 * first to end (2) is the best. */
static const struct {
	int x;
	enum trial_state state;
	int has_value;
	double value;
	uint32_t end_seq;
	int points;
} trials[NTRIALS] = {
	{ 1, TRIAL_FINISHED, 1, 0.5, 2, 3 },
	{ 2, TRIAL_FINISHED, 1, 0.9, 1, 0 },
	{ 3, TRIAL_EARLY_STOPPED, 1, 0.9, 3, 2 },
	{ 4, TRIAL_FAILED, 0, 0, 4, 0 },
	{ 5, TRIAL_RUNNING, 0, 0, 0, 5 },
	{ 6, TRIAL_PENDING, 0, 0, 0, 0 },
};

static uint64_t ids[NTRIALS];

/* The trials into s, with their heads or without. */
static void fill(store_t *s, int with_heads)
{
	char err[256];

	store_meta_put(s, "experiment", "{\"name\":\"s\",\"direction\":\"max\","
		       "\"metric\":\"acc\",\"num_trials\":6}");
	store_meta_put(s, "status", "{\"status\":\"finished\",\"started\":"
		       "1000,\"ended\":1100}");
	for (int i = 0; i < NTRIALS; i++) {
		json_t *params = json_pack("{s:i}", "x", trials[i].x);
		char *canonical = NULL, *text;
		struct trial *t;
		struct store_trial_head head;

		trial_id_of(params, &ids[i], &canonical);
		json_decref(params);
		t = trial_new(ids[i], (uint32_t)i + 1, canonical);
		t->state = trials[i].state;
		t->has_value = trials[i].has_value;
		t->value = trials[i].value;
		t->end_seq = trials[i].end_seq;
		t->created = 1000 + i;
		if (t->state != TRIAL_PENDING)
			t->started = 1001 + i;
		if (t->end_seq)
			t->ended = 1010 + t->end_seq;
		text = trial_record_text(t);
		CHECK(store_trial_put(s, t->id, text) == 0);
		if (with_heads) {
			trial_head(t, &head);
			CHECK(store_trial_head_put(s, t->id, &head) == 0);
		}
		for (int p = 0; p < trials[i].points; p++)
			store_metric_put(s, t->id, (uint64_t)p, p * 0.1, 1005);
		free(text);
		trial_free(t);
	}
	CHECK(store_commit(s, err, sizeof err) == 0);
}

/* A summary without its "dir" (each store has its own). */
static json_t *read_changes(store_t *s, const char *dir, json_int_t since)
{
	char err[256];
	json_t *sum = since < 0 ? summary_read(s, dir, 1, err, sizeof err)
				: summary_read_changes(s, dir, since, err,
						       sizeof err);

	CHECK(sum != NULL);
	json_object_del(sum, "dir");
	return sum;
}

static void check_same(json_t *a, json_t *b, const char *what)
{
	if (!json_equal(a, b)) {
		char *ta = json_dumps(a, JSON_SORT_KEYS | JSON_COMPACT);
		char *tb = json_dumps(b, JSON_SORT_KEYS | JSON_COMPACT);

		fprintf(stderr, "%s differs:\n  heads:   %s\n  records: %s\n",
			what, ta, tb);
		free(ta);
		free(tb);
		failures++;
	}
}

/* The ids listed by a summary, as indexes into trials[] (-1: unknown). */
static int listed(const json_t *sum, int *which, int max)
{
	const json_t *t;
	size_t i;
	int n = 0;

	json_array_foreach(json_object_get(sum, "trials"), i, t) {
		const char *id = json_string_value(json_object_get(t, "id"));
		char hex[PROTO_TRIAL_HEX];

		which[n] = -1;
		for (int k = 0; k < NTRIALS; k++) {
			proto_trial_hex(ids[k], hex);
			if (id && strcmp(id, hex) == 0)
				which[n] = k;
		}
		if (++n == max)
			break;
	}
	return n;
}

int main(void)
{
	char dir_a[] = "/tmp/test_summary.XXXXXX";
	char dir_b[] = "/tmp/test_summary.XXXXXX";
	store_t *a = open_store(dir_a), *b = open_store(dir_b);
	static const json_int_t sinces[] = { -1, 0, 1, 2, 4, 9 };
	char err[256], hex[PROTO_TRIAL_HEX];
	int which[NTRIALS + 1];
	json_t *sa, *sb;

	fill(a, 1);
	fill(b, 0);
	CHECK(store_trial_heads_complete(a) == 1);
	CHECK(store_trial_heads_complete(b) == 0);

	for (size_t i = 0; i < sizeof sinces / sizeof *sinces; i++) {
		char what[64];

		sa = read_changes(a, dir_a, sinces[i]);
		sb = read_changes(b, dir_b, sinces[i]);
		snprintf(what, sizeof what, "the summary since %lld",
			 (long long)sinces[i]);
		check_same(sa, sb, what);
		json_decref(sb);
		if (sinces[i] == 2) { /* ended after 2, and the unended */
			int n = listed(sa, which, NTRIALS + 1);

			CHECK(n == 4 && which[0] == 2 && which[1] == 3 &&
			      which[2] == 4 && which[3] == 5);
			CHECK(json_integer_value(json_object_get(sa,
							"end_seq")) == 4);
		}
		if (sinces[i] < 0) { /* everything, in creation order */
			int n = listed(sa, which, NTRIALS + 1);

			CHECK(n == NTRIALS);
			for (int k = 0; k < n; k++)
				CHECK(which[k] == k);
			CHECK(json_integer_value(json_object_get(sa,
						"finished")) == 2);
			CHECK(json_integer_value(json_object_get(sa,
						"early_stopped")) == 1);
			CHECK(json_integer_value(json_object_get(sa,
						"failed")) == 1);
			CHECK(json_integer_value(json_object_get(sa,
						"running")) == 1);
			CHECK(json_integer_value(json_object_get(sa,
						"pending")) == 1);
			proto_trial_hex(ids[1], hex);
			CHECK(strcmp(json_string_value(json_object_get(
				json_object_get(sa, "best"), "trial_id")),
				hex) == 0);
			CHECK(json_integer_value(json_object_get(json_array_get(
				json_object_get(sa, "trials"), 4), "steps"))
				== 5);
		}
		json_decref(sa);
	}

	sa = summary_build(a, dir_a, 0, err, sizeof err);
	sb = summary_build(b, dir_b, 0, err, sizeof err);
	json_object_del(sa, "dir");
	json_object_del(sb, "dir");
	CHECK(json_object_get(sa, "trials") == NULL);
	check_same(sa, sb, "the summary without trials");
	json_decref(sa);
	json_decref(sb);

	{
		uint64_t *ia, *ib;
		size_t na, nb;

		CHECK(summary_trial_ids(a, dir_a, &ia, &na, err, sizeof err)
		      == 0);
		CHECK(summary_trial_ids(b, dir_b, &ib, &nb, err, sizeof err)
		      == 0);
		CHECK(na == NTRIALS && nb == NTRIALS);
		for (size_t k = 0; k < na && k < nb; k++)
			CHECK(ia[k] == ids[k] && ib[k] == ids[k]);
		free(ia);
		free(ib);
	}

	{
		struct summary_value *va, *vb;
		size_t na, nb;

		CHECK(summary_trial_values(a, dir_a, &va, &na, err,
					   sizeof err) == 0);
		CHECK(summary_trial_values(b, dir_b, &vb, &nb, err,
					   sizeof err) == 0);
		CHECK(na == NTRIALS && nb == NTRIALS);
		for (size_t k = 0; k < na && k < nb; k++) {
			CHECK(va[k].id == ids[k] && vb[k].id == ids[k]);
			CHECK(va[k].has_value == trials[k].has_value &&
			      vb[k].has_value == trials[k].has_value);
			CHECK(!trials[k].has_value ||
			      (va[k].value == trials[k].value &&
			       vb[k].value == trials[k].value));
		}
		free(va);
		free(vb);
	}

	store_close(a);
	store_close(b);
	nftw(dir_a, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	nftw(dir_b, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	printf("%d check(s) failed\n", failures);
	return failures ? 1 : 0;
}
