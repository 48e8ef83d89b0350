/* table: opens a CSV benchmark and picks its layout. See table.h. */
#include "table.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

enum layout { LAYOUT_NONE, LAYOUT_CURVES, LAYOUT_TABULAR };

long table_numbered(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *digits = name + n + 1;
	long num = 0;

	if (strncmp(name, prefix, n) != 0 || name[n] != '_' || digits[0] == '\0')
		return -1;
	if (digits[0] == '0' && digits[1] != '\0')
		return -1;
	for (const char *c = digits; *c; c++) {
		if (!isdigit((unsigned char)*c) || num > 100000000)
			return -1;
		num = num * 10 + (*c - '0');
	}
	return num;
}

double *table_take_ids(struct csvtable *t)
{
	int col = csvtable_find(t, TABLE_ID_COLUMN);
	double *ids;

	if (col >= 0) {
		ids = t->cols[col].num;
		t->cols[col].num = NULL;
		return ids;
	}
	ids = malloc(t->nrows * sizeof *ids);
	for (int r = 0; ids != NULL && r < t->nrows; r++)
		ids[r] = r;
	return ids;
}

static int on_header(struct csvtable *t, void *arg, char *err, size_t errlen)
{
	enum layout *layout = arg;

	if (csvtable_find(t, "time_1") >= 0) {
		*layout = LAYOUT_CURVES;
		return curves_header(t, err, errlen);
	}
	if (csvtable_find(t, "value_0") >= 0) {
		*layout = LAYOUT_TABULAR;
		return tabular_header(t, err, errlen);
	}
	sb_err(err, errlen, "%s:1: bad header: no column time_1 (learning "
	       "curves: <metric>_1..N, time_1..N) and no column value_0 "
	       "(tabular: value_0..k-1); see docs/benchmarks.md", t->path);
	return -1;
}

/* "dir/lcbench_7593.csv" -> "lcbench_7593" */
static char *name_of(const char *path)
{
	const char *base = strrchr(path, '/');
	size_t n;

	base = base ? base + 1 : path;
	n = strlen(base);
	if (n > 4 && strcmp(base + n - 4, ".csv") == 0)
		n -= 4;
	return strndup(base, n);
}

simbench_t *table_open(const char *path, char *err, size_t errlen)
{
	enum layout layout = LAYOUT_NONE;
	struct csvtable t;
	simbench_t *b = NULL;
	char *name;

	if (csvtable_load(&t, path, on_header, &layout, err, errlen) != 0)
		return NULL;
	name = name_of(path);
	if (name == NULL)
		sb_err(err, errlen, "%s: out of memory", path);
	else if (layout == LAYOUT_CURVES)
		b = curves_build(name, &t, err, errlen);
	else
		b = tabular_build(name, &t, err, errlen);
	free(name);
	csvtable_free(&t);
	return b;
}
