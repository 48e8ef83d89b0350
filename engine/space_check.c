/* space_check: suggestions checked against the space. See space_check.h. */
#include "space_check.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/numtext.h"
#include "proto/utf8.h"

/* Slack on DOUBLE bounds, relative to each bound (see space_check.h). Zero for
 * a bound of 0, where no rounding through exp/log can land outside. */
#define BOUND_REL_TOL 1e-12

enum ptype { P_DOUBLE, P_INTEGER, P_DISCRETE, P_CATEGORICAL, P_UNKNOWN };

static const char *const TYPE_NAMES[] = {
	[P_DOUBLE] = "DOUBLE",
	[P_INTEGER] = "INTEGER",
	[P_DISCRETE] = "DISCRETE",
	[P_CATEGORICAL] = "CATEGORICAL",
};

/* Keys of params that are no parameter, hence no parameter's name (nor is
 * "reporter", the training function's own argument). */
static const char *const RESERVED[] = { "budget", "ablate", "seed", "reporter" };

/* Enough for any number and the first 40 bytes of a string, quoted. */
#define SHOW_SIZE 64

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		n = vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
		if (n >= (int)errlen) /* cut: not inside a character */
			err[utf8_prefix(err, strlen(err))] = '\0';
	}
	return -1;
}

static const char *show_number(double x, char *buf)
{
	return numtext_shortest(x, buf, SHOW_SIZE);
}

/* A JSON value as the messages show it: 'text', 16, true, or its kind. */
static const char *show_value(const json_t *v, char *buf)
{
	if (v == NULL)
		return "nothing";
	switch (json_typeof(v)) {
	case JSON_STRING:
		snprintf(buf, SHOW_SIZE, "'%.*s'",
			 (int)utf8_prefix(json_string_value(v),
				    strnlen(json_string_value(v), 40)),
			 json_string_value(v));
		return buf;
	case JSON_INTEGER:
	case JSON_REAL:
		return show_number(json_number_value(v), buf);
	case JSON_TRUE: return "true";
	case JSON_FALSE: return "false";
	case JSON_NULL: return "null";
	case JSON_OBJECT: return "an object";
	default: return "an array";
	}
}

static const char *param_name(const json_t *p)
{
	return json_string_value(json_object_get(p, "name"));
}

/* A Python identifier of ASCII letters, digits and _, and not reserved:
 * the name a training function takes the parameter by. */
static int usable_name(const char *name)
{
	const char *c = name;
	size_t i;

	if (!(isalpha((unsigned char)*c) || *c == '_'))
		return 0;
	for (; *c; c++)
		if (!(isalnum((unsigned char)*c) || *c == '_'))
			return 0;
	for (i = 0; i < sizeof RESERVED / sizeof RESERVED[0]; i++)
		if (strcmp(name, RESERVED[i]) == 0)
			return 0;
	return 1;
}

static enum ptype parse_type(const char *name)
{
	for (int t = P_DOUBLE; name != NULL && t < P_UNKNOWN; t++)
		if (strcmp(name, TYPE_NAMES[t]) == 0)
			return t;
	return P_UNKNOWN;
}

/* Lua's ==, which Space:validate uses: numbers by value (16 == 16.0),
 * strings by content, booleans and null by identity. */
static int same_value(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	return json_equal(a, b);
}

/* ---- one parameter ---- */

/* Entry i of the space, well formed: a usable name, a known type, and a
 * usable range or a list of values. Stores its type in *type. */
