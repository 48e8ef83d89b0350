/*
 * ctl_internal: the controller's state, shared by its source files:
 * controller.c (scheduling, the Lua host, commits, the end of a run),
 * ctl_workers.c (what executors do: join, report points, finish trials,
 * leave) and ctl_frames.c (executor frames on server connections, turned
 * into ctl_workers calls). Nothing else includes it.
 */
#pragma once

#include <stdint.h>

#include "controller.h"
#include "proto/proto.h"
#include "trial.h"
#include "trial_table.h"

/* A FINAL_ACK owed to an executor: sent once the store's batch that holds
 * the FINAL is durable. */
struct owed_ack {
	uint64_t trial;
	uint64_t batch;
	uint32_t req;
};

/* One executor. */
struct worker {
	void *peer;  /* the port's handle: a conn_t for real executors */
	int id;	     /* engine-wide, from 1 */
	int slot, pid;
	int held;    /* gets no new trial (ctl_worker_hold) */
	int lost;    /* declared lost, its connection is being dropped */
	char host[64];
	json_t *info;	     /* {host, pid, slot, worker}: shared by the
				trials it ran (their worker_info), owned */
	double last_heard;   /* when the last frame came from it */
	/* What it runs: the trial it owns, or one that has ended without it
	 * (trial_timeout) and that it has not yet reported back. */
	struct trial *trial;
	/* A trial it said it runs (HELLO after a reconnect) that is no longer
	 * its own: it is told to stop, and is busy until its FINAL. */
	uint64_t foreign;
	/* Its FINALs not yet acknowledged, oldest first (it runs its next
	 * trials meanwhile). */
	struct owed_ack acks[PROTO_FINALS_IN_FLIGHT];
	int nacks;
	uint32_t log_bytes;  /* its output outside trials, stored so far (at
				most CTL_MAX_LOG_BYTES + 1) */
	struct worker *next;
};

/* What one trial (and one executor outside trials) may store of output;
 * the rest is dropped, with a note in the log. */
#define CTL_MAX_LOG_BYTES (16u << 20)
/* Metric points of a trial kept at full resolution; then each further
 * CTL_POINTS_LEVEL kept stand for twice as many as the last (see
 * thinned_out in ctl_workers.c). */
#define CTL_POINTS_LEVEL 4096u
/* The largest params of a trial, as JSON: they travel in one TRIAL frame. */
#define CTL_MAX_PARAMS_BYTES (256u << 10)

/* TAG_EVENTS: a job of events alone, sent when CTL_EVENTS_BATCH of them
 * are waiting for the next request (see ctl_event). */
enum ctl_tag { TAG_SUGGEST = 1, TAG_CHECK, TAG_FINALIZE, TAG_EVENTS };

#define CTL_EVENTS_BATCH 4096

struct ctl {
	struct event_base *base;
	store_t *store;
	lhost_t *lhost;
	const struct ctl_config *cfg;

	struct trial_table trials;
	struct trial *pending, *pending_tail; /* FIFO of PENDING trials */
	struct trial *unsaved; /* changed since the last commit (a list) */
	struct worker *workers;
	int acks_pending; /* workers that are owed an acknowledgement */
	int next_worker_id;
	struct ctl_port port;
	void (*settled_cb)(void *arg);
	void *settled_arg;
	int check_dirty; /* points or ends since the last early-stop check */
	uint32_t executor_log_seq;

	json_t *events; /* for the Lua side, sent with the next job */
	int suggest_outstanding, check_outstanding, finalize_outstanding;
	int optimizer_done, optimizer_waiting;
	int running;
	int lost; /* some RUNNING trial may have no executor: tick looks */
	long finished, stopped, failed;
	uint32_t end_seq;	   /* the last trial to end got this end_seq */
	struct trial *best;
	struct host_record *hosts; /* failures per host, for exclusion */
	uint64_t journal_seq;	   /* last Lua job written to the journal */
	uint64_t applied_seq;	   /* last job whose reply was acted on */
	int failures_differ;	   /* the first failures were not alike */
	uint64_t trial_changes;	   /* trials ended or requeued so far */
	uint64_t changes_at_suggest; /* trial_changes when suggest was asked */
	double fatal_at;	   /* last fatal executor error since a trial
				      finished, 0 if none */
	double last_tick;	   /* ctl_now() at the last tick */
	char fatal[512];	   /* the first fatal executor error */
	char first_error[200];	   /* the first failure's reason */
	int (*recycle_cb)(void *arg, const char *host, int pid);
	void *recycle_arg;

	struct event *lua_ev, *commit_ev, *flush_timer, *tick_timer, *es_timer;
	struct event *stored_ev; /* the store's commit thread is through */
	double started;
	double ended;		    /* when the experiment ended (ending) */
	double store_failing_since; /* 0 while commits succeed */
	double last_commit;	    /* wall time of the last store commit */
	int ending;
	enum ctl_outcome outcome;
	char *error;
	ctl_done_cb done_cb;
	void *done_arg;
};

/* A host whose executors lost trials that then finished elsewhere, or
 * reported an error that no trial can get past there. */
struct host_record {
	char name[64];
	char why[256]; /* why it was excluded, in brief */
	int strikes;
	int excluded;
	int works;     /* a trial finished there */
	int said_kept; /* that a fatal error there keeps the host */
	struct host_record *next;
};

/* controller.c */
struct trial *ctl_find(ctl_t *c, uint64_t id);
void ctl_schedule(ctl_t *c);
void ctl_commit_soon(ctl_t *c, int urgent);
void ctl_store_trial(ctl_t *c, struct trial *t); /* at the next commit */
void ctl_event(ctl_t *c, json_t *event); /* steals the reference */
void ctl_trial_ended(ctl_t *c, struct trial *t);
void ctl_lose_trial(ctl_t *c, struct trial *t, const char *why);
void ctl_record_hosts(ctl_t *c);
int ctl_worker_idle(const struct worker *w);
void ctl_trial_log(ctl_t *c, struct trial *t, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ctl_workers.c */
/* Why `host` was excluded, or NULL when it was not. */
const char *ctl_host_exclusion(const ctl_t *c, const char *host);
void ctl_host_strike(ctl_t *c, struct trial *t);
void ctl_host_fatal(ctl_t *c, struct worker *w, const char *why);
void ctl_host_works(ctl_t *c, const char *host);
void ctl_check_fatal_hosts(ctl_t *c, double now);
void ctl_unqueue(ctl_t *c, struct trial *t);
void ctl_check_liveness(ctl_t *c);

/* ctl_frames.c */
extern const struct ctl_port ctl_conn_port; /* arg: the controller */
void ctl_send_json(void *conn, unsigned type, uint32_t id, json_t *obj);
void *ctl_hello(void *arg, conn_t *conn, const char *json, size_t len,
		char *err, size_t errlen);
void ctl_frame(void *arg, void *peer, const struct proto_header *h,
	       const uint8_t *body);
void ctl_closed(void *arg, void *peer);
