/*
 * test_space_check: unit tests of engine/space_check.c. The space is the
 * JSON that Space:describe() printed for a five-parameter space (one of each
 * type, a DOUBLE on a log scale, a CATEGORICAL mixing strings, a boolean and
 * a number). JSON in this file is written with ' for " to stay readable.
 * Exit status 0 when every check holds; each failed check prints file:line,
 * the params and what differed.
 */
#include "space_check.h"

#include <stdio.h>
#include <string.h>

static int failures;

/* Printed by luajit from
 *   maggy.searchspace{a = maggy.double(1e-4, 1, {log = true}),
 *                     b = maggy.integer(1, 6),
 *                     c = maggy.categorical{"x", "y", true, 3},
 *                     d = maggy.discrete{32, 16, 0.5},
 *                     e = maggy.double(0, 1)}:describe()
 * through maggy.json: note the integral bounds written as JSON integers and
 * DISCRETE sorted. */
static const char SPACE[] =
	"[{'high':1,'log':true,'low':0.0001,'name':'a','type':'DOUBLE'},"
	"{'high':6,'log':false,'low':1,'name':'b','type':'INTEGER'},"
	"{'name':'c','type':'CATEGORICAL','values':['x','y',true,3]},"
	"{'name':'d','type':'DISCRETE','values':[0.5,16,32]},"
	"{'high':1,'log':false,'low':0,'name':'e','type':'DOUBLE'}]";

/* Valid params, as maggy.runtime's wire_params sends them (DOUBLEs as reals);
 * the tests below change one value at a time. */
#define VALID "{'a':0.01,'b':3,'c':'x','d':16,'e':0.5}"

static json_t *space;

/* JSON text written with ' for " (test strings hold no quote of their own). */
static json_t *parse(const char *text, int line)
{
	char json[512];
	json_error_t jerr;
	json_t *v;

	snprintf(json, sizeof json, "%s", text);
	for (char *c = json; *c; c++)
		if (*c == '\'')
			*c = '"';
	v = json_loads(json, JSON_DECODE_ANY, &jerr);
	if (v == NULL) {
		fprintf(stderr, "%s:%d: bad test JSON %s: %s\n", __FILE__, line,
			text, jerr.text);
		failures++;
	}
	return v;
}

/* Checks params (JSON text) against sp: want 0, or -1 and exactly want_err. */
static void expect(const json_t *sp, const char *text, const char *want_err,
		   int line)
{
	json_t *params = parse(text, line);
	char err[256] = "";
	int rc = space_check(sp, params, err, sizeof err);

	if (want_err == NULL && rc != 0) {
		fprintf(stderr, "%s:%d: %s: want valid, got %d (%s)\n",
			__FILE__, line, text, rc, err);
		failures++;
	} else if (want_err != NULL && (rc != -1 || strcmp(err, want_err))) {
		fprintf(stderr, "%s:%d: %s: want -1 \"%s\", got %d \"%s\"\n",
			__FILE__, line, text, want_err, rc, err);
		failures++;
	}
	json_decref(params);
}

#define OK(text) expect(space, (text), NULL, __LINE__)
#define BAD(text, want) expect(space, (text), (want), __LINE__)

/* ---- valid params ---- */

static void test_valid(void)
{
	OK(VALID);
	/* the bounds themselves, and every listed value */
	OK("{'a':0.0001,'b':1,'c':'y','d':0.5,'e':0.0}");
	OK("{'a':1.0,'b':6,'c':true,'d':32,'e':1.0}");
	OK("{'a':1,'b':6,'c':3,'d':32,'e':0}");
	/* integral reals for INTEGER, DISCRETE and a numeric CATEGORICAL */
	OK("{'a':0.5,'b':4.0,'c':3.0,'d':16.0,'e':0.25}");
	/* any key order */
	OK("{'e':0.5,'d':16,'c':'x','b':3,'a':0.01}");
}

