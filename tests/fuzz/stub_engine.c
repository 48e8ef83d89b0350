/* stub_engine: the server, store and Lua host of fuzz_controller. See
 * stub_engine.h. Contract violations found here are checks of their own. */
#include "stub_engine.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_check.h"
#include "proto.h"

struct stub_engine stub;

void stub_init(void)
{
	FUZZ_CHECK(pipe2(stub.wake, O_NONBLOCK) == 0, "pipe");
}

static void drain_wake(void)
{
	char buf[64];

	while (read(stub.wake[0], buf, sizeof buf) == (ssize_t)sizeof buf)
		;
}

void stub_reset(void)
{
	int wake[2] = { stub.wake[0], stub.wake[1] };
	struct stub_job *j;

	while ((j = stub_next_job()) != NULL) {
		free(j->json);
		free(j);
	}
	lhost_result_free(stub.results);
	drain_wake();
	memset(&stub, 0, sizeof stub);
	stub.wake[0] = wake[0];
	stub.wake[1] = wake[1];
	stub.store = (store_t *)&stub;
	stub.lhost = (lhost_t *)&stub;
	stub.jobs_tail = &stub.jobs;
	stub.results_tail = &stub.results;
}

/* ---- the server ---------------------------------------------------------- */

int server_send(conn_t *c, unsigned type, uint32_t id, const void *body,
		size_t len)
{
	uint64_t trial;

	FUZZ_CHECK(!c->freed, "%s sent on a freed connection",
		   proto_type_name(type));
	FUZZ_CHECK(type >= 1 && type <= PROTO_TYPE_MAX, "type %u", type);
	FUZZ_CHECK(len <= PROTO_DEFAULT_MAX_BODY, "%zu bytes", len);
	if (c->closing)
		return -1;
	if (type == PROTO_FINAL_ACK) {
		FUZZ_CHECK(proto_trial_decode(body, len, &trial) == 0, "ack body");
		for (int i = 0; i < stub.ndirty; i++)
			FUZZ_CHECK(stub.dirty[i] != trial, "FINAL_ACK of %016llx "
				   "before its record was committed",
				   (unsigned long long)trial);
		FUZZ_CHECK(!stub.dirty_overflow, "ack with too much uncommitted");
	}
	return 0;
}

int server_send_welcome(conn_t *c, const char *json, size_t len)
{
	FUZZ_CHECK(!c->freed, "WELCOME sent on a freed connection");
	FUZZ_CHECK(len + PROTO_MAC_SIZE <= PROTO_DEFAULT_MAX_BODY, "%zu bytes",
		   len);
	return c->closing ? -1 : 0;
}

void server_close_conn(conn_t *c, const char *message)
{
	FUZZ_CHECK(!c->freed, "closing a freed connection");
	c->closing = 1;
}

void server_drop_conn(conn_t *c)
{
	FUZZ_CHECK(!c->freed, "dropping a freed connection");
	c->closing = 1;
}

/* ---- the store ----------------------------------------------------------- */

int store_meta_put(store_t *s, const char *key, const char *json)
{
	/* The real store refuses NULL (STORE_EINVAL): the write is lost. The
	 * harness decides whether that is a known case. */
	if (json == NULL) {
		stub.lost_meta++;
		return STORE_EINVAL;
	}
	return 0;
}

int store_trial_put(store_t *s, uint64_t trial, const char *json)
{
	FUZZ_CHECK(json != NULL, "trial record written as NULL");
	for (int i = 0; i < stub.ndirty; i++)
		if (stub.dirty[i] == trial)
			return 0;
	if (stub.ndirty == STUB_MAX_DIRTY)
		stub.dirty_overflow = 1;
	else
		stub.dirty[stub.ndirty++] = trial;
	return 0;
}

int store_trial_head_put(store_t *s, uint64_t trial,
			 const struct store_trial_head *head)
{
	FUZZ_CHECK(head != NULL, "trial head written as NULL");
	return 0;
}

int store_metric_put(store_t *s, uint64_t trial, uint64_t step, double value,
		     double unix_time)
{
	return 0;
}

int store_metrics_erase(store_t *s, uint64_t trial)
{
	return 0;
}

int store_log_put(store_t *s, uint64_t trial, uint32_t seq, double unix_time,
		  int stream, const char *text, size_t len)
{
	FUZZ_CHECK(stream >= PROTO_STDOUT && stream <= PROTO_EXECUTOR,
		   "stream %d", stream);
	return 0;
}

int store_journal_put(store_t *s, uint64_t seq, const char *job, size_t len)
{
	return 0;
}

int store_commit(store_t *s, char *err, size_t errlen)
{
	if (stub.store_fails) {
		snprintf(err, errlen, "no space left on device (stub)");
		return STORE_EIO;
	}
	stub.ndirty = 0;
	stub.dirty_overflow = 0;
	stub.commits++;
	return 0;
}

size_t store_pending(const store_t *s)
{
	return (size_t)stub.ndirty;
}

/* Batch n + 1 is queued after n commits; the last committed is durable. */
uint64_t store_batch_id(const store_t *s)
{
	return stub.commits + 1;
}

uint64_t store_durable_id(const store_t *s)
{
	return stub.commits;
}

const char *store_last_error(const store_t *s)
{
	return "no space left on device (stub)";
}

/* A simulated controller (the harness's) commits in its own thread, in
 * order: it never uses the store's commit thread. */
int store_commit_fd(store_t *s)
{
	FUZZ_CHECK(0, "a simulation asked for the store's commit thread");
	return -1;
}

int store_commit_start(store_t *s, char *err, size_t errlen)
{
	FUZZ_CHECK(0, "a simulation started a commit on the commit thread");
	return store_commit(s, err, errlen);
}

int store_commit_end(store_t *s, int wait, char *err, size_t errlen)
{
	FUZZ_CHECK(0, "a simulation waited for the commit thread");
	return 0;
}

int store_committing(const store_t *s)
{
	return 0;
}

/* ---- the Lua host -------------------------------------------------------- */

int lhost_post(lhost_t *h, int tag, const char *json)
{
	struct stub_job *j = calloc(1, sizeof *j);

	j->tag = tag;
	j->json = strdup(json);
	*stub.jobs_tail = j;
	stub.jobs_tail = &j->next;
	return 0;
}

struct stub_job *stub_next_job(void)
{
	struct stub_job *j = stub.jobs;

	if (j && (stub.jobs = j->next) == NULL)
		stub.jobs_tail = &stub.jobs;
	return j;
}

int lhost_wake_fd(const lhost_t *h)
{
	return stub.wake[0];
}

void stub_lua_result(int tag, const char *json, const char *error)
{
	struct lhost_result *r = calloc(1, sizeof *r);

	r->tag = tag;
	r->json = json ? strdup(json) : NULL;
	r->error = error ? strdup(error) : NULL;
	*stub.results_tail = r;
	stub.results_tail = &r->next;
	FUZZ_CHECK(write(stub.wake[1], "!", 1) == 1, "wake");
}

struct lhost_result *lhost_take(lhost_t *h)
{
	struct lhost_result *all = stub.results;

	drain_wake();
	stub.results = NULL;
	stub.results_tail = &stub.results;
	return all;
}

void lhost_result_free(struct lhost_result *r)
{
	while (r) {
		struct lhost_result *next = r->next;
		free(r->json);
		free(r->error);
		free(r);
		r = next;
	}
}
