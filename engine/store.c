/* store: the LMDB store of one experiment. See store.h and docs/store.md. */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <math.h>
#include <limits.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/bytes.h"

#define DEFAULT_MAPSIZE ((size_t)256 << 20)
/* A batch arena larger than this is freed after its commit instead of
 * being kept for the next batch. */
#define ARENA_KEEP ((size_t)8 << 20)

enum db { DB_META, DB_TRIALS, DB_METRICS, DB_LOGS, DB_STRATEGY, DB_JOURNAL,
	  DB_HEADS, DB_COUNT };

static const char *const db_names[DB_COUNT] = {
	"meta", "trials", "metrics", "logs", "strategy", "journal", "heads",
};

/* A head on disk, under its trial's seq: the trial's id (u64), end_seq
 * (u32), state, has_value, two bytes of zeros, then value, started and
 * ended (f64). Keyed by seq, the heads of the trials in flight lie in the
 * last pages (a commit rewrites few), and they are read in creation
 * order. */
#define HEAD_SIZE 40

/* One queued write: key and value lie back to back in the batch arena.
 * An erase has a key alone: every record whose key starts with it goes. */
struct op {
	enum db db;
	int erase;
	size_t off;
	size_t klen;
	size_t vlen;
};

/* Queued writes in order; their keys and values in one arena. */
struct batch {
	struct op *ops;
	size_t nops, opcap;
	uint8_t *arena;
	size_t used, cap;
};

/* The commit thread: it applies and commits the batch in flight while the
 * caller's thread goes on queueing the next one. Started on first use. */
struct writer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd;       /* eventfd: readable once a commit ended */
	int job;      /* `flying` waits for the thread */
	int done;     /* the thread is through with `flying`; rc says how */
	int quit;
	int rc;       /* LMDB's code */
};

struct store {
	MDB_env *env;
	MDB_dbi dbi[DB_COUNT];
	unsigned have;        /* bit (1 << db) set when dbi[db] is open */
	int readonly;
	int readers;          /* read transactions open right now */
	size_t maxkey;
	struct batch queued;  /* where puts go */
	struct batch flying;  /* the commit in flight */
	int in_flight;        /* `flying` belongs to the writer until _end */
	uint64_t queued_id;   /* the number of the batch in `queued` */
	uint64_t flying_id;
	uint64_t durable_id;  /* the last batch on disk */
	struct writer *w;
	char errmsg[256];
};

/* Scratch copy that gives callbacks a NUL-terminated string. */
struct scratch {
	char *p;
	size_t cap;
};

/* State of one iteration: the user's callback and what it returned. */
struct walk {
	union {
		store_trial_cb trial;
		store_metric_cb metric;
		store_log_cb log;
		store_head_cb head;
	} cb;
	void *arg;
	int stop;
	size_t count;
	struct scratch sc;
};

typedef int (*visit_fn)(const MDB_val *k, const MDB_val *v, struct walk *w);

/* ---- encodings: big-endian, so LMDB's byte order is numeric order ---- */

/* ---- errors ---- */

/*
 * The one place where LMDB codes and errno values become STORE_E* codes.
 * Records "<context>: <reason>" in s->errmsg and returns the code.
 */
static int fail(store_t *s, int rc, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (rc == 0)
		return STORE_OK;
	va_start(ap, fmt);
	n = vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
	va_end(ap);
	/* LMDB reports a short write (a full disk, a file size limit) as EIO */
	if (n >= 0 && (size_t)n < sizeof s->errmsg)
		snprintf(s->errmsg + n, sizeof s->errmsg - n, ": %s%s",
			 mdb_strerror(rc), rc == EIO || rc == ENOSPC ||
			 rc == EFBIG ? " (is its disk full?)" : "");
	switch (rc) {
	case MDB_NOTFOUND: return STORE_ENOTFOUND;
	case ENOMEM: return STORE_ENOMEM;
	case EROFS: return STORE_EREADONLY;
	case ENOENT: return STORE_ENOSTORE;
	case EINVAL:
	case MDB_BAD_VALSIZE: return STORE_EINVAL;
	}
	return STORE_EIO;
}

static void copy_err(const store_t *s, char *err, size_t errlen)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", s->errmsg);
}

/* Give the caller the reason of a failure `rc` that fail() recorded. */
static int failed(const store_t *s, int rc, char *err, size_t errlen)
{
	copy_err(s, err, errlen);
	return rc;
}

const char *store_last_error(const store_t *s)
{
	return s ? s->errmsg : "no store";
}

