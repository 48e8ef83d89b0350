/*
 * test_simbench: unit tests of lib/simbench, the benchmarks of `simulate`.
 *
 * Synthetic functions and small CSV fixtures written to a fresh temporary
 * directory check the numbers and every error path; then each CSV of the
 * data directory given as argv[1] (MAGGY_DATA_DIR in CMake) is opened and
 * its first row evaluated against the file's own numbers. A missing data
 * directory skips that part with a message. Exit status 0 when every check
 * holds; each failed check prints file:line and what differed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif
#include "simbench.h"

#include <dirent.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int failures;
static char tmpdir[] = "/tmp/test_simbench.XXXXXX";

#define SKIPPED 77 /* CTest's SKIP_RETURN_CODE for this test */

#define CHECK(cond, ...)                                                  \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "%s:%d: check failed: %s: ",      \
				__FILE__, __LINE__, #cond);               \
			fprintf(stderr, __VA_ARGS__);                     \
			fputc('\n', stderr);                              \
			failures++;                                       \
		}                                                         \
	} while (0)

#define CHECK_NEAR(got, want, tol)                                        \
	CHECK(fabs((got) - (want)) <= (tol), "got %.10g, want %.10g",    \
	      (double)(got), (double)(want))

/* ---- helpers ---- */

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	return remove(path);
}

static const char *fixture(const char *name, const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
	return path;
}

static simbench_t *open_ok(const char *spec)
{
	char err[512] = "";
	simbench_t *b = simbench_open(spec, err, sizeof err);

	CHECK(b != NULL, "simbench_open(%s): %s", spec, err);
	return b;
}

/* Opening must fail with a message containing want. */
static void open_fails(const char *spec, const char *want)
{
	char err[512] = "";
	simbench_t *b = simbench_open(spec, err, sizeof err);

	CHECK(b == NULL, "simbench_open(%s) succeeded", spec);
	CHECK(strstr(err, want) != NULL, "error '%s' lacks '%s'", err, want);
	simbench_close(b);
}

static int eval_ok(simbench_t *b, const char *params, uint64_t seed,
		   struct simbench_curve *out)
{
	char err[512] = "";
	int rc = simbench_eval(b, params, seed, out, err, sizeof err);

	CHECK(rc == 0, "eval %s: %s", params, err);
	return rc;
}

static void eval_fails(simbench_t *b, const char *params, const char *want)
{
	struct simbench_curve out;
	char err[512] = "";
	int rc = simbench_eval(b, params, 0, &out, err, sizeof err);

	CHECK(rc == -1, "eval %s succeeded", params);
	CHECK(strstr(err, want) != NULL, "error '%s' lacks '%s'", err, want);
}

static json_t *space_of(const simbench_t *b)
{
	json_t *space = json_loads(simbench_space_json(b), 0, NULL);

	CHECK(json_is_array(space), "space is no JSON array: %s",
	      simbench_space_json(b));
	return space;
}

/* The space entry at i must have this name and type. */
static json_t *entry(json_t *space, size_t i, const char *name,
		     const char *type)
{
	json_t *e = json_array_get(space, i);
	const char *n = json_string_value(json_object_get(e, "name"));
	const char *t = json_string_value(json_object_get(e, "type"));

	CHECK(n && strcmp(n, name) == 0, "entry %zu is %s, want %s", i, n, name);
	CHECK(t && strcmp(t, type) == 0, "%s has type %s, want %s", name, t,
	      type);
	return e;
}

static double num(json_t *obj, const char *key)
{
	return json_number_value(json_object_get(obj, key));
}

/* ---- synthetic functions ---- */

static void check_at(const char *spec, const char *params, double want)
{
	simbench_t *b = open_ok(spec);
	struct simbench_curve out;

	if (b == NULL)
		return;
	if (eval_ok(b, params, 0, &out) == 0) {
		CHECK(out.n == 1, "%s: %d steps", spec, out.n);
		CHECK_NEAR(out.value[0], want, 1e-5);
		CHECK_NEAR(out.truth, want, 1e-5);
		CHECK_NEAR(out.time[0], 1.0, 0);
	}
	CHECK_NEAR(simbench_optimum(b, "min"), want, 1e-5);
	CHECK(isnan(simbench_optimum(b, "max")), "max of %s is known", spec);
	CHECK(isnan(simbench_optimum(b, "sideways")), "bad direction");
	simbench_close(b);
}

