/* show: read an experiment directory and print its summary. See show.h. */
#include "show.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "run.h"
#include "store.h"
#include "summary.h"

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
	if (as_json)
		json_dumpf(sum, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
	else
		summary_print(sum, stdout);
	if (as_json)
		printf("\n");
	json_decref(sum);
	return EXIT_OK;
}