/* ---- transactions ---- */

/*
 * Begin a transaction. When another process grew the map past ours,
 * adopt its size and try again; remapping is only legal while this process
 * has no transaction open, so a nested read reports the condition instead.
 */
static int txn_begin(store_t *s, unsigned flags, MDB_txn **txn)
{
	int rc = mdb_txn_begin(s->env, NULL, flags, txn);

	if (rc == MDB_MAP_RESIZED && s->readers == 0) {
		rc = mdb_env_set_mapsize(s->env, 0);
		if (rc == 0)
			rc = mdb_txn_begin(s->env, NULL, flags, txn);
	}
	if (rc == 0 && (flags & MDB_RDONLY))
		s->readers++;
	return rc;
}

/* End a read transaction. Committing (keep) keeps the dbi handles it
 * opened; aborting would close them. */
static int rtxn_end(store_t *s, MDB_txn *txn, int keep)
{
	int rc = 0;

	s->readers--;
	if (keep)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	return rc;
}

/* Double the map. Legal only with no transaction open in this process. */
static int grow_map(store_t *s)
{
	MDB_envinfo info;
	int rc;

	if (s->readers > 0)
		return EBUSY;
	rc = mdb_env_info(s->env, &info);
	if (rc)
		return rc;
	if (info.me_mapsize > SIZE_MAX / 2)
		return MDB_MAP_FULL;
	return mdb_env_set_mapsize(s->env, info.me_mapsize * 2);
}

typedef int (*write_fn)(store_t *s, MDB_txn *txn, const struct batch *b);

/* Run fn in the write transaction txn, then commit it (abort it when fn
 * fails). */
static int fill_and_commit(store_t *s, MDB_txn *txn, write_fn fn,
			   const struct batch *b)
{
	int rc = fn(s, txn, b);

	if (rc) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

static int write_once(store_t *s, write_fn fn, const struct batch *b)
{
	MDB_txn *txn;
	int rc = txn_begin(s, 0, &txn);

	return rc ? rc : fill_and_commit(s, txn, fn, b);
}

/* Run fn in one write transaction and commit it. A full map is grown and
 * the whole transaction run again, as often as needed. */
static int write_txn(store_t *s, write_fn fn, const struct batch *b)
{
	int rc;

	for (;;) {
		rc = write_once(s, fn, b);
		if (rc != MDB_MAP_FULL)
			return rc;
		rc = grow_map(s);
		if (rc)
			return rc;
	}
}

/* The handle of a named database. In read mode a database that the writer
 * has not created yet gives MDB_NOTFOUND, which the readers treat as empty. */
static int dbi_get(store_t *s, enum db db, MDB_dbi *dbi)
{
	MDB_txn *txn;
	int rc;

	if (!(s->have & (1u << db))) {
		rc = txn_begin(s, MDB_RDONLY, &txn);
		if (rc)
			return rc;
		rc = mdb_dbi_open(txn, db_names[db], 0, &s->dbi[db]);
		if (rc) {
			rtxn_end(s, txn, 0);
			return rc;
		}
		rc = rtxn_end(s, txn, 1);
		if (rc)
			return rc;
		s->have |= 1u << db;
	}
	*dbi = s->dbi[db];
	return 0;
}

static int create_dbis(store_t *s, MDB_txn *txn, const struct batch *unused)
{
	int rc = 0;

	(void)unused;
	for (int i = 0; rc == 0 && i < DB_COUNT; i++)
		rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &s->dbi[i]);
	return rc;
}

/* ---- open / close ---- */

static void batch_free(struct batch *b);
static void writer_stop(store_t *s);

/* Initial map size: MAGGY_STORE_MAPSIZE (bytes, optional K/M/G suffix) or
 * 256 MiB, rounded up to whole pages. 0 when the variable is malformed. */
static size_t initial_mapsize(void)
{
	const char *env = getenv("MAGGY_STORE_MAPSIZE");
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned long long n;
	char *end;

	if (!env || !*env)
		return DEFAULT_MAPSIZE;
	errno = 0;
	n = strtoull(env, &end, 10);
	switch (*end) {
	case 'k': case 'K': n <<= 10; end++; break;
	case 'm': case 'M': n <<= 20; end++; break;
	case 'g': case 'G': n <<= 30; end++; break;
	}
	if (errno || *end || n == 0 || n > SIZE_MAX / 2)
		return 0;
	if (n < 16 * page)
		n = 16 * page;
	return (n + page - 1) / page * page;
}

