/*
 * test_store: unit tests of engine/store.c against a real LMDB store in a
 * fresh temporary directory per test. Exit status 0 when every check holds;
 * each failed check prints file:line and what differed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif
#include "store.h"

#include <errno.h>
#include <ftw.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                  \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "%s:%d: check failed: %s: ",      \
				__FILE__, __LINE__, #cond);               \
			fprintf(stderr, __VA_ARGS__);                     \
			fputc('\n', stderr);                              \
			failures++;                                       \
		}                                                         \
	} while (0)

#define CHECK_RC(call, want)                                              \
	do {                                                              \
		int rc_ = (call);                                         \
		CHECK(rc_ == (want), "%s returned %d, want %d", #call,    \
		      rc_, (want));                                       \
	} while (0)

/* ---- helpers ---- */

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	return remove(path);
}

static char *make_dir(void)
{
	char *dir = strdup("/tmp/test_store.XXXXXX");

	if (!dir || !mkdtemp(dir)) {
		perror("mkdtemp");
		exit(2);
	}
	return dir;
}

static void drop_dir(char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

static store_t *open_or_die(const char *dir, enum store_mode mode)
{
	char err[256] = "";
	store_t *s = NULL;
	int rc = store_open(&s, dir, mode, err, sizeof err);

	if (rc != 0) {
		fprintf(stderr, "store_open(%s, %d) = %d: %s\n", dir, mode, rc,
			err);
		exit(1);
	}
	return s;
}

static int commit(store_t *s)
{
	char err[256] = "";
	int rc = store_commit(s, err, sizeof err);

	if (rc != 0)
		fprintf(stderr, "store_commit = %d: %s\n", rc, err);
	return rc;
}

/* Check that key `key` of meta holds `want` (NULL: absent). */
static void check_meta(store_t *s, const char *key, const char *want,
		       int line)
{
	char *got = NULL;
	int rc = store_meta_get(s, key, &got);

	if (!want) {
		if (rc != STORE_ENOTFOUND) {
			fprintf(stderr, "line %d: meta %s: rc %d, want absent\n",
				line, key, rc);
			failures++;
		}
	} else if (rc != 0 || strcmp(got, want) != 0) {
		fprintf(stderr, "line %d: meta %s: rc %d '%s', want '%s'\n",
			line, key, rc, got ? got : "", want);
		failures++;
	}
	free(got);
}

/* Recorders for the iteration callbacks. */
struct rec {
	int n;
	uint64_t ids[64];
	double vals[64];
	int streams[64];
	char texts[64][64];
	int stop_at;          /* stop (return 7) at this record, 0: never */
};

static int rec_trial(uint64_t trial, const char *json, size_t len, void *arg)
{
	struct rec *r = arg;

	if (r->n < 64) {
		r->ids[r->n] = trial;
		snprintf(r->texts[r->n], sizeof r->texts[0], "%s", json);
		if (json[len] != '\0')
			r->texts[r->n][0] = '!';
	}
	return ++r->n == r->stop_at ? 7 : 0;
}

static int rec_metric(uint64_t step, double value, double unix_time,
		      void *arg)
{
	struct rec *r = arg;

	if (r->n < 64) {
		r->ids[r->n] = step;
		r->vals[r->n] = value;
	}
	return ++r->n == r->stop_at ? 7 : 0;
}

static int rec_log(uint32_t seq, double t, int stream, const char *text,
		   size_t len, void *arg)
{
	struct rec *r = arg;

	if (r->n < 64) {
		r->ids[r->n] = seq;
		r->vals[r->n] = t;
		r->streams[r->n] = stream;
		snprintf(r->texts[r->n], sizeof r->texts[0], "%.*s", (int)len,
			 text);
		if (text[len] != '\0')
			r->texts[r->n][0] = '!';
	}
	return ++r->n == r->stop_at ? 7 : 0;
}

/* ---- the tests ---- */

static void put_sample(store_t *s)
{
	static const uint64_t steps[] = { 256, 2, 10, 0, 65536 };

	CHECK_RC(store_meta_put(s, "name", "{\"name\":\"exp\"}"), 0);
	CHECK_RC(store_meta_put(s, "status", "\"running\""), 0);
	CHECK_RC(store_trial_put(s, 300, "{\"id\":300}"), 0);
	CHECK_RC(store_trial_put(s, 5, "{\"id\":5}"), 0);
	CHECK_RC(store_trial_put(s, 0x100, "{\"id\":256}"), 0);
	for (size_t i = 0; i < sizeof steps / sizeof *steps; i++)
		CHECK_RC(store_metric_put(s, 5, steps[i], steps[i] * 0.5, 1e9), 0);
	/* adjacent ids: their metrics must never mix with trial 5's */
	CHECK_RC(store_metric_put(s, 4, 1, -4.0, 1e9), 0);
	CHECK_RC(store_metric_put(s, 6, 0, -6.0, 1e9), 0);
	CHECK_RC(store_log_put(s, 5, 10, 1700000000.25, 2, "ten", 3), 0);
	CHECK_RC(store_log_put(s, 5, 2, 1700000000.5, 1, "two\nlines", 9), 0);
	CHECK_RC(store_log_put(s, 5, 0x10000, 1.0, 1, "", 0), 0);
	CHECK_RC(store_log_put(s, 6, 0, 2.0, 1, "other", 5), 0);
	CHECK_RC(store_strategy_put(s, "tpe", "\0bin\xff", 5), 0);
}

static void check_sample(store_t *s)
{
	struct rec r = { 0 };
	void *data = NULL;
	size_t len = 0;
	char *json = NULL;

	check_meta(s, "name", "{\"name\":\"exp\"}", __LINE__);
	check_meta(s, "status", "\"running\"", __LINE__);
	CHECK_RC(store_trial_get(s, 5, &json), 0);
	CHECK(json && strcmp(json, "{\"id\":5}") == 0, "trial 5: %s", json);
	free(json);
	CHECK_RC(store_trial_get(s, 6, &json), STORE_ENOTFOUND);

	CHECK_RC(store_trials_each(s, rec_trial, &r), 0);
	CHECK(r.n == 3, "trials: %d", r.n);
	CHECK(r.ids[0] == 5 && r.ids[1] == 256 && r.ids[2] == 300,
	      "trial order %llu %llu %llu", (unsigned long long)r.ids[0],
	      (unsigned long long)r.ids[1], (unsigned long long)r.ids[2]);
	CHECK(strcmp(r.texts[1], "{\"id\":256}") == 0, "trial json '%s'",
	      r.texts[1]);

	memset(&r, 0, sizeof r);
	CHECK_RC(store_metrics_each(s, 5, rec_metric, &r), 0);
	CHECK(r.n == 5, "metrics of 5: %d", r.n);
	CHECK(r.ids[0] == 0 && r.ids[1] == 2 && r.ids[2] == 10 &&
	      r.ids[3] == 256 && r.ids[4] == 65536, "metric step order");
	CHECK(r.vals[3] == 128.0, "metric at 256: %g", r.vals[3]);
	CHECK(store_metric_count(s, 5) == 5, "count 5: %zu",
	      store_metric_count(s, 5));
	CHECK(store_metric_count(s, 4) == 1, "count 4");
	CHECK(store_metric_count(s, 6) == 1, "count 6");
	CHECK(store_metric_count(s, 7) == 0, "count 7");

	memset(&r, 0, sizeof r);
	CHECK_RC(store_metrics_each(s, 6, rec_metric, &r), 0);
	CHECK(r.n == 1 && r.vals[0] == -6.0, "metrics of 6: %d", r.n);

	memset(&r, 0, sizeof r);
	CHECK_RC(store_logs_each(s, 5, rec_log, &r), 0);
	CHECK(r.n == 3, "logs of 5: %d", r.n);
	CHECK(r.ids[0] == 2 && r.ids[1] == 10 && r.ids[2] == 0x10000,
	      "log seq order");
	CHECK(strcmp(r.texts[0], "two\nlines") == 0 && r.streams[0] == 1 &&
	      r.vals[0] == 1700000000.5, "log 2: '%s'", r.texts[0]);
	CHECK(strcmp(r.texts[1], "ten") == 0 && r.streams[1] == 2 &&
	      r.vals[1] == 1700000000.25, "log 10: '%s'", r.texts[1]);
	CHECK(r.texts[2][0] == '\0', "empty log: '%s'", r.texts[2]);
	/* where a resumed run goes on: past the last line, not over it */
	CHECK(store_log_next(s, 5) == 0x10001, "next of 5: %u",
	      (unsigned)store_log_next(s, 5));
	CHECK(store_log_next(s, 6) == 1, "next of 6");
	CHECK(store_log_next(s, 4) == 0 && store_log_next(s, 7) == 0 &&
	      store_log_next(s, 0) == 0, "next of trials without lines");

	CHECK_RC(store_strategy_get(s, "tpe", &data, &len), 0);
	CHECK(len == 5 && memcmp(data, "\0bin\xff", 5) == 0 &&
	      ((char *)data)[5] == '\0', "strategy blob (%zu bytes)", len);
	free(data);
	CHECK_RC(store_strategy_get(s, "gp", &data, &len), STORE_ENOTFOUND);
}

static void test_write_read(void)
{
	char *dir = make_dir();
	store_t *s = open_or_die(dir, STORE_WRITE);
	char *json = NULL;

	CHECK(store_pending(s) == 0, "pending at open");
	CHECK_RC(store_commit(s, NULL, 0), 0);
	put_sample(s);
	CHECK(store_pending(s) == 17, "pending %zu, want 17",
	      store_pending(s));
	check_meta(s, "name", NULL, __LINE__);
	CHECK_RC(store_trial_get(s, 5, &json), STORE_ENOTFOUND);
	CHECK(store_metric_count(s, 5) == 0, "metrics before commit");
	CHECK_RC(commit(s), 0);
	CHECK(store_pending(s) == 0, "pending after commit %zu",
	      store_pending(s));
	check_sample(s);
	store_close(s);

	s = open_or_die(dir, STORE_WRITE);
	check_sample(s);
	store_close(s);
	s = open_or_die(dir, STORE_READ);
	check_sample(s);
	store_close(s);
	drop_dir(dir);
}

static void test_last_put_wins(void)
{
	char *dir = make_dir();
	store_t *s = open_or_die(dir, STORE_WRITE);
	struct rec r = { 0 };

	CHECK_RC(store_meta_put(s, "k", "1"), 0);
	CHECK_RC(store_meta_put(s, "k", "2"), 0);
	CHECK_RC(store_metric_put(s, 1, 3, 1.0, 1e9), 0);
	CHECK_RC(store_metric_put(s, 1, 3, 2.0, 1e9), 0);
	CHECK_RC(commit(s), 0);
	check_meta(s, "k", "2", __LINE__);
	CHECK_RC(store_metrics_each(s, 1, rec_metric, &r), 0);
	CHECK(r.n == 1 && r.vals[0] == 2.0, "metric overwrite: n %d v %g",
	      r.n, r.vals[0]);
	/* and across commits */
	CHECK_RC(store_meta_put(s, "k", "3"), 0);
	CHECK_RC(commit(s), 0);
	check_meta(s, "k", "3", __LINE__);
	store_close(s);
	drop_dir(dir);
}

static void test_stop_and_errors(void)
{
	char *dir = make_dir();
	store_t *s = open_or_die(dir, STORE_WRITE);
	struct rec r = { .stop_at = 2 };
	char big[600];

	put_sample(s);
	CHECK_RC(commit(s), 0);
	CHECK_RC(store_trials_each(s, rec_trial, &r), 7);
	CHECK(r.n == 2, "stopped after %d", r.n);
	memset(&r, 0, sizeof r);
	r.stop_at = 1;
	CHECK_RC(store_logs_each(s, 5, rec_log, &r), 7);

	memset(big, 'k', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	CHECK_RC(store_meta_put(s, big, "1"), STORE_EINVAL);
	CHECK_RC(store_meta_put(s, "", "1"), STORE_EINVAL);
	CHECK_RC(store_meta_put(s, "k", NULL), STORE_EINVAL);
	CHECK(strstr(store_last_error(s), "meta") != NULL, "last error '%s'",
	      store_last_error(s));
	CHECK(store_pending(s) == 0, "rejected puts were queued");
	store_close(s);

	s = open_or_die(dir, STORE_READ);
	CHECK_RC(store_meta_put(s, "k", "1"), STORE_EREADONLY);
	CHECK_RC(store_commit(s, NULL, 0), STORE_EREADONLY);
	store_close(s);
	drop_dir(dir);
}

static void test_missing_store(void)
{
	char *dir = make_dir();
	char path[512], err[256] = "";
	store_t *s = (store_t *)1;
	struct stat st;

	CHECK_RC(store_open(&s, dir, STORE_READ, err, sizeof err),
		 STORE_ENOSTORE);
	CHECK(s == NULL, "handle set on failure");
	CHECK(strstr(err, "no store") != NULL, "message '%s'", err);
	snprintf(path, sizeof path, "%s/store", dir);
	CHECK(stat(path, &st) != 0, "a reader created %s", path);

	/* an empty dir/store (writer died before creating the files) */
	mkdir(path, 0700);
	CHECK_RC(store_open(&s, dir, STORE_READ, err, sizeof err),
		 STORE_ENOSTORE);
	snprintf(path, sizeof path, "%s/store/lock.mdb", dir);
	CHECK(stat(path, &st) != 0, "a reader created %s", path);
	drop_dir(dir);
}

/* A store made by hand with only the meta database reads as empty. */
static void test_missing_dbi(void)
{
	char *dir = make_dir();
	char path[512];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { 4, "name" }, v = { 3, "\"x\"" };
	struct rec r = { 0 };
	char *json = NULL;
	store_t *s;

	snprintf(path, sizeof path, "%s/store", dir);
	mkdir(path, 0700);
	CHECK_RC(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 5);
	CHECK_RC(mdb_env_open(env, path, 0, 0600), 0);
	CHECK_RC(mdb_txn_begin(env, NULL, 0, &txn), 0);
	CHECK_RC(mdb_dbi_open(txn, "meta", MDB_CREATE, &dbi), 0);
	CHECK_RC(mdb_put(txn, dbi, &k, &v, 0), 0);
	CHECK_RC(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	s = open_or_die(dir, STORE_READ);
	check_meta(s, "name", "\"x\"", __LINE__);
	CHECK_RC(store_trial_get(s, 1, &json), STORE_ENOTFOUND);
	CHECK_RC(store_trials_each(s, rec_trial, &r), 0);
	CHECK_RC(store_logs_each(s, 1, rec_log, &r), 0);
	CHECK(r.n == 0, "records in missing dbs: %d", r.n);
	CHECK(store_metric_count(s, 1) == 0, "metric count");
	CHECK_RC(store_trial_heads_complete(s), 0); /* an older engine's store */
	store_close(s);
	drop_dir(dir);
}

/* Fill strategy key "blob%05d" with a pattern of `size` bytes. */
static void put_blob(store_t *s, int i, size_t size)
{
	char key[32];
	unsigned char *b = malloc(size);

	snprintf(key, sizeof key, "blob%05d", i);
	for (size_t j = 0; j < size; j++)
		b[j] = (unsigned char)(i * 31 + j);
	CHECK_RC(store_strategy_put(s, key, b, size), 0);
	free(b);
}

static int blob_ok(store_t *s, int i, size_t size)
{
	char key[32];
	unsigned char *b = NULL;
	size_t len = 0;
	int ok;

	snprintf(key, sizeof key, "blob%05d", i);
	if (store_strategy_get(s, key, (void **)&b, &len) != 0)
		return 0;
	ok = len == size;
	for (size_t j = 0; ok && j < size; j++)
		ok = b[j] == (unsigned char)(i * 31 + j);
	free(b);
	return ok;
}

static void test_map_growth(void)
{
	enum { N = 1500, BATCH = 100, SIZE = 64 << 10 };
	char *dir = make_dir();
	char path[512];
	struct stat st;
	store_t *s;
	int bad = 0;

	setenv("MAGGY_STORE_MAPSIZE", "1M", 1);
	s = open_or_die(dir, STORE_WRITE);
	store_set_nosync(s, 1);
	for (int i = 0; i < N; i++) {
		put_blob(s, i, SIZE);
		if ((i + 1) % BATCH == 0)
			CHECK_RC(commit(s), 0);
	}
	CHECK_RC(commit(s), 0);
	for (int i = 0; i < N; i++)
		bad += !blob_ok(s, i, SIZE);
	CHECK(bad == 0, "%d of %d blobs wrong before reopen", bad, N);
	store_close(s);

	snprintf(path, sizeof path, "%s/store/data.mdb", dir);
	CHECK(stat(path, &st) == 0 && st.st_size > (off_t)N * SIZE,
	      "data.mdb has %lld bytes", (long long)st.st_size);
	s = open_or_die(dir, STORE_READ);
	bad = 0;
	for (int i = 0; i < N; i++)
		bad += !blob_ok(s, i, SIZE);
	CHECK(bad == 0, "%d of %d blobs wrong after reopen", bad, N);
	store_close(s);

	CHECK_RC(setenv("MAGGY_STORE_MAPSIZE", "lots", 1), 0);
	CHECK_RC(store_open(&s, dir, STORE_WRITE, NULL, 0), STORE_EINVAL);
	unsetenv("MAGGY_STORE_MAPSIZE");
	drop_dir(dir);
}

/* ---- commits beside the caller ---- */

/* End the commit in flight the way the engine does: wait until its eventfd
 * is readable, then collect it; a map that grew means one more round. */
static int end_when_ready(store_t *s)
{
	struct pollfd p = { .fd = store_commit_fd(s), .events = POLLIN };
	char err[256] = "";
	int rc;

	do {
		if (poll(&p, 1, 10000) != 1)
			return -100; /* the thread never said it was through */
		rc = store_commit_end(s, 0, err, sizeof err);
	} while (rc == STORE_EAGAIN);
	if (rc)
		fprintf(stderr, "store_commit_end = %d: %s\n", rc, err);
	return rc;
}

/* Puts made while a commit is in flight go into the next one; batch numbers
 * say which acknowledgements may go out. */
static void test_commit_beside(void)
{
	char *dir = make_dir();
	store_t *s = open_or_die(dir, STORE_WRITE);
	uint64_t first, second;

	CHECK(store_durable_id(s) < store_batch_id(s), "nothing put is durable");
	first = store_batch_id(s);
	CHECK_RC(store_meta_put(s, "a", "1"), 0);
	CHECK_RC(store_commit_start(s, NULL, 0), 1);
	CHECK(store_committing(s), "a commit is in flight");
	CHECK_RC(store_commit_start(s, NULL, 0), 0); /* one at a time */
	second = store_batch_id(s);
	CHECK(second > first, "a new batch after the start");
	CHECK_RC(store_meta_put(s, "b", "2"), 0);
	CHECK_RC(store_meta_put(s, "a", "3"), 0); /* later than the flying "1" */
	CHECK(store_pending(s) == 2, "pending %zu", store_pending(s));
	CHECK_RC(end_when_ready(s), 0);
	CHECK(!store_committing(s), "the commit ended");
	CHECK(store_durable_id(s) >= first && store_durable_id(s) < second,
	      "durable %llu, first %llu, second %llu",
	      (unsigned long long)store_durable_id(s),
	      (unsigned long long)first, (unsigned long long)second);
	check_meta(s, "a", "1", __LINE__);
	check_meta(s, "b", NULL, __LINE__);
	CHECK_RC(store_commit_start(s, NULL, 0), 1);
	CHECK_RC(store_commit_end(s, 1, NULL, 0), 0);
	CHECK(store_durable_id(s) >= second, "the second batch is durable");
	check_meta(s, "a", "3", __LINE__);
	check_meta(s, "b", "2", __LINE__);
	/* Nothing queued: nothing to wait for, and the batch counts as durable. */
	second = store_batch_id(s);
	CHECK_RC(store_commit_start(s, NULL, 0), 0);
	CHECK(store_durable_id(s) >= second, "an empty batch is durable");
	/* A commit in flight is waited for by store_commit and by close. */
	CHECK_RC(store_meta_put(s, "c", "4"), 0);
	CHECK_RC(store_commit_start(s, NULL, 0), 1);
	CHECK_RC(store_meta_put(s, "d", "5"), 0);
	CHECK_RC(commit(s), 0);
	check_meta(s, "c", "4", __LINE__);
	check_meta(s, "d", "5", __LINE__);
	CHECK_RC(store_meta_put(s, "e", "6"), 0);
	CHECK_RC(store_commit_start(s, NULL, 0), 1);
	store_close(s);
	s = open_or_die(dir, STORE_READ);
	check_meta(s, "e", "6", __LINE__);
	store_close(s);
	drop_dir(dir);
}

/* A writer whose map starts at 1 MiB, so that little data makes it grow. */
static store_t *open_small_map(const char *dir)
{
	store_t *s;

	setenv("MAGGY_STORE_MAPSIZE", "1M", 1);
	s = open_or_die(dir, STORE_WRITE);
	unsetenv("MAGGY_STORE_MAPSIZE");
	store_set_nosync(s, 1);
	return s;
}

/* The thread's commit that fills the map: the map grows and the same writes
 * go again. */
static void test_commit_beside_grows(void)
{
	enum { N = 400, SIZE = 64 << 10 };
	char *dir = make_dir();
	store_t *s;
	int bad = 0;

	s = open_small_map(dir);
	for (int i = 0; i < N; i++)
		put_blob(s, i, SIZE);
	CHECK_RC(store_commit_start(s, NULL, 0), 1);
	CHECK_RC(end_when_ready(s), 0);
	for (int i = 0; i < N; i++)
		bad += !blob_ok(s, i, SIZE);
	CHECK(bad == 0, "%d of %d blobs wrong", bad, N);
	store_close(s);
	drop_dir(dir);
}

/* A commit that fails (the map is full and cannot grow while a read is
 * open) puts its writes back in front of those queued meanwhile: none is
 * lost, and the later put of a key still wins. */
struct failing {
	store_t *s;
	int rc;
};

static int end_inside_read(uint64_t id, const char *json, size_t len,
			   void *arg)
{
	struct failing *f = arg;
	char err[256] = "";

	(void)id;
	(void)json;
	(void)len;
	f->rc = store_commit_end(f->s, 1, err, sizeof err);
	CHECK(f->rc < 0 && f->rc != STORE_EAGAIN && err[0],
	      "commit_end inside a read: %d (%s)", f->rc, err);
	return 1;
}

static void test_commit_beside_fails(void)
{
	enum { N = 200, SIZE = 64 << 10 };
	char *dir = make_dir();
	struct failing f = { 0 };
	store_t *s;
	int bad = 0;

	s = open_small_map(dir);
	CHECK_RC(store_trial_put(s, 1, "{\"state\":\"RUNNING\"}"), 0);
	CHECK_RC(commit(s), 0);
	f.s = s;
	for (int i = 0; i < N; i++)
		put_blob(s, i, SIZE);
	CHECK_RC(store_meta_put(s, "k", "old"), 0);
	CHECK_RC(store_commit_start(s, NULL, 0), 1);
	CHECK_RC(store_meta_put(s, "k", "new"), 0);
	CHECK_RC(store_trials_each(s, end_inside_read, &f), 1);
	CHECK(!store_committing(s), "the failed commit ended");
	CHECK(store_pending(s) == N + 2, "pending %zu, want %d",
	      store_pending(s), N + 2);
	CHECK_RC(commit(s), 0);
	for (int i = 0; i < N; i++)
		bad += !blob_ok(s, i, SIZE);
	CHECK(bad == 0, "%d of %d blobs wrong", bad, N);
	check_meta(s, "k", "new", __LINE__);
	store_close(s);
	drop_dir(dir);
}

/* ---- a reader process beside the writer ---- */

static void wait_byte(int fd)
{
	char c;

	if (read(fd, &c, 1) != 1)
		_exit(3);
}

static void send_byte(int fd)
{
	if (write(fd, "x", 1) != 1)
		_exit(3);
}

/* The child: open read-only once the writer has committed, then check that
 * it sees the next commits too, including those that grew the map. */
static int reader_child(const char *dir, int in, int out)
{
	store_t *s;
	int bad = 0;

	failures = 0;
	wait_byte(in);
	s = open_or_die(dir, STORE_READ);
	check_meta(s, "phase", "1", __LINE__);
	send_byte(out);
	wait_byte(in);
	check_meta(s, "phase", "2", __LINE__);
	for (int i = 0; i < 200; i++)
		bad += !blob_ok(s, i, 64 << 10);
	CHECK(bad == 0, "reader: %d blobs wrong after map growth", bad);
	CHECK(store_metric_count(s, 9) == 1, "reader: metric count");
	store_close(s);
	return failures ? 1 : 0;
}

static void test_parallel_reader(void)
{
	char *dir = make_dir();
	int to_child[2], to_parent[2], status = 0;
	store_t *s;
	pid_t pid;

	if (pipe(to_child) || pipe(to_parent)) {
		perror("pipe");
		exit(2);
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		int rc = reader_child(dir, to_child[0], to_parent[1]);

		free(dir);
		_exit(rc);
	}
	if (pid < 0) {
		perror("fork");
		exit(2);
	}

	setenv("MAGGY_STORE_MAPSIZE", "1M", 1);
	s = open_or_die(dir, STORE_WRITE);
	unsetenv("MAGGY_STORE_MAPSIZE");
	CHECK_RC(store_meta_put(s, "phase", "1"), 0);
	CHECK_RC(commit(s), 0);
	send_byte(to_child[1]);
	wait_byte(to_parent[0]);
	for (int i = 0; i < 200; i++)
		put_blob(s, i, 64 << 10);
	CHECK_RC(store_metric_put(s, 9, 1, 0.5, 1e9), 0);
	CHECK_RC(store_meta_put(s, "phase", "2"), 0);
	CHECK_RC(commit(s), 0);
	send_byte(to_child[1]);
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "reader process failed (status %d)", status);
	store_close(s);
	drop_dir(dir);
}

struct heads_seen {
	int n;
	uint64_t order[4];
	struct store_trial_head of[4]; /* by trial id */
};

static int rec_head(uint64_t trial, const struct store_trial_head *h,
		    void *arg)
{
	struct heads_seen *seen = arg;

	if (seen->n < 4)
		seen->order[seen->n++] = trial;
	if (trial < 4)
		seen->of[trial] = *h;
	return 0;
}

static void test_trial_heads(void)
{
	char *dir = make_dir();
	store_t *s = open_or_die(dir, STORE_WRITE);
	const struct store_trial_head running = { 7, 0, 1, 0, 0, 1.5e9, 0 };
	const struct store_trial_head created = { 3, 0, 0, 0, 0, 0, 0 };
	const struct store_trial_head ended = { 3, 0xfffffffe, 4, 1, -0.25,
						1.5e9 + 0.5, 1.5e9 + 2 };
	struct heads_seen seen;
	struct store_trial_head *got = seen.of;

	memset(&seen, 0, sizeof seen);
	CHECK_RC(store_trial_heads_complete(s), 1); /* no trials, no heads */
	CHECK_RC(store_trial_put(s, 1, "{}"), 0);
	CHECK_RC(commit(s), 0);
	CHECK_RC(store_trial_heads_complete(s), 0); /* a record without */
	CHECK_RC(store_trial_head_put(s, 1, &running), 0);
	CHECK_RC(store_trial_put(s, 2, "{}"), 0);
	CHECK_RC(store_trial_head_put(s, 2, &created), 0);
	CHECK_RC(store_trial_head_put(s, 2, &ended), 0); /* the last one wins */
	CHECK_RC(store_trial_head_put(s, 3, NULL), STORE_EINVAL);
	CHECK_RC(commit(s), 0);
	store_close(s);

	s = open_or_die(dir, STORE_READ);
	CHECK_RC(store_trial_heads_complete(s), 1);
	CHECK_RC(store_trial_heads_each(s, rec_head, &seen), 0);
	CHECK(seen.n == 2 && seen.order[0] == 2 && seen.order[1] == 1,
	      "%d heads, not in creation order", seen.n);
	CHECK(got[1].seq == 7 && got[1].end_seq == 0 && got[1].state == 1 &&
	      got[1].has_value == 0 && got[1].started == 1.5e9 &&
	      got[1].ended == 0, "head of 1: seq %llu state %d",
	      (unsigned long long)got[1].seq, got[1].state);
	CHECK(got[2].seq == 3 && got[2].end_seq == 0xfffffffe &&
	      got[2].state == 4 && got[2].has_value == 1 &&
	      got[2].value == -0.25 && got[2].started == 1.5e9 + 0.5 &&
	      got[2].ended == 1.5e9 + 2, "head of 2: seq %llu end %u state %d "
	      "value %g", (unsigned long long)got[2].seq, got[2].end_seq,
	      got[2].state, got[2].value);
	store_close(s);
	drop_dir(dir);
}

static void test_metrics_erase(void)
{
	char *dir = make_dir();
	store_t *s = open_or_die(dir, STORE_WRITE);
	struct rec r = { 0 };

	for (uint64_t step = 0; step < 600; step++) /* over several pages */
		CHECK_RC(store_metric_put(s, 5, step, 1.0, 1e9), 0);
	CHECK_RC(store_metric_put(s, 4, 1, -4.0, 1e9), 0);
	CHECK_RC(store_metric_put(s, 6, 0, -6.0, 1e9), 0);
	CHECK_RC(commit(s), 0);
	/* a new attempt: the old points go, the new ones after it stay, even
	 * in the same batch */
	CHECK_RC(store_metric_put(s, 5, 700, 2.0, 1e9), 0);
	CHECK_RC(store_metrics_erase(s, 5), 0);
	CHECK_RC(store_metric_put(s, 5, 0, 3.0, 1e9), 0);
	CHECK_RC(store_metric_put(s, 5, 1, 4.0, 1e9), 0);
	CHECK_RC(commit(s), 0);
	CHECK_RC(store_metrics_each(s, 5, rec_metric, &r), 0);
	CHECK(r.n == 2 && r.ids[0] == 0 && r.vals[0] == 3.0 && r.ids[1] == 1 &&
	      r.vals[1] == 4.0, "trial 5 after the erase: %d points", r.n);
	CHECK(store_metric_count(s, 4) == 1 && store_metric_count(s, 6) == 1,
	      "the neighbours' points");
	CHECK_RC(store_metrics_erase(s, 9), 0); /* nothing to erase */
	CHECK_RC(commit(s), 0);
	store_close(s);
	drop_dir(dir);
}

int main(void)
{
	struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
		{ "write_read", test_write_read },
		{ "last_put_wins", test_last_put_wins },
		{ "stop_and_errors", test_stop_and_errors },
		{ "missing_store", test_missing_store },
		{ "missing_dbi", test_missing_dbi },
		{ "map_growth", test_map_growth },
		{ "parallel_reader", test_parallel_reader },
		{ "commit_beside", test_commit_beside },
		{ "beside_grows", test_commit_beside_grows },
		{ "beside_fails", test_commit_beside_fails },
		{ "trial_heads", test_trial_heads },
		{ "metrics_erase", test_metrics_erase },
	};

	for (size_t i = 0; i < sizeof tests / sizeof *tests; i++) {
		int before = failures;

		tests[i].fn();
		printf("%-16s %s\n", tests[i].name,
		       failures == before ? "ok" : "FAILED");
	}
	printf("%d check(s) failed\n", failures);
	return failures ? 1 : 0;
}
