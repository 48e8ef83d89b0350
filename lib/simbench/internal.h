/*
 * internal: what the parts of simbench share; not installed, not for
 * callers of simbench.h.
 *
 * A handle is generic (name, search space, budget, scratch buffers) plus one
 * kind (synthetic.c, curves.c, tabular.c) reached through struct sb_ops.
 * params.c turns a params JSON object into one struct sb_value per
 * parameter, checked against the space, so a kind only ever sees valid
 * values. csvtable.c reads the CSV files both table kinds start from.
 */
#pragma once

#include "simbench.h"

#include <jansson.h>

/* The four parameter types of maggy's search space. */
enum sb_type { SB_DOUBLE, SB_INTEGER, SB_DISCRETE, SB_CATEGORICAL };

/* Numbers closer than this (relative) are the same listed value or still in
 * range: a value printed with 15 digits in the space JSON maps back. */
#define SB_REL_TOL 1e-9

struct sb_param {
	char *name;
	enum sb_type type;
	int slot;       /* where the kind wants this value in its sb_value[] */
	double low;     /* DOUBLE, INTEGER: the range */
	double high;
	int log;        /* DOUBLE, INTEGER: log scale */
	int nvalues;    /* DISCRETE, CATEGORICAL */
	double *nums;   /* DISCRETE: the values, sorted ascending */
	char **strs;    /* CATEGORICAL: the values, in first-seen order */
};

/* A decoded parameter value. */
struct sb_value {
	double num; /* DOUBLE, INTEGER (rounded), DISCRETE: the number */
	int idx;    /* DISCRETE, CATEGORICAL: index into the listed values */
};

struct sb_ops {
	/* x is indexed by sb_param.slot; budget is already 1..max_budget.
	 * Fills out (arrays: b->value, b->time). Returns 0 or -1 with err. */
	int (*eval)(simbench_t *b, const struct sb_value *x, int budget,
		    uint64_t seed, struct simbench_curve *out, char *err,
		    size_t errlen);
	/* The best full-budget value, or NAN when unknown. */
	double (*optimum)(const simbench_t *b, int maximize);
	void (*destroy)(void *impl);
};

struct simbench {
	char *name;
	char *space_json;
	int max_budget;
	int nparams;
	struct sb_param *params; /* sorted by name once the kind is built */
	const struct sb_ops *ops;
	void *impl;              /* the kind's data, freed by ops->destroy */
	struct sb_value *x;      /* decoded params, nparams */
	double *value;           /* curve buffers, max_budget each */
	double *time;
	char metric[64];	 /* the metric's name if known, else "" */
	const char *direction;   /* "max", "min" or NULL (unknown) */
};

/* ---- simbench.c ---- */

/* Formats an error message into err (NULL-safe). */
void sb_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Allocates a handle with nparams zeroed parameters (slot = index) and no
 * kind yet; NULL when out of memory. The kind fills params, then calls
 * sb_finish(). */
simbench_t *sb_alloc(const char *name, int nparams, int max_budget);

/* Names the benchmark's metric; its direction is guessed from the name:
 * accuracy, AUC, F1, score, R^2 are maximized; loss, error, MSE, regret are
 * minimized; anything else stays unknown. */
void sb_set_metric(simbench_t *b, const char *name);

/* Sorts the parameters by name, checks the names, builds the space JSON and
 * the scratch buffers. Returns 0 or -1 with err. */
int sb_finish(simbench_t *b, char *err, size_t errlen);

/* Writes a JSON object into out->outputs; steals obj. */
void sb_outputs(struct simbench_curve *out, json_t *obj);

/* ---- params.c ---- */

/* Checks that name can be a keyword argument of the training function:
 * a Python identifier other than "budget" and "reporter". */
int sb_check_name(const char *name, char *err, size_t errlen);

/* The search space as Space:describe() JSON; NULL when out of memory. */
char *sb_space_json(const simbench_t *b);

/* Decodes params (a JSON object) into x[] (by slot) and *budget. Returns 0
 * or -1 with err naming the parameter. */
int sb_decode(const simbench_t *b, json_t *params, struct sb_value *x,
	      int *budget, char *err, size_t errlen);

/* Frees what a parameter owns (not the struct). */
void sb_param_free(struct sb_param *p);

/* Index of the listed DISCRETE value equal to v within SB_REL_TOL, or -1. */
int sb_find_number(const double *sorted, int n, double v);

/* ---- the kinds ---- */

/* synthetic.c */
#define SB_SYNTHETIC_NAMES \
	"branin, hartmann3, hartmann6, branin_mf, hartmann3_mf, hartmann6_mf"

/* Whether name is one of SB_SYNTHETIC_NAMES. */
int synthetic_is(const char *name);

/* Opens a synthetic function; NULL with err when out of memory. */
simbench_t *synthetic_open(const char *name, char *err, size_t errlen);

/* table.c: a CSV file of either table layout (curves.c, tabular.c). */
simbench_t *table_open(const char *path, char *err, size_t errlen);
