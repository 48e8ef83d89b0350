/* summary: an experiment's results from its store. See summary.h. */
#include "summary.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dirlock.h"
#include "errtext.h"
#include "proto/numtext.h"
#include "proto/proto.h"
#include "proto/utf8.h"
#include "trial.h"

struct gather {
	store_t *store;
	json_t *trials;	/* the entries, or NULL when they are not kept */
	const char *direction;
	json_t *best;	/* owned */
	long counts[TRIAL_FAILED + 1]; /* by enum trial_state */
	double last;	/* the latest start or end of a trial */
	json_int_t since;   /* keep only the trials changed since this end_seq
			       (-1: all of them) */
	json_int_t end_seq; /* the highest end_seq seen */
};

/* The best value; of equal ones the first to end, as the running engine
 * has it (the store holds trials in the order of their ids). */
static void consider_best(struct gather *g, json_t *entry, int state)
{
	json_t *value = json_object_get(entry, "value");
	double v, best;

	if ((state != TRIAL_FINISHED && state != TRIAL_EARLY_STOPPED) ||
	    !json_is_number(value))
		return;
	v = json_number_value(value);
	best = g->best ? json_number_value(json_object_get(g->best, "value"))
		       : 0;
	if (g->best == NULL || trial_better(g->direction, v, best) ||
	    (v == best &&
	     json_number_value(json_object_get(entry, "ended")) <
		     json_number_value(json_object_get(g->best, "ended")))) {
		json_decref(g->best);
		g->best = json_incref(entry);
	}
}

static json_t *copy_field(const json_t *rec, const char *key)
{
	json_t *v = json_object_get(rec, key);
	return v ? json_incref(v) : json_null();
}

/* A trial's entry in the summary, from its stored record (NULL when the
 * record is unreadable: skipped, not fatal), and its state. */
static json_t *trial_entry(store_t *store, uint64_t id, const char *json,
			   size_t len, int *state)
{
	json_t *rec = json_loadb(json, len, 0, NULL);
	json_t *entry;

	if (rec == NULL)
		return NULL;
	*state = trial_state_parse(json_string_value(json_object_get(rec, "state")));
	entry = json_pack("{s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
		"id", copy_field(rec, "id"), "seq", copy_field(rec, "seq"),
		"end_seq", copy_field(rec, "end_seq"),
		"params", copy_field(rec, "params"), "state",
		copy_field(rec, "state"), "steps",
		(json_int_t)store_metric_count(store, id), "value",
		copy_field(rec, "value"), "attempts",
		copy_field(rec, "attempts"), "error", copy_field(rec, "error"),
		"outputs", copy_field(rec, "outputs"), "started",
		copy_field(rec, "started"), "ended", copy_field(rec, "ended"),
		"worker", copy_field(rec, "worker"), "ignored_points",
		copy_field(rec, "ignored_points"));
	json_decref(rec);
	return entry;
}

/* Whether a trial with `state` and `end_seq` (0: unknown, a record of an
 * older engine) may have changed since the reader's `since`: those that
 * have not ended yet change with each point. */
static int changed_since(int state, json_int_t end_seq, json_int_t since)
{
	return since < 0 || state == TRIAL_PENDING || state == TRIAL_RUNNING ||
	       end_seq == 0 || end_seq > since;
}

static int gather_entry(json_t *entry, void *arg)
{
	struct gather *g = arg;
	int state = trial_state_parse(
		json_string_value(json_object_get(entry, "state")));
	json_int_t end_seq = json_integer_value(json_object_get(entry,
								"end_seq"));
	double started = json_number_value(json_object_get(entry, "started"));
	double ended = json_number_value(json_object_get(entry, "ended"));

	if (state >= 0)
		g->counts[state]++;
	consider_best(g, entry, state);
	g->last = ended > g->last ? ended : started > g->last ? started : g->last;
	if (end_seq > g->end_seq)
		g->end_seq = end_seq;
	json_object_del(entry, "end_seq");
	if (g->trials && changed_since(state, end_seq, g->since))
		json_array_append(g->trials, entry);
	return 0;
}

