/* simbench: the public API, dispatching to the kinds. See simbench.h. */
#include "simbench.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* Reals in the space and outputs JSON: 15 digits print 0.0005 as "0.0005",
 * and SB_REL_TOL maps the printed value back to the exact one. */
#define SB_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

void sb_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

simbench_t *sb_alloc(const char *name, int nparams, int max_budget)
{
	simbench_t *b = calloc(1, sizeof *b);

	if (b == NULL)
		return NULL;
	b->name = strdup(name);
	b->params = calloc(nparams > 0 ? nparams : 1, sizeof *b->params);
	if (b->name == NULL || b->params == NULL) {
		simbench_close(b);
		return NULL;
	}
	b->nparams = nparams;
	b->max_budget = max_budget;
	for (int i = 0; i < nparams; i++)
		b->params[i].slot = i;
	return b;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct sb_param *)a)->name,
		      ((const struct sb_param *)b)->name);
}

static int check_params(const simbench_t *b, char *err, size_t errlen)
{
	if (b->nparams == 0) {
		sb_err(err, errlen, "%s: no parameter columns", b->name);
		return -1;
	}
	for (int i = 0; i < b->nparams; i++) {
		if (sb_check_name(b->params[i].name, err, errlen) != 0)
			return -1;
		if (i > 0 && strcmp(b->params[i - 1].name, b->params[i].name) == 0) {
			sb_err(err, errlen, "parameter '%s' appears twice",
			       b->params[i].name);
			return -1;
		}
	}
	return 0;
}

int sb_finish(simbench_t *b, char *err, size_t errlen)
{
	qsort(b->params, b->nparams, sizeof *b->params, by_name);
	if (check_params(b, err, errlen) != 0)
		return -1;
	b->space_json = sb_space_json(b);
	b->x = calloc(b->nparams, sizeof *b->x);
	b->value = calloc(b->max_budget, sizeof *b->value);
	b->time = calloc(b->max_budget, sizeof *b->time);
	if (b->space_json == NULL || b->x == NULL || b->value == NULL ||
	    b->time == NULL) {
		sb_err(err, errlen, "%s: out of memory", b->name);
		return -1;
	}
	return 0;
}

void sb_outputs(struct simbench_curve *out, json_t *obj)
{
	char *s = obj ? json_dumps(obj, SB_JSON_FLAGS) : NULL;

	/* Truncated JSON would be worse than none. */
	if (s != NULL && strlen(s) < sizeof out->outputs)
		strcpy(out->outputs, s);
	else
		strcpy(out->outputs, "{}");
	free(s);
	json_decref(obj);
}

/* ---- the public API ---- */

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

simbench_t *simbench_open(const char *spec, char *err, size_t errlen)
{
	sb_err(err, errlen, "%s", "");
	if (spec == NULL || spec[0] == '\0') {
		sb_err(err, errlen, "no benchmark given: expected a synthetic "
		       "function (%s) or the path of a CSV file",
		       SB_SYNTHETIC_NAMES);
		return NULL;
	}
	if (synthetic_is(spec))
		return synthetic_open(spec, err, errlen);
	/* A bare word is more likely a misspelt function than a file. */
	if (access(spec, F_OK) != 0 && strchr(spec, '/') == NULL &&
	    !ends_with(spec, ".csv")) {
		sb_err(err, errlen, "unknown benchmark '%s': no synthetic "
		       "function (%s) and no such file", spec,
		       SB_SYNTHETIC_NAMES);
		return NULL;
	}
	return table_open(spec, err, errlen);
}

const char *simbench_name(const simbench_t *b)
{
	return b->name;
}

const char *simbench_space_json(const simbench_t *b)
{
	return b->space_json;
}

int simbench_max_budget(const simbench_t *b)
{
	return b->max_budget;
}

void sb_set_metric(simbench_t *b, const char *name)
{
	static const char *const max_words[] = { "acc", "auc", "f1", "score",
						 "r2", "precision", "recall" };
	static const char *const min_words[] = { "loss", "err", "mse", "mae",
						 "regret", "nll", "perplexity" };
	char lower[sizeof b->metric];
	int up = 0, down = 0;
	size_t i;

	snprintf(b->metric, sizeof b->metric, "%s", name);
	for (i = 0; i < sizeof lower - 1 && name[i]; i++)
		lower[i] = (char)tolower((unsigned char)name[i]);
	lower[i] = '\0';
	for (i = 0; i < sizeof min_words / sizeof *min_words; i++)
		down |= strstr(lower, min_words[i]) != NULL;
	for (i = 0; i < sizeof max_words / sizeof *max_words; i++)
		up |= strstr(lower, max_words[i]) != NULL;
	b->direction = up == down ? NULL : up ? "max" : "min";
}

const char *simbench_metric(const simbench_t *b, const char **direction)
{
	*direction = b->direction;
	return b->metric;
}

double simbench_optimum(const simbench_t *b, const char *direction)
{
	if (direction != NULL && strcmp(direction, "max") == 0)
		return b->ops->optimum(b, 1);
	if (direction != NULL && strcmp(direction, "min") == 0)
		return b->ops->optimum(b, 0);
	return NAN;
}

int simbench_eval(simbench_t *b, const char *params_json, uint64_t seed,
		  struct simbench_curve *out, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *params;
	int budget, rc;

	params = json_loads(params_json ? params_json : "", JSON_REJECT_DUPLICATES,
			    &jerr);
	if (params == NULL) {
		sb_err(err, errlen, "%s: params are not a JSON object: %s",
		       b->name, jerr.text);
		return -1;
	}
	rc = sb_decode(b, params, b->x, &budget, err, errlen);
	json_decref(params);
	if (rc != 0)
		return -1;
	memset(out, 0, sizeof *out);
	out->value = b->value;
	out->time = b->time;
	return b->ops->eval(b, b->x, budget, seed, out, err, errlen);
}

void simbench_close(simbench_t *b)
{
	if (b == NULL)
		return;
	if (b->ops != NULL)
		b->ops->destroy(b->impl);
	for (int i = 0; i < b->nparams; i++)
		sb_param_free(&b->params[i]);
	free(b->params);
	free(b->name);
	free(b->space_json);
	free(b->x);
	free(b->value);
	free(b->time);
	free(b);
}
