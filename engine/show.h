/*
 * show: the `show` subcommand: print an experiment's summary from its store
 * (also while a run goes on), as text or JSON.
 */
#pragma once

/* Returns an exit code (0, or 2 when DIR holds no experiment). */
int show_experiment(const char *dir, int as_json);

/* The `logs` subcommand: print the stored output lines of one trial (a
 * 16-hex-digit id) or of every trial (by id), each line prefixed
 * with its trial id and stream. Returns an exit code (0, or 2). */
int show_logs(const char *dir, const char *trial);