static int gather_trial(uint64_t id, const char *json, size_t len, void *arg)
{
	struct gather *g = arg;
	int state;
	json_t *entry = trial_entry(g->store, id, json, len, &state);

	if (entry)
		gather_entry(entry, g);
	json_decref(entry);
	return 0;
}

static json_t *load_meta(store_t *store, const char *key)
{
	char *text = NULL;
	json_t *obj = NULL;

	if (store_meta_get(store, key, &text) == 0)
		obj = json_loads(text, 0, NULL);
	free(text);
	return obj;
}

static json_t *best_of(const struct gather *g)
{
	if (g->best == NULL)
		return json_null();
	return json_pack("{s:O, s:O, s:O}", "trial_id",
			 json_object_get(g->best, "id"), "value",
			 json_object_get(g->best, "value"), "params",
			 json_object_get(g->best, "params"));
}

/* Trials with their creation order, to be put in it. */
struct order {
	struct seq_id {
		json_int_t seq;
		uint64_t id;
	} *items;
	size_t n, cap;
};

static int order_add(struct order *o, json_int_t seq, uint64_t id)
{
	if (o->n == o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 1024;
		struct seq_id *p = realloc(o->items, cap * sizeof *p);
		if (p == NULL)
			return -1;
		o->items = p;
		o->cap = cap;
	}
	o->items[o->n++] = (struct seq_id){ seq, id };
	return 0;
}

