/* export: an experiment's trials, metric histories or ablation table as CSV
 * or JSON rows. See export.h. */
#include "export.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/numtext.h"
#include "proto/proto.h"
#include "run.h"
#include "store.h"
#include "summary.h"

/* ---- rows --------------------------------------------------------------- */

/* A value as one cell: strings as they are, null as nothing, numbers at
 * full precision, anything else as compact JSON. malloc'd. */
static char *cell_text(const json_t *v)
{
	if (v == NULL || json_is_null(v))
		return strdup("");
	char num[NUMTEXT_SIZE];

	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_real(v))
		return strdup(numtext_shortest(json_real_value(v), num,
					       sizeof num));
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY |
				     JSON_REAL_PRECISION(17));
}

/* A trial's row: fixed columns, then the params as params_<name>. */
static json_t *trial_row(const json_t *t)
{
	const json_t *w = json_object_get(t, "worker");
	double started = json_number_value(json_object_get(t, "started"));
	double ended = json_number_value(json_object_get(t, "ended"));
	json_t *row = json_pack(
		"{s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:o, s:O, s:O, s:O}",
		"id", json_object_get(t, "id"),
		"state", json_object_get(t, "state"),
		"value", json_object_get(t, "value"),
		"steps", json_object_get(t, "steps"),
		"attempts", json_object_get(t, "attempts"),
		"started", json_object_get(t, "started"),
		"ended", json_object_get(t, "ended"),
		"duration_s", started > 0 && ended >= started
				      ? json_real(ended - started)
				      : json_null(),
		"worker_host", json_object_get(w, "host") ? json_object_get(w, "host") : json_null(),
		"worker_slot", json_object_get(w, "slot") ? json_object_get(w, "slot") : json_null(),
		"error", json_object_get(t, "error") ? json_object_get(t, "error") : json_null());
	const char *key;
	json_t *v;

	json_object_foreach(json_object_get(t, "params"), key, v) {
		char name[256];
		snprintf(name, sizeof name, "params_%s", key);
		json_object_set(row, name, v);
	}
	return row;
}

/*
 * The metric histories in long form (trial, step, value, time), written
 * point by point as they are read from the store: a history of millions of
 * points never sits in memory. A JSON history is an array with one row per
 * line. The cells are formatted as cell_text would format them.
 */
struct history {
	FILE *out;
	int json;
	const char *trial;
	size_t rows;
	json_t *row, *step, *value, *time; /* reused for every point */
};

static void put_number(FILE *out, const json_t *v)
{
	char text[64];
	size_t n = json_dumpb(v, text, sizeof text, JSON_ENCODE_ANY |
				       JSON_REAL_PRECISION(17));

	fwrite(text, 1, n < sizeof text ? n : 0, out);
}

static int put_point(uint64_t step, double value, double unix_time, void *arg)
{
	struct history *h = arg;
	int has_time = !isnan(unix_time);

	json_integer_set(h->step, (json_int_t)step);
	json_real_set(h->value, value);
	json_real_set(h->time, has_time ? unix_time : 0);
	if (h->json) {
		json_object_set(h->row, "time", has_time ? h->time : json_null());
		if (h->rows++)
			fputs(",\n", h->out);
		json_dumpf(h->row, h->out, JSON_COMPACT | JSON_REAL_PRECISION(17));
		return 0;
	}
	fprintf(h->out, "%s,", h->trial);
	put_number(h->out, h->step);
	fputc(',', h->out);
	put_number(h->out, h->value);
	fputc(',', h->out);
	if (has_time)
		put_number(h->out, h->time);
	fputs("\r\n", h->out);
	return 0;
}

/* Every trial's points, trial by trial in creation order: the trials'
 * ids are all that is held. */
