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
#include "trial.h"

/* One executor. */
struct worker {
	void *peer;  /* the port's handle: a conn_t for real executors */
	int id;	     /* engine-wide, from 1 */
	int slot, pid;
	int held;    /* gets no new trial (ctl_worker_hold) */
	char host[64];
	struct trial *trial; /* what it runs, or the FINAL it awaits an ack for */
	int ack_pending;     /* FINAL_ACK to send after the next commit */
	uint64_t ack_trial;
	uint32_t ack_req;
	struct worker *next;
};

enum ctl_tag { TAG_SUGGEST = 1, TAG_CHECK, TAG_FINALIZE };

struct ctl {
	struct event_base *base;
	store_t *store;
	lhost_t *lhost;
	const struct ctl_config *cfg;

	struct trial *trials; /* hash by id */
	struct trial **by_seq;
	size_t ntrials, cap;
	struct trial *pending, *pending_tail; /* FIFO of PENDING trials */
	struct worker *workers;
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
	struct trial *best;

	struct event *lua_ev, *commit_ev, *flush_timer, *tick_timer, *es_timer;
	double started;
	int ending;
	enum ctl_outcome outcome;
	char *error;
	ctl_done_cb done_cb;
	void *done_arg;
};

/* controller.c */
struct trial *ctl_find(ctl_t *c, uint64_t id);
void ctl_schedule(ctl_t *c);
void ctl_commit_soon(ctl_t *c, int urgent);
void ctl_store_trial(ctl_t *c, const struct trial *t);
void ctl_event(ctl_t *c, json_t *event); /* steals the reference */
void ctl_trial_ended(ctl_t *c, struct trial *t);
void ctl_lose_trial(ctl_t *c, struct trial *t, const char *why);
int ctl_worker_idle(const struct worker *w);

/* ctl_frames.c */
extern const struct ctl_port ctl_conn_port; /* arg: the controller */
void ctl_send_json(void *conn, unsigned type, uint32_t id, json_t *obj);
void *ctl_hello(void *arg, conn_t *conn, const char *json, size_t len,
		char *err, size_t errlen);
void ctl_frame(void *arg, void *peer, const struct proto_header *h,
	       const uint8_t *body);
void ctl_closed(void *arg, void *peer);