static void test_synthetic_optima(void)
{
	check_at("branin", "{\"x1\": 3.141592653589793, \"x2\": 2.275}",
		 0.397887);
	check_at("branin", "{\"x1\": -3.141592653589793, \"x2\": 12.275}",
		 0.397887);
	check_at("hartmann3",
		 "{\"x1\": 0.114614, \"x2\": 0.555649, \"x3\": 0.852547}",
		 -3.86278);
	check_at("hartmann6",
		 "{\"x1\": 0.20169, \"x2\": 0.150011, \"x3\": 0.476874,"
		 " \"x4\": 0.275332, \"x5\": 0.311652, \"x6\": 0.6573}",
		 -3.32237);
}

static void test_synthetic_space(void)
{
	simbench_t *b = open_ok("branin");
	json_t *space, *x1, *x2;

	if (b == NULL)
		return;
	CHECK(strcmp(simbench_name(b), "branin") == 0, "name %s",
	      simbench_name(b));
	CHECK(simbench_max_budget(b) == 1, "budget %d", simbench_max_budget(b));
	space = space_of(b);
	CHECK(json_array_size(space) == 2, "%zu params", json_array_size(space));
	x1 = entry(space, 0, "x1", "DOUBLE");
	x2 = entry(space, 1, "x2", "DOUBLE");
	CHECK(num(x1, "low") == -5 && num(x1, "high") == 10, "x1 range");
	CHECK(num(x2, "low") == 0 && num(x2, "high") == 15, "x2 range");
	CHECK(json_is_false(json_object_get(x1, "log")), "x1 log");
	json_decref(space);
	simbench_close(b);
}

static void test_param_errors(void)
{
	simbench_t *b = open_ok("branin");

	if (b == NULL)
		return;
	eval_fails(b, "{\"x1\": 1, \"x2\": 1, \"x3\": 1}",
		   "unknown parameter 'x3'");
	eval_fails(b, "{\"x1\": 1}", "missing parameter 'x2'");
	eval_fails(b, "{\"x1\": 11, \"x2\": 1}", "'x1' = 11 is out of range");
	eval_fails(b, "{\"x1\": \"1\", \"x2\": 1}", "'x1' must be a number");
	eval_fails(b, "{\"x1\": true, \"x2\": 1}", "'x1' must be a number");
	eval_fails(b, "{\"x1\": 1, \"x2\": 1, \"budget\": 0}", "budget");
	eval_fails(b, "{\"x1\": 1, \"x2\": 1, \"budget\": \"2\"}", "budget");
	eval_fails(b, "[1, 2]", "must be a JSON object");
	eval_fails(b, "{\"x1\": ", "not a JSON object");
	simbench_close(b);
}

/* ---- multi-fidelity ---- */

static const char *MF_PARAMS = "{\"x1\": 0.3, \"x2\": 0.6, \"x3\": 0.9}";

static void copy_curve(const struct simbench_curve *c, double *v)
{
	memcpy(v, c->value, c->n * sizeof *v);
}

static void test_mf_determinism(simbench_t *b)
{
	struct simbench_curve out;
	double first[81], again[81];

	if (eval_ok(b, MF_PARAMS, 7, &out) != 0)
		return;
	CHECK(out.n == 81, "default budget gives %d steps", out.n);
	CHECK(out.time[0] == 1 && out.time[80] == 81, "times %g..%g",
	      out.time[0], out.time[80]);
	copy_curve(&out, first);
	eval_ok(b, MF_PARAMS, 7, &out);
	copy_curve(&out, again);
	CHECK(memcmp(first, again, sizeof first) == 0, "same seed, new curve");
	eval_ok(b, MF_PARAMS, 8, &out);
	CHECK(out.value[0] != first[0], "another seed, same noise");
	eval_ok(b, "{\"x1\": 0.3, \"x2\": 0.6, \"x3\": 0.9, \"budget\": 27}",
		7, &out);
	CHECK(out.n == 27, "budget 27 gives %d steps", out.n);
	CHECK(memcmp(out.value, first, 27 * sizeof *first) == 0,
	      "a shorter run is no prefix of the full one");
}

