/* resume: replaying the strategies' journal. See resume.h. */
#include "resume.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct replay {
	store_t *store;
	lhost_t *lhost;
	unsigned long long applied, last;
	char *error;
};

/* A job whose reply was never acted on keeps its events, not its request. */
static char *without_request(const char *job, size_t len)
{
	json_t *obj = json_loadb(job, len, 0, NULL);
	char *text = NULL;

	if (json_is_object(obj) &&
	    json_object_set_new(obj, "request", json_null()) == 0)
		text = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(17));
	json_decref(obj);
	return text;
}

static int replay_one(uint64_t seq, const char *job, size_t len, void *arg)
{
	struct replay *r = arg;
	char *rewritten = NULL, *out = NULL, *error = NULL;
	int rc;

	if (seq > r->applied) {
		rewritten = without_request(job, len);
		if (rewritten == NULL) {
			r->error = strdup("a journaled job is not JSON");
			return 1;
		}
		store_journal_put(r->store, seq, rewritten, strlen(rewritten));
		job = rewritten;
	}
	rc = lhost_call(r->lhost, "replay", job, &out, &error);
	free(rewritten);
	free(out);
	r->last = seq;
	if (rc == 0)
		return 0;
	r->error = error;
	return 1;
}

static int collect(uint64_t id, const char *json, size_t len, void *arg)
{
	json_t *rec = json_loadb(json, len, 0, NULL);

	json_array_append_new(arg, json_pack("{s:O, s:O, s:O, s:O, s:O}", "id",
		json_object_get(rec, "id"), "seq", json_object_get(rec, "seq"),
		"params", json_object_get(rec, "params"), "state",
		json_object_get(rec, "state"), "value",
		json_object_get(rec, "value")));
	json_decref(rec);
	return 0;
}

static int seq_order(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t **)a, "seq"));
	json_int_t y = json_integer_value(json_object_get(*(json_t **)b, "seq"));

	return x < y ? -1 : x > y;
}

/* The stored trials in creation order, as JSON text. */
static char *stored_trials(store_t *store)
{
	json_t *list = json_array(), *sorted = json_array(), **items;
	size_t i, n;
	char *text = NULL;

	store_trials_each(store, collect, list);
	n = json_array_size(list);
	items = malloc((n ? n : 1) * sizeof *items);
	if (items) {
		for (i = 0; i < n; i++)
			items[i] = json_array_get(list, i);
		qsort(items, n, sizeof *items, seq_order);
		for (i = 0; i < n; i++)
			json_array_append(sorted, items[i]);
		text = json_dumps(sorted, JSON_COMPACT | JSON_REAL_PRECISION(17));
	}
	free(items);
	json_decref(list);
	json_decref(sorted);
	return text;
}

/* Journal the reconciling events as one more job, already acted on. */
static void journal_reconcile(struct replay *r, const char *job)
{
	json_t *obj = json_loads(job, 0, NULL);
	char seq[32];

	if (json_array_size(json_object_get(obj, "events")) > 0) {
		r->last++;
		store_journal_put(r->store, r->last, job, strlen(job));
	}
	snprintf(seq, sizeof seq, "%llu", r->last);
	store_meta_put(r->store, "journal_applied", seq);
	json_decref(obj);
}

static unsigned long long applied_seq(store_t *store)
{
	char *text = NULL;
	unsigned long long n = 0;

	if (store_meta_get(store, "journal_applied", &text) == 0)
		n = strtoull(text, NULL, 10);
	free(text);
	return n;
}

int resume_strategies(store_t *store, lhost_t *lhost, char *err,
		      size_t errlen)
{
	struct replay r = { store, lhost, applied_seq(store), 0, NULL };
	char *trials = NULL, *job = NULL, *error = NULL;
	int rc = -1;

	if (store_journal_each(store, replay_one, &r) < 0)
		r.error = strdup(store_last_error(store));
	if (r.error) {
		snprintf(err, errlen, "the strategies cannot be replayed (job "
			 "%llu of the journal):\n%s", r.last, r.error);
		goto out;
	}
	trials = stored_trials(store);
	if (trials == NULL || lhost_call(lhost, "reconcile", trials, &job,
					 &error) < 0) {
		snprintf(err, errlen, "the strategies cannot take the stored "
			 "trials back:\n%s", error ? error : "out of memory");
		goto out;
	}
	journal_reconcile(&r, job);
	rc = store_commit(store, err, errlen) < 0 ? -1 : 0;
out:
	free(r.error);
	free(trials);
	free(job);
	free(error);
	return rc;
}