/* Make sure dir/store can be opened: create it for a writer, check that a
 * reader finds a store there (a reader must not leave files behind). */
static int prepare_dir(store_t *s, const char *dir, char *path, size_t size)
{
	char data[PATH_MAX];
	struct stat st;

	if (snprintf(path, size, "%s/store", dir) >= (int)size)
		return fail(s, ENAMETOOLONG, "store in %s", dir);
	if (s->readonly) {
		if (snprintf(data, sizeof data, "%s/data.mdb", path) >=
		    (int)sizeof data)
			return fail(s, ENAMETOOLONG, "store in %s", dir);
		if (stat(data, &st) != 0)
			return fail(s, errno, "no store at %s", path);
		return 0;
	}
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return fail(s, errno, "mkdir %s", path);
	return 0;
}

static int env_open(store_t *s, const char *path)
{
	unsigned flags = MDB_NOTLS | (s->readonly ? MDB_RDONLY : 0);
	size_t mapsize = initial_mapsize();
	int rc;

	if (mapsize == 0)
		return fail(s, EINVAL, "MAGGY_STORE_MAPSIZE=%s",
			    getenv("MAGGY_STORE_MAPSIZE"));
	rc = mdb_env_create(&s->env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(s->env, DB_COUNT);
	/* A reader takes the map size the writer recorded. */
	if (rc == 0 && !s->readonly)
		rc = mdb_env_set_mapsize(s->env, mapsize);
	if (rc == 0)
		rc = mdb_env_open(s->env, path, flags, 0600);
	if (rc)
		return fail(s, rc, "open %s", path);
	s->maxkey = (size_t)mdb_env_get_maxkeysize(s->env);
	return 0;
}

static int open_store(store_t *s, const char *dir)
{
	char path[PATH_MAX];
	int dead, rc;

	rc = prepare_dir(s, dir, path, sizeof path);
	if (rc == 0)
		rc = env_open(s, path);
	if (rc || s->readonly)
		return rc;
	/* Free the reader slots of crashed processes: they pin old pages. */
	mdb_reader_check(s->env, &dead);
	rc = write_txn(s, create_dbis, NULL);
	if (rc)
		return fail(s, rc, "create databases in %s", path);
	s->have = (1u << DB_COUNT) - 1;
	return 0;
}

int store_open(store_t **out, const char *dir, enum store_mode mode,
	       char *err, size_t errlen)
{
	store_t *s = calloc(1, sizeof *s);
	int rc;

	*out = NULL;
	if (!s) {
		if (err && errlen)
			snprintf(err, errlen, "store: out of memory");
		return STORE_ENOMEM;
	}
	s->queued_id = 1; /* batch 0 is the empty store: on disk */
	s->readonly = mode == STORE_READ;
	rc = open_store(s, dir);
	if (rc) {
		copy_err(s, err, errlen);
		store_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void store_close(store_t *s)
{
	if (!s)
		return;
	writer_stop(s);
	if (s->env)
		mdb_env_close(s->env);
	batch_free(&s->queued);
	batch_free(&s->flying);
	free(s);
}

void store_set_nosync(store_t *s, int nosync)
{
	if (!s->readonly)
		mdb_env_set_flags(s->env, MDB_NOSYNC, nosync ? 1 : 0);
}

/* ---- the batch ---- */

static int batch_reserve(struct batch *b, size_t bytes)
{
	size_t cap;
	void *p;

	if (b->nops == b->opcap) {
		cap = b->opcap ? b->opcap * 2 : 64;
		p = realloc(b->ops, cap * sizeof *b->ops);
		if (!p)
			return ENOMEM;
		b->ops = p;
		b->opcap = cap;
	}
	if (bytes <= b->cap - b->used)
		return 0;
	if (bytes > SIZE_MAX / 2 - b->used)
		return ENOMEM;
	cap = b->cap ? b->cap : 4096;
	while (cap - b->used < bytes)
		cap *= 2;
	p = realloc(b->arena, cap);
	if (!p)
		return ENOMEM;
	b->arena = p;
	b->cap = cap;
	return 0;
}

/* Append one write of klen + vlen bytes; *k and *v point where the caller
 * writes the key and the value (valid until the next append). */
static int batch_append(struct batch *b, enum db db, int erase, size_t klen,
			size_t vlen, uint8_t **k, uint8_t **v)
{
	int rc = batch_reserve(b, klen + vlen);

	if (rc)
		return rc;
	b->ops[b->nops++] = (struct op){ .db = db, .erase = erase,
					 .off = b->used, .klen = klen,
					 .vlen = vlen };
	*k = b->arena + b->used;
	*v = *k + klen;
	b->used += klen + vlen;
	return 0;
}

/* Queue one write (see batch_append) for the next commit. */
static int batch_queue(store_t *s, enum db db, int erase, size_t klen,
		       size_t vlen, uint8_t **k, uint8_t **v)
{
	int rc;

	if (s->readonly)
		return fail(s, EROFS, "put %s: store opened read-only",
			    db_names[db]);
	if (klen == 0 || klen > s->maxkey)
		return fail(s, EINVAL, "put %s: key of %zu bytes (1 to %zu)",
			    db_names[db], klen, s->maxkey);
	rc = batch_append(&s->queued, db, erase, klen, vlen, k, v);
	return rc ? fail(s, rc, "put %s", db_names[db]) : 0;
}

static int batch_add(store_t *s, enum db db, size_t klen, size_t vlen,
		     uint8_t **k, uint8_t **v)
{
	return batch_queue(s, db, 0, klen, vlen, k, v);
}

static void batch_clear(struct batch *b)
{
	b->nops = 0;
	b->used = 0;
	if (b->cap > ARENA_KEEP) {
		free(b->arena);
		b->arena = NULL;
		b->cap = 0;
	}
}

static void batch_free(struct batch *b)
{
	free(b->ops);
	free(b->arena);
}

static int has_prefix(const MDB_val *k, const void *prefix, size_t plen)
{
	return k->mv_size >= plen && memcmp(k->mv_data, prefix, plen) == 0;
}

/* Delete every record of dbi whose key starts with `prefix`. After a
 * delete the cursor stands on the next record, which MDB_NEXT gives. */
static int erase_prefix(MDB_txn *txn, MDB_dbi dbi, const MDB_val *prefix)
{
	MDB_cursor *cur;
	MDB_val k = *prefix, v;
	int rc = mdb_cursor_open(txn, dbi, &cur);

	if (rc)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && has_prefix(&k, prefix->mv_data, prefix->mv_size)) {
		rc = mdb_cursor_del(cur, 0);
		if (rc == 0)
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Apply the batch in order, so a later put of the same key wins. */
static int apply_batch(store_t *s, MDB_txn *txn, const struct batch *b)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < b->nops; i++) {
		const struct op *op = &b->ops[i];
		MDB_val k = { op->klen, b->arena + op->off };
		MDB_val v = { op->vlen, b->arena + op->off + op->klen };

		rc = op->erase ? erase_prefix(txn, s->dbi[op->db], &k)
			       : mdb_put(txn, s->dbi[op->db], &k, &v, 0);
	}
	return rc;
}

/* The writes of a failed commit go back in front of the queue: `flying`
 * followed by what was queued meanwhile becomes the queue. */
static int requeue_flying(store_t *s)
{
	struct batch *f = &s->flying, *q = &s->queued, tmp;
	uint8_t *k, *v;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < q->nops; i++) {
		const struct op *op = &q->ops[i];

		rc = batch_append(f, op->db, op->erase, op->klen, op->vlen, &k,
				  &v);
		if (rc == 0)
			memcpy(k, q->arena + op->off, op->klen + op->vlen);
	}
	if (rc)
		return rc;
	tmp = *q;
	*q = *f;
	*f = tmp;
	batch_clear(f);
	return 0;
}

size_t store_pending(const store_t *s)
{
	return s->queued.nops;
}

/* ---- commits ---- */

/* The commit thread's whole life: wait for `flying`, commit it, say so. */
static void *writer_main(void *arg)
{
	store_t *s = arg;
	struct writer *w = s->w;
	MDB_txn *txn;
	uint64_t one = 1;
	ssize_t n;
	int rc;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->job && !w->quit)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->job)
			break;
		pthread_mutex_unlock(&w->mu);
		/* Only the environment and the database handles of s are
		 * touched here; the caller's thread leaves `flying` alone. */
		rc = mdb_txn_begin(s->env, NULL, 0, &txn);
		if (rc == 0)
			rc = fill_and_commit(s, txn, apply_batch, &s->flying);
		pthread_mutex_lock(&w->mu);
		w->rc = rc;
		w->job = 0;
		w->done = 1;
		pthread_cond_broadcast(&w->cv);
		/* The loop thread, once woken, takes mu: wake it after
		 * letting go. */
		pthread_mutex_unlock(&w->mu);
		n = write(w->fd, &one, sizeof one);
		(void)n; /* a full counter still wakes the reader */
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static int writer_start(store_t *s)
{
	struct writer *w;
	int rc;

	if (s->w)
		return 0;
	w = calloc(1, sizeof *w);
	if (!w)
		return ENOMEM;
	w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->fd < 0) {
		rc = errno;
		free(w);
		return rc;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	s->w = w;
	rc = pthread_create(&w->thread, NULL, writer_main, s);
	if (rc != 0) {
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
		close(w->fd);
		free(w);
		s->w = NULL;
	}
	return rc;
}

