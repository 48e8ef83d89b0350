/*
 * stub_engine: what surrounds the controller in fuzz_controller, in place of
 * the server (engine/server.c), the store (engine/store.c) and the Lua host
 * (engine/lhost.c). The stubs keep what the harness needs to check the
 * controller's contracts with them: connections and what was sent on them,
 * trial records written but not yet committed, jobs posted to the Lua side
 * and the results waiting to be taken. One controller at a time; the
 * harness resets the stubs for every input.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lhost.h"
#include "server.h"
#include "store.h"

#define STUB_MAX_CONNS 8
#define STUB_MAX_DIRTY 64

/* An executor connection as the server keeps it. */
struct conn {
	int used;
	int closing; /* ERROR sent or dropped: reads nothing more */
	int freed;   /* the server freed it (and ran the closed handler) */
	void *peer;  /* the controller's handle once HELLO was accepted */
};

/* A job the controller posted to the Lua host. */
struct stub_job {
	int tag;
	char *json;
	struct stub_job *next;
};

struct stub_engine {
	struct conn conns[STUB_MAX_CONNS];
	int nconns;
	store_t *store;	 /* stand-ins: never dereferenced */
	lhost_t *lhost;
	int wake[2];	 /* the Lua host's wake-up pipe */
	struct stub_job *jobs, **jobs_tail;
	struct lhost_result *results, **results_tail;
	int store_fails; /* store_commit() fails (a full disk) */
	uint64_t commits; /* store_commit()s that succeeded: the durable batch */
	uint64_t dirty[STUB_MAX_DIRTY]; /* trial records not yet committed */
	int ndirty, dirty_overflow;
	int lost_meta;	 /* meta writes of a NULL JSON (the store refuses them) */
};

extern struct stub_engine stub;

/* Once per process: the wake-up pipe. */
void stub_init(void);
/* Back to no connections, no jobs, nothing queued. */
void stub_reset(void);

/* Hand a result (reply JSON or error text, copied) to the controller's next
 * lhost_take(), and wake its loop. */
void stub_lua_result(int tag, const char *json, const char *error);

/* Take the oldest posted job (caller frees it and its json), or NULL. */
struct stub_job *stub_next_job(void);