static int by_seq_id(const void *a, const void *b)
{
	const struct seq_id *x = a, *y = b;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

/* The ids of o, in creation order, into *ids (malloc'd); frees o's items.
 * Returns 0 or -1 (out of memory). */
static int order_ids(struct order *o, uint64_t **ids, size_t *n)
{
	size_t i;

	if (o->n > 0) /* o->items is NULL without trials */
		qsort(o->items, o->n, sizeof *o->items, by_seq_id);
	*ids = malloc((o->n ? o->n : 1) * sizeof **ids);
	if (*ids)
		for (i = 0; i < o->n; i++)
			(*ids)[i] = o->items[i].id;
	*n = *ids ? o->n : 0;
	free(o->items);
	o->items = NULL;
	o->n = o->cap = 0;
	return *ids ? 0 : -1;
}

static int collect_order(uint64_t id, const char *json, size_t len, void *arg)
{
	json_t *rec = json_loadb(json, len, 0, NULL);
	json_int_t seq;

	if (rec == NULL)
		return 0; /* skipped, as gather_trial skips it */
	seq = json_integer_value(json_object_get(rec, "seq"));
	json_decref(rec);
	return order_add(arg, seq, id);
}

/*
 * A pass over the trials' heads (store.h): the summary's counts, best and
 * end_seq into g, without parsing a record, and into `listed` the trials
 * that g's list is to hold (every trial when g is NULL).
 */
struct heads {
	struct gather *g;
	struct order listed;
	uint64_t best;	   /* the best trial's id, when has_best */
	uint32_t best_end; /* and its end_seq: of equal values, the first */
	double best_value; /* to end is the best */
	int has_best;
};

static int take_head(uint64_t id, const struct store_trial_head *h,
		     void *arg)
{
	struct heads *hs = arg;
	struct gather *g = hs->g;

	if (g == NULL)
		return order_add(&hs->listed, (json_int_t)h->seq, id);
	if (h->state <= TRIAL_FAILED)
		g->counts[h->state]++;
	if ((h->state == TRIAL_FINISHED || h->state == TRIAL_EARLY_STOPPED) &&
	    h->has_value &&
	    (!hs->has_best || trial_better(g->direction, h->value,
					   hs->best_value) ||
	     (h->value == hs->best_value && h->end_seq < hs->best_end))) {
		hs->best = id;
		hs->best_end = h->end_seq;
		hs->best_value = h->value;
		hs->has_best = 1;
	}
	if (h->ended > g->last)
		g->last = h->ended;
	if (h->started > g->last)
		g->last = h->started;
	if ((json_int_t)h->end_seq > g->end_seq)
		g->end_seq = h->end_seq;
	if (g->trials == NULL || !changed_since(h->state, h->end_seq, g->since))
		return 0;
	return order_add(&hs->listed, (json_int_t)h->seq, id);
}

/* The trials in creation order, from their heads when the store has them
 * all, else from their records. Returns 0 or -1 (out of memory). */
static int ids_in_order(store_t *store, uint64_t **ids, size_t *n)
{
	struct heads hs = { NULL, { NULL, 0, 0 }, 0, 0, 0, 0 };
	int rc = store_trial_heads_complete(store) == 1
			 ? store_trial_heads_each(store, take_head, &hs)
			 : store_trials_each(store, collect_order, &hs.listed);

	if (rc < 0) {
		free(hs.listed.items);
		return -1;
	}
	return order_ids(&hs.listed, ids, n);
}

int summary_trial_ids(store_t *store, const char *dir, uint64_t **ids,
		      size_t *n, char *err, size_t errlen)
{
	json_t *exp = load_meta(store, "experiment");

	*ids = NULL;
	*n = 0;
	if (exp == NULL) {
		snprintf(err, errlen, "%s holds no experiment", dir);
		return -1;
	}
	json_decref(exp);
	if (ids_in_order(store, ids, n) < 0) {
		snprintf(err, errlen, "out of memory reading the trials of %s",
			 dir);
		return -1;
	}
	return 0;
}

/* "running" in the store with no engine holding the directory: the engine
 * was killed (mark_dead). */
static int run_gone(const char *status, const char *dir)
{
	return status && strcmp(status, "running") == 0 &&
	       dirlock_owner(dir) <= 0;
}

static int engine_gone(store_t *store, const char *dir)
{
	json_t *status = load_meta(store, "status");
	int gone = run_gone(json_string_value(json_object_get(status, "status")),
			    dir);

	json_decref(status);
	return gone;
}

/* Each of the n trials' entries to cb, in the order of ids; a RUNNING
 * trial as PENDING when the engine is `gone`. */
static int walk_entries(store_t *store, const uint64_t *ids, size_t n,
			int gone, int keep_end_seq, summary_trial_cb cb,
			void *arg)
{
	int rc = 0;
	size_t i;

	for (i = 0; i < n && rc == 0; i++) {
		char *json = NULL;
		int state;
		json_t *entry = NULL;

		if (store_trial_get(store, ids[i], &json) == 0)
			entry = trial_entry(store, ids[i], json, strlen(json),
					    &state);
		free(json);
		if (entry == NULL)
			continue;
		json_object_del(entry, "seq");
		if (!keep_end_seq)
			json_object_del(entry, "end_seq");
		if (gone && state == TRIAL_RUNNING)
			json_object_set_new(entry, "state",
					    json_string("PENDING"));
		rc = cb(entry, arg);
		json_decref(entry);
	}
	return rc;
}

int summary_each_trial(store_t *store, const char *dir, const uint64_t *ids,
		       size_t n, summary_trial_cb cb, void *arg)
{
	return walk_entries(store, ids, n, engine_gone(store, dir), 0, cb,
			    arg);
}

/* What summary_trial_values collects. */
struct values {
	struct summary_value *items;
	size_t n, cap; /* a run going on may add trials meanwhile: */
	int over;      /* more than cap were seen */
};

static int value_of_head(uint64_t id, const struct store_trial_head *h,
			 void *arg)
{
	struct values *v = arg;

	if (v->n == v->cap)
		return v->over = 1;
	v->items[v->n++] = (struct summary_value){ id, h->value, h->has_value };
	return 0;
}

static int value_of_entry(json_t *entry, void *arg)
{
	struct values *v = arg;
	const json_t *value = json_object_get(entry, "value");
	struct summary_value *item = &v->items[v->n];

	if (v->n == v->cap)
		return v->over = 1;
	*item = (struct summary_value){ 0, json_number_value(value),
					json_is_number(value) };
	if (proto_trial_parse(json_string_value(json_object_get(entry, "id")),
			      &item->id) == 0)
		v->n++;
	return 0;
}

int summary_trial_values(store_t *store, const char *dir,
			 struct summary_value **out, size_t *n, char *err,
			 size_t errlen)
{
	struct values v = { NULL, 0, 0, 0 };
	uint64_t *ids;
	size_t count;

	*out = NULL;
	*n = 0;
	if (summary_trial_ids(store, dir, &ids, &count, err, errlen) < 0)
		return -1;
	v.cap = count;
	v.items = malloc((count ? count : 1) * sizeof *v.items);
	if (v.items == NULL) {
		free(ids);
		snprintf(err, errlen, "out of memory reading the trials of %s",
			 dir);
		return -1;
	}
	/* the heads, in creation order, are the trials summary_trial_ids
	 * gave: as many, or the records were read */
	if (store_trial_heads_complete(store) == 1)
		store_trial_heads_each(store, value_of_head, &v);
	if (v.n != count || v.over) {
		v.n = 0;
		v.over = 0;
		summary_each_trial(store, dir, ids, count, value_of_entry, &v);
	}
	free(ids);
	*out = v.items;
	*n = v.n;
	return 0;
}

static double duration_of(const json_t *status)
{
	double started = json_number_value(json_object_get(status, "started"));
	json_t *ended = json_object_get(status, "ended");

	if (started <= 0)
		return 0;
	return (json_is_number(ended) ? json_number_value(ended)
				      : (double)time(NULL)) - started;
}

static int list_entry(json_t *entry, void *arg)
{
	struct gather *g = arg;

	return json_array_append(g->trials, entry);
}

static int keep_best(json_t *entry, void *arg)
{
	struct gather *g = arg;

	g->best = json_incref(entry);
	return 0;
}

/* g from the trials' heads: only the records of the trials its list holds,
 * and of the best, are read. Returns 0 or -1 (out of memory). */
static int gather_heads(store_t *store, struct gather *g)
{
	struct heads hs = { g, { NULL, 0, 0 }, 0, 0, 0, 0 };
	uint64_t *ids;
	size_t n;
	int rc = store_trial_heads_each(store, take_head, &hs);

	if (rc < 0 || order_ids(&hs.listed, &ids, &n) < 0) {
		free(hs.listed.items);
		return -1;
	}
	if (g->trials)
		walk_entries(store, ids, n, 0, 0, list_entry, g);
	free(ids);
	if (hs.has_best)
		walk_entries(store, &hs.best, 1, 0, 0, keep_best, g);
	return 0;
}

static json_t *build(store_t *store, const char *dir, int with_trials,
		     json_int_t since, double *last, int *simulated, char *err,
		     size_t errlen)
{
	json_t *exp = load_meta(store, "experiment");
	json_t *status = load_meta(store, "status");
	struct gather g = { store, with_trials ? json_array() : NULL, NULL,
			    NULL, { 0 }, 0, since, 0 };
	json_t *sum = NULL;
	char where[PATH_MAX];

	*simulated = 0;
	/* the same "dir" as the run's own summary.json, however it was typed */
	if (realpath(dir, where) == NULL)
		snprintf(where, sizeof where, "%s", dir);
	if (exp == NULL) {
		snprintf(err, errlen, "%s holds no experiment", dir);
		goto out;
	}
	*simulated = json_object_get(exp, "simulation") != NULL;
	g.direction = json_string_value(json_object_get(exp, "direction"));
	if (g.direction == NULL)
		g.direction = "max";
	if (store_trial_heads_complete(store) == 1) {
		if (gather_heads(store, &g) < 0) {
			snprintf(err, errlen, "out of memory reading the "
				 "trials of %s", dir);
			goto out;
		}
	} else if (g.trials == NULL) {
		store_trials_each(store, gather_trial, &g);
	} else {
		uint64_t *ids;
		size_t n;

		if (summary_trial_ids(store, dir, &ids, &n, err, errlen) < 0)
			goto out;
		walk_entries(store, ids, n, 0, 1, gather_entry, &g);
		free(ids);
	}
	sum = json_pack(
		"{s:O, s:s, s:O*, s:s, s:O, s:O, s:I, s:I, s:I, s:I, s:I,"
		" s:o, s:f, s:s}",
		"name", json_object_get(exp, "name"), "status",
		json_string_value(json_object_get(status, "status"))
			? json_string_value(json_object_get(status, "status"))
			: "unknown",
		"error", json_object_get(status, "error"), "direction",
		g.direction, "metric", json_object_get(exp, "metric"),
		"num_trials", json_object_get(exp, "num_trials"), "finished",
		(json_int_t)g.counts[TRIAL_FINISHED], "early_stopped",
		(json_int_t)g.counts[TRIAL_EARLY_STOPPED], "failed", (json_int_t)g.counts[TRIAL_FAILED],
		"pending", (json_int_t)g.counts[TRIAL_PENDING], "running",
		(json_int_t)g.counts[TRIAL_RUNNING], "best", best_of(&g), "duration_s",
		duration_of(status), "dir", where);
	if (sum && g.trials)
		json_object_set(sum, "trials", g.trials);
	if (sum && json_object_get(sum, "error") == NULL)
		json_object_set_new(sum, "error", json_null());
	if (sum) {
		json_t *excluded = load_meta(store, "excluded_hosts");
		json_object_set_new(sum, "excluded_hosts",
				    json_is_array(excluded) ? excluded
							    : json_array());
		if (excluded && !json_is_array(excluded))
			json_decref(excluded);
		json_t *conns = load_meta(store, "connections");
		json_t *abl = load_meta(store, "ablation");
		json_object_set_new(sum, "connections",
				    conns ? conns : json_null());
		if (abl)
			json_object_set_new(sum, "ablation", abl);
		if (since >= 0)
			json_object_set_new(sum, "end_seq",
					    json_integer(g.end_seq));
	}
out:
	*last = g.last;
	json_decref(g.trials);
	json_decref(g.best);
	json_decref(exp);
	json_decref(status);
	return sum;
}

json_t *summary_build(store_t *store, const char *dir, int with_trials,
		      char *err, size_t errlen)
{
	double last;
	int simulated;

	return build(store, dir, with_trials, -1, &last, &simulated, err,
		     errlen);
}

/* "excluded hosts: a, b" when the run gave up on some hosts. */
static void print_excluded(const json_t *hosts, FILE *out)
{
	size_t i;
	json_t *host;

	if (json_array_size(hosts) == 0)
		return;
	fprintf(out, "excluded hosts:");
	json_array_foreach(hosts, i, host)
		fprintf(out, "%s %s", i ? "," : "", json_string_value(host));
	fprintf(out, " (the run's log says why)\n");
}

/* "refused connections: ..." when the server turned peers away. */
static void print_refused(const json_t *conns, FILE *out)
{
	static const struct { const char *key, *what; } kinds[] = {
		{ "failed_handshakes", "failed handshakes" },
		{ "rate_limited", "closed at once for their address's failures" },
		{ "hello_timeouts", "without a HELLO in time" },
		{ "evicted", "closed for newer handshakes" },
		{ "protocol_errors", "executors that broke the protocol" },
		{ "slow_readers", "executors that stopped reading" },
	};
	const char *sep = "refused connections: ";
	size_t i;

	for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		json_int_t n = json_integer_value(json_object_get(conns,
								  kinds[i].key));
		if (n == 0)
			continue;
		fprintf(out, "%s%lld %s", sep, (long long)n, kinds[i].what);
		sep = ", ";
	}
	if (sep[0] == ',')
		fprintf(out, " (see docs/protocol.md)\n");
}

