/*
 * tabular: tables of final results, one column per seed (HPOlib FCNet,
 * HPOBench MLP, NAS-Bench-201 and any CSV of the same layout).
 *
 * Columns: optional config_id, parameter columns, value_0..value_{k-1}. A
 * parameter column whose values are all numbers is DISCRETE (the sorted
 * distinct values; numbers within 1e-9 of each other are one value, so
 * "0.0005" and "5e-4" agree), any other is CATEGORICAL (strings in
 * first-seen order). A configuration is looked up exactly, by the tuple of
 * its value indices in a hash table; the table need not hold every
 * combination. An evaluation reports one step of 1 s whose value is column
 * value_{seed mod k}; the truth is the row's mean over seeds.
 *
 * The seed columns come last, in order, and a row may leave out trailing
 * ones (NAS-Bench-201 has two seeds only for about half its architectures):
 * such a row has k' < k values, uses value_{seed mod k'}, and its mean is
 * over those k'.
 *
 * The tabular benchmarks: Klein & Hutter, "Tabular Benchmarks for Joint
 * Architecture and Hyperparameter Optimization" (2019); Eggensperger et al.,
 * "HPOBench" (NeurIPS 2021); Dong & Yang, "NAS-Bench-201" (ICLR 2020).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "table.h"

#define STEP_SECONDS 1.0

struct tabular {
	int nrows;
	int np;
	int nseeds;
	uint32_t *codes;   /* nrows x np: each row's value index per slot */
	double **seeds;    /* nseeds columns of nrows values */
	double *mean;      /* nrows */
	double *ids;       /* nrows */
	uint32_t *slots;   /* open addressing over rows: 0 empty, else row + 1 */
	uint32_t nslots;   /* a power of two, at least 2 * nrows */
};

/* ---- the header ---- */

static int count_seeds(const struct csvtable *t, char *err, size_t errlen)
{
	int nseeds = 0, numbered = 0;

	for (;;) {
		char name[32];

		snprintf(name, sizeof name, "value_%d", nseeds);
		if (csvtable_find(t, name) < 0)
			break;
		nseeds++;
	}
	for (int c = 0; c < t->ncols; c++)
		numbered += table_numbered(t->cols[c].name, "value") >= 0;
	if (numbered != nseeds) {
		sb_err(err, errlen, "%s:1: bad header: seed columns must be "
		       "value_0..value_%d without gaps", t->path, numbered - 1);
		return -1;
	}
	return nseeds;
}

static int is_param(const struct csvtable *t, int c)
{
	const char *name = t->cols[c].name;

	return strcmp(name, TABLE_ID_COLUMN) != 0 &&
	       table_numbered(name, "value") < 0;
}

/* Seeds last and in order, so a short row can only lack seed values. */
static int check_seeds_last(struct csvtable *t, int nseeds, char *err,
			    size_t errlen)
{
	for (int s = 0; s < nseeds; s++) {
		int c = t->ncols - nseeds + s;

		if (table_numbered(t->cols[c].name, "value") != s) {
			sb_err(err, errlen, "%s:1: bad header: value_0..value_%d "
			       "must be the last columns, in order", t->path,
			       nseeds - 1);
			return -1;
		}
	}
	return 0;
}

int tabular_header(struct csvtable *t, char *err, size_t errlen)
{
	int nseeds = count_seeds(t, err, errlen);

	if (nseeds < 0 || check_seeds_last(t, nseeds, err, errlen) != 0)
		return -1;
	for (int c = 0; c < t->ncols; c++)
		t->cols[c].keyed = is_param(t, c);
	t->min_fields = t->ncols - nseeds + 1;
	return 0;
}

/* ---- parameters from the distinct strings of a column ---- */

struct numbered_str {
	double num;
	uint32_t code;
};

static int by_num(const void *a, const void *b)
{
	double x = ((const struct numbered_str *)a)->num;
	double y = ((const struct numbered_str *)b)->num;

	return (x > y) - (x < y);
}

static int same_number(double a, double b)
{
	return fabs(a - b) <= SB_REL_TOL * fmax(fabs(a), fabs(b));
}

/* DISCRETE: sorted distinct numbers; remap[code] = index of the value. */
static int make_discrete(struct sb_param *p, struct numbered_str *ns,
			 uint32_t n, uint32_t *remap)
{
	p->type = SB_DISCRETE;
	p->nums = malloc(n * sizeof *p->nums);
	if (p->nums == NULL)
		return -1;
	qsort(ns, n, sizeof *ns, by_num);
	for (uint32_t i = 0; i < n; i++) {
		if (p->nvalues == 0 || !same_number(ns[i].num, p->nums[p->nvalues - 1]))
			p->nums[p->nvalues++] = ns[i].num;
		remap[ns[i].code] = p->nvalues - 1;
	}
	return 0;
}