static void test_mf_noise_shrinks(simbench_t *b)
{
	struct simbench_curve out;
	double early = 0, late = 0;

	for (uint64_t seed = 0; seed < 200; seed++) {
		if (eval_ok(b, MF_PARAMS, seed, &out) != 0)
			return;
		early += fabs(out.value[0] - out.truth) / 200;
		late += fabs(out.value[80] - out.truth) / 200;
	}
	CHECK(early > 0.3 && late < 0.01, "error at step 1: %g, at 81: %g",
	      early, late);
}

static void test_mf_budget(simbench_t *b)
{
	struct simbench_curve out;

	eval_ok(b, "{\"x1\": 0, \"x2\": 0, \"x3\": 0, \"budget\": 2.6}", 0, &out);
	CHECK(out.n == 3, "budget 2.6 gives %d steps", out.n);
	eval_ok(b, "{\"x1\": 0, \"x2\": 0, \"x3\": 0, \"budget\": 1000}", 0, &out);
	CHECK(out.n == 81, "budget 1000 gives %d steps", out.n);
	eval_ok(b, "{\"x1\": 0, \"x2\": 0, \"x3\": 0, \"budget\": 0.2}", 0, &out);
	CHECK(out.n == 1, "budget 0.2 gives %d steps", out.n);
}

static void test_multi_fidelity(void)
{
	simbench_t *b = open_ok("hartmann3_mf");

	if (b == NULL)
		return;
	CHECK(simbench_max_budget(b) == 81, "budget %d", simbench_max_budget(b));
	test_mf_determinism(b);
	test_mf_noise_shrinks(b);
	test_mf_budget(b);
	simbench_close(b);
}

/* ---- learning-curve fixture ---- */

static const char *CURVES_CSV =
	"config_id,lr,units,drop,acc_1,acc_2,acc_3,time_1,time_2,time_3\n"
	"10,0.001,1,0.1,50,60,70,1,2,3\n"
	"11,0.01,2,0.5,55,65,62,2,1.5,6\n"
	"12,0.1,3,0.9,40,45,50,3,6,9\n";

static void check_curves_space(simbench_t *b)
{
	json_t *space = space_of(b), *e;

	e = entry(space, 0, "drop", "DOUBLE");
	CHECK(json_is_false(json_object_get(e, "log")), "drop is linear");
	e = entry(space, 1, "lr", "DOUBLE");
	CHECK(json_is_true(json_object_get(e, "log")), "lr is log-scaled");
	CHECK(num(e, "low") == 0.001 && num(e, "high") == 0.1, "lr range");
	e = entry(space, 2, "units", "INTEGER");
	CHECK(json_is_integer(json_object_get(e, "low")), "integer bounds");
	CHECK(num(e, "low") == 1 && num(e, "high") == 3, "units range");
	json_decref(space);
}

static void check_curves_lookup(simbench_t *b)
{
	struct simbench_curve out;

	/* An exact row, then the nearest one: lr 0.012 is near 0.01 on the
	 * log scale though it is nearer 0.001 on the linear one. */
	if (eval_ok(b, "{\"lr\": 0.001, \"units\": 1, \"drop\": 0.1}", 0, &out) == 0) {
		CHECK(out.n == 3 && out.value[2] == 70, "row 10's curve");
		CHECK(strstr(out.outputs, "\"row\":10") != NULL, "%s", out.outputs);
	}
	if (eval_ok(b, "{\"lr\": 0.012, \"units\": 2.0, \"drop\": 0.45, "
		       "\"budget\": 2}", 0, &out) == 0) {
		CHECK(out.n == 2 && out.value[1] == 65, "row 11's curve");
		CHECK(out.truth == 65, "truth %g is the value at the budget",
		      out.truth);
		CHECK(out.time[0] == 2 && out.time[1] > 2, "times %g, %g made "
		      "increasing", out.time[0], out.time[1]);
		CHECK(strcmp(out.outputs, "{\"row\":11,\"truth\":65.0}") == 0,
		      "outputs %s", out.outputs);
	}
	eval_fails(b, "{\"lr\": 0.01, \"units\": 2.5, \"drop\": 0.5}",
		   "'units' is an INTEGER");
	eval_fails(b, "{\"lr\": 0.2, \"units\": 2, \"drop\": 0.5}",
		   "out of range [0.001, 0.1]");
}