/* "0.912 ± 0.004", "0.912" (one run), or "-" (none). */
static void print_value(FILE *out, const json_t *v, const json_t *ci,
			int width)
{
	char buf[64];

	if (!json_is_number(v))
		snprintf(buf, sizeof buf, "-");
	else if (json_is_number(ci))
		snprintf(buf, sizeof buf, "%.4g \u00b1 %.2g",
			 json_number_value(v), json_number_value(ci));
	else
		snprintf(buf, sizeof buf, "%.4g", json_number_value(v));
	/* ± is two bytes and one column */
	fprintf(out, "%-*s", width + (strstr(buf, "\u00b1") ? 1 : 0), buf);
}

/* The string at `key` of object o, or "?": what a report written by an
 * ablator of one's own lacks. */
static const char *text_at(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "?";
}

/* label, cut or padded to `width` characters (not bytes: "héllo" is five) */
static void print_label(const char *label, int width, FILE *out)
{
	size_t bytes, chars = utf8_chars(label, (size_t)width, &bytes);

	fprintf(out, "%.*s%*s", (int)bytes, label, width - (int)chars, "");
}

static void print_ablation_row(const json_t *row, int width, FILE *out)
{
	json_int_t failed = json_integer_value(json_object_get(row, "failed"));
	const json_t *rank = json_object_get(row, "rank");

	if (!json_is_object(row))
		return;
	fprintf(out, "  ");
	print_label(text_at(row, "component"), width, out);
	fprintf(out, " %3lld  ",
		(long long)json_integer_value(json_object_get(row, "n")));
	print_value(out, json_object_get(row, "mean"),
		    json_object_get(row, "ci95"), 20);
	print_value(out, json_object_get(row, "delta"),
		    json_object_get(row, "delta_ci95"), 20);
	if (json_is_integer(rank))
		fprintf(out, "%4lld", (long long)json_integer_value(rank));
	else
		fprintf(out, "%4s", "");
	if (json_is_false(json_object_get(row, "significant")))
		fprintf(out, "  (within noise)");
	if (failed)
		fprintf(out, "  %lld failed", (long long)failed);
	else if (json_integer_value(json_object_get(row, "n")) == 0)
		fprintf(out, "  (no trial ran)");
	fprintf(out, "\n");
}

