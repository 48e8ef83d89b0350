/* ctl_restore: the controller takes the trials of an interrupted run back
 * from the store (`maggy-engine resume`). Part of the controller (see
 * controller.h, ctl_internal.h). */
#include "console.h"
#include "ctl_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct loaded {
	struct trial **all;
	size_t n, cap;
	int bad;
};

static int load_one(uint64_t id, const char *json, size_t len, void *arg)
{
	struct loaded *l = arg;
	json_t *rec = json_loadb(json, len, 0, NULL);
	struct trial *t = rec ? trial_from_record(rec) : NULL;

	json_decref(rec);
	if (t == NULL || t->id != id) {
		trial_free(t);
		l->bad = 1;
		return 1;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct trial **all = realloc(l->all, cap * sizeof *all);
		if (all == NULL) {
			trial_free(t);
			l->bad = 1;
			return 1;
		}
		l->all = all;
		l->cap = cap;
	}
	l->all[l->n++] = t;
	return 0;
}

static int by_seq(const void *a, const void *b)
{
	const struct trial *x = *(struct trial *const *)a;
	const struct trial *y = *(struct trial *const *)b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Count a finished trial as it was; queue an unfinished one again. */
static void take_back(ctl_t *c, struct trial *t)
{
	if (trial_is_final(t)) {
		if (t->end_seq > c->end_seq)
			c->end_seq = t->end_seq;
		if (t->state == TRIAL_FINISHED)
			c->finished++;
		else if (t->state == TRIAL_EARLY_STOPPED)
			c->stopped++;
		else
			c->failed++;
		if (t->has_value && t->state != TRIAL_FAILED &&
		    (c->best == NULL || trial_better(c->cfg->direction, t->value,
						     c->best->value)))
			c->best = t;
		return;
	}
	t->state = TRIAL_PENDING;
	ctl_store_trial(c, t);
	if (c->pending_tail)
		c->pending_tail->next_pending = t;
	else
		c->pending = t;
	c->pending_tail = t;
}

static int last_seq(uint64_t seq, const char *json, size_t len, void *arg)
{
	*(uint64_t *)arg = seq;
	return 0;
}

/* Hosts excluded before: a resume gives them another chance (their
 * set-up may be what was fixed); one that still loses trials is excluded
 * again after exclude_after of them, one that is still broken at its
 * first fatal error. */
static void readmit_hosts(ctl_t *c)
{
	char *text = NULL;
	json_t *list;

	if (store_meta_get(c->store, "excluded_hosts", &text) < 0)
		return;
	list = json_loads(text, 0, NULL);
	free(text);
	text = json_array_size(list) ? json_dumps(list, JSON_COMPACT) : NULL;
	if (text)
		console_line(stdout, "[engine] hosts excluded before the resume "
			     "get another chance: %s", text);
	free(text);
	json_decref(list);
	ctl_record_hosts(c);
}

static void restore_start(ctl_t *c)
{
	char *text = NULL;
	json_t *status;

	if (store_meta_get(c->store, "status", &text) < 0)
		return;
	status = json_loads(text, 0, NULL);
	c->started = json_number_value(json_object_get(status, "started"));
	json_decref(status);
	free(text);
}

int ctl_restore(ctl_t *c, char *err, size_t errlen)
{
	struct loaded l = { 0 };
	struct store_trial_head head;
	size_t i;

	if (store_trials_each(c->store, load_one, &l) < 0 || l.bad) {
		snprintf(err, errlen, "the stored trials cannot be read back "
			 "(%s)", l.bad ? "a malformed record"
				       : store_last_error(c->store));
		for (i = 0; i < l.n; i++)
			trial_free(l.all[i]);
		free(l.all);
		return -1;
	}
	qsort(l.all, l.n, sizeof *l.all, by_seq);
	for (i = 0; i < l.n; i++) {
		if (trial_table_add(&c->trials, l.all[i]) < 0) {
			snprintf(err, errlen, "out of memory for %zu trials", l.n);
			while (i < l.n)
				trial_free(l.all[i++]);
			free(l.all);
			return -1;
		}
		/* the next attempt's lines follow the stored ones */
		l.all[i]->log_seq = store_log_next(c->store, l.all[i]->id);
		/* every head again from its record: a store of an engine
		 * before heads gets them, and one that an older engine went
		 * on with (its records only) gets them right (store.h) */
		trial_head(l.all[i], &head);
		store_trial_head_put(c->store, l.all[i]->id, &head);
		take_back(c, l.all[i]);
	}
	free(l.all);
	restore_start(c);
	c->executor_log_seq = store_log_next(c->store, 0);
	store_journal_each(c->store, last_seq, &c->journal_seq);
	c->applied_seq = c->journal_seq;
	readmit_hosts(c);
	return 0;
}
