/*
 * store: the LMDB store of one experiment (DIR/store).
 *
 * Owns the LMDB environment and its named databases:
 *   meta     key string   -> JSON (experiment settings, status, ...)
 *   trials   u64 id (BE)  -> JSON trial record (see docs/store.md)
 *   metrics  u64 id, u64 step (BE) -> f64 value, f64 unix time
 *   logs     u64 id, u32 seq (BE)  -> f64 unix time, u8 stream, text
 *   strategy key string   -> bytes (optimizer state, for resume)
 *   journal  u64 seq (BE)  -> JSON job given to the strategies (for resume)
 *   heads    u64 seq (BE) -> a trial's id and head (store_trial_head)
 *
 * Writes are group-committed: the put functions only queue the write in
 * memory; store_commit() applies everything queued since the last commit in
 * ONE write transaction and returns once it is durable. So a caller that
 * acknowledges a result after store_commit() returned 0 never loses it. No
 * transaction is ever held between calls. A full map (MDB_MAP_FULL) grows the
 * map and retries the commit; it is never an error for the caller.
 *
 * Reads open a short read-only transaction per call and copy values out
 * before it ends; they see what was committed, also from another process
 * (`maggy-engine show` while a run goes on).
 *
 * Threads: a store_t is used by one thread at a time (the engine's loop
 * thread), and by its own commit thread for store_commit_start(). Other
 * processes may open the same directory read-only.
 *
 * Errors: functions return 0 or a negative STORE_E* code and, where they take
 * `err`, write a one-line reason there; store_last_error() gives the reason
 * of the last failure on any call (LMDB's codes are translated in one place,
 * store.c).
 *
 * Tests: the environment variable MAGGY_STORE_MAPSIZE (bytes, optional K/M/G
 * suffix) sets the initial map size of a writer (default 256 MiB) so that
 * map growth can be exercised with little data.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct store store_t;

enum store_err {
	STORE_OK = 0,
	STORE_ENOTFOUND = -1, /* no such key */
	STORE_EIO = -2,       /* LMDB / file system failure: see err text */
	STORE_ENOMEM = -3,
	STORE_EREADONLY = -4, /* write on a store opened read-only */
	STORE_ENOSTORE = -5,  /* store_open without create: no store in DIR */
	STORE_EINVAL = -6,    /* NULL value, empty or over-long key (> 511 B),
				 bad MAGGY_STORE_MAPSIZE */
	STORE_EAGAIN = -7,    /* the commit in flight has not ended yet */
};

/*
 * What readers of every trial (the dashboard's counts, show's order) need of
 * each without parsing its record: written beside the record, in the same
 * commit, by whoever writes the record. Stores of older engines have no
 * heads (store_trial_heads_complete).
 */
struct store_trial_head {
	uint64_t seq;	  /* creation order, from 1 */
	uint32_t end_seq; /* order of ending, from 1; 0 until it ends */
	uint8_t state;	  /* the trial's state (enum trial_state, trial.h) */
	uint8_t has_value;
	double value;	  /* when has_value */
	double started, ended; /* unix times, 0 = not yet */
};

enum store_mode {
	STORE_READ = 0,   /* existing store, read-only */
	STORE_WRITE = 1,  /* existing store or a new one, read-write */
};

/*
 * Open the store in directory `dir` (the experiment directory; the LMDB files
 * go to dir/store/, created when missing in STORE_WRITE mode).
 * On success *out owns the environment: free it with store_close().
 * Returns 0, STORE_ENOSTORE (read mode and nothing there, or `dir` itself
 * missing), STORE_EINVAL (bad MAGGY_STORE_MAPSIZE) or STORE_EIO. A reader
 * never creates files. One open per process and directory (LMDB's rule).
 */
int store_open(store_t **out, const char *dir, enum store_mode mode,
	       char *err, size_t errlen);

/* Close the environment. Writes queued but not committed are dropped.
 * NULL is accepted. */
void store_close(store_t *s);

/* Ask LMDB not to fsync on commit (simulation, benchmarks): faster, but a
 * machine crash may lose the last commits. */
void store_set_nosync(store_t *s, int nosync);

/*
 * Queue writes for the next store_commit(). The data is copied; the caller
 * keeps ownership of its arguments. Return 0, STORE_ENOMEM,
 * STORE_EREADONLY or STORE_EINVAL (NULL value; meta/strategy key empty or
 * longer than 511 bytes: checked here so that a bad write can never block
 * later commits). A later put of the same key in the same batch wins.
 */
int store_meta_put(store_t *s, const char *key, const char *json);
int store_trial_put(store_t *s, uint64_t trial, const char *json);
int store_trial_head_put(store_t *s, uint64_t trial,
			 const struct store_trial_head *head);
int store_metric_put(store_t *s, uint64_t trial, uint64_t step, double value,
		     double unix_time);
int store_log_put(store_t *s, uint64_t trial, uint32_t seq, double unix_time,
		  int stream, const char *text, size_t len);
