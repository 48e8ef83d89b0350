/*
 * csvtable: reads a CSV file with a header line into columns, with libcsv.
 *
 * The caller decides, once the header is known, which columns are "keyed"
 * (parameter values: each distinct string is stored once and rows hold its
 * index, so 62,208 rows of "relu"/"tanh" cost one small integer each) and
 * which are numeric (every cell must be a finite number, or loading fails
 * naming the line and column). Messages start with "path:line:" like a
 * compiler's; the header is line 1 and blank lines count.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Distinct strings in first-seen order, with a hash index. */
struct strset {
	char **strs;
	uint32_t n;
	uint32_t cap;
	uint32_t *slots;  /* open addressing: 0 empty, else index + 1 */
	uint32_t nslots;  /* a power of two */
};

struct csvtable_column {
	char *name;
	int keyed;        /* set by the header callback */
	double *num;      /* numeric columns: one value per row */
	uint32_t *code;   /* keyed columns: index into set.strs per row */
	struct strset set;
	/* A kind may take num or code (set the pointer to NULL); the table
	 * frees what is left. */
};

struct csvtable {
	const char *path; /* for messages; not owned */
	int ncols;
	struct csvtable_column *cols;
	int nrows;
	int cap;
	long *lines;      /* the file line of each row, for messages */
	int min_fields;   /* rows may end after this many fields: the header
			     callback may lower it from ncols when the last
			     columns are numeric; cells left out read NAN */
};

/* Called once the header is read, before any data row: checks the column
 * names and sets cols[i].keyed. Returns 0, or -1 with err to stop. */
typedef int (*csvtable_header_fn)(struct csvtable *t, void *arg, char *err,
			     size_t errlen);

/* Reads path into *t (zeroed first). Returns 0, or -1 with err: the file
 * cannot be read, empty or duplicate column names, a row with another
 * number of fields than the header (fewer are allowed down to
 * t->min_fields), a numeric column's cell that is no
 * finite number, no data rows, or what on_header reported. On failure *t
 * is freed already. */
int csvtable_load(struct csvtable *t, const char *path,
		   csvtable_header_fn on_header, void *arg, char *err,
		   size_t errlen);

/* The index of the column called name, or -1. */
int csvtable_find(const struct csvtable *t, const char *name);

/* Frees what the table still owns. */
void csvtable_free(struct csvtable *t);

/* Parses all of s (surrounding blanks allowed) as a finite number.
 * Returns 1 and sets *out, or 0. */
int csvtable_number(const char *s, double *out);
