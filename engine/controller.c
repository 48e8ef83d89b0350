/* controller: scheduling, the Lua host, group commits, the end of a run.
 * What executors do is in ctl_workers.c, their frames in ctl_frames.c.
 * See controller.h. */
#include "ctl_internal.h"
#include "console.h"
#include "errtext.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/proto.h"
#include "space_check.h"
#include "proto/utf8.h"

#define FLUSH_DELAY_US 50000 /* metric points and logs wait this long */
#define TICK_S 0.5	     /* liveness and time limits are looked at this often */
#define STORE_GIVE_UP_S 30.0 /* a store refusing writes this long ends the run */
#define FAIL_FAST_DEFAULT 3

static void finish(ctl_t *c, enum ctl_outcome outcome, const char *error);

struct trial *ctl_find(ctl_t *c, uint64_t id)
{
	return trial_table_find(&c->trials, id);
}

double ctl_now(const ctl_t *c)
{
	if (c->cfg->clock)
		return c->cfg->clock(c->cfg->clock_arg);
	return trial_now();
}

static struct timeval tv_of(double s)
{
	struct timeval tv;
	tv.tv_sec = (time_t)s;
	tv.tv_usec = (suseconds_t)((s - (double)tv.tv_sec) * 1e6);
	return tv;
}

/* ---- store ------------------------------------------------------------ */

/*
 * A trial's record is written once per commit however often it changed
 * since the last one: ctl_store_trial marks it, and ctl_flush_trials (at
 * the start of every commit) serializes the marked ones into the batch.
 * A trial is created and handed out, or handed out and ended, in the same
 * commit window more often than not.
 */
void ctl_store_trial(ctl_t *c, struct trial *t)
{
	if (t->unsaved)
		return;
	t->unsaved = 1;
	t->next_unsaved = c->unsaved;
	c->unsaved = t;
}

void ctl_flush_trials(ctl_t *c)
{
	struct trial *t;

	while ((t = c->unsaved) != NULL) {
		char *text = trial_record_text(t);
		struct store_trial_head head;
		int rc = text ? store_trial_put(c->store, t->id, text) : -1;

		trial_head(t, &head);
		if (rc == 0)
			rc = store_trial_head_put(c->store, t->id, &head);

		free(text);
		/* Out of memory: a trial whose state cannot be stored must
		 * not go on as if it were (resume would not know it). */
		if (rc < 0) {
			finish(c, CTL_FAILED, "out of memory: a trial record "
					      "could not be queued for the store");
			return;
		}
		c->unsaved = t->next_unsaved;
		t->next_unsaved = NULL;
		t->unsaved = 0;
	}
}

