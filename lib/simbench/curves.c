/*
 * curves: learning-curve tables (LCBench and any CSV of the same layout).
 *
 * Columns: optional config_id, numeric parameter columns, <metric>_1..N and
 * time_1..N (cumulative seconds). A parameter column is INTEGER when every
 * value is integral, else DOUBLE, over [min, max] of the column, on a log
 * scale when the values look log-distributed: min > 0, max / min >= 8 and
 * the median nearer the middle of the range on the log scale than on the
 * linear one (for LCBench: batch_size, learning_rate and max_units, not
 * the uniform weight_decay and max_dropout). A configuration maps to the
 * nearest row (Euclidean distance, each parameter scaled to [0, 1] on its
 * own scale; ties go to the first row) and a run with budget b reports that
 * row's first b epochs, so a promoted configuration continues its curve.
 *
 * The data this was written for: LCBench (Zimmer, Lindauer & Hutter,
 * "Auto-PyTorch Tabular", TPAMI 2021) as predicted by the YAHPO Gym
 * surrogate (Pfisterer et al., AutoML 2022), 1000 rows per task.
 *
 * Recorded times need not increase (a surrogate's predictions): each is
 * raised to at least 1 ms above the previous one, so every step takes time.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

#define LOG_RATIO 8.0
#define MIN_STEP_SECONDS 1e-3

struct axis {
	double low, high;
	int log;
};

struct curves {
	int nrows;
	int nsteps;
	int np;
	struct axis *axes;  /* np, by slot */
	double *unit;       /* nrows x np: each row's point in [0, 1]^np */
	double **metric;    /* nsteps columns of nrows values */
	double **time;      /* nsteps columns of nrows cumulative seconds */
	double *ids;        /* nrows */
};

/* ---- the header ---- */

/* Which columns hold <metric>_k and time_k, k = 1..nsteps. */
struct plan {
	char *metric;
	int nsteps;
	int *metric_col;
	int *time_col;
};

/* Fills cols[k - 1] (if cols) with the column of prefix_k and returns how
 * many columns are numbered with prefix, or -1 if one is outside 1..n. */
static int group(const struct csvtable *t, const char *prefix, int *cols,
		 int n)
{
	int numbered = 0;

	for (int c = 0; c < t->ncols; c++) {
		long k = table_numbered(t->cols[c].name, prefix);

		if (k < 0)
			continue;
		if (k < 1 || k > n)
			return -1;
		if (cols != NULL)
			cols[k - 1] = c;
		numbered++;
	}
	return numbered;
}

/* The one prefix, besides "time", numbered exactly 1..nsteps. */
static int find_metric(const struct csvtable *t, struct plan *pl, char *err,
		       size_t errlen)
{
	for (int c = 0; c < t->ncols; c++) {
		const char *name = t->cols[c].name;
		size_t n = strlen(name);
		char *prefix;

		if (n < 3 || strcmp(name + n - 2, "_1") != 0 ||
		    strcmp(name, "time_1") == 0)
			continue;
		prefix = strndup(name, n - 2);
		if (prefix == NULL || group(t, prefix, NULL, pl->nsteps) != pl->nsteps) {
			free(prefix);
			continue;
		}
		if (pl->metric != NULL) {
			sb_err(err, errlen, "%s:1: bad header: two metrics, %s_1.."
			       "%d and %s_1..%d; keep one per file", t->path,
			       pl->metric, pl->nsteps, prefix, pl->nsteps);
			free(prefix);
			return -1;
		}
		pl->metric = prefix;
	}
	if (pl->metric == NULL) {
		sb_err(err, errlen, "%s:1: bad header: time_1..%d but no metric "
		       "columns numbered exactly <metric>_1..%d", t->path,
		       pl->nsteps, pl->nsteps);
		return -1;
	}
	return 0;
}

static void plan_free(struct plan *pl)
{
	free(pl->metric);
	free(pl->metric_col);
	free(pl->time_col);
}

static int plan_make(const struct csvtable *t, struct plan *pl, char *err,
		     size_t errlen)
{
	int ntime = 0;

	memset(pl, 0, sizeof *pl);
	for (int c = 0; c < t->ncols; c++)
		ntime += table_numbered(t->cols[c].name, "time") >= 0;
	pl->nsteps = ntime;
	if (group(t, "time", NULL, ntime) != ntime) {
		sb_err(err, errlen, "%s:1: bad header: time columns must be "
		       "time_1..time_N without gaps", t->path);
		return -1;
	}
	if (find_metric(t, pl, err, errlen) != 0)
		return -1;
	pl->metric_col = malloc(ntime * sizeof *pl->metric_col);
	pl->time_col = malloc(ntime * sizeof *pl->time_col);
	if (pl->metric_col == NULL || pl->time_col == NULL) {
		sb_err(err, errlen, "%s: out of memory", t->path);
		return -1;
	}
	group(t, "time", pl->time_col, ntime);
	group(t, pl->metric, pl->metric_col, ntime);
	return 0;
}