/* Waits for a commit in flight to end, then stops the thread. */
static void writer_stop(store_t *s)
{
	struct writer *w = s->w;

	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->quit = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	close(w->fd);
	free(w);
	s->w = NULL;
}

static void writer_hand(store_t *s)
{
	pthread_mutex_lock(&s->w->mu);
	s->w->job = 1;
	pthread_cond_broadcast(&s->w->cv);
	pthread_mutex_unlock(&s->w->mu);
}

int store_commit_fd(store_t *s)
{
	int rc = s->readonly ? EROFS : writer_start(s);

	return rc ? fail(s, rc, "start the commit thread") : s->w->fd;
}

int store_commit_start(store_t *s, char *err, size_t errlen)
{
	struct batch tmp;
	int rc;

	if (s->readonly || (rc = writer_start(s)) != 0)
		return failed(s, fail(s, s->readonly ? EROFS : rc, "commit"),
			      err, errlen);
	if (s->in_flight)
		return 0;
	if (s->queued.nops == 0) { /* nothing to wait for */
		s->durable_id = s->queued_id++;
		return 0;
	}
	tmp = s->flying;
	s->flying = s->queued;
	s->queued = tmp;
	s->flying_id = s->queued_id++;
	s->in_flight = 1;
	writer_hand(s);
	return 1;
}

