/* check.h: CHECK(cond) for the C unit tests. A check that does not hold
 * prints its file, line and condition and counts in `failures`; the test
 * goes on, and its main returns non-zero when failures is. */
#pragma once

#include <stdio.h>

static int failures;

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                            \
			failures++;                                          \
		}                                                            \
	} while (0)
