/* show: read an experiment directory and print its summary. See show.h. */
#include "show.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dirlock.h"
#include "proto/proto.h"
#include "run.h"
#include "store.h"
#include "summary.h"

/* "running" in the store with no engine holding the directory: the engine
 * was killed. Say so, and count the time only up to its last trial. */
static void mark_dead_run(json_t *sum, const char *dir)
{
	const char *status = json_string_value(json_object_get(sum, "status"));
	json_t *t;
	size_t i;
	double last = 0, started;

	if (status == NULL || strcmp(status, "running") != 0 ||
	    dirlock_owner(dir) > 0)
		return;
	json_object_set_new(sum, "status", json_string("interrupted"));
	json_object_set_new(sum, "error", json_string(
		"the engine is no longer running (killed or crashed); "
		"`maggy-engine resume DIR` continues the experiment"));
	json_array_foreach(json_object_get(sum, "trials"), i, t) {
		double e = json_number_value(json_object_get(t, "ended"));
		double s = json_number_value(json_object_get(t, "started"));
		last = e > last ? e : s > last ? s : last;
	}
	/* duration_s counted up to now from the start */
	started = (double)time(NULL) -
		  json_number_value(json_object_get(sum, "duration_s"));
	json_object_set_new(sum, "duration_s",
			    json_real(last > started ? last - started : 0));
}

int show_experiment(const char *dir, int as_json)
{
	char err[512];
	store_t *store = NULL;
	json_t *sum;

	if (store_open(&store, dir, STORE_READ, err, sizeof err) < 0) {
		fprintf(stderr, "maggy-engine: %s\n", err);
		return EXIT_USAGE;
	}
	sum = summary_build(store, dir, err, sizeof err);
	store_close(store);
	if (sum == NULL) {
		fprintf(stderr, "maggy-engine: %s\n", err);
		return EXIT_USAGE;
	}
	mark_dead_run(sum, dir);
	if (as_json)
		json_dumpf(sum, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
	else
		summary_print(sum, stdout);
	if (as_json)
		printf("\n");
	json_decref(sum);
	return EXIT_OK;
}