/* Past a DOUBLE bound by less than 1e-12 of it passes; by more does not. */
static void test_double_slack(void)
{
	OK("{'a':1.0000000000005,'b':3,'c':'x','d':16,'e':0.5}");
	OK("{'a':9.9999999999995e-05,'b':3,'c':'x','d':16,'e':0.5}");
	BAD("{'a':1.00000000001,'b':3,'c':'x','d':16,'e':0.5}",
	    "parameter 'a' = 1.00000000001 is outside [0.0001, 1]");
	BAD("{'a':9.9999999e-05,'b':3,'c':'x','d':16,'e':0.5}",
	    "parameter 'a' = 9.9999999e-05 is outside [0.0001, 1]");
	/* a bound of 0 gets no slack */
	BAD("{'a':0.01,'b':3,'c':'x','d':16,'e':-1e-300}",
	    "parameter 'e' = -1e-300 is outside [0, 1]");
	BAD("{'a':0.01,'b':3,'c':'x','d':16,'e':1.000000000002}",
	    "parameter 'e' = 1.000000000002 is outside [0, 1]");
}

/* Bounds far from 0 give no slack to an INTEGER: 1e13 + 1 is out, though
 * within 1e-12 of 1e13. */
static void test_integer_no_slack(void)
{
	json_t *big = parse("[{'name':'n','type':'INTEGER','low':1,"
			    "'high':10000000000000,'log':true}]", __LINE__);

	expect(big, "{'n':10000000000000}", NULL, __LINE__);
	expect(big, "{'n':10000000000000.0}", NULL, __LINE__);
	expect(big, "{'n':10000000000001}",
	       "parameter 'n' = 10000000000001 is outside [1, 10000000000000]",
	       __LINE__);
	json_decref(big);
}

/* ---- invalid params, one kind at a time ---- */

static void test_not_objects(void)
{
	char err[128] = "";

	BAD("[]", "params must be a JSON object, got an array");
	BAD("[1, 2]", "params must be a JSON object, got an array");
	BAD("'a'", "params must be a JSON object, got 'a'");
	BAD("3", "params must be a JSON object, got 3");
	BAD("null", "params must be a JSON object, got null");
	BAD("true", "params must be a JSON object, got true");
	if (space_check(space, NULL, err, sizeof err) != -1 ||
	    strcmp(err, "params must be a JSON object, got nothing") != 0) {
		fprintf(stderr, "%s:%d: NULL params: got \"%s\"\n", __FILE__,
			__LINE__, err);
		failures++;
	}
}

static void test_missing(void)
{
	BAD("{}", "parameter 'a' is missing");
	BAD("{'budget':3}", "parameter 'a' is missing");
	BAD("{'a':0.01,'b':3,'d':16,'e':0.5}", "parameter 'c' is missing");
	BAD("{'a':0.01,'b':3,'c':'x','d':16}",
	    "parameter 'e' is missing");
}

static void test_unknown(void)
{
	BAD("{'a':0.01,'b':3,'c':'x','d':16,'e':0.5,'foo':1}",
	    "unknown parameter 'foo'");
	/* reserved for the training function, never a parameter */
	BAD("{'a':0.01,'b':3,'c':'x','d':16,'e':0.5,'reporter':1}",
	    "unknown parameter 'reporter'");
	BAD("{'a':0.01,'b':3,'c':'x','d':16,'e':0.5,'A':0.01}",
	    "unknown parameter 'A'");
}

/* A key equal to a parameter's name (or "budget") up to a NUL is unknown.
 * jansson's parser refuses such keys; a program can still build them. */
static void test_nul_keys(void)
{
	static const char *const keys[] = { "a\0z", "budget\0" };
	static const size_t lens[] = { 3, 7 };
	static const char *const want[] = { "unknown parameter 'a'",
					    "unknown parameter 'budget'" };
	char err[128];

	for (int i = 0; i < 2; i++) {
		json_t *params = parse(VALID, __LINE__);

		json_object_setn_new(params, keys[i], lens[i],
				     json_integer(-1));
		err[0] = '\0';
		if (space_check(space, params, err, sizeof err) != -1 ||
		    strcmp(err, want[i]) != 0) {
			fprintf(stderr, "%s:%d: NUL key %d: got \"%s\"\n",
				__FILE__, __LINE__, i, err);
			failures++;
		}
		json_decref(params);
	}
}

