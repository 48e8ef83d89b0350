/*
 * run: the `run` and `simulate` subcommands. Loads the experiment script,
 * creates the experiment directory (store, secret), starts the server, the
 * controller, the Lua host and the local executors, runs the loop to the
 * end and prints and writes the summary. A simulation has the benchmark's
 * virtual executors (sim.h) in place of the server and the executors.
 *
 * Called once, from main(), on the main thread (which becomes the loop
 * thread).
 */
#pragma once

#include "console.h"

struct run_options {
	const char *script;  /* the experiment's Lua file */
	int workers;	     /* local executors; 0 = external (e.g. Spark) */
	const char *dir;     /* NULL: maggy-runs/<name>-<time> */
	long long seed;
	int has_seed;
	const char *listen;  /* HOST:PORT, default 127.0.0.1:0 */
	int max_connections; /* 0: the server's default */
	int quiet;	     /* the trials' output is stored, not echoed */
	int verbose;	     /* errors whole, with their tracebacks */
	const char *dashboard; /* serve the dashboard there (NULL: no) */
	enum console_mode progress; /* the progress status (console.h) */
	double progress_every; /* seconds between plain status lines */
	int no_fsync;	     /* commits survive an engine crash, not an OS crash */
	const char *benchmark; /* simulate on this benchmark (simbench.h) */
	int bsp;	     /* simulate synchronized waves */
	const char *resume;  /* continue the interrupted experiment in this
				directory (script and seed come from it) */
	int force;	     /* resume even though the script changed */
	int check;	     /* load the script, describe it, run nothing */
};

/* Exit codes of `run` (and of main). */
enum run_exit {
	EXIT_OK = 0,
	EXIT_FAILED = 1,      /* the experiment ended in a failure */
	EXIT_USAGE = 2,	      /* bad arguments or a broken experiment script */
	EXIT_INTERRUPTED = 130,
};

/* Run an experiment to its end (or resume one, or only check its script).
 * Returns an enum run_exit value. */
int run_experiment(const struct run_options *opts);
