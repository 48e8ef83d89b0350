/*
 * params: the search space of a benchmark, as JSON out and as checked
 * values in. The JSON follows maggy's Space:describe()
 * (lua/maggy/searchspace.lua); decoding accepts what a maggy strategy or
 * another optimizer sends back for that space and rejects anything else with
 * a message naming the parameter.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static const char *const TYPE_NAMES[] = {
	[SB_DOUBLE] = "DOUBLE",
	[SB_INTEGER] = "INTEGER",
	[SB_DISCRETE] = "DISCRETE",
	[SB_CATEGORICAL] = "CATEGORICAL",
};

/* ---- names ---- */

int sb_check_name(const char *name, char *err, size_t errlen)
{
	int ok = isalpha((unsigned char)name[0]) || name[0] == '_';

	for (const char *c = name + 1; ok && *c; c++)
		ok = isalnum((unsigned char)*c) || *c == '_';
	if (!ok) {
		sb_err(err, errlen, "parameter '%s': the name must be a Python "
		       "identifier (letters, digits, _)", name);
		return -1;
	}
	if (strcmp(name, "budget") == 0 || strcmp(name, "reporter") == 0) {
		sb_err(err, errlen, "parameter '%s': the name is reserved for "
		       "the training function", name);
		return -1;
	}
	return 0;
}

/* ---- the space as JSON ---- */

/* Integral numbers become JSON integers, so Lua and Python see 16, not 16.0. */
static json_t *number_json(double v)
{
	if (v == floor(v) && fabs(v) < 9007199254740992.0)
		return json_integer((json_int_t)v);
	return json_real(v);
}