static int is_param(const struct csvtable *t, const struct plan *pl, int c)
{
	const char *name = t->cols[c].name;

	return strcmp(name, TABLE_ID_COLUMN) != 0 &&
	       table_numbered(name, "time") < 0 &&
	       table_numbered(name, pl->metric) < 0;
}

int curves_header(struct csvtable *t, char *err, size_t errlen)
{
	struct plan pl;
	int rc = plan_make(t, &pl, err, errlen);

	plan_free(&pl);
	return rc; /* every column is numeric: none keyed */
}

/* ---- building ---- */

static double to_unit(const struct axis *a, double v)
{
	double u = a->log ? (log(v) - log(a->low)) / (log(a->high) - log(a->low))
			  : (v - a->low) / (a->high - a->low);

	return u < 0 ? 0 : u > 1 ? 1 : u;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Whether values in [low, high] were sampled on a log scale, judged by
 * where their median falls; -1 when out of memory. */
static int looks_logarithmic(const double *v, int n, double low, double high)
{
	double *sorted, med;

	if (!(low > 0) || high / low < LOG_RATIO)
		return 0;
	sorted = malloc(n * sizeof *sorted);
	if (sorted == NULL)
		return -1;
	memcpy(sorted, v, n * sizeof *sorted);
	qsort(sorted, n, sizeof *sorted, by_value);
	med = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
	free(sorted);
	return fabs(log(med / low) / log(high / low) - 0.5) <
	       fabs((med - low) / (high - low) - 0.5);
}

/* The range and scale of a parameter column. */
static int make_axis(const struct csvtable *t, int c, struct axis *a,
		     int *integral, char *err, size_t errlen)
{
	const double *v = t->cols[c].num;

	a->low = a->high = v[0];
	*integral = 1;
	for (int r = 0; r < t->nrows; r++) {
		a->low = fmin(a->low, v[r]);
		a->high = fmax(a->high, v[r]);
		*integral &= v[r] == floor(v[r]);
	}
	if (a->low == a->high) {
		sb_err(err, errlen, "%s: parameter column '%s' holds one value "
		       "only; drop it", t->path, t->cols[c].name);
		return -1;
	}
	a->log = looks_logarithmic(v, t->nrows, a->low, a->high);
	return a->log < 0 ? -1 : 0;
}

static int build_params(simbench_t *b, struct curves *cv,
			const struct csvtable *t, const struct plan *pl,
			char *err, size_t errlen)
{
	int slot = 0;

	for (int c = 0; c < t->ncols; c++) {
		struct sb_param *p = &b->params[slot];
		int integral;

		if (!is_param(t, pl, c))
			continue;
		if (make_axis(t, c, &cv->axes[slot], &integral, err, errlen) != 0)
			return -1;
		p->name = strdup(t->cols[c].name);
		p->type = integral ? SB_INTEGER : SB_DOUBLE;
		p->low = cv->axes[slot].low;
		p->high = cv->axes[slot].high;
		p->log = cv->axes[slot].log;
		for (int r = 0; r < t->nrows; r++)
			cv->unit[r * cv->np + slot] = to_unit(&cv->axes[slot],
							      t->cols[c].num[r]);
		if (p->name == NULL)
			return -1;
		slot++;
	}
	return 0;
}

/* Makes each row's cumulative times strictly increasing and positive. */
static void fix_times(struct curves *cv)
{
	for (int r = 0; r < cv->nrows; r++) {
		double prev = 0;

		for (int k = 0; k < cv->nsteps; k++) {
			double *t = &cv->time[k][r];

			*t = fmax(*t, prev + MIN_STEP_SECONDS);
			prev = *t;
		}
	}
}

static int take_curves(struct curves *cv, struct csvtable *t,
		       const struct plan *pl)
{
	cv->metric = calloc(cv->nsteps, sizeof *cv->metric);
	cv->time = calloc(cv->nsteps, sizeof *cv->time);
	cv->ids = table_take_ids(t);
	if (cv->metric == NULL || cv->time == NULL || cv->ids == NULL)
		return -1;
	for (int k = 0; k < cv->nsteps; k++) {
		cv->metric[k] = t->cols[pl->metric_col[k]].num;
		cv->time[k] = t->cols[pl->time_col[k]].num;
		t->cols[pl->metric_col[k]].num = NULL;
		t->cols[pl->time_col[k]].num = NULL;
	}
	fix_times(cv);
	return 0;
}

/* ---- the kind ---- */

static int nearest_row(const struct curves *cv, const double *q)
{
	double best = DBL_MAX;
	int row = 0;

	for (int r = 0; r < cv->nrows; r++) {
		const double *u = &cv->unit[r * cv->np];
		double d = 0;

		for (int j = 0; j < cv->np && d < best; j++)
			d += (u[j] - q[j]) * (u[j] - q[j]);
		if (d < best) {
			best = d;
			row = r;
		}
	}
	return row;
}

static int curves_eval(simbench_t *b, const struct sb_value *x, int budget,
		       uint64_t seed, struct simbench_curve *out, char *err,
		       size_t errlen)
{
	const struct curves *cv = b->impl;
	double q[64];
	int row;

	for (int j = 0; j < cv->np; j++)
		q[j] = to_unit(&cv->axes[j], x[j].num);
	row = nearest_row(cv, q);
	out->n = budget;
	for (int k = 0; k < budget; k++) {
		out->value[k] = cv->metric[k][row];
		out->time[k] = cv->time[k][row];
	}
	out->truth = out->value[budget - 1];
	sb_outputs(out, json_pack("{s:I, s:f}", "row",
				  (json_int_t)cv->ids[row], "truth", out->truth));
	return 0;
}

static double curves_optimum(const simbench_t *b, int maximize)
{
	const struct curves *cv = b->impl;
	const double *last = cv->metric[cv->nsteps - 1];
	double best = last[0];

	for (int r = 1; r < cv->nrows; r++)
		best = maximize ? fmax(best, last[r]) : fmin(best, last[r]);
	return best;
}

static void curves_destroy(void *impl)
{
	struct curves *cv = impl;

	if (cv == NULL)
		return;
	for (int k = 0; k < cv->nsteps; k++) {
		free(cv->metric ? cv->metric[k] : NULL);
		free(cv->time ? cv->time[k] : NULL);
	}
	free(cv->metric);
	free(cv->time);
	free(cv->axes);
	free(cv->unit);
	free(cv->ids);
	free(cv);
}

static const struct sb_ops CURVES_OPS = {
	.eval = curves_eval,
	.optimum = curves_optimum,
	.destroy = curves_destroy,
};

static struct curves *curves_new(const struct csvtable *t,
				 const struct plan *pl)
{
	struct curves *cv = calloc(1, sizeof *cv);
	int np = 0;

	for (int c = 0; c < t->ncols; c++)
		np += is_param(t, pl, c);
	if (cv == NULL)
		return NULL;
	cv->nrows = t->nrows;
	cv->nsteps = pl->nsteps;
	cv->np = np;
	cv->axes = calloc(np ? np : 1, sizeof *cv->axes);
	cv->unit = calloc((size_t)t->nrows * (np ? np : 1), sizeof *cv->unit);
	if (cv->axes == NULL || cv->unit == NULL) {
		curves_destroy(cv);
		return NULL;
	}
	return cv;
}

static int check_width(const struct csvtable *t, const struct curves *cv,
		       char *err, size_t errlen)
{
	if (cv->np == 0 || cv->np > 64) {
		sb_err(err, errlen, "%s: %d parameter columns; a learning-curve "
		       "table needs 1 to 64", t->path, cv->np);
		return -1;
	}
	return 0;
}

simbench_t *curves_build(const char *name, struct csvtable *t, char *err,
			 size_t errlen)
{
	struct plan pl;
	struct curves *cv = NULL;
	simbench_t *b = NULL;

	if (plan_make(t, &pl, err, errlen) != 0)
		goto fail;
	cv = curves_new(t, &pl);
	if (cv == NULL || check_width(t, cv, err, errlen) != 0)
		goto fail;
	b = sb_alloc(name, cv->np, cv->nsteps);
	if (b == NULL)
		goto fail;
	b->ops = &CURVES_OPS;
	b->impl = cv;
	cv = NULL; /* b owns it now */
	sb_set_metric(b, pl.metric);
	if (build_params(b, b->impl, t, &pl, err, errlen) != 0 ||
	    take_curves(b->impl, t, &pl) != 0 || sb_finish(b, err, errlen) != 0)
		goto fail;
	plan_free(&pl);
	return b;
fail:
	if (err != NULL && errlen > 0 && err[0] == '\0')
		sb_err(err, errlen, "%s: out of memory", t->path);
	plan_free(&pl);
	curves_destroy(cv);
	simbench_close(b);
	return NULL;
}
