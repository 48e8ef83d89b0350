/* csvtable: reads a CSV file into columns with libcsv. See csvtable.h. */
#include "csvtable.h"

#include <csv.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "internal.h"

#define READ_CHUNK (64 * 1024)
#define MAX_ROWS (1 << 28)

/* ---- strset: distinct strings with a hash index ---- */

static int strset_grow_slots(struct strset *s)
{
	uint32_t nslots = s->nslots ? s->nslots * 2 : 64;
	uint32_t *slots = calloc(nslots, sizeof *slots);

	if (slots == NULL)
		return -1;
	for (uint32_t i = 0; i < s->n; i++) {
		uint64_t h = XXH3_64bits(s->strs[i], strlen(s->strs[i]));
		uint32_t k = (uint32_t)h & (nslots - 1);

		while (slots[k] != 0)
			k = (k + 1) & (nslots - 1);
		slots[k] = i + 1;
	}
	free(s->slots);
	s->slots = slots;
	s->nslots = nslots;
	return 0;
}

static int strset_append(struct strset *s, const char *str, size_t len)
{
	if (s->n == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 16;
		char **strs = realloc(s->strs, cap * sizeof *strs);

		if (strs == NULL)
			return -1;
		s->strs = strs;
		s->cap = cap;
	}
	s->strs[s->n] = strndup(str, len);
	return s->strs[s->n] ? (int)s->n++ : -1;
}

/* The index of str, added when new; -1 when out of memory. */
static long strset_intern(struct strset *s, const char *str, size_t len)
{
	uint32_t k;
	long idx;

	if (2 * (s->n + 1) > s->nslots && strset_grow_slots(s) != 0)
		return -1;
	k = (uint32_t)XXH3_64bits(str, len) & (s->nslots - 1);
	for (; s->slots[k] != 0; k = (k + 1) & (s->nslots - 1)) {
		const char *have = s->strs[s->slots[k] - 1];

		if (strncmp(have, str, len) == 0 && have[len] == '\0')
			return s->slots[k] - 1;
	}
	idx = strset_append(s, str, len);
	if (idx >= 0)
		s->slots[k] = (uint32_t)idx + 1;
	return idx;
}

static void strset_free(struct strset *s)
{
	for (uint32_t i = 0; i < s->n; i++)
		free(s->strs[i]);
	free(s->strs);
	free(s->slots);
	memset(s, 0, sizeof *s);
}

/* ---- numbers ---- */

int csvtable_number(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno == ERANGE || !isfinite(v))
		return 0;
	while (*end == ' ' || *end == '\t')
		end++;
	if (*end != '\0')
		return 0;
	*out = v;
	return 1;
}

/* ---- the loader: libcsv callbacks ---- */

struct loader {
	struct csvtable *t;
	csvtable_header_fn on_header;
	void *arg;
	char **names;     /* the header, while it is read */
	int nnames;
	int names_cap;
	int header_done;
	int field;        /* fields seen in the current record */
	long line;        /* the line the current record starts on */
	long embedded;    /* newlines inside the current record's fields */
	int prev_cr;      /* the last record ended with '\r' */
	int failed;
	char *err;
	size_t errlen;
};

