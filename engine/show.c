/* show: read an experiment directory and print its summary. See show.h. */
#include "show.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"
#include "store.h"
#include "summary.h"

/* A trial and its place in the summary (ties keep that order). */
struct ranked {
	json_t *trial;
	size_t seq;
	int minimize;
};

/* Best first for the direction; trials without a value last. */
static int by_value(const void *pa, const void *pb)
{
	const struct ranked *a = pa, *b = pb;
	json_t *va = json_object_get(a->trial, "value");
	json_t *vb = json_object_get(b->trial, "value");
	double x = json_number_value(va), y = json_number_value(vb);

	if (json_is_number(va) != json_is_number(vb))
		return json_is_number(va) ? -1 : 1;
	if (json_is_number(va) && x != y)
		return (x < y) == a->minimize ? -1 : 1;
	return a->seq < b->seq ? -1 : 1;
}

static void print_row(size_t rank, const json_t *t, FILE *out)
{
	const json_t *v = json_object_get(t, "value");
	double started = json_number_value(json_object_get(t, "started"));
	double ended = json_number_value(json_object_get(t, "ended"));
	char value[32] = "-", took[32] = "-";

	if (json_is_number(v))
		snprintf(value, sizeof value, "%.6g", json_number_value(v));
	if (started > 0 && ended >= started)
		snprintf(took, sizeof took, "%.1f s", ended - started);
	fprintf(out, "%4zu  %s  %-13s  %12s  %5lld  %9s  %8lld  ", rank,
		json_string_value(json_object_get(t, "id")),
		json_string_value(json_object_get(t, "state")), value,
		(long long)json_integer_value(json_object_get(t, "steps")),
		took,
		(long long)json_integer_value(json_object_get(t, "attempts")));
	summary_print_params(json_object_get(t, "params"), 6, out);
	fputc('\n', out);
}

/* The trials, best first: the `top` best, or all when top < 0. */
static void print_trials(const json_t *sum, long top, FILE *out)
{
	const json_t *trials = json_object_get(sum, "trials");
	const char *direction = json_string_value(json_object_get(sum,
								  "direction"));
	size_t n = json_array_size(trials), shown;
	struct ranked *order = n ? calloc(n, sizeof *order) : NULL;

	if (order == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		order[i] = (struct ranked){ json_array_get(trials, i), i,
					    direction &&
					    strcmp(direction, "min") == 0 };
	qsort(order, n, sizeof *order, by_value);
	shown = top < 0 || (size_t)top > n ? n : (size_t)top;
	fprintf(out, "\ntrials, best first:\n%4s  %-16s  %-13s  %12s  %5s  "
		"%9s  %8s  %s\n", "rank", "trial", "state",
		json_string_value(json_object_get(sum, "metric")), "steps",
		"duration", "attempts", "params");
	for (size_t i = 0; i < shown; i++)
		print_row(i + 1, order[i].trial, out);
	if (shown < n)
		fprintf(out, "(%zu more: --all lists every trial, --top N the "
			"N best)\n", n - shown);
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
	sum = summary_read(store, dir, err, sizeof err);
	store_close(store);
	if (sum == NULL) {
		fprintf(stderr, "maggy-engine: %s\n", err);
		return EXIT_USAGE;
	}
	if (o->as_json) {
		json_dumpf(sum, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
		printf("\n");
	} else {
		summary_print(sum, stdout, o->verbose);
		if (o->top != 0)
			print_trials(sum, o->top, stdout);
	}
	json_decref(sum);
	return EXIT_OK;
}