static void test_curves_fixture(void)
{
	simbench_t *b = open_ok(fixture("curves_test.csv", CURVES_CSV));

	if (b == NULL)
		return;
	CHECK(strcmp(simbench_name(b), "curves_test") == 0, "name %s",
	      simbench_name(b));
	CHECK(simbench_max_budget(b) == 3, "budget %d", simbench_max_budget(b));
	CHECK(simbench_optimum(b, "max") == 70, "max %g",
	      simbench_optimum(b, "max"));
	CHECK(simbench_optimum(b, "min") == 50, "min %g",
	      simbench_optimum(b, "min"));
	check_curves_space(b);
	check_curves_lookup(b);
	simbench_close(b);
}

/* ---- tabular fixture ---- */

/* "5e-4" and "0.0005" are one value; the last row lacks value_2; blank
 * and CRLF lines must not break the line count of later errors. */
#define TABULAR_CSV                                 \
	"act,lr,bs,value_0,value_1,value_2\r\n"     \
	"relu,0.0005,8,1,2,3\r\n"                    \
	"\r\n"                                       \
	"tanh,5e-4,16,10,20,30\r\n"                  \
	"relu,1e-3,16,4,5,6\r\n"                     \
	"tanh,0.001,8,7,9\r\n"

static void check_tabular_space(simbench_t *b)
{
	json_t *space = space_of(b), *e;
	json_t *values;

	e = entry(space, 0, "act", "CATEGORICAL");
	values = json_object_get(e, "values");
	CHECK(json_array_size(values) == 2 &&
	      strcmp(json_string_value(json_array_get(values, 0)), "relu") == 0,
	      "act values in first-seen order");
	e = entry(space, 1, "bs", "DISCRETE");
	values = json_object_get(e, "values");
	CHECK(json_array_size(values) == 2 &&
	      json_integer_value(json_array_get(values, 0)) == 8, "bs values");
	e = entry(space, 2, "lr", "DISCRETE");
	values = json_object_get(e, "values");
	CHECK(json_array_size(values) == 2 &&
	      json_real_value(json_array_get(values, 0)) == 0.0005,
	      "lr: 5e-4 and 0.0005 are one value");
	json_decref(space);
}

static void check_tabular_lookup(simbench_t *b)
{
	struct simbench_curve out;
	const char *row0 = "{\"act\": \"relu\", \"lr\": 5e-4, \"bs\": 8.0}";
	const char *row3 = "{\"act\": \"tanh\", \"lr\": 0.001, \"bs\": 8}";

	if (eval_ok(b, row0, 4, &out) == 0) {
		CHECK(out.n == 1 && out.value[0] == 2, "seed 4 -> value_1");
		CHECK(out.truth == 2 && out.time[0] == 1.0, "truth %g", out.truth);
		CHECK(strstr(out.outputs, "\"seed\":1") != NULL, "%s",
		      out.outputs);
	}
	if (eval_ok(b, row3, 2, &out) == 0) {
		CHECK(out.value[0] == 7, "2 seeds: seed 2 -> value_0");
		CHECK(out.truth == 8, "mean of two seeds %g", out.truth);
	}
	CHECK(simbench_optimum(b, "max") == 20, "max %g",
	      simbench_optimum(b, "max"));
	eval_fails(b, "{\"act\": \"tanh\", \"lr\": 0.0005, \"bs\": 8}",
		   "no row for act='tanh', bs=8, lr=0.0005");
	eval_fails(b, "{\"act\": \"relu\", \"lr\": 0.0007, \"bs\": 8}",
		   "not one of its values (0.0005, 0.001)");
	eval_fails(b, "{\"act\": \"gelu\", \"lr\": 0.001, \"bs\": 8}",
		   "'gelu' is not one of its values ('relu', 'tanh')");
	eval_fails(b, "{\"act\": 1, \"lr\": 0.001, \"bs\": 8}",
		   "must be one of");
}

/* Which way a benchmark's metric goes, when the benchmark says. */
static void test_metric_direction(void)
{
	simbench_t *b = open_ok("branin");
	const char *dir = "?";

	if (b) {
		CHECK(strcmp(simbench_metric(b, &dir), "loss") == 0, "branin");
		CHECK(dir && strcmp(dir, "min") == 0, "branin is minimized");
		simbench_close(b);
	}
	b = open_ok(fixture("curves_dir.csv", CURVES_CSV));
	if (b) {
		CHECK(strcmp(simbench_metric(b, &dir), "acc") == 0, "curves");
		CHECK(dir && strcmp(dir, "max") == 0, "accuracy is maximized");
		simbench_close(b);
	}
	b = open_ok(fixture("tabular_dir.csv", TABULAR_CSV));
	if (b) {
		CHECK(strcmp(simbench_metric(b, &dir), "") == 0, "tabular");
		CHECK(dir == NULL, "a tabular table says nothing");
		simbench_close(b);
	}
}

