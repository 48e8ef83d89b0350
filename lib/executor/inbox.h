/*
 * inbox: what the I/O thread hands to the main thread.
 *
 * A FIFO of events (a TRIAL to run, a FINAL_ACK, BYE, "reconnected",
 * "connection closed") under a mutex and a condition variable. The main
 * thread takes the first event of the kinds it is waiting for and leaves the
 * others queued in order (a TRIAL pushed while a FINAL awaits its ACK waits
 * its turn).
 *
 * Threads: inbox_post() from any thread; inbox_wait() from the main thread.
 */
#pragma once

#include <pthread.h>
#include <stdint.h>

#include <jansson.h>

enum inbox_kind {
	INBOX_TRIAL = 1 << 0,       /* json: the TRIAL body */
	INBOX_FINAL_ACK = 1 << 1,   /* trial: the acknowledged trial */
	INBOX_BYE = 1 << 2,         /* the experiment is over */
	INBOX_CONNECTED = 1 << 3,   /* json: WELCOME of a new connection */
	INBOX_CLOSED = 1 << 4,      /* connection gone for good (after BYE) */
};

struct inbox_event {
	enum inbox_kind kind;
	uint64_t trial;
	json_t *json;               /* owned by the event, may be NULL */
	struct inbox_event *next;
};

struct inbox {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct inbox_event *head, *tail;
};

void inbox_init(struct inbox *in);
/* Free queued events. No thread may use the inbox any more. */
void inbox_destroy(struct inbox *in);

/* Queue an event; takes the reference to `json` (may be NULL), also on
 * failure (out of memory: -1, the event is dropped). */
int inbox_post(struct inbox *in, enum inbox_kind kind, uint64_t trial,
	       json_t *json);

/* Block until an event whose kind is in the bit mask `kinds` is queued and
 * return it (the caller frees it with inbox_event_free()). */
struct inbox_event *inbox_wait(struct inbox *in, unsigned kinds);

void inbox_event_free(struct inbox_event *ev);