/* An ablation path: the base, then each step's change and its metric. */
static void print_path(const json_t *a, FILE *out)
{
	size_t i;
	json_t *step;

	fprintf(out, "ablation path (%lld repeat%s; %s, mean \u00b1 95%% CI; "
		"delta to the step before):\n",
		(long long)json_integer_value(json_object_get(a, "repeats")),
		json_integer_value(json_object_get(a, "repeats")) == 1 ? "" : "s",
		text_at(a, "metric"));
	json_array_foreach(json_object_get(a, "path"), i, step) {
		const json_t *change = json_object_get(step, "change");
		char what[160];
		json_int_t failed = json_integer_value(json_object_get(step,
								       "failed"));

		if (json_is_string(change)) {
			const size_t how = JSON_ENCODE_ANY |
					   JSON_REAL_PRECISION(10);
			char *from = json_dumps(json_object_get(step, "from"),
						how);
			char *to = json_dumps(json_object_get(step, "to"), how);
			snprintf(what, sizeof what, "%s: %s -> %s",
				 json_string_value(change), from ? from : "?",
				 to ? to : "?");
			free(from);
			free(to);
		} else {
			snprintf(what, sizeof what, "base");
		}
		fprintf(out, "  %2zu  %-46s ", i, what);
		print_value(out, json_object_get(step, "mean"),
			    json_object_get(step, "ci95"), 20);
		print_value(out, json_object_get(step, "delta"), NULL, 12);
		if (failed)
			fprintf(out, "  %lld failed", (long long)failed);
		fprintf(out, "\n");
	}
}