static void test_tabular_fixture(void)
{
	simbench_t *b = open_ok(fixture("tabular_test.csv", TABULAR_CSV));

	if (b == NULL)
		return;
	CHECK(simbench_max_budget(b) == 1, "budget %d", simbench_max_budget(b));
	check_tabular_space(b);
	check_tabular_lookup(b);
	simbench_close(b);
}

static void test_boolean_categories(void)
{
	simbench_t *b = open_ok(fixture("flags.csv",
		"flag,value_0\nTrue,1\nFalse,2\n"));
	struct simbench_curve out;

	if (b == NULL)
		return;
	if (eval_ok(b, "{\"flag\": false}", 0, &out) == 0)
		CHECK(out.value[0] == 2, "false -> 'False'");
	if (eval_ok(b, "{\"flag\": \"True\"}", 0, &out) == 0)
		CHECK(out.value[0] == 1, "'True'");
	simbench_close(b);
}

/* Two rows with the same values in another order of seeds have the same
 * truth, bit for bit: summed in seed order, these differ in the last bit. */
static void test_truth_ignores_seed_order(void)
{
	simbench_t *b = open_ok(fixture("orders.csv",
		"a,value_0,value_1,value_2\n"
		"x,0.134,0.847,0.764\ny,0.847,0.764,0.134\n"));
	struct simbench_curve x, y;

	if (b == NULL)
		return;
	if (eval_ok(b, "{\"a\": \"x\"}", 0, &x) == 0 &&
	    eval_ok(b, "{\"a\": \"y\"}", 0, &y) == 0)
		CHECK(x.truth == y.truth, "truths %.17g and %.17g", x.truth,
		      y.truth);
	simbench_close(b);
}

/* ---- bad files ---- */

static void test_bad_files(void)
{
	open_fails("/nonexistent/x.csv", "cannot open /nonexistent/x.csv");
	open_fails("brannin", "unknown benchmark 'brannin'");
	open_fails("", "no benchmark given");
	open_fails(fixture("empty.csv", ""), "empty file");
	open_fails(fixture("noheader.csv", "a,b\n1,2\n"),
		   ":1: bad header: no column time_1");
	open_fails(fixture("ragged.csv", "a,value_0\nx,1\n\ny\n"),
		   "ragged.csv:4: row has 1 fields, the header has 2");
	open_fails(fixture("ragged2.csv", TABULAR_CSV "relu,0.1,8,1,2,3,4\n"),
		   "ragged2.csv:7: row has 7 fields, expected 4 to 6");
	open_fails(fixture("nan.csv", "a,acc_1,time_1\n1,2,3\n2,oops,4\n"),
		   "nan.csv:3: column 2 'acc_1': 'oops' is not a finite number");
	open_fails(fixture("twice.csv", "a,a,value_0\n1,2,3\n"),
		   "column 'a' appears twice");
	open_fails(fixture("dash.csv", "bad-name,value_0\n1,2\n"),
		   "'bad-name': the name must be a Python identifier");
	open_fails(fixture("reserved.csv", "budget,value_0\n1,2\n"),
		   "'budget': the name is reserved");
	open_fails(fixture("order.csv", "value_0,a\n1,2\n"),
		   "must be the last columns");
	open_fails(fixture("gap.csv", "a,value_0,value_2\n1,2,3\n"),
		   "value_0..value_1 without gaps");
	open_fails(fixture("dup.csv", "a,value_0\nx,1\ny,2\nx,3\n"),
		   "dup.csv:4: the same configuration as line 2");
	open_fails(fixture("nometric.csv", "a,time_1,time_2\n1,2,3\n"),
		   "no metric columns");
	open_fails(fixture("const.csv", "a,b,acc_1,time_1\n1,5,2,3\n1,6,3,4\n"),
		   "'a' holds one value only");
	open_fails(fixture("rows.csv", "a,value_0\n"), "no data rows");
}

/* ---- the data directory ---- */

/* Splits the CSV line (no quotes in the data files) into at most max
 * fields, in place. */
static int split(char *line, char **fields, int max)
{
	int n = 0;

	line[strcspn(line, "\r\n")] = '\0';
	for (char *tok = strtok(line, ","); tok && n < max; tok = strtok(NULL, ","))
		fields[n++] = tok;
	return n;
}

