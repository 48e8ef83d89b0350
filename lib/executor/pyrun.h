/*
 * pyrun: the embedded interpreter and the user's training function.
 *
 * Owns the CPython interpreter (one per process, kept warm for every trial),
 * the imported training function and the decision, taken once at import,
 * whether it gets a `reporter` argument (it does when it has a parameter
 * named `reporter` or takes **kwargs, so the same function runs by hand
 * without maggy). pyrun_call() turns whatever the function does into a trial
 * result: a number, a dict holding the metric key, maggy.EarlyStop, or any
 * exception (SystemExit and KeyboardInterrupt included) with its traceback.
 *
 * pyrun_traceback() is the one bridge from a Python exception to a C error
 * string; nothing else in the shim formats Python errors.
 *
 * Threads: the main thread only. It holds the GIL from pyrun_init() on;
 * callers that block (waiting for the driver) release it around the wait
 * with pyrun_release()/pyrun_acquire() so Python threads of the user run.
 */
#pragma once

#include <stddef.h>

#include <jansson.h>

enum pyrun_state {
	PYRUN_FINISHED,
	PYRUN_EARLY_STOPPED,
	PYRUN_FAILED,
};

/* What a trial produced. */
struct pyrun_result {
	enum pyrun_state state;
	int has_value;    /* value is the final metric; else JSON null */
	double value;
	json_t *outputs;  /* object (possibly empty), owned */
	char *error;      /* malloc'd message / traceback, NULL when none */
};

/* "FINISHED", "EARLY_STOPPED", "FAILED". */
const char *pyrun_state_name(enum pyrun_state s);

/*
 * Start the interpreter (after reporter_register()): Debian-style site
 * packages on, no argv parsing, no Python signal handlers, sys.executable set
 * to the Python this shim was built against, stdout/stderr line-buffered.
 * Returns 0, or -1 with err set.
 */
int pyrun_init(char *err, size_t errlen);

/*
 * Prepend the strings of `python_path` (a JSON array, may be NULL) to
 * sys.path, import `module` and take its attribute `function`. Returns 0, or
 * -1 with *error = "cannot import MODULE:FUNCTION: TRACEBACK" (malloc'd,
 * caller frees).
 */
int pyrun_load(const json_t *python_path, const char *module,
	       const char *function, char **error);

/*
 * Call the loaded function with `params` (a JSON object) as keyword
 * arguments, plus reporter= when it takes one (reporter_begin() must have
 * been called), and interpret the outcome with `metric` as the key of a dict
 * result. Always fills *res (free it with pyrun_result_free()); never fails.
 */
void pyrun_call(const json_t *params, const char *metric,
		struct pyrun_result *res);

void pyrun_result_free(struct pyrun_result *res);

/*
 * Free what the last trial left behind, before the next one starts: its
 * reference cycles (Python's collector would get to the oldest of them only
 * much later, and never because of the GPU memory they hold), and, when the
 * trial used CUDA through PyTorch, the device memory PyTorch keeps cached, so
 * that executors sharing a GPU get it back. The objects of the import were
 * set aside by pyrun_load() (gc.freeze), so this costs microseconds to a
 * millisecond, not a scan of every loaded module.
 */
void pyrun_collect(void);

/* Flush sys.stdout, sys.stderr and C stdio into the capture pipes. */
void pyrun_flush_stdio(void);

/*
 * The current Python exception, formatted like Python prints it (without
 * the last newline), as a malloc'd string; the exception is cleared. Over
 * 64 KiB, the middle is cut out. Never NULL unless out of memory.
 */
char *pyrun_traceback(void);

/* Release / take back the GIL around a blocking wait. */
void pyrun_release(void);
void pyrun_acquire(void);

/* Run Python's shutdown (atexit handlers, flushes). Returns its status. */
int pyrun_finalize(void);
