/*
 * logs: the `logs` subcommand. Prints the output lines stored for one
 * trial, or for every trial (by id) and then the lines outside trials
 * (the strategies' log, executors' output between trials); a FAILED
 * trial's error (its traceback) follows its lines. With `follow`, it goes
 * on printing new lines as the running experiment stores them, and returns
 * once the trial (or the experiment) has ended or its engine is gone.
 *
 * Called from main(); reads the store only.
 */
#pragma once

/* `trial`: NULL for all, else a 16-hex-digit id. Returns an exit code: 0,
 * or 2 when DIR holds no experiment or the trial is not in it. */
int logs_print(const char *dir, const char *trial, int follow);