int store_commit_end(store_t *s, int wait, char *err, size_t errlen)
{
	struct writer *w = s->w;
	uint64_t count;
	ssize_t drained;
	size_t n = s->flying.nops;
	int done, rc;

	if (!s->in_flight)
		return 0;
	pthread_mutex_lock(&w->mu);
	while (wait && !w->done)
		pthread_cond_wait(&w->cv, &w->mu);
	done = w->done;
	rc = w->rc;
	w->done = 0;
	pthread_mutex_unlock(&w->mu);
	if (!done)
		return STORE_EAGAIN;
	drained = read(w->fd, &count, sizeof count);
	(void)drained; /* nothing to read: already drained */
	if (rc == 0) {
		batch_clear(&s->flying);
		s->durable_id = s->flying_id;
		s->in_flight = 0;
		return 0;
	}
	/* A full map grows here, where no read transaction is open, and the
	 * same batch goes to the thread again. */
	if (rc == MDB_MAP_FULL && s->readers == 0 && grow_map(s) == 0) {
		writer_hand(s);
		return STORE_EAGAIN;
	}
	s->in_flight = 0;
	if (requeue_flying(s) != 0)
		rc = fail(s, ENOMEM, "commit of %zu writes failed, and its "
			  "writes could not be queued again", n);
	else
		rc = fail(s, rc, "commit of %zu writes", n);
	return failed(s, rc, err, errlen);
}

int store_committing(const store_t *s)
{
	return s->in_flight;
}

uint64_t store_batch_id(const store_t *s)
{
	return s->queued_id;
}

uint64_t store_durable_id(const store_t *s)
{
	return s->durable_id;
}

int store_commit(store_t *s, char *err, size_t errlen)
{
	int rc;

	if (s->readonly)
		return failed(s, fail(s, EROFS, "commit: store opened "
				      "read-only"), err, errlen);
	while (s->in_flight) {
		rc = store_commit_end(s, 1, err, errlen);
		if (rc < 0 && rc != STORE_EAGAIN)
			return rc;
	}
	if (s->queued.nops > 0) {
		rc = write_txn(s, apply_batch, &s->queued);
		if (rc)
			return failed(s, fail(s, rc, "commit of %zu writes",
					      s->queued.nops), err, errlen);
		batch_clear(&s->queued);
	}
	s->durable_id = s->queued_id++;
	return 0;
}

/* ---- puts ---- */

static int put_string(store_t *s, enum db db, const char *key,
		      const void *val, size_t len)
{
	size_t klen = key ? strlen(key) : 0;
	uint8_t *k, *v;
	int rc;

	if (!val && len)
		return fail(s, EINVAL, "put %s: NULL value", db_names[db]);
	rc = batch_add(s, db, klen, len, &k, &v);
	if (rc)
		return rc;
	memcpy(k, key, klen);
	if (len)
		memcpy(v, val, len);
	return 0;
}

