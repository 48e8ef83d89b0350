/*
 * show: the `show` subcommand: print an experiment's summary from its store
 * (also while a run goes on) with its best trials, or as JSON.
 */
#pragma once

struct show_options {
	int as_json;  /* the summary as JSON (summary.json's content) */
	int verbose;  /* the run's error whole, with its traceback */
	long top;     /* trials listed, best first: this many, all when < 0,
			 none when 0 */
};

/* Print the experiment in DIR. Returns an exit code (0, or 2 when DIR
 * holds no experiment). */
int show_experiment(const char *dir, const struct show_options *o);
