/*
 * export: the `export` subcommand. An experiment's results as rows that
 * load straight into pandas (pd.read_csv, or pd.read_json for --format
 * json), from its store alone (also while a run goes on):
 *   trials    one row per trial: id, state, value, steps, attempts,
 *             started, ended, duration_s, worker_host, worker_slot, error,
 *             then params_<name> per parameter (non-scalar values as JSON);
 *   history   one row per stored metric point: trial, step, value, time
 *             (unix seconds when the point reached the engine);
 *   ablation  the ablation table: the base and one row per item (loco), or
 *             one row per step (path), nested values as JSON.
 */
#pragma once

enum export_table { EXPORT_TRIALS, EXPORT_HISTORY, EXPORT_ABLATION };

struct export_options {
	const char *dir;
	enum export_table table;
	int json;	  /* 0: CSV (RFC 4180), 1: a JSON array of objects */
	const char *out;  /* NULL: stdout */
};

/* Returns an exit code: 0, 1 (the file cannot be written) or 2 (no
 * experiment in dir, or no ablation table asked for). */
int export_experiment(const struct export_options *o);