static void fail(struct loader *ld, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail(struct loader *ld, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (ld->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	sb_err(ld->err, ld->errlen, "%s:%ld: %s", ld->t->path, ld->line, msg);
	ld->failed = 1;
}

static void header_field(struct loader *ld, const char *s, size_t len)
{
	if (ld->nnames == ld->names_cap) {
		int cap = ld->names_cap ? ld->names_cap * 2 : 32;
		char **names = realloc(ld->names, cap * sizeof *names);

		if (names == NULL) {
			fail(ld, "out of memory");
			return;
		}
		ld->names = names;
		ld->names_cap = cap;
	}
	/* A UTF-8 byte order mark is no part of the first name. */
	if (ld->nnames == 0 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
		s += 3;
		len -= 3;
	}
	ld->names[ld->nnames] = strndup(s, len);
	if (ld->names[ld->nnames++] == NULL)
		fail(ld, "out of memory");
}

static int check_names(struct loader *ld)
{
	for (int i = 0; i < ld->nnames; i++) {
		if (ld->names[i][0] == '\0') {
			fail(ld, "bad header: column %d has no name", i + 1);
			return -1;
		}
		for (int j = 0; j < i; j++)
			if (strcmp(ld->names[i], ld->names[j]) == 0) {
				fail(ld, "bad header: column '%s' appears twice",
				     ld->names[i]);
				return -1;
			}
	}
	return 0;
}

/* The header is complete: make the columns, let the caller classify. */
static void header_done(struct loader *ld)
{
	struct csvtable *t = ld->t;
	if (check_names(ld) != 0)
		return;
	if (ld->nnames <= 0) {
		fail(ld, "the header names no column");
		return;
	}
	t->cols = calloc((size_t)ld->nnames, sizeof *t->cols);
	if (t->cols == NULL) {
		fail(ld, "out of memory");
		return;
	}
	t->ncols = ld->nnames;
	for (int i = 0; i < t->ncols; i++) {
		t->cols[i].name = ld->names[i];
		ld->names[i] = NULL;
	}
	t->min_fields = t->ncols;
	ld->header_done = 1;
	if (ld->on_header(t, ld->arg, ld->err, ld->errlen) != 0)
		ld->failed = 1;
}

static int grow_rows(struct csvtable *t)
{
	int cap = t->cap ? t->cap * 2 : 1024;
	long *lines = realloc(t->lines, cap * sizeof *lines);

	if (lines == NULL)
		return -1;
	t->lines = lines;
	for (int i = 0; i < t->ncols; i++) {
		struct csvtable_column *c = &t->cols[i];
		void **arr = c->keyed ? (void **)&c->code : (void **)&c->num;
		size_t size = c->keyed ? sizeof *c->code : sizeof *c->num;
		void *p = realloc(*arr, cap * size);

		if (p == NULL)
			return -1;
		*arr = p;
	}
	t->cap = cap;
	return 0;
}

static void data_field(struct loader *ld, const char *s, size_t len)
{
	struct csvtable *t = ld->t;
	int row = t->nrows, col = ld->field;
	struct csvtable_column *c;

	if (col >= t->ncols)
		return; /* counted; end_record reports the ragged row */
	if (col == 0 && row == t->cap) {
		if (row >= MAX_ROWS) {
			fail(ld, "more than %d rows", MAX_ROWS);
			return;
		}
		if (grow_rows(t) != 0) {
			fail(ld, "out of memory");
			return;
		}
	}
	c = &t->cols[col];
	if (c->keyed) {
		long idx = strset_intern(&c->set, s, len);

		if (idx < 0) {
			fail(ld, "out of memory");
			return;
		}
		c->code[row] = (uint32_t)idx;
	} else if (!csvtable_number(s, &c->num[row])) {
		fail(ld, "column %d '%s': '%.40s' is not a finite number",
		     col + 1, c->name, s);
	}
}

static void field_cb(void *data, size_t len, void *arg)
{
	struct loader *ld = arg;
	const char *s = data ? data : "";

	if (ld->failed)
		return;
	for (const char *p = memchr(s, '\n', len); p != NULL;
	     p = memchr(p + 1, '\n', len - (p + 1 - s)))
		ld->embedded++;
	if (ld->header_done)
		data_field(ld, s, len);
	else
		header_field(ld, s, len);
	ld->field++;
}

static void end_record(struct loader *ld)
{
	struct csvtable *t = ld->t;

	if (!ld->header_done) {
		header_done(ld);
		return;
	}
	if (ld->field < t->min_fields || ld->field > t->ncols) {
		if (t->min_fields < t->ncols)
			fail(ld, "row has %d fields, expected %d to %d",
			     ld->field, t->min_fields, t->ncols);
		else
			fail(ld, "row has %d fields, the header has %d",
			     ld->field, t->ncols);
		return;
	}
	for (int c = ld->field; c < t->ncols; c++) {
		if (t->cols[c].keyed) {
			fail(ld, "row has no value for column '%s'",
			     t->cols[c].name);
			return;
		}
		t->cols[c].num[t->nrows] = NAN;
	}
	t->lines[t->nrows++] = ld->line;
}

/* With CSV_REPALL_NL libcsv ends a record at every line break, so blank
 * lines arrive as empty records and line numbers stay exact; the '\n' of a
 * "\r\n" arrives as one more empty record, which is no line. */
static void record_cb(int c, void *arg)
{
	struct loader *ld = arg;
	int crlf_tail = c == '\n' && ld->prev_cr && ld->field == 0;

	ld->prev_cr = c == '\r';
	if (crlf_tail)
		return;
	if (ld->field > 0 && !ld->failed)
		end_record(ld);
	ld->line += 1 + ld->embedded;
	ld->embedded = 0;
	ld->field = 0;
}

/* ---- reading ---- */

static int parse_file(struct loader *ld, FILE *f)
{
	struct csv_parser p;
	char *buf = malloc(READ_CHUNK);
	size_t n;

	if (buf == NULL || csv_init(&p, CSV_APPEND_NULL | CSV_REPALL_NL) != 0) {
		free(buf);
		fail(ld, "out of memory");
		return -1;
	}
	while (!ld->failed && (n = fread(buf, 1, READ_CHUNK, f)) > 0)
		if (csv_parse(&p, buf, n, field_cb, record_cb, ld) != n)
			fail(ld, "CSV error: %s", csv_strerror(csv_error(&p)));
	if (!ld->failed && ferror(f))
		fail(ld, "read error: %s", strerror(errno));
	if (!ld->failed)
		csv_fini(&p, field_cb, record_cb, ld);
	csv_free(&p);
	free(buf);
	return ld->failed ? -1 : 0;
}

static int check_loaded(struct loader *ld)
{
	if (!ld->header_done) {
		sb_err(ld->err, ld->errlen,
		       "%s: empty file, expected a header line", ld->t->path);
		return -1;
	}
	if (ld->t->nrows == 0) {
		sb_err(ld->err, ld->errlen, "%s: no data rows after the header",
		       ld->t->path);
		return -1;
	}
	return 0;
}

int csvtable_load(struct csvtable *t, const char *path,
		   csvtable_header_fn on_header, void *arg, char *err,
		   size_t errlen)
{
	struct loader ld = { .t = t, .on_header = on_header, .arg = arg,
			     .line = 1, .err = err, .errlen = errlen };
	FILE *f;
	int rc = -1;

	memset(t, 0, sizeof *t);
	t->path = path;
	f = fopen(path, "rb");
	if (f == NULL) {
		sb_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (parse_file(&ld, f) == 0)
		rc = check_loaded(&ld);
	fclose(f);
	for (int i = 0; i < ld.nnames; i++)
		free(ld.names[i]);
	free(ld.names);
	if (rc != 0)
		csvtable_free(t);
	return rc;
}

int csvtable_find(const struct csvtable *t, const char *name)
{
	for (int i = 0; i < t->ncols; i++)
		if (strcmp(t->cols[i].name, name) == 0)
			return i;
	return -1;
}

void csvtable_free(struct csvtable *t)
{
	for (int i = 0; i < t->ncols; i++) {
		free(t->cols[i].name);
		free(t->cols[i].num);
		free(t->cols[i].code);
		strset_free(&t->cols[i].set);
	}
	free(t->cols);
	free(t->lines);
	t->cols = NULL;
	t->lines = NULL;
	t->ncols = 0;
	t->nrows = 0;
}