int store_meta_put(store_t *s, const char *key, const char *json)
{
	if (!json)
		return fail(s, EINVAL, "put meta: NULL value");
	return put_string(s, DB_META, key, json, strlen(json));
}

int store_strategy_put(store_t *s, const char *key, const void *data,
		       size_t len)
{
	return put_string(s, DB_STRATEGY, key, data, len);
}

/* Queue text under a u64 key of db. */
static int put_u64_text(store_t *s, enum db db, uint64_t key,
			const char *text, size_t len)
{
	uint8_t *k, *v;
	int rc;

	if (!text)
		return fail(s, EINVAL, "put %s: NULL value", db_names[db]);
	rc = batch_add(s, db, 8, len, &k, &v);
	if (rc)
		return rc;
	put_u64(k, key);
	memcpy(v, text, len);
	return 0;
}

int store_trial_put(store_t *s, uint64_t trial, const char *json)
{
	return put_u64_text(s, DB_TRIALS, trial, json, json ? strlen(json) : 0);
}

int store_trial_head_put(store_t *s, uint64_t trial,
			 const struct store_trial_head *head)
{
	uint8_t *k, *v;
	int rc;

	if (!head)
		return fail(s, EINVAL, "put heads: NULL value");
	rc = batch_add(s, DB_HEADS, 8, HEAD_SIZE, &k, &v);
	if (rc)
		return rc;
	put_u64(k, head->seq);
	put_u64(v, trial);
	put_u32(v + 8, head->end_seq);
	v[12] = head->state;
	v[13] = head->has_value;
	v[14] = v[15] = 0;
	put_f64(v + 16, head->value);
	put_f64(v + 24, head->started);
	put_f64(v + 32, head->ended);
	return 0;
}

int store_journal_put(store_t *s, uint64_t seq, const char *job, size_t len)
{
	return put_u64_text(s, DB_JOURNAL, seq, job, len);
}

int store_metric_put(store_t *s, uint64_t trial, uint64_t step, double value,
		     double unix_time)
{
	uint8_t *k, *v;
	int rc = batch_add(s, DB_METRICS, 16, 16, &k, &v);

	if (rc)
		return rc;
	put_u64(k, trial);
	put_u64(k + 8, step);
	put_f64(v, value);
	put_f64(v + 8, unix_time);
	return 0;
}

int store_metrics_erase(store_t *s, uint64_t trial)
{
	uint8_t *k, *v;
	int rc = batch_queue(s, DB_METRICS, 1, 8, 0, &k, &v);

	if (rc == 0)
		put_u64(k, trial);
	return rc;
}

int store_log_put(store_t *s, uint64_t trial, uint32_t seq, double unix_time,
		  int stream, const char *text, size_t len)
{
	uint8_t *k, *v;
	int rc;

	if (!text && len)
		return fail(s, EINVAL, "put logs: NULL text");
	rc = batch_add(s, DB_LOGS, 12, 9 + len, &k, &v);
	if (rc)
		return rc;
	put_u64(k, trial);
	put_u32(k + 8, seq);
	put_f64(v, unix_time);
	v[8] = (uint8_t)stream;
	if (len)
		memcpy(v + 9, text, len);
	return 0;
}

/* ---- point reads ---- */

/* Copy the value of key out of db into a malloc'd buffer with a NUL after
 * its last byte. Returns an LMDB/errno code. */
static int get_copy(store_t *s, enum db db, const void *key, size_t klen,
		    void **out, size_t *len)
{
	MDB_val k = { klen, (void *)key }, v;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	char *p;
	int rc;

	rc = dbi_get(s, db, &dbi);
	if (rc == 0)
		rc = txn_begin(s, MDB_RDONLY, &txn);
	if (rc == 0)
		rc = mdb_get(txn, dbi, &k, &v);
	if (rc)
		goto out;
	p = malloc(v.mv_size + 1);
	if (!p) {
		rc = ENOMEM;
		goto out;
	}
	memcpy(p, v.mv_data, v.mv_size);
	p[v.mv_size] = '\0';
	*out = p;
	if (len)
		*len = v.mv_size;
out:
	if (txn)
		rtxn_end(s, txn, 0);
	return rc;
}