static json_t *values_json(const struct sb_param *p)
{
	json_t *arr = json_array();

	for (int i = 0; arr != NULL && i < p->nvalues; i++) {
		json_t *v = p->type == SB_DISCRETE ? number_json(p->nums[i])
						   : json_string(p->strs[i]);
		if (json_array_append_new(arr, v) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static json_t *param_json(const struct sb_param *p)
{
	json_t *o = json_pack("{s:s, s:s}", "name", p->name, "type",
			      TYPE_NAMES[p->type]);
	int rc = o == NULL;

	if (rc == 0 && p->type == SB_DOUBLE)
		rc = json_object_update_new(o, json_pack("{s:f, s:f, s:b}",
			"low", p->low, "high", p->high, "log", p->log));
	else if (rc == 0 && p->type == SB_INTEGER)
		rc = json_object_update_new(o, json_pack("{s:I, s:I, s:b}",
			"low", (json_int_t)p->low, "high", (json_int_t)p->high,
			"log", p->log));
	else if (rc == 0)
		rc = json_object_set_new(o, "values", values_json(p));
	if (rc != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

char *sb_space_json(const simbench_t *b)
{
	json_t *arr = json_array();
	char *s = NULL;
	int rc = arr == NULL;

	for (int i = 0; rc == 0 && i < b->nparams; i++)
		rc = json_array_append_new(arr, param_json(&b->params[i]));
	if (rc == 0)
		s = json_dumps(arr, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(arr);
	return s;
}

/* ---- decoding params ---- */

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/* Lists the values of p into buf, cut short when buf is full. */
static void list_values(const struct sb_param *p, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < p->nvalues && used < size; i++) {
		const char *sep = i ? ", " : "";

		if (p->type == SB_DISCRETE)
			used += snprintf(buf + used, size - used, "%s%.15g",
					 sep, p->nums[i]);
		else
			used += snprintf(buf + used, size - used, "%s'%s'", sep,
					 p->strs[i]);
	}
}

static void list_names(const simbench_t *b, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < b->nparams && used < size; i++)
		used += snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
				 b->params[i].name);
}

int sb_find_number(const double *sorted, int n, double v)
{
	int lo = 0, hi = n;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (sorted[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* sorted[lo - 1] < v <= sorted[lo]: the match is one of those two. */
	for (int i = lo - 1; i <= lo; i++)
		if (i >= 0 && i < n &&
		    fabs(sorted[i] - v) <= SB_REL_TOL * fmax(fabs(sorted[i]), fabs(v)))
			return i;
	return -1;
}

static int decode_number(const simbench_t *b, const struct sb_param *p,
			 const json_t *v, double *out, char *err, size_t errlen)
{
	if (!json_is_number(v)) {
		sb_err(err, errlen, "%s: parameter '%s' must be a number, got %s",
		       b->name, p->name, json_kind(v));
		return -1;
	}
	*out = json_number_value(v);
	if (!isfinite(*out)) {
		sb_err(err, errlen, "%s: parameter '%s' must be finite",
		       b->name, p->name);
		return -1;
	}
	return 0;
}

static int decode_range(const simbench_t *b, const struct sb_param *p,
			const json_t *v, struct sb_value *x, char *err,
			size_t errlen)
{
	double num, tol = SB_REL_TOL * (p->high - p->low);

	if (decode_number(b, p, v, &num, err, errlen) != 0)
		return -1;
	if (p->type == SB_INTEGER) {
		if (fabs(num - round(num)) > SB_REL_TOL * fmax(1, fabs(num))) {
			sb_err(err, errlen, "%s: parameter '%s' is an INTEGER, "
			       "got %.15g", b->name, p->name, num);
			return -1;
		}
		num = round(num);
	}
	if (num < p->low - tol || num > p->high + tol) {
		sb_err(err, errlen, "%s: parameter '%s' = %.15g is out of "
		       "range [%.15g, %.15g]", b->name, p->name, num, p->low,
		       p->high);
		return -1;
	}
	x->num = fmin(fmax(num, p->low), p->high);
	return 0;
}

static int decode_discrete(const simbench_t *b, const struct sb_param *p,
			   const json_t *v, struct sb_value *x, char *err,
			   size_t errlen)
{
	char values[160];
	double num;

	if (decode_number(b, p, v, &num, err, errlen) != 0)
		return -1;
	x->idx = sb_find_number(p->nums, p->nvalues, num);
	if (x->idx < 0) {
		list_values(p, values, sizeof values);
		sb_err(err, errlen, "%s: parameter '%s' = %.15g is not one of "
		       "its values (%s)", b->name, p->name, num, values);
		return -1;
	}
	x->num = p->nums[x->idx];
	return 0;
}

/* A JSON boolean matches a listed "true" / "false" in any case. */
static int find_category(const struct sb_param *p, const json_t *v)
{
	for (int i = 0; i < p->nvalues; i++) {
		if (json_is_string(v) && strcmp(p->strs[i], json_string_value(v)) == 0)
			return i;
		if (json_is_boolean(v) &&
		    strcasecmp(p->strs[i], json_is_true(v) ? "true" : "false") == 0)
			return i;
	}
	return -1;
}

static int decode_categorical(const simbench_t *b, const struct sb_param *p,
			      const json_t *v, struct sb_value *x, char *err,
			      size_t errlen)
{
	char values[160];

	x->idx = find_category(p, v);
	if (x->idx >= 0)
		return 0;
	list_values(p, values, sizeof values);
	if (json_is_string(v))
		sb_err(err, errlen, "%s: parameter '%s' = '%s' is not one of "
		       "its values (%s)", b->name, p->name,
		       json_string_value(v), values);
	else
		sb_err(err, errlen, "%s: parameter '%s' must be one of (%s), "
		       "got %s", b->name, p->name, values, json_kind(v));
	return -1;
}

static int decode_value(const simbench_t *b, const struct sb_param *p,
			const json_t *v, struct sb_value *x, char *err,
			size_t errlen)
{
	x->num = 0;
	x->idx = -1;
	switch (p->type) {
	case SB_DOUBLE:
	case SB_INTEGER:
		return decode_range(b, p, v, x, err, errlen);
	case SB_DISCRETE:
		return decode_discrete(b, p, v, x, err, errlen);
	default:
		return decode_categorical(b, p, v, x, err, errlen);
	}
}

static int decode_budget(const simbench_t *b, const json_t *v, int *budget,
			 char *err, size_t errlen)
{
	double num = json_number_value(v);

	if (!json_is_number(v) || !isfinite(num) || num <= 0) {
		sb_err(err, errlen, "%s: budget must be a positive number of "
		       "steps, got %s", b->name,
		       json_is_number(v) ? "a number <= 0" : json_kind(v));
		return -1;
	}
	num = round(num);
	*budget = num < 1 ? 1 : num > b->max_budget ? b->max_budget : (int)num;
	return 0;
}

static const struct sb_param *find_param(const simbench_t *b, const char *name)
{
	for (int i = 0; i < b->nparams; i++)
		if (strcmp(b->params[i].name, name) == 0)
			return &b->params[i];
	return NULL;
}

/* Every key must be a parameter or "budget". */
static int check_keys(const simbench_t *b, json_t *params, int *budget,
		      char *err, size_t errlen)
{
	char names[200];
	const char *key;
	json_t *v;

	json_object_foreach(params, key, v) {
		if (strcmp(key, "budget") == 0) {
			if (decode_budget(b, v, budget, err, errlen) != 0)
				return -1;
		} else if (find_param(b, key) == NULL) {
			list_names(b, names, sizeof names);
			sb_err(err, errlen, "%s: unknown parameter '%s' "
			       "(parameters: %s)", b->name, key, names);
			return -1;
		}
	}
	return 0;
}

int sb_decode(const simbench_t *b, json_t *params, struct sb_value *x,
	      int *budget, char *err, size_t errlen)
{
	if (!json_is_object(params)) {
		sb_err(err, errlen, "%s: params must be a JSON object, got %s",
		       b->name, json_kind(params));
		return -1;
	}
	*budget = b->max_budget;
	if (check_keys(b, params, budget, err, errlen) != 0)
		return -1;
	for (int i = 0; i < b->nparams; i++) {
		const struct sb_param *p = &b->params[i];
		json_t *v = json_object_get(params, p->name);

		if (v == NULL) {
			sb_err(err, errlen, "%s: missing parameter '%s'",
			       b->name, p->name);
			return -1;
		}
		if (decode_value(b, p, v, &x[p->slot], err, errlen) != 0)
			return -1;
	}
	return 0;
}

void sb_param_free(struct sb_param *p)
{
	for (int i = 0; p->strs != NULL && i < p->nvalues; i++)
		free(p->strs[i]);
	free(p->strs);
	free(p->nums);
	free(p->name);
}