static int is_number(const char *s, double *v)
{
	char *end;

	*v = strtod(s, &end);
	return end != s && *end == '\0';
}

/* The data files' columns that are no parameters. */
static int is_result(const char *name)
{
	return strcmp(name, "config_id") == 0 || strncmp(name, "value_", 6) == 0 ||
	       strncmp(name, "time_", 5) == 0 || strncmp(name, "val_acc_", 8) == 0;
}

/* The first data row's parameters as JSON, from the header's columns. */
static char *first_row_params(char **names, char **cells, int n)
{
	json_t *params = json_object();
	char *text;

	for (int i = 0; i < n; i++) {
		double v;

		if (is_result(names[i]))
			continue;
		json_object_set_new(params, names[i], is_number(cells[i], &v)
				    ? json_real(v) : json_string(cells[i]));
	}
	text = json_dumps(params, JSON_COMPACT);
	json_decref(params);
	return text;
}

static double cell_of(char **names, char **cells, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return strtod(cells[i], NULL);
	return NAN;
}

static void check_first_row(simbench_t *b, const char *path)
{
	static char head[8192], row[8192];
	char *names[256], *cells[256];
	struct simbench_curve out;
	FILE *f = fopen(path, "r");
	int n = 0;
	char *params;

	if (f && fgets(head, sizeof head, f) && fgets(row, sizeof row, f)) {
		n = split(head, names, 256);
		CHECK(split(row, cells, 256) == n, "%s: first row width", path);
	}
	if (f)
		fclose(f);
	params = first_row_params(names, cells, n);
	if (eval_ok(b, params, 0, &out) == 0) {
		int last = out.n;
		char col[32];
		double want;

		snprintf(col, sizeof col, last > 1 ? "val_acc_%d" : "value_0", last);
		want = cell_of(names, cells, n, col);
		CHECK(out.value[last - 1] == want, "%s: %s = %.17g, file has "
		      "%.17g", path, col, out.value[last - 1], want);
		CHECK(strstr(out.outputs, "\"row\":0") != NULL, "%s: %s", path,
		      out.outputs);
	}
	free(params);
}

static void check_data_file(const char *dir, const char *file)
{
	char path[1024];
	struct timespec t0, t1;
	simbench_t *b;
	json_t *space;

	snprintf(path, sizeof path, "%s/%s", dir, file);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	b = open_ok(path);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (b == NULL)
		return;
	printf("  %-40s %5.3f s, budget %d\n", file, (t1.tv_sec - t0.tv_sec) +
	       (t1.tv_nsec - t0.tv_nsec) / 1e9, simbench_max_budget(b));
	space = space_of(b);
	CHECK(json_array_size(space) >= 1, "%s: empty space", file);
	CHECK(isfinite(simbench_optimum(b, "max")) &&
	      simbench_optimum(b, "max") >= simbench_optimum(b, "min"),
	      "%s: optimum", file);
	check_first_row(b, path);
	json_decref(space);
	simbench_close(b);
}

/* 0, or -1 when there is no data directory to check (a skip, which CTest
 * reports as such: see SKIP_RETURN_CODE). */
static int test_data_dir(const char *dir)
{
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *e;

	if (d == NULL) {
		printf("SKIP data files: no data directory %s (configure with "
		       "-DMAGGY_DATA_DIR=...)\n", dir ? dir : "(none given)");
		return -1;
	}
	printf("data files in %s:\n", dir);
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);

		if (n > 4 && strcmp(e->d_name + n - 4, ".csv") == 0)
			check_data_file(dir, e->d_name);
	}
	closedir(d);
	return 0;
}

int main(int argc, char **argv)
{
	int data;

	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	test_synthetic_optima();
	test_synthetic_space();
	test_param_errors();
	test_multi_fidelity();
	test_curves_fixture();
	test_tabular_fixture();
	test_metric_direction();
	test_boolean_categories();
	test_truth_ignores_seed_order();
	test_bad_files();
	data = test_data_dir(argc > 1 ? argv[1] : NULL);
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (failures > 0) {
		fprintf(stderr, "test_simbench: %d checks failed\n", failures);
		return 1;
	}
	if (data < 0)
		return SKIPPED;
	printf("test_simbench: all checks passed\n");
	return 0;
}