/* The ablation table: the base, then each component left out. */
static void print_ablation(const json_t *a, FILE *out)
{
	size_t i;
	json_t *row;
	int width = 8;

	if (!json_is_object(a))
		return;
	if (json_is_array(json_object_get(a, "path"))) {
		print_path(a, out);
		return;
	}
	json_array_foreach(json_object_get(a, "rows"), i, row) {
		size_t bytes, chars = utf8_chars(text_at(row, "component"), 60,
						 &bytes);
		if ((int)chars > width)
			width = (int)chars;
	}
	fprintf(out, "ablation (%s, %lld repeat%s; %s, mean \u00b1 95%% CI; "
		"delta to the base; rank 1 hurts most when left out):\n",
		text_at(a, "ablator"),
		(long long)json_integer_value(json_object_get(a, "repeats")),
		json_integer_value(json_object_get(a, "repeats")) == 1 ? ""
									 : "s",
		text_at(a, "metric"));
	fprintf(out, "  %-*s %3s  %-20s%-20s%4s\n", width, "left out", "n",
		"metric", "delta", "rank");
	print_ablation_row(json_object_get(a, "base"), width, out);
	json_array_foreach(json_object_get(a, "rows"), i, row)
		print_ablation_row(row, width, out);
	if (json_integer_value(json_object_get(json_object_get(a, "base"),
					       "n")) == 0)
		fprintf(out, "  the base has no finished trial: no difference "
			"can be measured (`maggy-engine logs DIR TRIAL` shows "
			"why a trial failed)\n");
}