int store_meta_get(store_t *s, const char *key, char **json)
{
	void *p = NULL;
	int rc = get_copy(s, DB_META, key, key ? strlen(key) : 0, &p, NULL);

	if (rc == 0)
		*json = p;
	return fail(s, rc, "meta %s", key ? key : "(null)");
}

int store_trial_get(store_t *s, uint64_t trial, char **json)
{
	uint8_t k[8];
	void *p = NULL;
	int rc;

	put_u64(k, trial);
	rc = get_copy(s, DB_TRIALS, k, sizeof k, &p, NULL);
	if (rc == 0)
		*json = p;
	return fail(s, rc, "trial %016llx", (unsigned long long)trial);
}

int store_strategy_get(store_t *s, const char *key, void **data, size_t *len)
{
	int rc = get_copy(s, DB_STRATEGY, key, key ? strlen(key) : 0, data,
			  len);

	return fail(s, rc, "strategy %s", key ? key : "(null)");
}

/* ---- iteration ---- */

static int scratch_set(struct scratch *sc, const void *data, size_t len)
{
	size_t cap = sc->cap ? sc->cap : 256;
	char *p;

	if (len >= sc->cap) {
		while (cap <= len)
			cap *= 2;
		p = realloc(sc->p, cap);
		if (!p)
			return ENOMEM;
		sc->p = p;
		sc->cap = cap;
	}
	if (len)
		memcpy(sc->p, data, len);
	sc->p[len] = '\0';
	return 0;
}

/*
 * Visit, in key order, the records of db whose key starts with prefix (all
 * records when plen is 0), until a visitor fails or sets w->stop. Returns an
 * LMDB/errno code; a missing database is empty.
 */