static void write_history(store_t *store, const uint64_t *ids, size_t n,
			  int json, FILE *out)
{
	struct history h = { out, json, NULL, 0, json_object(),
			     json_integer(0), json_real(0), json_real(0) };
	char hex[PROTO_TRIAL_HEX];
	size_t i;

	json_object_set(h.row, "trial", json_null());
	json_object_set(h.row, "step", h.step);
	json_object_set(h.row, "value", h.value);
	json_object_set(h.row, "time", h.time);
	fputs(json ? "[\n" : "trial,step,value,time\r\n", out);
	for (i = 0; i < n; i++) {
		proto_trial_hex(ids[i], hex);
		h.trial = hex;
		json_object_set_new(h.row, "trial", json_string(hex));
		store_metrics_each(store, ids[i], put_point, &h);
	}
	if (json)
		fputs(h.rows ? "\n]\n" : "]\n", out);
	json_decref(h.row);
	json_decref(h.step);
	json_decref(h.value);
	json_decref(h.time);
}

static json_t *ablation_rows(const json_t *sum)
{
	const json_t *a = json_object_get(sum, "ablation");
	json_t *rows = json_array(), *r;
	size_t i;

	if (json_is_array(json_object_get(a, "path"))) {
		json_array_foreach(json_object_get(a, "path"), i, r)
			json_array_append(rows, r);
		return rows;
	}
	if (json_is_object(json_object_get(a, "base")))
		json_array_append(rows, json_object_get(a, "base"));
	json_array_foreach(json_object_get(a, "rows"), i, r)
		json_array_append(rows, r);
	return rows;
}

/* ---- writing ------------------------------------------------------------ */

/* The columns every table of a kind has, also without rows (so that an
 * empty table still loads in pandas with its columns). */
static const char *const trial_columns[] = {
	"id", "state", "value", "steps", "attempts", "started", "ended",
	"duration_s", "worker_host", "worker_slot", "error", NULL,
};
static const char *const no_columns[] = { NULL };

/* The columns of a table: `fixed`, then the rows' other keys in order of
 * appearance (add_columns, row by row). */
struct columns {
	json_t *list, *seen;
};

static void add_columns(struct columns *c, const json_t *row)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)row, key, v) {
		if (json_object_get(c->seen, key))
			continue;
		json_object_set_new(c->seen, key, json_true());
		json_array_append_new(c->list, json_string(key));
	}
}

static struct columns columns_new(const char *const *fixed)
{
	struct columns c = { json_array(), json_object() };

	for (; *fixed; fixed++) {
		json_object_set_new(c.seen, *fixed, json_true());
		json_array_append_new(c.list, json_string(*fixed));
	}
	return c;
}

static void columns_free(struct columns *c)
{
	json_decref(c->list);
	json_decref(c->seen);
}