const char *summary_value_text(const json_t *v, int digits, char *buf,
			       char **copy)
{
	*copy = NULL;
	if (json_is_real(v) && digits == 0)
		return numtext_shortest(json_real_value(v), buf, NUMTEXT_SIZE);
	*copy = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT |
				      JSON_REAL_PRECISION(digits));
	return *copy ? *copy : "?";
}

void summary_print_params(const json_t *params, int digits, FILE *out)
{
	const char *key;
	json_t *v;
	int first = 1;

	json_object_foreach((json_t *)params, key, v) {
		char num[NUMTEXT_SIZE], *copy;

		fprintf(out, "%s%s=%s", first ? "" : ", ", key,
			summary_value_text(v, digits, num, &copy));
		free(copy);
		first = 0;
	}
}

/* The run's error: its short form, unless `verbose` (errtext.h). */
static void print_error(const char *error, FILE *out, int verbose)
{
	char brief[2048];

	if (verbose || !errtext_brief(error, brief, sizeof brief)) {
		fprintf(out, "error: %s\n", error);
		return;
	}
	fprintf(out, "error: %s\n       (the traceback: maggy-engine show DIR "
		"--verbose, or summary.json)\n", brief);
}

void summary_print(const json_t *s, FILE *out, int verbose)
{
	const json_t *best = json_object_get(s, "best");
	const char *error = json_string_value(json_object_get(s, "error"));
	const char *status = json_string_value(json_object_get(s, "status"));

	fprintf(out, "\nexperiment %s: %s in %.1f s\n",
		json_string_value(json_object_get(s, "name")), status,
		json_number_value(json_object_get(s, "duration_s")));
	if (error)
		print_error(error, out, verbose);
	fprintf(out, "trials: %lld finished, %lld early-stopped, %lld failed",
		(long long)json_integer_value(json_object_get(s, "finished")),
		(long long)json_integer_value(json_object_get(s, "early_stopped")),
		(long long)json_integer_value(json_object_get(s, "failed")));
	if (json_integer_value(json_object_get(s, "pending")) +
	    json_integer_value(json_object_get(s, "running")))
		fprintf(out, ", %lld pending, %lld running",
			(long long)json_integer_value(json_object_get(s, "pending")),
			(long long)json_integer_value(json_object_get(s, "running")));
	fprintf(out, " (of %lld)\n",
		(long long)json_integer_value(json_object_get(s, "num_trials")));
	if (json_is_object(best)) {
		fprintf(out, "best: trial %s, %s %s = %.6g\n      ",
			json_string_value(json_object_get(best, "trial_id")),
			json_string_value(json_object_get(s, "direction")),
			json_string_value(json_object_get(s, "metric")),
			json_number_value(json_object_get(best, "value")));
		summary_print_params(json_object_get(best, "params"), 0, out);
		fprintf(out, "\n");
	} else {
		fprintf(out, "best: none (no trial produced a value)\n");
	}
	print_ablation(json_object_get(s, "ablation"), out);
	print_excluded(json_object_get(s, "excluded_hosts"), out);
	print_refused(json_object_get(s, "connections"), out);
	fprintf(out, "results: %s\n", json_string_value(json_object_get(s, "dir")));
	if (status && strcmp(status, "interrupted") == 0 &&
	    !(error && strstr(error, "resume")))
		fprintf(out, "`maggy-engine resume %s` continues it\n",
			json_string_value(json_object_get(s, "dir")));
}

/* "running" in the store with no engine holding the directory: the engine
 * was killed. Say so, count the time only up to what it did last (`last`,
 * the latest start or end of a trial, or its last commit: of points and
 * log lines too), and show the trials it was running as what they are
 * now: PENDING. */