static int scan(store_t *s, enum db db, const void *prefix, size_t plen,
		visit_fn visit, struct walk *w)
{
	MDB_val k = { plen, (void *)prefix }, v;
	MDB_cursor *cur = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	int rc;

	rc = dbi_get(s, db, &dbi);
	if (rc == 0)
		rc = txn_begin(s, MDB_RDONLY, &txn);
	if (rc == 0)
		rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
	while (rc == 0 && has_prefix(&k, prefix, plen)) {
		rc = visit(&k, &v, w);
		if (rc || w->stop)
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		rtxn_end(s, txn, 0);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Run a scan for a public iterator: its result is the callback's stop
 * value, or a STORE_E* code. */
static int walk_run(store_t *s, enum db db, uint64_t trial, int by_trial,
		    visit_fn visit, struct walk *w)
{
	uint8_t prefix[8];
	int rc;

	put_u64(prefix, trial);
	rc = scan(s, db, prefix, by_trial ? sizeof prefix : 0, visit, w);
	free(w->sc.p);
	if (rc)
		return fail(s, rc, "read %s", db_names[db]);
	return w->stop;
}

static int visit_u64_text(const MDB_val *k, const MDB_val *v, struct walk *w)
{
	if (k->mv_size != 8)
		return EBADMSG;
	if (scratch_set(&w->sc, v->mv_data, v->mv_size))
		return ENOMEM;
	w->stop = w->cb.trial(get_u64(k->mv_data), w->sc.p, v->mv_size,
			      w->arg);
	return 0;
}

/* A value and when it arrived (16 bytes), or a value alone (8 bytes: a
 * store written before times were kept; the time is then NAN). */
static int visit_metric(const MDB_val *k, const MDB_val *v, struct walk *w)
{
	const uint8_t *val = v->mv_data;

	if (k->mv_size != 16 || (v->mv_size != 8 && v->mv_size != 16))
		return EBADMSG;
	w->stop = w->cb.metric(get_u64((const uint8_t *)k->mv_data + 8),
			       get_f64(val), v->mv_size == 16 ? get_f64(val + 8)
							      : NAN, w->arg);
	return 0;
}

static int visit_log(const MDB_val *k, const MDB_val *v, struct walk *w)
{
	const uint8_t *p = v->mv_data;
	size_t len;

	if (k->mv_size != 12 || v->mv_size < 9)
		return EBADMSG;
	len = v->mv_size - 9;
	if (scratch_set(&w->sc, p + 9, len))
		return ENOMEM;
	w->stop = w->cb.log(get_u32((const uint8_t *)k->mv_data + 8),
			    get_f64(p), p[8], w->sc.p, len, w->arg);
	return 0;
}

static int visit_head(const MDB_val *k, const MDB_val *v, struct walk *w)
{
	const uint8_t *p = v->mv_data;
	struct store_trial_head h;

	if (k->mv_size != 8 || v->mv_size != HEAD_SIZE)
		return EBADMSG;
	h.seq = get_u64(k->mv_data);
	h.end_seq = get_u32(p + 8);
	h.state = p[12];
	h.has_value = p[13];
	h.value = get_f64(p + 16);
	h.started = get_f64(p + 24);
	h.ended = get_f64(p + 32);
	w->stop = w->cb.head(get_u64(p), &h, w->arg);
	return 0;
}

static int visit_count(const MDB_val *k, const MDB_val *v, struct walk *w)
{
	w->count++;
	return 0;
}

int store_trials_each(store_t *s, store_trial_cb cb, void *arg)
{
	struct walk w = { .cb.trial = cb, .arg = arg };

	return walk_run(s, DB_TRIALS, 0, 0, visit_u64_text, &w);
}

int store_trial_heads_each(store_t *s, store_head_cb cb, void *arg)
{
	struct walk w = { .cb.head = cb, .arg = arg };

	return walk_run(s, DB_HEADS, 0, 0, visit_head, &w);
}

int store_trial_heads_complete(store_t *s)
{
	MDB_txn *txn = NULL;
	MDB_dbi trials, heads;
	MDB_stat st_trials, st_heads;
	int rc;

	rc = dbi_get(s, DB_TRIALS, &trials);
	if (rc == 0)
		rc = dbi_get(s, DB_HEADS, &heads);
	if (rc == MDB_NOTFOUND) /* an older engine's store, or none yet */
		return 0;
	if (rc == 0)
		rc = txn_begin(s, MDB_RDONLY, &txn);
	if (rc == 0)
		rc = mdb_stat(txn, trials, &st_trials);
	if (rc == 0)
		rc = mdb_stat(txn, heads, &st_heads);
	if (txn)
		rtxn_end(s, txn, 0);
	if (rc)
		return fail(s, rc, "read heads");
	return st_heads.ms_entries == st_trials.ms_entries;
}

int store_journal_each(store_t *s, store_trial_cb cb, void *arg)
{
	struct walk w = { .cb.trial = cb, .arg = arg };

	return walk_run(s, DB_JOURNAL, 0, 0, visit_u64_text, &w);
}

int store_metrics_each(store_t *s, uint64_t trial, store_metric_cb cb,
		       void *arg)
{
	struct walk w = { .cb.metric = cb, .arg = arg };

	return walk_run(s, DB_METRICS, trial, 1, visit_metric, &w);
}

int store_logs_each(store_t *s, uint64_t trial, store_log_cb cb, void *arg)
{
	struct walk w = { .cb.log = cb, .arg = arg };

	return walk_run(s, DB_LOGS, trial, 1, visit_log, &w);
}

uint32_t store_log_next(store_t *s, uint64_t trial)
{
	uint8_t key[12];
	MDB_val k = { sizeof key, key }, v;
	MDB_cursor *cur = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	uint32_t next = 0;
	int rc;

	put_u64(key, trial);
	put_u32(key + 8, UINT32_MAX);
	rc = dbi_get(s, DB_LOGS, &dbi);
	if (rc == 0)
		rc = txn_begin(s, MDB_RDONLY, &txn);
	if (rc == 0)
		rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc == 0) {
		/* the first key at or past (trial, UINT32_MAX), then the one
		 * before it: the trial's last line, if it has any */
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc == 0 && k.mv_size == sizeof key &&
		    memcmp(k.mv_data, key, sizeof key) == 0)
			next = UINT32_MAX; /* full: the last number is reused */
		else if (rc == 0 || rc == MDB_NOTFOUND)
			rc = mdb_cursor_get(cur, &k, &v, rc == 0 ? MDB_PREV
								: MDB_LAST);
		if (next == 0 && rc == 0 && k.mv_size == sizeof key &&
		    has_prefix(&k, key, 8))
			next = get_u32((const uint8_t *)k.mv_data + 8) + 1;
	}
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		rtxn_end(s, txn, 0);
	return next;
}

double store_modified(store_t *s)
{
	const char *path;
	char data[PATH_MAX];
	struct stat st;

	if (mdb_env_get_path(s->env, &path) != 0 ||
	    snprintf(data, sizeof data, "%s/data.mdb", path) >= (int)sizeof data ||
	    stat(data, &st) < 0)
		return 0;
	return (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec / 1e9;
}

size_t store_metric_count(store_t *s, uint64_t trial)
{
	struct walk w = { .arg = NULL };

	if (walk_run(s, DB_METRICS, trial, 1, visit_count, &w) != 0)
		return 0;
	return w.count;
}
