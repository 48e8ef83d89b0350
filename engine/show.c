/* show: read an experiment directory and print its summary. See show.h. */
#include "show.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "run.h"
#include "store.h"
#include "summary.h"

/* A trial's rank key: its value (if any) and its place in creation
 * order (ties keep that order). */
struct ranked {
	uint64_t id;
	size_t seq;
	double value;
	int has_value;
};

static int minimize; /* the direction, for by_value */

/* Best first for the direction; trials without a value last. */
static int by_value(const void *pa, const void *pb)
{
	const struct ranked *a = pa, *b = pb;

	if (a->has_value != b->has_value)
		return a->has_value ? -1 : 1;
	if (a->has_value && a->value != b->value)
		return (a->value < b->value) == minimize ? -1 : 1;
	return a->seq < b->seq ? -1 : 1;
}


static int print_row(json_t *t, void *arg)
{
	size_t *rank = arg;
	const json_t *v = json_object_get(t, "value");
	double started = json_number_value(json_object_get(t, "started"));
	double ended = json_number_value(json_object_get(t, "ended"));
	char value[32] = "-", took[32] = "-";

	if (json_is_number(v))
		snprintf(value, sizeof value, "%.6g", json_number_value(v));
	if (started > 0 && ended >= started)
		snprintf(took, sizeof took, "%.1f s", ended - started);
	fprintf(stdout, "%4zu  %s  %-13s  %12s  %5lld  %9s  %8lld  ", ++*rank,
		json_string_value(json_object_get(t, "id")),
		json_string_value(json_object_get(t, "state")), value,
		(long long)json_integer_value(json_object_get(t, "steps")),
		took,
		(long long)json_integer_value(json_object_get(t, "attempts")));
	summary_print_params(json_object_get(t, "params"), 6, stdout);
	fputc('\n', stdout);
	return 0;
}

/* The trials, best first: the `top` best, or all when top < 0. Ranked by a
 * key of 32 bytes a trial (summary_trial_values); the trials shown are read
 * one by one. */
static void print_trials(store_t *store, const char *dir, const json_t *sum,
			 long top)
{
	const char *direction = json_string_value(json_object_get(sum,
								  "direction"));
	char err[512];
	struct summary_value *values;
	struct ranked *order;
	size_t n, i, shown, rank = 0;

	if (summary_trial_values(store, dir, &values, &n, err, sizeof err) < 0)
		return;
	order = calloc(n ? n : 1, sizeof *order);
	if (order == NULL) {
		free(values);
		return;
	}
	for (i = 0; i < n; i++)
		order[i] = (struct ranked){ values[i].id, i, values[i].value,
					    values[i].has_value };
	free(values);
	minimize = direction && strcmp(direction, "min") == 0;
	qsort(order, n, sizeof *order, by_value);
	shown = top < 0 || (size_t)top > n ? n : (size_t)top;
	printf("\ntrials, best first:\n%4s  %-16s  %-13s  %12s  %5s  "
	       "%9s  %8s  %s\n", "rank", "trial", "state",
	       json_string_value(json_object_get(sum, "metric")), "steps",
	       "duration", "attempts", "params");
	for (i = 0; i < shown; i++)
		summary_each_trial(store, dir, &order[i].id, 1, print_row,
				   &rank);
	if (shown < n)
		printf("(%zu more: --all lists every trial, --top N the N "
		       "best)\n", n - shown);
	free(order);
}

int show_experiment(const char *dir, const struct show_options *o)
{
	char err[512];
	store_t *store = NULL;
	json_t *sum;

	if (store_open(&store, dir, STORE_READ, err, sizeof err) < 0) {
		fprintf(stderr, "maggy-engine: %s\n", err);
		return EXIT_USAGE;
	}
	/* as text, the trials are read from the store as they are printed */
	sum = summary_read(store, dir, o->as_json, err, sizeof err);
	if (sum == NULL) {
		store_close(store);
		fprintf(stderr, "maggy-engine: %s\n", err);
		return EXIT_USAGE;
	}
	if (o->as_json) {
		json_dumpf(sum, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
		printf("\n");
	} else {
		summary_print(sum, stdout, o->verbose);
		if (o->top != 0)
			print_trials(store, dir, sum, o->top);
	}
	store_close(store);
	json_decref(sum);
	return EXIT_OK;
}
