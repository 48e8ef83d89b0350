/* logs: the stored output of trials, once or followed. See logs.h. */
#include "logs.h"
#include "console.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uthash.h>

#include "dirlock.h"
#include "proto/proto.h"
#include "run.h"
#include "store.h"

#define FOLLOW_POLL_US 300000

/* How far the lines of one trial (id 0: outside trials) were printed. */
struct shown {
	uint64_t id;
	uint32_t next_seq;
	int error_shown;
	UT_hash_handle hh;
};

struct reader {
	store_t *store;
	const char *dir;
	struct shown *shown;
	struct shown *current;
	char hex[PROTO_TRIAL_HEX];
};

static struct shown *shown_of(struct reader *r, uint64_t id)
{
	struct shown *s;

	HASH_FIND(hh, r->shown, &id, sizeof id, s);
	if (s == NULL && (s = calloc(1, sizeof *s)) != NULL) {
		s->id = id;
		HASH_ADD(hh, r->shown, id, sizeof s->id, s);
	}
	return s;
}

/* A trial's line "[ID STREAM] text"; outside trials the engine's own
 * lines ("[strategy] ...") as they are, executors' as "[executor STREAM]". */
static int print_line(uint32_t seq, double unix_time, int stream,
		      const char *text, size_t len, void *arg)
{
	struct reader *r = arg;
	char prefix[64];

	(void)unix_time;
	if (seq < r->current->next_seq)
		return 0;
	r->current->next_seq = seq + 1;
	if (r->current->id)
		snprintf(prefix, sizeof prefix, "[%s %s] ", r->hex,
			 proto_stream_name(stream));
	else if (stream == PROTO_EXECUTOR)
		prefix[0] = '\0';
	else
		snprintf(prefix, sizeof prefix, "[executor %s] ",
			 proto_stream_name(stream));
	console_lines(stdout, prefix, text, len);
	return 0;
}

/* The trial's new lines, then its error once it has FAILED. Returns 1
 * while it may still print more (not final), 0 when final, -1 on error. */
static int print_trial(struct reader *r, uint64_t id, const json_t *trial)
{
	const char *state = json_string_value(json_object_get(trial, "state"));
	const char *error = json_string_value(json_object_get(trial, "error"));

	r->current = shown_of(r, id);
	if (r->current == NULL)
		return -1;
	proto_trial_hex(id, r->hex);
	if (store_logs_each(r->store, id, print_line, r) < 0)
		return -1;
	if (state && strcmp(state, "FAILED") == 0 && error &&
	    !r->current->error_shown) {
		r->current->error_shown = 1;
		printf("[%s error] %s\n", r->hex, error);
	}
	return state == NULL || strcmp(state, "PENDING") == 0 ||
	       strcmp(state, "RUNNING") == 0;
}

static int each_trial(uint64_t id, const char *json, size_t len, void *arg)
{
	json_t *trial = json_loadb(json, len, 0, NULL);
	int rc = print_trial(arg, id, trial);

	json_decref(trial);
	return rc < 0 ? -1 : 0;
}

/* One pass over what is stored. Returns 1 while the trial asked for may
 * still print more, 0 when it is final, -1 on error. */
static int print_pass(struct reader *r, const uint64_t *trial)
{
	char *json = NULL;
	json_t *t;
	int rc;

	if (trial == NULL) {
		if (store_trials_each(r->store, each_trial, r) < 0)
			return -1;
		r->current = shown_of(r, 0);
		if (r->current == NULL)
			return -1;
		return store_logs_each(r->store, 0, print_line, r) < 0 ? -1 : 1;
	}
	if (store_trial_get(r->store, *trial, &json) < 0)
		return -1;
	t = json_loads(json, 0, NULL);
	rc = print_trial(r, *trial, t);
	json_decref(t);
	free(json);
	return rc;
}

/* The experiment still runs: its engine holds the directory. */
static int still_running(const struct reader *r)
{
	return dirlock_owner(r->dir) > 0;
}

/* Whether the run's engine went without writing its final status (killed,
 * or crashed): the store still says "running". */
static int engine_gone(const struct reader *r)
{
	char *text = NULL;
	json_t *meta;
	const char *status;
	int gone;

	if (still_running(r) || store_meta_get(r->store, "status", &text) < 0)
		return 0;
	meta = json_loads(text, 0, NULL);
	free(text);
	status = json_string_value(json_object_get(meta, "status"));
	gone = status && strcmp(status, "running") == 0;
	json_decref(meta);
	return gone;
}

static int follow(struct reader *r, const uint64_t *trial)
{
	int rc;

	for (;;) {
		int alive = still_running(r);

		rc = print_pass(r, trial);
		fflush(stdout);
		if (rc <= 0 || !alive)
			return rc < 0 ? -1 : 0;
		usleep(FOLLOW_POLL_US);
	}
}

static int known_trial(struct reader *r, uint64_t id, const char *text)
{
	char *json = NULL;
	int rc = store_trial_get(r->store, id, &json);

	free(json);
	if (rc == STORE_ENOTFOUND) {
		fprintf(stderr, "maggy-engine: no trial %s in %s (`maggy-engine "
				"show %s` lists them)\n", text, r->dir, r->dir);
		return 0;
	}
	return rc == 0;
}

int logs_print(const char *dir, const char *trial, int follow_on)
{
	struct reader r = { .dir = dir };
	struct shown *s, *tmp;
	char err[512];
	uint64_t id;
	int rc = EXIT_USAGE;

	if (trial && proto_trial_parse(trial, &id) < 0) {
		fprintf(stderr, "maggy-engine: '%s' is not a trial id (16 hex "
				"digits, as `show` prints them)\n", trial);
		return EXIT_USAGE;
	}
	if (store_open(&r.store, dir, STORE_READ, err, sizeof err) < 0) {
		fprintf(stderr, "maggy-engine: %s\n", err);
		return EXIT_USAGE;
	}
	if (trial && !known_trial(&r, id, trial))
		goto out;
	if (follow_on) {
		rc = follow(&r, trial ? &id : NULL) < 0 ? EXIT_FAILED : EXIT_OK;
		if (rc == EXIT_OK && engine_gone(&r)) {
			fprintf(stderr, "maggy-engine: the engine is no longer "
				"running (killed or crashed); `maggy-engine "
				"resume %s` continues the experiment\n", dir);
			rc = EXIT_FAILED;
			goto out;
		}
	} else
		rc = print_pass(&r, trial ? &id : NULL) < 0 ? EXIT_FAILED
							    : EXIT_OK;
	if (rc == EXIT_FAILED)
		fprintf(stderr, "maggy-engine: cannot read the store of %s\n",
			dir);
out:
	HASH_ITER(hh, r.shown, s, tmp) {
		HASH_DEL(r.shown, s);
		free(s);
	}
	store_close(r.store);
	return rc;
}
