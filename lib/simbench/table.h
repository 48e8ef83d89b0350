/*
 * table: what the two table kinds share. table.c reads the CSV file, tells
 * the layouts apart by their header and hands the columns to curves.c
 * (learning curves: time_1..N) or tabular.c (final values: value_0..k-1).
 * docs/benchmarks.md describes both layouts.
 */
#pragma once

#include "csvtable.h"
#include "internal.h"

/* The optional column naming each row in outputs ("row"); never a
 * parameter. Without it a row is named by its index, from 0. */
#define TABLE_ID_COLUMN "config_id"

/* If name is prefix + "_" + a number written without leading zeros,
 * returns the number; else -1. */
long table_numbered(const char *name, const char *prefix);

/* The id of each row: the config_id column taken from t, or 0..nrows-1.
 * NULL when out of memory. */
double *table_take_ids(struct csvtable *t);

/* Learning curves. curves_header checks the header and marks columns;
 * curves_build makes the benchmark, taking columns out of t. */
int curves_header(struct csvtable *t, char *err, size_t errlen);
simbench_t *curves_build(const char *name, struct csvtable *t, char *err,
			 size_t errlen);

/* Tabular final values, the same pair. */
int tabular_header(struct csvtable *t, char *err, size_t errlen);
simbench_t *tabular_build(const char *name, struct csvtable *t, char *err,
			  size_t errlen);