static void test_double(void)
{
	BAD("{'a':2,'b':3,'c':'x','d':16,'e':0.5}",
	    "parameter 'a' = 2 is outside [0.0001, 1]");
	BAD("{'a':0,'b':3,'c':'x','d':16,'e':0.5}",
	    "parameter 'a' = 0 is outside [0.0001, 1]");
	BAD("{'a':0.01,'b':3,'c':'x','d':16,'e':-0.5}",
	    "parameter 'e' = -0.5 is outside [0, 1]");
	BAD("{'a':'0.01','b':3,'c':'x','d':16,'e':0.5}",
	    "parameter 'a' = '0.01' is not a finite number");
	BAD("{'a':null,'b':3,'c':'x','d':16,'e':0.5}",
	    "parameter 'a' = null is not a finite number");
	BAD("{'a':true,'b':3,'c':'x','d':16,'e':0.5}",
	    "parameter 'a' = true is not a finite number");
	BAD("{'a':[0.01],'b':3,'c':'x','d':16,'e':0.5}",
	    "parameter 'a' = an array is not a finite number");
}

static void test_integer(void)
{
	BAD("{'a':0.01,'b':2.5,'c':'x','d':16,'e':0.5}",
	    "parameter 'b' = 2.5 is not an integer");
	BAD("{'a':0.01,'b':3.0000000001,'c':'x','d':16,'e':0.5}",
	    "parameter 'b' = 3.0000000001 is not an integer");
	/* no slack, and enough digits that the value does not read as 3 */
	BAD("{'a':0.01,'b':3.0000000000000004,'c':'x','d':16,"
	    "'e':0.5}", "parameter 'b' = 3.0000000000000004 is not an integer");
	BAD("{'a':0.01,'b':7,'c':'x','d':16,'e':0.5}",
	    "parameter 'b' = 7 is outside [1, 6]");
	BAD("{'a':0.01,'b':0.0,'c':'x','d':16,'e':0.5}",
	    "parameter 'b' = 0 is outside [1, 6]");
	BAD("{'a':0.01,'b':-3,'c':'x','d':16,'e':0.5}",
	    "parameter 'b' = -3 is outside [1, 6]");
	BAD("{'a':0.01,'b':'3','c':'x','d':16,'e':0.5}",
	    "parameter 'b' = '3' is not a finite number");
	BAD("{'a':0.01,'b':{},'c':'x','d':16,'e':0.5}",
	    "parameter 'b' = an object is not a finite number");
}

static void test_discrete(void)
{
	BAD("{'a':0.01,'b':3,'c':'x','d':24,'e':0.5}",
	    "parameter 'd' = 24 is not one of the listed values");
	BAD("{'a':0.01,'b':3,'c':'x','d':16.000000000000004,'e':0.5}",
	    "parameter 'd' = 16.000000000000004 is not one of the listed "
	    "values");
	BAD("{'a':0.01,'b':3,'c':'x','d':'16','e':0.5}",
	    "parameter 'd' = '16' is not one of the listed values");
	BAD("{'a':0.01,'b':3,'c':'x','d':null,'e':0.5}",
	    "parameter 'd' = null is not one of the listed values");
}

static void test_categorical(void)
{
	BAD("{'a':0.01,'b':3,'c':'z','d':16,'e':0.5}",
	    "parameter 'c' = 'z' is not one of the listed values");
	BAD("{'a':0.01,'b':3,'c':'X','d':16,'e':0.5}",
	    "parameter 'c' = 'X' is not one of the listed values");
	/* no conversions: "3" is not 3, 1 is not true, "true" is not true */
	BAD("{'a':0.01,'b':3,'c':'3','d':16,'e':0.5}",
	    "parameter 'c' = '3' is not one of the listed values");
	BAD("{'a':0.01,'b':3,'c':1,'d':16,'e':0.5}",
	    "parameter 'c' = 1 is not one of the listed values");
	BAD("{'a':0.01,'b':3,'c':'true','d':16,'e':0.5}",
	    "parameter 'c' = 'true' is not one of the listed values");
	BAD("{'a':0.01,'b':3,'c':false,'d':16,'e':0.5}",
	    "parameter 'c' = false is not one of the listed values");
	BAD("{'a':0.01,'b':3,'c':['x'],'d':16,'e':0.5}",
	    "parameter 'c' = an array is not one of the listed values");
}

