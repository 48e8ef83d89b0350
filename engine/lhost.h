/*
 * lhost: the Lua host. Owns the experiment's lua_State and the thread that
 * runs it, so the network loop never waits on a strategy.
 *
 * The loop thread talks to the Lua thread only through this interface:
 * lhost_post() queues a job (a JSON string handed to maggy.runtime.handle)
 * and returns at once; when the job is done its result is queued back and
 * `wake_fd` becomes readable, and the loop thread collects results with
 * lhost_take(). The lua_State is touched by the Lua thread only (and by
 * lhost_load() and lhost_call() before that thread starts).
 *
 * Every call into Lua goes through one protected bridge that adds a
 * traceback (file:line). A call that runs longer than the experiment's
 * strategy time limit is interrupted by a watchdog thread: it sends SIGUSR2
 * to the Lua thread, whose handler arms a count hook there (the watchdog
 * never touches the lua_State, which stays the Lua thread's); because LuaJIT's
 * count hook does not fire inside compiled traces, a call that ignores the
 * interruption is abandoned after a grace period: its result is reported as
 * an error and the host refuses further jobs (the thread dies with the
 * process). The calls before the Lua thread starts are watched the same
 * way, on their caller's thread, with LOAD_TIMEOUT_S (10 s) until
 * lhost_limits() gives the experiment's own limit; one that cannot be
 * interrupted ends the process with status LHOST_EXIT_ABANDONED and the
 * reason on stderr, as a script that does not load does.
 */
#pragma once

#include <stddef.h>

typedef struct lhost lhost_t;

#define LHOST_EXIT_ABANDONED 2 /* `run`'s status for a script that does not load */

/* What the Lua side returned for one job. Free with lhost_result_free(). */
struct lhost_result {
	int tag;     /* the caller's tag given to lhost_post() */
	char *json;  /* the reply JSON; on error NULL, or {"logs": [...]}: the
		      * lines the call printed before it raised */
	char *error; /* error text with traceback, NULL on success */
	struct lhost_result *next;
};

/*
 * Create a host: a fresh lua_State with the standard libraries, package.path
 * set to `lua_dir` (the maggy library) and the script's folder.
 * Returns NULL with `err` filled when the state cannot be made.
 */
lhost_t *lhost_new(const char *lua_dir, const char *script_path, char *err,
		   size_t errlen);

/*
 * Load the experiment (maggy.runtime.load) on the calling thread, before
 * lhost_start(). `options_json` is passed through. On success returns 0 and
 * *config_json (malloc'd, caller frees) is the experiment's settings; on
 * failure returns -1 and *error (malloc'd) says why, with file:line.
 */
int lhost_load(lhost_t *h, const char *options_json, char **config_json,
	       char **error);

/*
 * Call maggy.runtime[fname](arg) on the calling thread, before
 * lhost_start() (resume replays the journal this way). Returns 0 with
 * *out (malloc'd) the string it returned, or -1 with *error (malloc'd).
 */
int lhost_call(lhost_t *h, const char *fname, const char *arg, char **out,
	       char **error);

/*
 * Collect the state's garbage more often (call before lhost_start): the
 * heap then stays within about a fifth above what the strategies hold,
 * not twice that (LuaJIT's default), for some more CPU in the Lua thread.
 * A live run, which keeps its trials for hours and has CPU to spare, asks
 * for it; a simulation, CPU-bound and over in minutes, does not.
 */
void lhost_collect_eagerly(lhost_t *h);

/* The experiment's limits, once it is loaded: `timeout_s` bounds every
 * call from now on (until then, 10 s), `memory_mib` the state's memory
 * (until then, 1 GiB); <= 0 keeps the one before. */
void lhost_limits(lhost_t *h, double timeout_s, double memory_mib);

/* Start the Lua thread. Returns 0 or -1 (err filled). */
int lhost_start(lhost_t *h, char *err, size_t errlen);

/* Queue a job; `json` is copied. Returns 0, or -1 when the host is dead
 * (a previous job was abandoned) or out of memory. */
int lhost_post(lhost_t *h, int tag, const char *json);

/* The descriptor that becomes readable when results are waiting. */
int lhost_wake_fd(const lhost_t *h);

/* Take every finished result, oldest first (a list linked by `next`), and
 * clear the wake-up. NULL when none. */
struct lhost_result *lhost_take(lhost_t *h);

void lhost_result_free(struct lhost_result *r);

/* Stop the thread (after the job at hand, unless it was abandoned) and free
 * everything. NULL is accepted. */
void lhost_free(lhost_t *h);
