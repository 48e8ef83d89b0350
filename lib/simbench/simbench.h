/*
 * simbench: the benchmark problems of `maggy-engine simulate`.
 *
 * A benchmark answers "what would training this configuration have
 * reported?" without training anything: either a closed-form function
 * (Branin, Hartmann3/6 and their multi-fidelity variants) or a lookup in a
 * CSV table of real results (learning curves of LCBench, final values of
 * HPOlib, HPOBench, NAS-Bench-201). docs/benchmarks.md describes the table
 * layouts, how configurations map to rows and the synthetic formulas.
 *
 * The same code is built twice: as the static library `simbench` that the
 * engine links, and as libmaggy-simbench.so that Python benchmark scripts
 * load with ctypes (tests/bench/simbench.py), so that maggy and other
 * optimizers are scored on exactly the same problems.
 *
 * A simbench_t is not thread-safe: one thread at a time per handle (eval
 * writes into buffers owned by the handle). Separate handles are
 * independent. Nothing here keeps global state.
 *
 * Errors: functions that can fail return NULL or -1 and write a message
 * that names the bad file, line, column or parameter into `err` (at most
 * `errlen` bytes, always NUL-terminated; `err` may be NULL when errlen is 0).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct simbench simbench_t;

/* The shared library exports these functions only. */
#if defined(__GNUC__)
#define SIMBENCH_API __attribute__((visibility("default")))
#else
#define SIMBENCH_API
#endif

/* The length of simbench_curve.outputs, terminating NUL included. */
#define SIMBENCH_OUTPUTS_SIZE 256

/*
 * Opens a benchmark. spec is the name of a synthetic function ("branin",
 * "hartmann3", "hartmann6", or the multi-fidelity "branin_mf",
 * "hartmann3_mf", "hartmann6_mf") or the path of a CSV file in one of the
 * layouts of docs/benchmarks.md (the file is read completely and closed).
 * Returns a handle to free with simbench_close(), or NULL with err (no such
 * function or file, bad header, ragged row, non-numeric cell, out of memory).
 */
SIMBENCH_API simbench_t *simbench_open(const char *spec, char *err,
				   size_t errlen);

/* The benchmark's name: the synthetic name, or the CSV file's name without
 * directory and ".csv" ("lcbench_7593"). Owned by b. */
SIMBENCH_API const char *simbench_name(const simbench_t *b);

/* The search space as a JSON array in the format of maggy's
 * Space:describe(), sorted by name, e.g.
 * [{"name":"x1","type":"DOUBLE","low":-5.0,"high":10.0,"log":false}].
 * Owned by b. */
SIMBENCH_API const char *simbench_space_json(const simbench_t *b);

/* Steps of a full run: epochs of a learning-curve table, 81 for the
 * multi-fidelity functions, 1 for tabular tables and plain functions. */
SIMBENCH_API int simbench_max_budget(const simbench_t *b);

/* The best value any configuration reaches at full budget (for tables: the
 * best row, mean over seeds for tabular ones) for direction "max" or "min";
 * NAN when unknown (another direction, or "max" of a synthetic function). */
SIMBENCH_API double simbench_optimum(const simbench_t *b,
				     const char *direction);

/* What the benchmark's metric is, when the benchmark says: returns its
 * name ("" when unknown; owned by b) and sets *direction to "max" or "min"
 * (static strings) or NULL when unknown. The synthetic functions are
 * minimized ("loss"); a learning-curve table's metric column names it
 * (val_acc: "max", val_loss or error: "min"); a tabular table's value_0..
 * says nothing. */
SIMBENCH_API const char *simbench_metric(const simbench_t *b,
					 const char **direction);

/* One simulated run. The arrays are owned by the handle and stay valid
 * until the next simbench_eval() or simbench_close() on it. */
struct simbench_curve {
	int n;         /* steps reported, 1..n */
	double *value; /* value[i]: the metric after step i+1 */
	double *time;  /* time[i]: cumulative seconds to the end of step i+1
			  (strictly increasing, > 0) */
	double truth;  /* noise-free value of the run's last step (tabular:
			  mean over seeds), for regret */
	char outputs[SIMBENCH_OUTPUTS_SIZE]; /* compact JSON object for the
						trial's outputs, e.g.
						{"row":123,"truth":91.2} */
};

/*
 * Evaluates one configuration. params_json is a JSON object holding every
 * parameter of the space (numbers for DOUBLE, INTEGER and DISCRETE, where
 * integers may be written 3 or 3.0; strings, or booleans matching "true" /
 * "false", for CATEGORICAL) and optionally "budget", a positive number of
 * steps, rounded and clamped to 1..max_budget (default max_budget). seed
 * picks the noise: the seed column of a tabular table, the noise of a
 * multi-fidelity function; the result is a function of (params, seed).
 * Returns 0 and fills *out, or -1 with err (invalid JSON, unknown or missing
 * parameter, wrong type, value out of range or not listed, configuration
 * absent from a tabular table).
 */
SIMBENCH_API int simbench_eval(simbench_t *b, const char *params_json,
			       uint64_t seed, struct simbench_curve *out,
			       char *err, size_t errlen);

/* Frees the handle and everything it owns. NULL is allowed. */
SIMBENCH_API void simbench_close(simbench_t *b);
