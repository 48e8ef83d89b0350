/*
 * plot: the `plot` subcommand. Plots are drawn by matplotlib, in the
 * maggy_engine Python package (python/maggy_engine/plot.py), run with the
 * executors' Python; this hands the command over to it.
 *
 * Called from main(); replaces the process on success.
 */
#pragma once

/* Run `python -m maggy_engine.plot ARGS` (argv[1..argc-1]: DIR --out FILE
 * ...) with this engine as its MAGGY_ENGINE. Returns only on failure, with
 * an exit code. */
int plot_exec(int argc, char **argv);
