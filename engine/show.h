/*
 * show: the `show` subcommand: print an experiment's summary from its store
 * (also while a run goes on), as text or JSON.
 */
#pragma once

/* Returns an exit code (0, or 2 when DIR holds no experiment). */
int show_experiment(const char *dir, int as_json);