static int check_definition(const json_t *p, size_t i, enum ptype *type,
			    char *err, size_t errlen)
{
	const char *name = param_name(p);
	const char *tname = json_string_value(json_object_get(p, "type"));
	const json_t *lo = json_object_get(p, "low");
	const json_t *hi = json_object_get(p, "high");
	const json_t *values = json_object_get(p, "values");
	int log = json_is_true(json_object_get(p, "log"));
	char sl[SHOW_SIZE], sh[SHOW_SIZE];
	double low, high;

	if (name == NULL)
		return fail(err, errlen, "search space: entry %zu has no name",
			    i + 1);
	if (!usable_name(name))
		return fail(err, errlen, "search space: parameter '%s' is no "
			    "Python identifier, or a reserved name", name);
	*type = parse_type(tname);
	if (*type == P_UNKNOWN)
		return fail(err, errlen, "search space: parameter '%s' has no "
			    "known type (got %s)", name,
			    tname ? tname : "none");
	if (*type == P_DISCRETE || *type == P_CATEGORICAL)
		return json_is_array(values) && json_array_size(values) > 0 ? 0 :
			fail(err, errlen, "search space: parameter '%s' has no "
			     "list of values", name);
	if (!json_is_number(lo) || !json_is_number(hi))
		return fail(err, errlen, "search space: parameter '%s' has no "
			    "numeric low and high", name);
	low = json_number_value(lo);
	high = json_number_value(hi);
	if (!(low <= high) || !isfinite(low) || !isfinite(high) ||
	    (log && low <= 0))
		return fail(err, errlen, "search space: parameter '%s' has no "
			    "usable range [%s, %s]%s", name,
			    show_number(low, sl), show_number(high, sh),
			    log ? " on a log scale" : "");
	return 0;
}

/* A value of a DOUBLE or INTEGER parameter of a well-formed entry. */
static int check_range(const json_t *p, const char *name, enum ptype type,
		       const json_t *v, char *err, size_t errlen)
{
	double x = json_number_value(v);
	double low = json_number_value(json_object_get(p, "low"));
	double high = json_number_value(json_object_get(p, "high"));
	double slack_lo = 0, slack_hi = 0;
	char sv[SHOW_SIZE], sl[SHOW_SIZE], sh[SHOW_SIZE];

	if (!json_is_number(v) || !isfinite(x))
		return fail(err, errlen, "parameter '%s' = %s is not a finite "
			    "number", name, show_value(v, sv));
	if (type == P_INTEGER && x != floor(x))
		return fail(err, errlen, "parameter '%s' = %s is not an "
			    "integer", name, show_value(v, sv));
	if (type == P_DOUBLE) {
		slack_lo = BOUND_REL_TOL * fabs(low);
		slack_hi = BOUND_REL_TOL * fabs(high);
	}
	if (x < low - slack_lo || x > high + slack_hi)
		return fail(err, errlen, "parameter '%s' = %s is outside "
			    "[%s, %s]", name, show_value(v, sv),
			    show_number(low, sl), show_number(high, sh));
	return 0;
}

/* A value of a DISCRETE or CATEGORICAL parameter of a well-formed entry. */
static int check_listed(const json_t *p, const char *name, const json_t *v,
			char *err, size_t errlen)
{
	const json_t *x;
	char sv[SHOW_SIZE];
	size_t i;

	json_array_foreach(json_object_get(p, "values"), i, x)
		if (same_value(x, v))
			return 0;
	return fail(err, errlen, "parameter '%s' = %s is not one of the listed "
		    "values", name, show_value(v, sv));
}

/* Entry i of the space: well formed, and its value in params valid. */
static int check_param(const json_t *p, size_t i, const json_t *params,
		       char *err, size_t errlen)
{
	const char *name = param_name(p);
	enum ptype type;
	const json_t *v;

	if (check_definition(p, i, &type, err, errlen) != 0)
		return -1;
	v = json_object_get(params, name);
	if (v == NULL)
		return fail(err, errlen, "parameter '%s' is missing", name);
	if (type == P_DOUBLE || type == P_INTEGER)
		return check_range(p, name, type, v, err, errlen);
	return check_listed(p, name, v, err, errlen);
}

/* ---- the keys of params ---- */

static int check_budget(const json_t *params, char *err, size_t errlen)
{
	const json_t *b = json_object_get(params, "budget");
	double x = json_number_value(b);
	char sv[SHOW_SIZE];

	if (b == NULL || (json_is_number(b) && isfinite(x) && x > 0))
		return 0;
	return fail(err, errlen, "'budget' must be a positive number, got %s",
		    show_value(b, sv));
}

