/* inbox: events from the I/O thread to the main thread. See inbox.h. */
#include "inbox.h"

#include <stdlib.h>

void inbox_init(struct inbox *in)
{
	pthread_mutex_init(&in->lock, NULL);
	pthread_cond_init(&in->cond, NULL);
	in->head = in->tail = NULL;
}

void inbox_destroy(struct inbox *in)
{
	while (in->head) {
		struct inbox_event *ev = in->head;
		in->head = ev->next;
		inbox_event_free(ev);
	}
	pthread_cond_destroy(&in->cond);
	pthread_mutex_destroy(&in->lock);
}

int inbox_post(struct inbox *in, enum inbox_kind kind, uint64_t trial,
	       json_t *json)
{
	struct inbox_event *ev = calloc(1, sizeof *ev);

	if (!ev) {
		json_decref(json);
		return -1;
	}
	ev->kind = kind;
	ev->trial = trial;
	ev->json = json;
	pthread_mutex_lock(&in->lock);
	if (in->tail)
		in->tail->next = ev;
	else
		in->head = ev;
	in->tail = ev;
	pthread_cond_broadcast(&in->cond);
	pthread_mutex_unlock(&in->lock);
	return 0;
}

/* Unlink and return the first event of `kinds`, NULL if none. Lock held. */
static struct inbox_event *take(struct inbox *in, unsigned kinds)
{
	struct inbox_event *ev, *prev = NULL;

	for (ev = in->head; ev; prev = ev, ev = ev->next) {
		if (!(ev->kind & kinds))
			continue;
		if (prev)
			prev->next = ev->next;
		else
			in->head = ev->next;
		if (in->tail == ev)
			in->tail = prev;
		ev->next = NULL;
		return ev;
	}
	return NULL;
}

struct inbox_event *inbox_wait(struct inbox *in, unsigned kinds)
{
	struct inbox_event *ev;

	pthread_mutex_lock(&in->lock);
	while (!(ev = take(in, kinds)))
		pthread_cond_wait(&in->cond, &in->lock);
	pthread_mutex_unlock(&in->lock);
	return ev;
}

void inbox_event_free(struct inbox_event *ev)
{
	if (!ev)
		return;
	json_decref(ev->json);
	free(ev);
}