/* ---- the budget key ---- */

static void test_budget(void)
{
	OK("{'a':0.01,'b':3,'c':'x','d':16,'e':0.5,'budget':1}");
	OK("{'a':0.01,'b':3,'c':'x','d':16,'e':0.5,'budget':0.5}");
	OK("{'a':0.01,'b':3,'c':'x','d':16,'e':0.5,'budget':1e300}");
	BAD("{'a':0.01,'b':3,'c':'x','d':16,'e':0.5,'budget':0}",
	    "'budget' must be a positive number, got 0");
	BAD("{'a':0.01,'b':3,'c':'x','d':16,'e':0.5,'budget':-2.5}",
	    "'budget' must be a positive number, got -2.5");
	BAD("{'a':0.01,'b':3,'c':'x','d':16,'e':0.5,'budget':'9'}",
	    "'budget' must be a positive number, got '9'");
	BAD("{'a':0.01,'b':3,'c':'x','d':16,'e':0.5,'budget':null}",
	    "'budget' must be a positive number, got null");
	BAD("{'a':0.01,'b':3,'c':'x','d':16,'e':0.5,'budget':true}",
	    "'budget' must be a positive number, got true");
	/* the budget alone is no suggestion */
	BAD("{'budget':1}", "parameter 'a' is missing");
}

/* ---- the keys of ablation studies ---- */

static void test_ablation_keys(void)
{
	OK("{'a':0.01,'b':3,'c':'x','d':16,'e':0.5,'ablate':{'features':[],"
	   "'layers':['fc1'],'components':[]},'seed':7}");
	OK("{'a':0.01,'b':3,'c':'x','d':16,'e':0.5,'seed':0}");
	BAD("{'a':0.01,'b':3,'c':'x','d':16,'e':0.5,'ablate':['fc1']}",
	    "'ablate' must be an object of name lists");
	BAD("{'a':0.01,'b':3,'c':'x','d':16,'e':0.5,'ablate':{'weights':[]}}",
	    "'ablate' has an unknown kind 'weights'");
	BAD("{'a':0.01,'b':3,'c':'x','d':16,'e':0.5,'ablate':{'layers':[1]}}",
	    "'ablate' layers must be a list of names");
	BAD("{'a':0.01,'b':3,'c':'x','d':16,'e':0.5,'seed':-1}",
	    "'seed' must be an integer >= 0, got -1");
	BAD("{'a':0.01,'b':3,'c':'x','d':16,'e':0.5,'seed':1.5}",
	    "'seed' must be an integer >= 0, got 1.5");
}

/* ---- the space itself ---- */

/* The space alone (space_check_space, as a run checks it at load) and
 * with a suggestion give the same answer. */
static void expect_bad_space(const char *space_text, const char *want_err,
			     int line)
{
	json_t *sp = space_text ? parse(space_text, line) : NULL;
	char err[256] = "";
	int rc = space_check_space(sp, err, sizeof err);

	if (want_err == NULL ? rc != 0 : rc != -1 || strcmp(err, want_err)) {
		fprintf(stderr, "%s:%d: space alone: want %s, got %d \"%s\"\n",
			__FILE__, line, want_err ? want_err : "valid", rc, err);
		failures++;
	}
	expect(sp, "{'a':0.5}", want_err, line);
	json_decref(sp);
}

#define BAD_SPACE(text, want) expect_bad_space((text), (want), __LINE__)