/* An ablation study's "ablate": {"features"|"layers"|"components": [names]}. */
static int check_ablate(const json_t *params, char *err, size_t errlen)
{
	const json_t *a = json_object_get(params, "ablate"), *names, *n;
	const char *kind;
	size_t i;

	if (a == NULL)
		return 0;
	if (!json_is_object(a))
		return fail(err, errlen, "'ablate' must be an object of name lists");
	json_object_foreach((json_t *)a, kind, names) {
		if (strcmp(kind, "features") != 0 && strcmp(kind, "layers") != 0 &&
		    strcmp(kind, "components") != 0)
			return fail(err, errlen, "'ablate' has an unknown kind "
				    "'%.*s'", (int)utf8_prefix(kind, strnlen(kind, 40)),
				    kind);
		if (!json_is_array(names))
			return fail(err, errlen, "'ablate' %s must be a list",
				    kind);
		json_array_foreach(names, i, n)
			if (!json_is_string(n))
				return fail(err, errlen, "'ablate' %s must be "
					    "a list of names", kind);
	}
	return 0;
}

/* The "seed" of a repeated ablation trial: an integer in [0, 2^53). */
static int check_seed(const json_t *params, char *err, size_t errlen)
{
	const json_t *s = json_object_get(params, "seed");
	char sv[SHOW_SIZE];

	if (s == NULL || (json_is_integer(s) && json_integer_value(s) >= 0 &&
			  json_integer_value(s) < (json_int_t)1 << 53))
		return 0;
	return fail(err, errlen, "'seed' must be an integer >= 0, got %s",
		    show_value(s, sv));
}

/* Whether key (len bytes: a JSON key may hold NUL) is exactly name. */
static int key_is(const char *key, size_t len, const char *name)
{
	return name != NULL && strlen(name) == len &&
	       memcmp(name, key, len) == 0;
}

static int in_space(const json_t *space, const char *key, size_t len)
{
	const json_t *p;
	size_t i;

	json_array_foreach(space, i, p)
		if (key_is(key, len, param_name(p)))
			return 1;
	return 0;
}

static int check_unknown(const json_t *space, const json_t *params,
			 char *err, size_t errlen)
{
	/* jansson's iterators take a non-const object; nothing is modified. */
	json_t *obj = (json_t *)params;

	for (void *it = json_object_iter(obj); it != NULL;
	     it = json_object_iter_next(obj, it)) {
		const char *key = json_object_iter_key(it);
		size_t len = json_object_iter_key_len(it);

		if (!key_is(key, len, "budget") && !key_is(key, len, "ablate") &&
		    !key_is(key, len, "seed") && !in_space(space, key, len))
			return fail(err, errlen, "unknown parameter '%.*s'",
				    (int)utf8_prefix(key, strnlen(key, 60)), key);
	}
	return 0;
}

/* ---- the check ---- */

static int check_array(const json_t *space, char *err, size_t errlen)
{
	if (json_is_array(space) && json_array_size(space) > 0)
		return 0;
	return fail(err, errlen, "search space: expected a non-empty array "
		    "of parameters");
}

int space_check_space(const json_t *space, char *err, size_t errlen)
{
	const json_t *p;
	enum ptype type;
	size_t i;

	if (check_array(space, err, errlen) != 0)
		return -1;
	json_array_foreach(space, i, p)
		if (check_definition(p, i, &type, err, errlen) != 0)
			return -1;
	return 0;
}

int space_check(const json_t *space, const json_t *params, char *err,
		size_t errlen)
{
	const json_t *p;
	char sv[SHOW_SIZE];
	size_t i;

	if (check_array(space, err, errlen) != 0)
		return -1;
	if (!json_is_object(params))
		return fail(err, errlen, "params must be a JSON object, got %s",
			    show_value(params, sv));
	if (check_budget(params, err, errlen) != 0 ||
	    check_ablate(params, err, errlen) != 0 ||
	    check_seed(params, err, errlen) != 0)
		return -1;
	json_array_foreach(space, i, p)
		if (check_param(p, i, params, err, errlen) != 0)
			return -1;
	return check_unknown(space, params, err, errlen);
}