/* A line of the engine's own in the trial's log, shown on the console. */
void ctl_trial_log(ctl_t *c, struct trial *t, const char *fmt, ...)
{
	char text[512], hex[PROTO_TRIAL_HEX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	store_log_put(c->store, t->id, t->log_seq++, ctl_now(c),
		      PROTO_EXECUTOR, text, strlen(text));
	ctl_commit_soon(c, 0);
	proto_trial_hex(t->id, hex);
	console_line(stdout, "[%s] %s", hex, text);
}

void ctl_record_hosts(ctl_t *c)
{
	json_t *list = ctl_excluded_hosts(c);
	char *text = json_dumps(list, JSON_COMPACT);

	if (text)
		store_meta_put(c->store, "excluded_hosts", text);
	free(text);
	json_decref(list);
}

json_t *ctl_excluded_hosts(const ctl_t *c)
{
	json_t *list = json_array();
	const struct host_record *h;

	for (h = c->hosts; h; h = h->next)
		if (h->excluded)
			json_array_append_new(list, json_string(h->name));
	return list;
}

static void write_status(ctl_t *c, const char *status)
{
	json_t *obj = json_pack("{s:s, s:f, s:s*, s:i, s:s*}", "status", status,
				"started", c->started, "error", c->error,
				"pid", (int)getpid(), "host", c->cfg->local_host);
	char *text;

	if (c->ending)
		json_object_set_new(obj, "ended", json_real(c->ended));
	text = json_dumps(obj, JSON_COMPACT);
	store_meta_put(c->store, "status", text);
	free(text);
	json_decref(obj);
}

void ctl_commit_soon(ctl_t *c, int urgent)
{
	struct timeval tv = { 0, FLUSH_DELAY_US };

	if (urgent)
		event_active(c->commit_ev, EV_TIMEOUT, 0);
	else if (!evtimer_pending(c->flush_timer, NULL))
		evtimer_add(c->flush_timer, &tv);
}

/* Acknowledge the FINALs that are on disk (`all`: every FINAL, for a
 * simulation's store, which is not synced anyway). */
static void send_acks(ctl_t *c, int all)
{
	uint64_t durable = store_durable_id(c->store);
	struct worker *w;

	for (w = c->workers; w && c->acks_pending > 0; w = w->next) {
		int n = 0;

		while (n < w->nacks && (all || w->acks[n].batch <= durable)) {
			c->port.ack(c->port.arg, w->peer, w->acks[n].trial,
				    w->acks[n].req);
			n++;
		}
		if (n == 0)
			continue;
		w->nacks -= n;
		memmove(w->acks, w->acks + n, (size_t)w->nacks * sizeof *w->acks);
		if (w->nacks > 0)
			continue;
		c->acks_pending--;
		if (c->ending)
			c->port.bye(c->port.arg, w->peer);
	}
}

/*
 * How long the store may refuse writes (a full disk) before the run gives
 * up: MAGGY_STORE_GIVE_UP_S seconds, default STORE_GIVE_UP_S. Meanwhile
 * nothing is acknowledged, so executors hold their results and wait.
 */
static double store_give_up_s(void)
{
	const char *env = getenv("MAGGY_STORE_GIVE_UP_S");
	double s = env ? strtod(env, NULL) : 0;

	return s > 0 ? s : STORE_GIVE_UP_S;
}

static void committed(ctl_t *c)
{
	c->last_commit = trial_now();
	if (c->store_failing_since > 0)
		console_line(stderr, "maggy-engine: the store is written again");
	c->store_failing_since = 0;
	send_acks(c, 0);
}

/* The store refused a commit: its writes stay queued and are tried again
 * in a second, until the give-up time. */
static void commit_failed(ctl_t *c, const char *err)
{
	struct timeval retry = { 1, 0 };
	char why[512];
	double now = ctl_now(c);

	if (c->store_failing_since == 0) {
		c->store_failing_since = now;
		console_line(stderr, "maggy-engine: cannot write the store "
			     "(%s); no result is acknowledged until it can be, "
			     "retrying for %.0f s", err, store_give_up_s());
	} else if (!c->ending &&
		   now - c->store_failing_since > store_give_up_s()) {
		snprintf(why, sizeof why, "the store could not be written for "
			 "%.0f s (%s): make room on its disk, then `maggy-engine "
			 "resume DIR` runs again what was not saved",
			 now - c->store_failing_since, err);
		finish(c, CTL_FAILED, why);
		return;
	}
	if (!c->ending)
		evtimer_add(c->flush_timer, &retry);
}

/*
 * Commit what is queued. A run's commits go to the store's commit thread,
 * so that the loop goes on while the disk syncs (group commit: what is
 * queued meanwhile goes into the next commit, which starts when this one
 * ends, see stored_cb); `wait` (the end of a run) commits everything before
 * it returns. A simulation commits in this thread, in order. Returns 0, or
 * -1 when the store refused the commit.
 */
static int commit(ctl_t *c, int wait)
{
	char err[256];
	int rc;

	/* A simulation's store: see commit_interval in controller.h. Its
	 * changed trials stay marked until the commit that writes them. */
	if (c->cfg->commit_interval > 0 && !c->ending &&
	    trial_now() - c->last_commit < c->cfg->commit_interval) {
		struct timeval later = tv_of(c->cfg->commit_interval);

		send_acks(c, 1);
		if (!evtimer_pending(c->flush_timer, NULL))
			evtimer_add(c->flush_timer, &later);
		return 0;
	}
	if (!wait && store_committing(c->store))
		return 0;
	ctl_flush_trials(c);
	if (wait || c->cfg->simulated)
		rc = store_commit(c->store, err, sizeof err);
	else
		rc = store_commit_start(c->store, err, sizeof err);
	if (rc == 1)
		return 0;
	if (rc < 0) {
		commit_failed(c, err);
		return -1;
	}
	committed(c);
	return 0;
}

static void commit_cb(evutil_socket_t fd, short what, void *arg)
{
	ctl_t *c = arg;

	if (commit(c, 0) == 0)
		ctl_schedule(c);
}

/* The commit thread is through: acknowledge what became durable; results
 * that came meanwhile are committed next, at once (their executors wait),
 * other writes after the usual short delay. */
static void stored_cb(evutil_socket_t fd, short what, void *arg)
{
	ctl_t *c = arg;
	char err[256];
	int rc = store_commit_end(c->store, 0, err, sizeof err);

	if (rc == STORE_EAGAIN)
		return;
	if (rc < 0) {
		commit_failed(c, err);
		return;
	}
	committed(c);
	if (c->acks_pending > 0)
		commit(c, 0);
	else if (store_pending(c->store) > 0 || c->unsaved)
		ctl_commit_soon(c, 0);
	ctl_schedule(c);
}

/* ---- the Lua side ----------------------------------------------------- */

static void post(ctl_t *c, enum ctl_tag tag, json_t *request);

/*
 * Events wait for the next job, so that the strategies see them before the
 * request that follows them. When no request comes for a while (no rule
 * checks, no suggestion is due: the last trials of a run), a batch of them
 * goes alone, so that the engine's memory does not grow with every point
 * reported meanwhile.
 */
void ctl_event(ctl_t *c, json_t *event)
{
	json_array_append_new(c->events, event);
	if (json_array_size(c->events) >= CTL_EVENTS_BATCH && !c->ending &&
	    !c->finalize_outstanding)
		post(c, TAG_EVENTS, NULL);
}

/*
 * Every job the strategies get is written to the journal (in the same
 * group commit as what follows from it), so that `resume` can replay them
 * and rebuild the strategies' state exactly; `journal_applied` says up to
 * which job the replies were acted on. Simulations keep no journal.
 */
static void journal(ctl_t *c, const char *job)
{
	if (c->cfg->simulated)
		return;
	store_journal_put(c->store, ++c->journal_seq, job, strlen(job));
}

static void journal_applied(ctl_t *c)
{
	char text[32];

	if (c->cfg->simulated)
		return;
	snprintf(text, sizeof text, "%llu", (unsigned long long)++c->applied_seq);
	store_meta_put(c->store, "journal_applied", text);
}

static void post(ctl_t *c, enum ctl_tag tag, json_t *request)
{
	json_t *job = json_pack("{s:O, s:o}", "events", c->events, "request",
				request ? request : json_null());
	char *text = json_dumps(job, JSON_COMPACT | JSON_REAL_PRECISION(17));

	json_decref(job);
	json_array_clear(c->events);
	if (text && tag != TAG_FINALIZE)
		journal(c, text);
	if (text == NULL || lhost_post(c->lhost, tag, text) < 0)
		finish(c, CTL_FAILED, "the strategy host is no longer running");
	free(text);
}

/* The strategies' log lines: kept in the store with the engine's own
 * lines (`maggy-engine logs DIR`), shown unless the run is quiet. */
static void strategy_logs(ctl_t *c, const json_t *reply)
{
	size_t i;
	json_t *line;
	const char *text;
	char *stored;

	json_array_foreach(json_object_get(reply, "logs"), i, line) {
		text = json_string_value(line);
		if (text == NULL || asprintf(&stored, "[strategy] %s", text) < 0)
			continue;
		store_log_put(c->store, 0, c->executor_log_seq++, ctl_now(c),
			      PROTO_EXECUTOR, stored, strlen(stored));
		if (!c->cfg->quiet)
			console_line(stdout, "%s", stored);
		free(stored);
		ctl_commit_soon(c, 0);
	}
}

/* Whatever the strategy host hands over is checked once more against the
 * search space: no invalid suggestion ever becomes a trial. */
static int valid_suggestion(ctl_t *c, const json_t *params)
{
	char why[200], msg[512], *text;

	if (space_check(json_object_get(c->cfg->experiment, "space"), params,
			why, sizeof why) == 0)
		return 1;
	text = json_dumps(params, JSON_COMPACT | JSON_ENCODE_ANY);
	snprintf(msg, sizeof msg, "the engine refused a suggestion that does "
		 "not fit the search space (%s): %.200s", why,
		 text ? text : "?");
	free(text);
	finish(c, CTL_FAILED, msg);
	return 0;
}

/* Params too large to send: the trial fails at once, with the reason. */
static void refuse_params(ctl_t *c, struct trial *t, size_t size)
{
	char why[200];

	snprintf(why, sizeof why, "its params take %zu bytes as JSON, over the "
		 "limit of %u KiB: a trial's params travel to the executor in "
		 "one frame", size, CTL_MAX_PARAMS_BYTES >> 10);
	t->state = TRIAL_FAILED;
	t->error = strdup(why);
	ctl_trial_ended(c, t);
}

static void create_trial(ctl_t *c, json_t *params)
{
	uint64_t id;
	struct trial *t;
	char hex[PROTO_TRIAL_HEX], *canonical = NULL;
	size_t size;

	if (c->ending || !valid_suggestion(c, params))
		return;
	if (trial_id_of(params, &id, &canonical) < 0 || ctl_find(c, id)) {
		console_line(stderr, "maggy-engine: suggestion skipped (not "
			     "an object, or a trial with these params "
			     "exists)");
		free(canonical);
		return;
	}
	size = strlen(canonical);
	t = trial_new(id, (uint32_t)c->trials.n + 1, canonical);
	if (t == NULL)
		return;
	t->created = ctl_now(c);
	if (trial_table_add(&c->trials, t) < 0) {
		trial_free(t);
		finish(c, CTL_FAILED, "out of memory for a new trial");
		return;
	}
	ctl_store_trial(c, t);
	proto_trial_hex(id, hex);
	ctl_event(c, json_pack("{s:s, s:s, s:i, s:O}", "e", "new", "id", hex,
			       "seq", (int)t->seq, "params", params));
	if (size > CTL_MAX_PARAMS_BYTES) {
		refuse_params(c, t, size);
		return;
	}
	if (c->pending_tail)
		c->pending_tail->next_pending = t;
	else
		c->pending = t;
	c->pending_tail = t;
}

static void on_suggest(ctl_t *c, json_t *reply)
{
	const char *status = json_string_value(json_object_get(reply, "status"));
	json_t *params;
	size_t i;

	c->suggest_outstanding = 0;
	json_array_foreach(json_object_get(reply, "suggestions"), i, params)
		create_trial(c, params);
	if (status && strcmp(status, "done") == 0)
		c->optimizer_done = 1;
	/* A wait is for what the optimizer knew when asked: a trial that ended
	 * (or went back to the queue) since then is news to it, so it is
	 * asked again rather than left waiting for nothing. */
	else if (status && strcmp(status, "wait") == 0 &&
		 c->trial_changes == c->changes_at_suggest)
		c->optimizer_waiting = 1;
	ctl_commit_soon(c, 0);
}

static void on_check(ctl_t *c, json_t *reply)
{
	json_t *id;
	size_t i;
	uint64_t tid;
	struct trial *t;

	c->check_outstanding = 0;
	json_array_foreach(json_object_get(reply, "stop"), i, id) {
		const char *hex = json_string_value(id);
		if (hex && proto_trial_parse(hex, &tid) == 0 &&
		    (t = ctl_find(c, tid)) && t->state == TRIAL_RUNNING)
			t->stop_requested = 1;
	}
}

/* A report of the strategies (an ablation study's table) into the store's
 * meta under `key`, for the summary; committed with the final status. */
static void store_report(ctl_t *c, const json_t *report, const char *key)
{
	char *text;

	if (!json_is_object(report))
		return;
	text = json_dumps(report, JSON_COMPACT | JSON_REAL_PRECISION(17));
	if (text)
		store_meta_put(c->store, key, text);
	free(text);
}

/* The error of a strategy that failed once every trial had ended (an
 * ablator's report): the same, with what is kept and how to go on put
 * before its traceback, where the console's short form shows it. Returns
 * a malloc'd text, or NULL. */
static char *after_the_trials(const char *error)
{
	static const char note[] = " (every trial has ended and is kept: "
		"after fixing the script, `maggy-engine resume DIR --force` "
		"runs only what is left)";
	const char *tb = strstr(error, "\nstack traceback:");
	size_t head = tb ? (size_t)(tb - error) : strlen(error);
	char *out = malloc(strlen(error) + sizeof note);

	if (out) {
		memcpy(out, error, head);
		memcpy(out + head, note, sizeof note - 1);
		strcpy(out + head + sizeof note - 1, error + head);
	}
	return out;
}

static void on_result(ctl_t *c, struct lhost_result *r)
{
	json_error_t jerr;
	json_t *reply;
	char msg[512];

	if (r->error) {
		char *error = r->tag == TAG_FINALIZE ? after_the_trials(r->error)
						     : NULL;

		reply = r->json ? json_loads(r->json, 0, NULL) : NULL;
		strategy_logs(c, reply); /* printed before it raised */
		json_decref(reply);
		finish(c, CTL_FAILED, error ? error : r->error);
		free(error);
		return;
	}
	reply = json_loads(r->json, 0, &jerr);
	if (reply == NULL) {
		snprintf(msg, sizeof msg, "the strategy host answered bad "
					  "JSON: %s", jerr.text);
		finish(c, CTL_FAILED, msg);
		return;
	}
	strategy_logs(c, reply);
	if (r->tag != TAG_FINALIZE)
		journal_applied(c);
	if (r->tag == TAG_SUGGEST)
		on_suggest(c, reply);
	else if (r->tag == TAG_CHECK)
		on_check(c, reply);
	else if (r->tag == TAG_FINALIZE) {
		store_report(c, json_object_get(reply, "ablation"), "ablation");
		finish(c, CTL_FINISHED, NULL);
	}
	json_decref(reply);
}

static void lua_cb(evutil_socket_t fd, short what, void *arg)
{
	ctl_t *c = arg;
	struct lhost_result *all = lhost_take(c->lhost), *r;

	for (r = all; r && !c->ending; r = r->next)
		on_result(c, r);
	lhost_result_free(all);
	ctl_schedule(c);
}

/* ---- scheduling ------------------------------------------------------- */

static struct trial *pop_pending(ctl_t *c)
{
	struct trial *t = c->pending;

	if (t) {
		c->pending = t->next_pending;
		if (c->pending == NULL)
			c->pending_tail = NULL;
		t->next_pending = NULL;
	}
	return t;
}

static void assign(ctl_t *c, struct worker *w, struct trial *t)
{
	char hex[PROTO_TRIAL_HEX];
	json_t *msg;

	t->state = TRIAL_RUNNING;
	t->attempts++;
	if (t->attempts > 1) /* its history starts over with the attempt */
		store_metrics_erase(c->store, t->id);
	t->worker = w;
	t->slot = w->slot;
	if (w->info == NULL)
		w->info = json_pack("{s:s, s:i, s:i, s:i}", "host", w->host,
				    "pid", w->pid, "slot", w->slot, "worker",
				    w->id);
	json_decref(t->worker_info);
	t->worker_info = json_incref(w->info);
	t->started = ctl_now(c);
	t->stop_requested = 0;
	t->lost_at = 0;
	t->last_worker = w->id;
	t->has_step = t->has_held = t->warned = 0;
	t->points = t->valid = t->ignored = 0;
	w->trial = t;
	c->running++;
	console_changed();
	ctl_store_trial(c, t);
	ctl_commit_soon(c, 0);
	proto_trial_hex(t->id, hex);
	ctl_event(c, json_pack("{s:s, s:s, s:i}", "e", "run", "id", hex,
			       "attempt", t->attempts));
	msg = json_pack("{s:s, s:o, s:i}", "id", hex, "params", trial_params(t),
			"attempt", t->attempts);
	c->port.trial(c->port.arg, w->peer, msg);
	json_decref(msg);
}

/* An executor whose last FINAL waits for its commit may already run its
 * next trial: the commit's fsync overlaps with the dispatch. */
int ctl_worker_idle(const struct worker *w)
{
	return w->trial == NULL && w->foreign == 0 && !w->held && !w->lost;
}

static int no_more_trials(const ctl_t *c)
{
	return c->optimizer_done || (long)c->trials.n >= c->cfg->num_trials;
}

static void check_end(ctl_t *c)
{
	if (!no_more_trials(c) || c->pending || c->running > 0 ||
	    c->suggest_outstanding || c->finalize_outstanding)
		return;
	c->finalize_outstanding = 1;
	post(c, TAG_FINALIZE, json_pack("{s:s}", "op", "finalize"));
}

/* An optimizer that waits while nothing runs would wait forever. */
static int check_stalled(ctl_t *c)
{
	if (!c->optimizer_waiting || c->running > 0 || c->pending ||
	    c->suggest_outstanding)
		return 0;
	finish(c, CTL_FAILED, "the optimizer returned maggy.WAIT while no "
			      "trial was running: it would wait forever");
	return 1;
}

static void request_suggestions(ctl_t *c, int idle)
{
	long room = c->cfg->num_trials - (long)c->trials.n;
	long n = idle < room ? idle : room;

	if (n <= 0 || c->suggest_outstanding || no_more_trials(c) ||
	    c->optimizer_waiting)
		return;
	c->suggest_outstanding = 1;
	c->changes_at_suggest = c->trial_changes;
	post(c, TAG_SUGGEST, json_pack("{s:s, s:i}", "op", "suggest", "n",
				       (int)n));
}

void ctl_schedule(ctl_t *c)
{
	struct worker *w;
	int idle = 0;

	if (c->ending)
		return;
	for (w = c->workers; w; w = w->next) {
		if (!ctl_worker_idle(w))
			continue;
		if (c->pending)
			assign(c, w, pop_pending(c));
		else
			idle++;
	}
	if (check_stalled(c))
		return;
	request_suggestions(c, idle);
	check_end(c);
	if (c->settled_cb && !c->ending && ctl_settled(c))
		c->settled_cb(c->settled_arg);
}

int ctl_settled(const ctl_t *c)
{
	const struct worker *w;

	/* Counters first: the scan over every executor runs only when a
	 * trial waits, and a simulation asks after each of its events. */
	if (c->suggest_outstanding || c->check_outstanding ||
	    c->finalize_outstanding || c->acks_pending > 0)
		return 0;
	if (!c->pending)
		return 1;
	for (w = c->workers; w; w = w->next)
		if (ctl_worker_idle(w))
			return 0;
	return 1;
}

void ctl_on_settled(ctl_t *c, void (*cb)(void *arg), void *arg)
{
	c->settled_cb = cb;
	c->settled_arg = arg;
}

/* ---- trial ends ------------------------------------------------------- */

/* The line of an ended trial, above the progress status. */
static void print_ended(ctl_t *c, const struct trial *t)
{
	char hex[PROTO_TRIAL_HEX], why[200], line[512];
	long done = c->finished + c->stopped + c->failed;
	size_t n;

	proto_trial_hex(t->id, hex);
	n = (size_t)snprintf(line, sizeof line, "[%4ld/%ld] %s %-13s", done,
			     c->cfg->num_trials, hex,
			     trial_state_name(t->state));
	if (t->has_value && n < sizeof line)
		n += (size_t)snprintf(line + n, sizeof line - n, " %s=%.6g",
				      c->cfg->metric, t->value);
	if (c->best && n < sizeof line)
		n += (size_t)snprintf(line + n, sizeof line - n, "  best=%.6g",
				      c->best->value);
	if (t->started > 0 && n < sizeof line)
		n += (size_t)snprintf(line + n, sizeof line - n, "  (%.1f s)",
				      t->ended - t->started);
	if (t->state == TRIAL_FAILED && t->error && n < sizeof line) {
		errtext_last_line(t->error, why, sizeof why);
		snprintf(line + n, sizeof line - n, "  %s", why);
	}
	console_line(stdout, "%s", line);
}

/*
 * The first `fail_fast` trials to end all FAILED with the same error (a
 * typo in the metric key, a signature the engine cannot call), but for the
 * values in it (errtext_alike): running the rest would fail the same way,
 * so the run ends with that error. Failures that differ need
 * FAIL_FAST_MIXED times as many, with none finished: a run whose every
 * trial fails, one way or another (a typo in the metric key, and a
 * training function that raises for some parameters), would otherwise use
 * up its whole budget.
 */
#define FAIL_FAST_MIXED 4

static void check_fail_fast(ctl_t *c, const struct trial *t)
{
	char why[200], msg[600];
	int n = c->cfg->fail_fast;

	if (n <= 0 || c->finished + c->stopped > 0)
		return;
	errtext_last_line(t->error ? t->error : "", why, sizeof why);
	if (c->failed == 1)
		snprintf(c->first_error, sizeof c->first_error, "%s", why);
	else if (!errtext_alike(c->first_error, why))
		c->failures_differ = 1;
	if (!c->failures_differ && c->failed == n && n < c->cfg->num_trials) {
		snprintf(msg, sizeof msg, "the first %d trials all failed with "
			 "the same error, stopping instead of running the "
			 "others (fail_fast = %d): %s", n, n, why);
		finish(c, CTL_FAILED, msg);
	} else if (c->failures_differ && c->failed == FAIL_FAST_MIXED * n &&
		   FAIL_FAST_MIXED * n < c->cfg->num_trials) {
		snprintf(msg, sizeof msg, "the first %ld trials all failed, with "
			 "different errors, and none finished: stopping "
			 "instead of running the others (fail_fast = %d: %d "
			 "failures alike, or %d of any kind). The first: %s; "
			 "the last: %s (maggy-engine show DIR lists them all)",
			 c->failed, n, n, FAIL_FAST_MIXED * n,
			 c->first_error, why);
		finish(c, CTL_FAILED, msg);
	}
}

void ctl_trial_ended(ctl_t *c, struct trial *t)
{
	char hex[PROTO_TRIAL_HEX];

	if (t->state == TRIAL_FINISHED) {
		c->finished++;
		c->fatal_at = 0; /* some executor works */
		ctl_host_works(c, json_string_value(json_object_get(
					  t->worker_info, "host")));
	} else if (t->state == TRIAL_EARLY_STOPPED)
		c->stopped++;
	else
		c->failed++;
	if (t->has_value && t->state != TRIAL_FAILED &&
	    (c->best == NULL || trial_better(c->cfg->direction, t->value,
				       c->best->value)))
		c->best = t;
	t->ended = ctl_now(c);
	t->end_seq = ++c->end_seq;
	if (t->log_dropped)
		ctl_trial_log(c, t, "%s%u bytes of output were dropped (over "
			      "%u MiB)", t->log_dropped == UINT32_MAX
					 ? "at least " : "",
			      (unsigned)t->log_dropped, CTL_MAX_LOG_BYTES >> 20);
	ctl_store_trial(c, t);
	proto_trial_hex(t->id, hex);
	ctl_event(c, json_pack("{s:s, s:s, s:s, s:o}", "e", "end", "id", hex,
			       "state", trial_state_name(t->state), "value",
			       t->has_value ? json_real(t->value)
					    : json_null()));
	c->optimizer_waiting = 0;
	c->trial_changes++;
	c->check_dirty = 1;
	if (c->cfg->trial_lines)
		print_ended(c, t);
	console_changed();
	ctl_commit_soon(c, 1);
	if (t->state == TRIAL_FINISHED)
		ctl_host_strike(c, t);
	else if (t->state == TRIAL_FAILED)
		check_fail_fast(c, t);
}

void ctl_lose_trial(ctl_t *c, struct trial *t, const char *why)
{
	char hex[PROTO_TRIAL_HEX];

	const char *host = json_string_value(json_object_get(t->worker_info,
							      "host"));

	if (t->state != TRIAL_RUNNING)
		return;
	c->running--;
	if (t->worker)
		t->worker->trial = NULL;
	t->worker = NULL;
	t->lost_at = 0;
	if (host && (t->lost_on || (t->lost_on = json_array())))
		json_array_append_new(t->lost_on, json_string(host));
	proto_trial_hex(t->id, hex);
	if (t->attempts >= c->cfg->max_attempts) {
		t->state = TRIAL_FAILED;
		free(t->error);
		t->error = strdup(why);
		ctl_trial_ended(c, t);
		return;
	}
	console_line(stdout, "[engine] trial %s: %s; retrying (attempt %d of "
		     "%d)", hex, why, t->attempts + 1, c->cfg->max_attempts);
	t->state = TRIAL_PENDING;
	c->optimizer_waiting = 0;
	c->trial_changes++;
	t->next_pending = c->pending; /* retries go first */
	c->pending = t;
	if (c->pending_tail == NULL)
		c->pending_tail = t;
	ctl_store_trial(c, t);
	ctl_event(c, json_pack("{s:s, s:s}", "e", "retry", "id", hex));
	ctl_commit_soon(c, 1);
}

/* A trial ran by local process `pid`: matched by host and pid, never by
 * slot (an executor started elsewhere may use the same slot number). */
static int ran_in(const struct trial *t, const char *host, int pid)
{
	const json_t *wi = t->worker_info;
	const char *h = json_string_value(json_object_get(wi, "host"));

	return json_integer_value(json_object_get(wi, "pid")) == pid && h &&
	       host && strcmp(h, host) == 0;
}

int ctl_executor_exited(ctl_t *c, int pid, const char *how)
{
	struct worker *w;
	char why[128];
	size_t i;
	int lost = 0;

	/* Its connection may not have seen the EOF yet: it must not look idle
	 * and get the retry of its own trial. */
	for (w = c->workers; w; w = w->next) {
		if (w->lost || w->pid != pid || !c->cfg->local_host ||
		    strcmp(w->host, c->cfg->local_host) != 0)
			continue;
		w->lost = 1;
		c->port.drop(c->port.arg, w->peer);
	}
	for (i = 0; i < c->trials.n; i++) {
		struct trial *t = c->trials.by_seq[i];
		if (t->state != TRIAL_RUNNING ||
		    !ran_in(t, c->cfg->local_host, pid))
			continue;
		snprintf(why, sizeof why, "its executor process exited (%s)",
			 how);
		ctl_lose_trial(c, t, why);
		lost = 1;
	}
	ctl_schedule(c);
	return lost;
}

void ctl_on_recycle(ctl_t *c, int (*cb)(void *arg, const char *host, int pid),
		    void *arg)
{
	c->recycle_cb = cb;
	c->recycle_arg = arg;
}

/* Trials whose executor vanished and did not come back in time. */
static void lose_vanished(ctl_t *c, double now)
{
	size_t i;
	int still_lost = 0;

	for (i = 0; c->lost && i < c->trials.n; i++) {
		struct trial *t = c->trials.by_seq[i];
		if (t->state != TRIAL_RUNNING || t->worker || t->lost_at == 0)
			continue;
		if (now - t->lost_at > c->cfg->liveness_timeout)
			ctl_lose_trial(c, t, "its executor disconnected");
		else
			still_lost = 1;
	}
	c->lost = still_lost;
}

/* A trial over its time limit FAILS. Its executor, which may be stuck in
 * the training function, is ended if the engine started it, and told to
 * end its process (RECYCLE) if not; it stays busy until it reports back or
 * is gone. */
static void time_out(ctl_t *c, struct trial *t, double took)
{
	struct worker *w = t->worker;
	char why[160];

	snprintf(why, sizeof why, "trial_timeout: still running after %.1f s "
		 "(the limit is %g s)", took, c->cfg->trial_timeout);
	c->running--;
	t->worker = NULL;
	t->state = TRIAL_FAILED;
	t->has_value = 0;
	free(t->error);
	t->error = strdup(why);
	ctl_trial_ended(c, t);
	if (w == NULL || (c->recycle_cb &&
			  c->recycle_cb(c->recycle_arg, w->host, w->pid) == 0))
		return;
	if (!w->lost && c->port.recycle)
		c->port.recycle(c->port.arg, w->peer, t->id);
}

static void enforce_time_limit(ctl_t *c, double now)
{
	size_t i;

	if (c->cfg->trial_timeout <= 0)
		return;
	for (i = 0; i < c->trials.n && !c->ending; i++) {
		struct trial *t = c->trials.by_seq[i];
		if (t->state == TRIAL_RUNNING && t->started > 0 &&
		    now - t->started > c->cfg->trial_timeout)
			time_out(c, t, now - t->started);
	}
}

/*
 * The ticks came `late` seconds later than due: the engine was stopped
 * (Ctrl-Z, a debugger), starved of CPU, or the wall clock jumped. Nobody
 * could be heard meanwhile, and what executors sent then still waits to
 * be read: that time does not count against them.
 */
static void forgive_gap(ctl_t *c, double late)
{
	struct worker *w;
	size_t i;

	if (fabs(late) <= TICK_S)
		return;
	for (w = c->workers; w; w = w->next)
		w->last_heard += late;
	for (i = 0; c->lost && i < c->trials.n; i++)
		if (c->trials.by_seq[i]->lost_at > 0)
			c->trials.by_seq[i]->lost_at += late;
	if (c->fatal_at > 0)
		c->fatal_at += late;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	ctl_t *c = arg;
	double now = ctl_now(c);

	forgive_gap(c, now - c->last_tick - TICK_S);
	c->last_tick = now;
	ctl_check_liveness(c);
	lose_vanished(c, now);
	enforce_time_limit(c, now);
	ctl_check_fatal_hosts(c, now);
	ctl_schedule(c);
}

void ctl_check_now(ctl_t *c)
{
	if (c->ending || c->running == 0 || c->check_outstanding ||
	    !c->check_dirty)
		return;
	c->check_outstanding = 1;
	c->check_dirty = 0;
	post(c, TAG_CHECK, json_pack("{s:s}", "op", "check"));
}

static void es_cb(evutil_socket_t fd, short what, void *arg)
{
	ctl_check_now(arg);
}

/* ---- the end ---------------------------------------------------------- */

/* Trials cut short by a failure go back to PENDING: a resume reruns them. */
static void requeue_unfinished(ctl_t *c)
{
	size_t i;

	for (i = 0; i < c->trials.n; i++) {
		struct trial *t = c->trials.by_seq[i];
		if (t->state != TRIAL_RUNNING)
			continue;
		t->state = TRIAL_PENDING;
		t->worker = NULL;
		ctl_store_trial(c, t);
	}
	c->running = 0;
}

static void say_bye(ctl_t *c)
{
	struct worker *w;

	for (w = c->workers; w; w = w->next)
		if (w->nacks == 0)
			c->port.bye(c->port.arg, w->peer);
}

static const char *outcome_name(enum ctl_outcome o)
{
	static const char *const names[] = { "running", "finished", "failed",
					     "interrupted" };
	return names[o];
}

/* A run in which no trial finished (nor was stopped early with a value) has
 * failed: say why, with the last failure's reason. */
static const char *nothing_finished(ctl_t *c, char *buf, size_t len)
{
	char why[200] = "";
	size_t i;

	for (i = c->trials.n; i-- > 0;) {
		const struct trial *t = c->trials.by_seq[i];
		if (t->state == TRIAL_FAILED && t->error) {
			errtext_last_line(t->error, why, sizeof why);
			break;
		}
	}
	snprintf(buf, len, "no trial finished%s%s", why[0] ? "; the last "
		 "failure: " : "", why);
	return buf;
}

static void finish(ctl_t *c, enum ctl_outcome outcome, const char *error)
{
	char buf[300];

	if (c->ending)
		return;
	if (outcome == CTL_FINISHED && c->finished + c->stopped == 0) {
		outcome = CTL_FAILED;
		error = nothing_finished(c, buf, sizeof buf);
	}
	c->ending = 1;
	c->ended = ctl_now(c);
	c->outcome = outcome;
	c->error = error ? strdup(error) : NULL;
	if (c->error) /* it goes into the status JSON: no cut or raw bytes */
		utf8_repair(c->error);
	if (outcome != CTL_FINISHED)
		requeue_unfinished(c);
	write_status(c, outcome_name(outcome));
	commit(c, 1);
	say_bye(c);
	evtimer_del(c->es_timer);
	evtimer_del(c->tick_timer);
	if (c->done_cb)
		c->done_cb(outcome, c->done_arg);
}

void ctl_abort(ctl_t *c, enum ctl_outcome outcome, const char *reason)
{
	finish(c, outcome, reason);
}

enum ctl_outcome ctl_outcome(const ctl_t *c, const char **error)
{
	if (error)
		*error = c->error;
	return c->outcome;
}

void ctl_on_done(ctl_t *c, ctl_done_cb cb, void *arg)
{
	c->done_cb = cb;
	c->done_arg = arg;
}

/* ---- life cycle ------------------------------------------------------- */

struct server_handlers ctl_server_handlers(ctl_t *c)
{
	struct server_handlers h = { c, ctl_hello, ctl_frame, ctl_closed };
	return h;
}

void ctl_set_port(ctl_t *c, const struct ctl_port *port)
{
	c->port = *port;
}

/* -1: out of memory; -2: the store cannot start its commit thread. */
static int make_events(ctl_t *c)
{
	struct timeval es = tv_of(c->cfg->es_interval);
	struct timeval tick = tv_of(TICK_S);

	c->lua_ev = event_new(c->base, lhost_wake_fd(c->lhost),
			      EV_READ | EV_PERSIST, lua_cb, c);
	c->commit_ev = event_new(c->base, -1, 0, commit_cb, c);
	if (!c->cfg->simulated) {
		int fd = store_commit_fd(c->store);

		if (fd < 0)
			return -2;
		c->stored_ev = event_new(c->base, fd, EV_READ | EV_PERSIST,
					 stored_cb, c);
		if (!c->stored_ev)
			return -1;
		event_add(c->stored_ev, NULL);
	}
	c->flush_timer = evtimer_new(c->base, commit_cb, c);
	c->es_timer = event_new(c->base, -1, EV_PERSIST, es_cb, c);
	c->tick_timer = event_new(c->base, -1, EV_PERSIST, tick_cb, c);
	if (!c->lua_ev || !c->commit_ev || !c->flush_timer || !c->es_timer ||
	    !c->tick_timer)
		return -1;
	event_add(c->lua_ev, NULL);
	if (!c->cfg->simulated) {
		event_add(c->es_timer, &es);
		event_add(c->tick_timer, &tick);
		c->last_tick = ctl_now(c);
	}
	return 0;
}

ctl_t *ctl_new(struct event_base *base, store_t *store, lhost_t *lhost,
	       const struct ctl_config *cfg, char *err, size_t errlen)
{
	ctl_t *c = calloc(1, sizeof *c);
	int rc;

	if (c == NULL || (c->events = json_array()) == NULL)
		goto fail;
	c->base = base;
	c->store = store;
	c->lhost = lhost;
	c->cfg = cfg;
	c->port = ctl_conn_port;
	c->port.arg = c;
	rc = make_events(c);
	if (rc == -2) {
		snprintf(err, errlen, "cannot create the controller: %s",
			 store_last_error(store));
		ctl_free(c);
		return NULL;
	}
	if (rc < 0)
		goto fail;
	return c;
fail:
	snprintf(err, errlen, "cannot create the controller: out of memory");
	ctl_free(c);
	return NULL;
}

void ctl_console_status(void *ctl, struct console_status *out)
{
	ctl_t *c = ctl;
	double until;

	out->total = c->cfg->num_trials;
	out->finished = c->finished;
	out->stopped = c->stopped;
	out->failed = c->failed;
	out->running = c->running;
	out->metric = c->cfg->metric;
	out->has_best = c->best != NULL;
	out->best = c->best ? c->best->value : 0;
	out->best_id[0] = '\0';
	if (c->best)
		proto_trial_hex(c->best->id, out->best_id);
	/* up to the end of the experiment, as summary.json has it: not the
	 * time its executors then take to leave */
	until = c->ending ? c->ended : ctl_now(c);
	out->elapsed = c->started > 0 ? until - c->started : 0;
}

int ctl_start(ctl_t *c)
{
	if (c->started == 0) /* a resumed run keeps its start */
		c->started = ctl_now(c);
	strategy_logs(c, c->cfg->experiment); /* printed while it loaded */
	write_status(c, "running");
	ctl_commit_soon(c, 1);
	ctl_schedule(c);
	return 0;
}

static void free_event(struct event *ev)
{
	if (ev)
		event_free(ev);
}

void ctl_free(ctl_t *c)
{
	struct worker *w;

	if (c == NULL)
		return;
	trial_table_free(&c->trials);
	while ((w = c->workers) != NULL) {
		c->workers = w->next;
		json_decref(w->info);
		free(w);
	}
	while (c->hosts) {
		struct host_record *h = c->hosts;
		c->hosts = h->next;
		free(h);
	}
	json_decref(c->events);
	free_event(c->lua_ev);
	free_event(c->commit_ev);
	free_event(c->stored_ev);
	free_event(c->flush_timer);
	free_event(c->es_timer);
	free_event(c->tick_timer);
	free(c->error);
	free(c);
}