static void test_bad_space(void)
{
	const char *no_space = "search space: expected a non-empty array of "
			       "parameters";

	BAD_SPACE(NULL, no_space);
	BAD_SPACE("[]", no_space);
	BAD_SPACE("{'a':{'type':'DOUBLE','low':0,'high':1}}", no_space);
	BAD_SPACE("[{'type':'DOUBLE','low':0,'high':1}]",
		  "search space: entry 1 has no name");
	BAD_SPACE("[{'name':'a','type':'FLOAT','low':0,'high':1}]",
		  "search space: parameter 'a' has no known type (got FLOAT)");
	BAD_SPACE("[{'name':'a','low':0,'high':1}]",
		  "search space: parameter 'a' has no known type (got none)");
	BAD_SPACE("[{'name':'a','type':'DOUBLE','low':0}]",
		  "search space: parameter 'a' has no numeric low and high");
	BAD_SPACE("[{'name':'a','type':'CATEGORICAL','values':[]}]",
		  "search space: parameter 'a' has no list of values");
	/* what maggy.searchspace refuses, should a script's describe() or a
	 * bug bring it here */
	BAD_SPACE("[{'name':'reporter','type':'DOUBLE','low':0,'high':1}]",
		  "search space: parameter 'reporter' is no Python identifier, "
		  "or a reserved name");
	BAD_SPACE("[{'name':'a b','type':'DOUBLE','low':0,'high':1}]",
		  "search space: parameter 'a b' is no Python identifier, or a "
		  "reserved name");
	BAD_SPACE("[{'name':'a','type':'DOUBLE','low':5,'high':1}]",
		  "search space: parameter 'a' has no usable range [5, 1]");
	BAD_SPACE("[{'name':'a','type':'DOUBLE','low':-1,'high':1,'log':true}]",
		  "search space: parameter 'a' has no usable range [-1, 1] on a "
		  "log scale");
	/* the well-formed one-parameter space accepts {"a": 0.5} */
	expect_bad_space("[{'name':'a','type':'DOUBLE','low':0,"
			 "'high':1}]", NULL, __LINE__);
}

/* ---- the err buffer ---- */

static void test_err_buffer(void)
{
	json_t *params = parse("{}", __LINE__);
	char small[8];

	memset(small, 'x', sizeof small);
	if (space_check(space, params, NULL, 0) != -1 ||
	    space_check(space, params, small, sizeof small) != -1 ||
	    strcmp(small, "paramet") != 0) {
		fprintf(stderr, "%s:%d: a short err buffer: got \"%.8s\"\n",
			__FILE__, __LINE__, small);
		failures++;
	}
	json_decref(params);
}

/* A reason is cut between characters, never inside one: it ends up in the
 * run's status JSON, which a cut character made unwritable (found by
 * tests/fuzz/fuzz_space_check). */
static void test_utf8_cut(void)
{
	json_t *params = parse("{'a':0.01,'b':3,'c':'a\u00e9\u00e9\u00e9"
			       "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
			       "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
			       "\u00e9\u00e9\u00e9','d':16,'e':0.5}", __LINE__);
	char err[256], small[20];

	/* 'a' and 19 of the 20 two-byte characters fit in 40 bytes. */
	if (space_check(space, params, err, sizeof err) != -1 ||
	    strcmp(err, "parameter 'c' = 'a\u00e9\u00e9\u00e9\u00e9\u00e9"
		   "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
		   "\u00e9\u00e9\u00e9\u00e9\u00e9' is not one of the listed "
		   "values") != 0) {
		fprintf(stderr, "%s:%d: got \"%s\"\n", __FILE__, __LINE__, err);
		failures++;
	}
	/* 19 bytes hold "parameter 'c' = 'a" and half a character. */
	if (space_check(space, params, small, sizeof small) != -1 ||
	    strcmp(small, "parameter 'c' = 'a") != 0) {
		fprintf(stderr, "%s:%d: got \"%s\"\n", __FILE__, __LINE__, small);
		failures++;
	}
	json_decref(params);
}

int main(void)
{
	space = parse(SPACE, __LINE__);
	if (space == NULL)
		return 1;
	test_valid();
	test_double_slack();
	test_integer_no_slack();
	test_not_objects();
	test_missing();
	test_unknown();
	test_nul_keys();
	test_double();
	test_integer();
	test_discrete();
	test_categorical();
	test_budget();
	test_ablation_keys();
	test_bad_space();
	test_err_buffer();
	test_utf8_cut();
	json_decref(space);
	if (failures) {
		fprintf(stderr, "test_space_check: %d check(s) failed\n",
			failures);
		return 1;
	}
	printf("test_space_check: all checks passed\n");
	return 0;
}