/* RFC 4180: quoted when it holds a comma, a quote or a line break. */
static void put_csv_cell(FILE *out, const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static void write_csv_head(const json_t *cols, FILE *out)
{
	json_t *col;
	size_t j;

	json_array_foreach(cols, j, col) {
		if (j)
			fputc(',', out);
		put_csv_cell(out, json_string_value(col));
	}
	fputs("\r\n", out);
}

static void write_csv_row(const json_t *row, const json_t *cols, FILE *out)
{
	json_t *col;
	size_t j;

	json_array_foreach(cols, j, col) {
		char *text = cell_text(json_object_get(row, json_string_value(col)));
		if (j)
			fputc(',', out);
		put_csv_cell(out, text ? text : "");
		free(text);
	}
	fputs("\r\n", out);
}

/* A table held whole (the ablation study's: a row per variant). */
static void write_csv(const json_t *rows, FILE *out)
{
	struct columns c = columns_new(no_columns);
	json_t *row;
	size_t i;

	json_array_foreach(rows, i, row)
		add_columns(&c, row);
	write_csv_head(c.list, out);
	json_array_foreach(rows, i, row)
		write_csv_row(row, c.list, out);
	columns_free(&c);
}

/* The table of trials, a row at a time as the store gives the trials: a
 * CSV needs its columns first (every parameter of any trial), so the
 * trials are read twice; nothing is held but the columns. */
struct trial_table {
	struct columns cols;
	int json;
	size_t rows;
	FILE *out;
};

static int trial_columns_of(json_t *entry, void *arg)
{
	struct trial_table *t = arg;
	json_t *row = trial_row(entry);

	add_columns(&t->cols, row);
	json_decref(row);
	return 0;
}

static int put_trial(json_t *entry, void *arg)
{
	struct trial_table *t = arg;
	json_t *row = trial_row(entry);

	if (t->json) {
		fputs(t->rows ? ",\n " : "\n ", t->out);
		json_dumpf(row, t->out, JSON_COMPACT | JSON_REAL_PRECISION(17));
	} else {
		write_csv_row(row, t->cols.list, t->out);
	}
	t->rows++;
	json_decref(row);
	return ferror(t->out) ? -1 : 0;
}

static void write_trials(store_t *store, const char *dir, const uint64_t *ids,
			 size_t n, int json, FILE *out)
{
	struct trial_table t = { columns_new(trial_columns), json, 0, out };

	if (json) {
		fputc('[', out);
		summary_each_trial(store, dir, ids, n, put_trial, &t);
		fputs(t.rows ? "\n]\n" : "]\n", out);
	} else {
		summary_each_trial(store, dir, ids, n, trial_columns_of, &t);
		write_csv_head(t.cols.list, out);
		summary_each_trial(store, dir, ids, n, put_trial, &t);
	}
	columns_free(&t.cols);
}

int export_experiment(const struct export_options *o)
{
	char err[512];
	store_t *store = NULL;
	json_t *sum = NULL, *rows = NULL;
	uint64_t *ids = NULL;
	size_t n = 0;
	FILE *out = stdout;
	int rc = EXIT_OK, loaded;

	if (store_open(&store, o->dir, STORE_READ, err, sizeof err) < 0) {
		fprintf(stderr, "maggy-engine: %s\n", err);
		return EXIT_USAGE;
	}
	/* the trials and their histories are written as they are read, in
	   creation order: what is held is their ids, 16 bytes a trial */
	if (o->table == EXPORT_ABLATION)
		loaded = (sum = summary_build(store, o->dir, 0, err, sizeof err)) != NULL;
	else
		loaded = summary_trial_ids(store, o->dir, &ids, &n, err,
					   sizeof err) == 0;
	if (!loaded) {
		store_close(store);
		fprintf(stderr, "maggy-engine: %s\n", err);
		return EXIT_USAGE;
	}
	if (o->table == EXPORT_ABLATION && json_object_get(sum, "ablation") == NULL) {
		fprintf(stderr, "maggy-engine: %s has no ablation table (not an "
			"ablation study, or it has not finished)\n", o->dir);
		json_decref(sum);
		store_close(store);
		return EXIT_USAGE;
	}
	if (o->out && (out = fopen(o->out, "w")) == NULL) {
		fprintf(stderr, "maggy-engine: cannot write %s: %s\n", o->out,
			strerror(errno));
		rc = EXIT_FAILED;
	} else {
		if (o->table == EXPORT_HISTORY)
			write_history(store, ids, n, o->json, out);
		else if (o->table == EXPORT_TRIALS)
			write_trials(store, o->dir, ids, n, o->json, out);
		else
			rows = ablation_rows(sum);
		if (rows && o->json) {
			json_dumpf(rows, out, JSON_INDENT(1) |
					      JSON_REAL_PRECISION(17));
			fputc('\n', out);
		} else if (rows) {
			write_csv(rows, out);
		}
		int failed = fflush(out) != 0 || ferror(out);

		if ((out != stdout && fclose(out) != 0) || failed) {
			fprintf(stderr, "maggy-engine: cannot write %s: %s\n",
				o->out ? o->out : "the output", strerror(errno));
			rc = EXIT_FAILED;
		}
	}
	store_close(store);
	json_decref(rows);
	json_decref(sum);
	free(ids);
	return rc;
}