/* CATEGORICAL: the strings in first-seen order; codes stay. */
static int make_categorical(struct sb_param *p, const struct strset *set,
			    uint32_t *remap)
{
	p->type = SB_CATEGORICAL;
	p->strs = calloc(set->n, sizeof *p->strs);
	if (p->strs == NULL)
		return -1;
	for (uint32_t i = 0; i < set->n; i++) {
		p->strs[i] = strdup(set->strs[i]);
		if (p->strs[i] == NULL)
			return -1;
		p->nvalues++;
		remap[i] = i;
	}
	return 0;
}

/* Builds the parameter of a keyed column; remap gets set->n entries. */
static int make_param(struct sb_param *p, const struct csvtable_column *col,
		      uint32_t *remap)
{
	const struct strset *set = &col->set;
	struct numbered_str *ns = malloc(set->n * sizeof *ns);
	uint32_t n = 0;
	int rc;

	p->name = strdup(col->name);
	if (ns == NULL || p->name == NULL) {
		free(ns);
		return -1;
	}
	while (n < set->n && csvtable_number(set->strs[n], &ns[n].num)) {
		ns[n].code = n;
		n++;
	}
	rc = n == set->n ? make_discrete(p, ns, n, remap)
			 : make_categorical(p, set, remap);
	free(ns);
	return rc;
}

/* ---- the row index ---- */

static uint64_t tuple_hash(const uint32_t *codes, int np)
{
	return XXH3_64bits(codes, np * sizeof *codes);
}

/* The row holding this tuple, or -1; *slot is where it is or would go. */
static int find_row(const struct tabular *tb, const uint32_t *codes,
		    uint32_t *slot)
{
	uint32_t k = (uint32_t)tuple_hash(codes, tb->np) & (tb->nslots - 1);

	for (; tb->slots[k] != 0; k = (k + 1) & (tb->nslots - 1)) {
		int row = tb->slots[k] - 1;

		if (memcmp(&tb->codes[(size_t)row * tb->np], codes,
			   tb->np * sizeof *codes) == 0) {
			*slot = k;
			return row;
		}
	}
	*slot = k;
	return -1;
}

static int index_rows(struct tabular *tb, const struct csvtable *t,
		      char *err, size_t errlen)
{
	tb->nslots = 64;
	while (tb->nslots < 2 * (uint32_t)tb->nrows)
		tb->nslots *= 2;
	tb->slots = calloc(tb->nslots, sizeof *tb->slots);
	if (tb->slots == NULL)
		return -1;
	for (int r = 0; r < tb->nrows; r++) {
		uint32_t slot;
		int dup = find_row(tb, &tb->codes[(size_t)r * tb->np], &slot);

		if (dup >= 0) {
			sb_err(err, errlen, "%s:%ld: the same configuration as "
			       "line %ld", t->path, t->lines[r], t->lines[dup]);
			return -1;
		}
		tb->slots[slot] = r + 1;
	}
	return 0;
}

/* ---- building ---- */

static int build_params(simbench_t *b, struct tabular *tb,
			const struct csvtable *t)
{
	int slot = 0;

	for (int c = 0; c < t->ncols; c++) {
		const struct csvtable_column *col = &t->cols[c];
		uint32_t *remap;

		if (!col->keyed)
			continue;
		remap = malloc(col->set.n * sizeof *remap);
		if (remap == NULL || make_param(&b->params[slot], col, remap) != 0) {
			free(remap);
			return -1;
		}
		for (int r = 0; r < t->nrows; r++)
			tb->codes[(size_t)r * tb->np + slot] = remap[col->code[r]];
		free(remap);
		slot++;
	}
	return 0;
}

/* Seed values a row has: value_0..value_{n-1}, the rest NAN. */
static int row_seeds(const struct tabular *tb, int row)
{
	int n = 0;

	while (n < tb->nseeds && !isnan(tb->seeds[n][row]))
		n++;
	return n;
}

