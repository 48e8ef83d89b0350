/*
 * numtext: numbers as people read them. The shortest of %.15g, %.16g and
 * %.17g that reads back as the same double, as maggy.json writes numbers:
 * 0.1 shows as 0.1 (not 0.10000000000000001), and a value just past a
 * bound does not show as the bound.
 */
#pragma once

#include <stddef.h>

/* Enough for any double this way. */
#define NUMTEXT_SIZE 32

/* x into buf (NUL-terminated, at most size bytes); returns buf. */
const char *numtext_shortest(double x, char *buf, size_t size);