int store_strategy_put(store_t *s, const char *key, const void *data,
		       size_t len);
/* Queue the deletion of every metric point of `trial` (a new attempt
 * starts its history over); puts queued after it are kept. */
int store_metrics_erase(store_t *s, uint64_t trial);
int store_journal_put(store_t *s, uint64_t seq, const char *job, size_t len);

/* Number of writes queued since the last commit. */
size_t store_pending(const store_t *s);

/*
 * Apply every queued write in one write transaction and commit it (durable
 * unless nosync). With nothing queued, returns 0 at once. On failure the
 * queued writes are kept (a later commit retries them) and `err` says why.
 * Returns 0, STORE_EREADONLY, STORE_ENOMEM or STORE_EIO. Do not call it from an iteration
 * callback: growing the map needs every read transaction closed (it then
 * fails with STORE_EIO, the writes stay queued).
 */
int store_commit(store_t *s, char *err, size_t errlen);

/*
 * Commits beside the caller. store_commit_start() hands the queued writes
 * to the store's commit thread and returns at once: 1 when it did, 0 when
 * there was nothing to commit or a commit is still in flight (at most one
 * is), or an error. Puts meanwhile go into the next batch. Once
 * store_commit_fd() is readable, store_commit_end() says how the commit
 * ended: 0 (durable), STORE_EAGAIN (still in flight: not ended yet, or the
 * map grew and the same writes are committed again), or an error, and then
 * the writes are queued again in front of those put meanwhile. `wait`
 * blocks until the commit ended. store_commit() waits for a commit in
 * flight before its own.
 *
 * Batches are numbered: store_batch_id() is the batch that a put made now
 * joins, store_durable_id() the last batch that is on disk. Something put
 * while store_batch_id() was N is durable once store_durable_id() >= N.
 */
int store_commit_fd(store_t *s); /* the eventfd, or an error (< 0) */
int store_commit_start(store_t *s, char *err, size_t errlen);
int store_commit_end(store_t *s, int wait, char *err, size_t errlen);
int store_committing(const store_t *s);
uint64_t store_batch_id(const store_t *s);
uint64_t store_durable_id(const store_t *s);

/* One line saying why the last failing call on `s` failed (never NULL;
 * valid until the next call on `s`). */
const char *store_last_error(const store_t *s);

/*
 * Reads. Strings returned are malloc'd and NUL-terminated; the caller frees
 * them (strategy data too carries a NUL after its `len` bytes). In read mode
 * a database the writer has not created yet reads as empty. On failure the
 * out-parameters are left untouched.
 * Return 0, STORE_ENOTFOUND, STORE_EINVAL (bad key), STORE_ENOMEM or
 * STORE_EIO.
 */
int store_meta_get(store_t *s, const char *key, char **json);
int store_trial_get(store_t *s, uint64_t trial, char **json);
int store_strategy_get(store_t *s, const char *key, void **data, size_t *len);

/*
 * Iterate in key order. The callback returns 0 to go on, non-zero to stop
 * (that value is then returned). Pointers passed to callbacks are valid only
 * during the call; `json` and `text` are NUL-terminated (json[len] == 0).
 * Callbacks may call the read and put functions (not store_commit).
 * Return 0, the callback's value, or STORE_ENOMEM / STORE_EIO.
 */
typedef int (*store_trial_cb)(uint64_t trial, const char *json, size_t len,
			      void *arg);
/* unix_time: when the point reached the engine (NAN in stores written
 * before times were kept). */
typedef int (*store_metric_cb)(uint64_t step, double value, double unix_time,
			       void *arg);
typedef int (*store_log_cb)(uint32_t seq, double unix_time, int stream,
			    const char *text, size_t len, void *arg);

typedef int (*store_head_cb)(uint64_t trial,
			     const struct store_trial_head *head, void *arg);

int store_trials_each(store_t *s, store_trial_cb cb, void *arg);
/* The heads in creation order (of their seq). */
int store_trial_heads_each(store_t *s, store_head_cb cb, void *arg);
int store_metrics_each(store_t *s, uint64_t trial, store_metric_cb cb,
		       void *arg);
int store_logs_each(store_t *s, uint64_t trial, store_log_cb cb, void *arg);
/* The journal in order: `trial` is then the job's sequence number. */
int store_journal_each(store_t *s, store_trial_cb cb, void *arg);

/* 1 when every trial has its head (a store of this engine), 0 when some
 * have none (a store of an older engine: read their records), or an
 * error. */
int store_trial_heads_complete(store_t *s);

/* When the store was last written (a commit), as a unix time; 0 when
 * unknown. */
double store_modified(store_t *s);

/* Count the metric points stored for `trial` (0 when none or on error). */
size_t store_metric_count(store_t *s, uint64_t trial);

/* The number after the last log line stored for `trial` (0: the lines
 * outside trials), 0 when it has none (or on error): where a resumed run
 * goes on writing, past what the earlier runs wrote. */
uint32_t store_log_next(store_t *s, uint64_t trial);
