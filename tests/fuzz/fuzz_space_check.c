/*
 * fuzz_space_check: space_check() (engine/space_check.c) on arbitrary JSON.
 * The input is a space and params separated by the first NUL byte; without
 * a NUL it is params for the five-parameter space of tests/c (one of each
 * type). Whatever the JSON, the check returns 0 or -1; -1 comes with a
 * non-empty reason that is valid UTF-8 (it ends up in JSON: the run's status
 * in the store); a valid verdict means every parameter of the
 * space is there. The verdict does not depend on the room given for the
 * reason: with a few bytes the reason is the start of the full one, with no
 * buffer at all the verdict stays the same.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "space_check.h"

/* tests/c/test_space_check.c's space, as Space:describe() printed it. */
static const char SPACE[] =
	"[{\"high\":1,\"log\":true,\"low\":0.0001,\"name\":\"a\",\"type\":\"DOUBLE\"},"
	"{\"high\":6,\"log\":false,\"low\":1,\"name\":\"b\",\"type\":\"INTEGER\"},"
	"{\"name\":\"c\",\"type\":\"CATEGORICAL\",\"values\":[\"x\",\"y\",true,3]},"
	"{\"name\":\"d\",\"type\":\"DISCRETE\",\"values\":[0.5,16,32]},"
	"{\"high\":1,\"log\":false,\"low\":0,\"name\":\"e\",\"type\":\"DOUBLE\"}]";

static json_t *load(const uint8_t *p, size_t n)
{
	return json_loadb((const char *)p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL,
			  NULL);
}

static void check_reason(const char *err)
{
	FUZZ_CHECK(err[0] != '\0', "an empty reason");
	FUZZ_CHECK(fuzz_utf8_valid(err), "reason not UTF-8: %s", err);
}

static void check(const json_t *space, const json_t *params, size_t small)
{
	char err[256];
	char *tiny = malloc(small);
	int rc = space_check(space, params, err, sizeof err), rc2;
	const json_t *p;
	size_t i;

	FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
	if (rc == -1) {
		check_reason(err);
	} else {
		json_array_foreach(space, i, p)
			FUZZ_CHECK(json_object_get(params, json_string_value(
					   json_object_get(p, "name"))),
				   "valid without parameter %zu", i);
	}
	rc2 = space_check(space, params, tiny, small);
	FUZZ_CHECK(rc2 == rc, "rc %d with %zu bytes, %d with 256", rc2, small, rc);
	if (rc == -1)
		FUZZ_CHECK(strlen(tiny) < small &&
			   strncmp(tiny, err, strlen(tiny)) == 0,
			   "'%s' is not the start of '%s'", tiny, err);
	FUZZ_CHECK(space_check(space, params, NULL, 0) == rc, "rc without err");
	free(tiny);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	json_t *space, *params;

	if (nul) {
		space = load(data, (size_t)(nul - data));
		params = load(nul + 1, size - (size_t)(nul - data) - 1);
	} else {
		space = json_loads(SPACE, 0, NULL);
		params = load(data, size);
	}
	check(space, params, 1 + size % 16);
	json_decref(space);
	json_decref(params);
	return 0;
}