static int ascending(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The mean of a row's values, summed in ascending order: rows that hold
 * the same values in another order of seeds get the very same mean, bit
 * for bit, as their truths should be (a sum in seed order can differ in
 * its last bit). v: room for nseeds values. */
static double row_mean(const struct tabular *tb, int row, double *v)
{
	double sum = 0;
	int n = row_seeds(tb, row);

	for (int s = 0; s < n; s++)
		v[s] = tb->seeds[s][row];
	qsort(v, n, sizeof v[0], ascending);
	for (int s = 0; s < n; s++)
		sum += v[s] / n;
	return sum;
}

static int take_values(struct tabular *tb, struct csvtable *t)
{
	double *scratch = malloc((tb->nseeds + 1) * sizeof *scratch);

	tb->seeds = calloc(tb->nseeds, sizeof *tb->seeds);
	tb->mean = calloc(tb->nrows, sizeof *tb->mean);
	tb->ids = table_take_ids(t);
	if (scratch == NULL || tb->seeds == NULL || tb->mean == NULL ||
	    tb->ids == NULL) {
		free(scratch);
		return -1;
	}
	for (int s = 0; s < tb->nseeds; s++) {
		int c = t->ncols - tb->nseeds + s;

		tb->seeds[s] = t->cols[c].num;
		t->cols[c].num = NULL;
	}
	for (int r = 0; r < tb->nrows; r++)
		tb->mean[r] = row_mean(tb, r, scratch);
	free(scratch);
	return 0;
}

/* ---- the kind ---- */

/* "no row for a='relu', b=8" for the error of an absent combination. */
static void describe(const simbench_t *b, const struct sb_value *x, char *buf,
		     size_t size)
{
	size_t used = snprintf(buf, size, "no row for ");

	for (int i = 0; i < b->nparams && used < size; i++) {
		const struct sb_param *p = &b->params[i];
		const char *sep = i ? ", " : "";

		if (p->type == SB_DISCRETE)
			used += snprintf(buf + used, size - used, "%s%s=%.15g",
					 sep, p->name, x[p->slot].num);
		else
			used += snprintf(buf + used, size - used, "%s%s='%s'",
					 sep, p->name, p->strs[x[p->slot].idx]);
	}
}

static int tabular_eval(simbench_t *b, const struct sb_value *x, int budget,
			uint64_t seed, struct simbench_curve *out, char *err,
			size_t errlen)
{
	const struct tabular *tb = b->impl;
	uint32_t codes[64], slot;
	char what[200];
	int row, s;

	for (int j = 0; j < tb->np; j++)
		codes[j] = (uint32_t)x[j].idx;
	row = find_row(tb, codes, &slot);
	if (row < 0) {
		describe(b, x, what, sizeof what);
		sb_err(err, errlen, "%s: %s (the table lacks this combination)",
		       b->name, what);
		return -1;
	}
	s = (int)(seed % (uint64_t)row_seeds(tb, row));
	out->n = 1;
	out->value[0] = tb->seeds[s][row];
	out->time[0] = STEP_SECONDS;
	out->truth = tb->mean[row];
	sb_outputs(out, json_pack("{s:I, s:i, s:f}", "row",
				  (json_int_t)tb->ids[row], "seed", s, "truth",
				  out->truth));
	return 0;
}

static double tabular_optimum(const simbench_t *b, int maximize)
{
	const struct tabular *tb = b->impl;
	double best = tb->mean[0];

	for (int r = 1; r < tb->nrows; r++)
		best = maximize ? fmax(best, tb->mean[r]) : fmin(best, tb->mean[r]);
	return best;
}

static void tabular_destroy(void *impl)
{
	struct tabular *tb = impl;

	if (tb == NULL)
		return;
	for (int s = 0; tb->seeds != NULL && s < tb->nseeds; s++)
		free(tb->seeds[s]);
	free(tb->seeds);
	free(tb->codes);
	free(tb->mean);
	free(tb->ids);
	free(tb->slots);
	free(tb);
}

static const struct sb_ops TABULAR_OPS = {
	.eval = tabular_eval,
	.optimum = tabular_optimum,
	.destroy = tabular_destroy,
};

static struct tabular *tabular_new(const struct csvtable *t, char *err,
				   size_t errlen)
{
	struct tabular *tb = calloc(1, sizeof *tb);

	if (tb == NULL)
		return NULL;
	tb->nrows = t->nrows;
	tb->nseeds = count_seeds(t, err, errlen);
	for (int c = 0; c < t->ncols; c++)
		tb->np += t->cols[c].keyed;
	if (tb->np == 0 || tb->np > 64) {
		sb_err(err, errlen, "%s: %d parameter columns; a tabular table "
		       "needs 1 to 64", t->path, tb->np);
		tabular_destroy(tb);
		return NULL;
	}
	tb->codes = malloc((size_t)tb->nrows * tb->np * sizeof *tb->codes);
	if (tb->codes == NULL) {
		tabular_destroy(tb);
		return NULL;
	}
	return tb;
}

simbench_t *tabular_build(const char *name, struct csvtable *t, char *err,
			  size_t errlen)
{
	struct tabular *tb = tabular_new(t, err, errlen);
	simbench_t *b = tb ? sb_alloc(name, tb->np, 1) : NULL;

	if (b == NULL) {
		tabular_destroy(tb);
		goto fail;
	}
	b->ops = &TABULAR_OPS;
	b->impl = tb;
	if (build_params(b, tb, t) != 0 || take_values(tb, t) != 0 ||
	    index_rows(tb, t, err, errlen) != 0 || sb_finish(b, err, errlen) != 0)
		goto fail;
	return b;
fail:
	if (err != NULL && errlen > 0 && err[0] == '\0')
		sb_err(err, errlen, "%s: out of memory", t->path);
	simbench_close(b);
	return NULL;
}