static void mark_dead(json_t *sum, store_t *store, const char *dir,
		      double last, int simulated)
{
	const char *status = json_string_value(json_object_get(sum, "status"));
	json_int_t running = json_integer_value(json_object_get(sum, "running"));
	const char *state;
	double started;
	json_t *t;
	size_t i;

	if (!run_gone(status, dir))
		return;
	if (!simulated && store_modified(store) > last) /* virtual clock */
		last = store_modified(store);
	json_object_set_new(sum, "status", json_string("interrupted"));
	json_object_set_new(sum, "error", json_string(simulated
		? "the simulation was killed before its end; a simulation is "
		  "not resumed: run it again (it takes seconds)"
		: "the engine is no longer running (killed or crashed); "
		  "`maggy-engine resume DIR` continues the experiment"));
	json_array_foreach(json_object_get(sum, "trials"), i, t) {
		state = json_string_value(json_object_get(t, "state"));
		if (state && strcmp(state, "RUNNING") == 0)
			json_object_set_new(t, "state", json_string("PENDING"));
	}
	json_object_set_new(sum, "pending", json_integer(running +
		json_integer_value(json_object_get(sum, "pending"))));
	json_object_set_new(sum, "running", json_integer(0));
	/* duration_s counted up to now from the start */
	started = (double)time(NULL) -
		  json_number_value(json_object_get(sum, "duration_s"));
	json_object_set_new(sum, "duration_s",
			    json_real(last > started ? last - started : 0));
}

/* build, then mark_dead: the summary as the commands that read a
 * directory show it. */
static json_t *read_marked(store_t *store, const char *dir, int with_trials,
			   json_int_t since, char *err, size_t errlen)
{
	double last;
	int simulated;
	json_t *sum = build(store, dir, with_trials, since, &last, &simulated,
			    err, errlen);

	if (sum)
		mark_dead(sum, store, dir, last, simulated);
	return sum;
}

json_t *summary_read(store_t *store, const char *dir, int with_trials,
		     char *err, size_t errlen)
{
	return read_marked(store, dir, with_trials, -1, err, errlen);
}

json_t *summary_read_changes(store_t *store, const char *dir,
			     json_int_t since, char *err, size_t errlen)
{
	return read_marked(store, dir, 1, since < 0 ? 0 : since, err, errlen);
}

#define DUMP_FLAGS (JSON_INDENT(2) | JSON_REAL_PRECISION(17))

/* The summary (without its trials) as the head of summary.json: its text
 * up to the closing brace, then the start of the list of trials. */
static int write_head(const json_t *summary, FILE *f)
{
	char *text = json_dumps(summary, DUMP_FLAGS);
	size_t n = text ? strlen(text) : 0;
	int ok;

	while (n > 0 && text[n - 1] != '}')
		n--;
	if (n > 0)
		n--; /* the brace */
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
		n--;
	ok = n > 1 && fwrite(text, 1, n, f) == n &&
	     fputs(",\n  \"trials\": [", f) >= 0;
	free(text);
	return ok ? 0 : -1;
}

struct listing {
	FILE *f;
	size_t n; /* entries written */
};

/* text with every line after the first indented by 4 spaces: a trial's
 * entry at its place in the list. */
static int put_indented(const char *text, FILE *f)
{
	for (const char *p = text; *p; p++)
		if (fputc(*p, f) == EOF || (*p == '\n' && fputs("    ", f) < 0))
			return -1;
	return 0;
}

/* One trial's entry in summary.json's list (arg: the file). */
static int put_entry(json_t *entry, void *arg)
{
	struct listing *l = arg;
	char *text = json_dumps(entry, DUMP_FLAGS);
	int ok = text && fputs(l->n++ ? ",\n    " : "\n    ", l->f) >= 0 &&
		 put_indented(text, l->f) == 0;

	free(text);
	return ok ? 0 : -1;
}

int summary_write(const json_t *summary, store_t *store, const char *path,
		  char *err, size_t errlen)
{
	const char *dir = json_string_value(json_object_get(summary, "dir"));
	char tmp[4096];
	struct listing l = { NULL, 0 };
	uint64_t *ids;
	size_t n;
	int rc = -1;

	if (summary_trial_ids(store, dir, &ids, &n, err, errlen) < 0)
		return -1;
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	l.f = fopen(tmp, "w");
	if (l.f && write_head(summary, l.f) == 0 &&
	    summary_each_trial(store, dir, ids, n, put_entry, &l) == 0 &&
	    fputs(l.n ? "\n  ]\n}\n" : "]\n}\n", l.f) >= 0)
		rc = 0;
	free(ids);
	if (l.f && fclose(l.f) != 0)
		rc = -1;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -1;
	if (rc < 0)
		snprintf(err, errlen, "cannot write %s: %s", path,
			 strerror(errno));
	return rc;
}
