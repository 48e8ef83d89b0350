/*
 * summary: what an experiment came to, read from its store alone, so that
 * the end of `run` and `show DIR` (even while a run goes on) print the same.
 *
 * The summary object has: name, status, error, direction, metric,
 * num_trials, finished, early_stopped, failed, pending, running, best
 * ({trial_id, value, params} or null), duration_s, dir, and trials: a list
 * in creation order of {id, params, state, value, steps, attempts, error,
 * outputs, started, ended, worker}.
 *
 * Threads: any; it opens its own read transactions.
 */
#pragma once

#include <jansson.h>
#include <stdio.h>

#include "store.h"

/* Build the summary of the experiment in `store` (directory `dir`), with
 * its trials or without (the list then has no key: a summary of 250,000
 * trials holds a gigabyte, and summary_write streams them instead).
 * Returns a new object, or NULL with `err` when the store holds no
 * experiment. */
json_t *summary_build(store_t *store, const char *dir, int with_trials,
		      char *err, size_t errlen);

/* The ids of the trials, in creation order (the summary's order), into
 * *ids (malloc'd, *n of them), reading one record at a time: for what
 * walks every trial without holding them all (export --history). Returns 0,
 * or -1 with `err` when the store holds no experiment or memory ran out. */
int summary_trial_ids(store_t *store, const char *dir, uint64_t **ids,
		      size_t *n, char *err, size_t errlen);

/* Every trial's id and value (has_value 0 when it has none), in creation
 * order, into *out (malloc'd, *n of them): what ranks the trials, from
 * their heads without parsing a record (or from the records of a store
 * without heads). Returns 0, or -1 with `err`. */
struct summary_value {
	uint64_t id;
	double value;
	int has_value;
};
int summary_trial_values(store_t *store, const char *dir,
			 struct summary_value **out, size_t *n, char *err,
			 size_t errlen);

/* Calls cb with the entry (as in the summary's list, states as
 * summary_read gives them) of each of the n trials `ids` (summary_trial_ids
 * gives them in creation order), reading one record at a time: what
 * summary.json and export write, without holding every trial. cb returns 0
 * to go on; anything else stops the walk and is returned. */
typedef int (*summary_trial_cb)(json_t *entry, void *arg);
int summary_each_trial(store_t *store, const char *dir, const uint64_t *ids,
		       size_t n, summary_trial_cb cb, void *arg);

/* Print the human-readable summary; the run's error whole (with its
 * traceback) when `verbose`, else its short form (errtext.h). */
void summary_print(const json_t *summary, FILE *out, int verbose);

/* How a value is printed: a real with `digits` significant digits (0: as
 * many as it needs, 0.1 and not 0.10000000000000001), anything else as
 * compact JSON. Returns buf (NUMTEXT_SIZE bytes) or *copy, which the
 * caller frees (NULL when buf was used). */
const char *summary_value_text(const json_t *v, int digits, char *buf,
			       char **copy);

/* A trial's params on one line: name=value, by name, separated by ", ";
 * reals with `digits` significant digits (0: as many as they need). */
void summary_print_params(const json_t *params, int digits, FILE *out);

/* summary_build, as the commands that read a directory show it. A summary
 * that says "running" while no engine holds `dir` was left by a killed
 * engine: it becomes "interrupted", with how to resume, its duration ends
 * at its last trial, and its RUNNING trials are PENDING (resume runs them
 * again). */
json_t *summary_read(store_t *store, const char *dir, int with_trials,
		     char *err, size_t errlen);

/* summary_read with, in its list, only the trials that may have changed
 * since the reader's read that gave "end_seq": `since` (ended after it,
 * or not ended yet, or written by an older engine without it); the
 * summary's "end_seq" is what to give the next read (0: all trials). */
json_t *summary_read_changes(store_t *store, const char *dir,
			     json_int_t since, char *err, size_t errlen);

/* Write the summary (built without its trials) as JSON to `path`, the
 * trials of `store` streamed into it one record at a time, in creation
 * order; atomically (temp file + rename). Returns 0 or -1 with `err`. */
int summary_write(const json_t *summary, store_t *store, const char *path,
		  char *err, size_t errlen);
