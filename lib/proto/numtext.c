/* numtext: numbers as people read them. See numtext.h. */
#include "numtext.h"

#include <stdio.h>
#include <stdlib.h>

const char *numtext_shortest(double x, char *buf, size_t size)
{
	static const char *const fmts[] = { "%.15g", "%.16g", "%.17g" };

	for (size_t i = 0; i < sizeof fmts / sizeof *fmts; i++) {
		snprintf(buf, size, fmts[i], x);
		if (strtod(buf, NULL) == x)
			break;
	}
	return buf;
}
