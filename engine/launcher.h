/*
 * launcher: the local executor processes of a run (`--workers N`).
 *
 * Owns N child processes running maggy-executor, one per slot, each told
 * the driver's address and the secret file through its environment (never
 * its command line). A child that exits while the experiment runs is
 * started again with a growing delay when it keeps dying quickly; after too
 * many quick deaths in a row the launcher gives up and says why. Each child
 * leads its own process group: the launcher's signals reach what the
 * training function started, and what is left of a group when its
 * executor exits is killed. With
 * GPUs (gpus.h) each slot gets one device: CUDA_VISIBLE_DEVICES = the
 * slot's, in turn.
 *
 * Threads: loop thread only (SIGCHLD is handled as a libevent signal event).
 */
#pragma once

#include <event2/event.h>

typedef struct launcher launcher_t;

struct launcher_hooks {
	void *arg;
	/* The executor of `slot`, process `pid`, exited (before any
	 * restart); `how` says how ("exit code 1", "signal 11 (...)").
	 * Returns 1 when it ran a trial then, which answers for the death
	 * (the trial's max_attempts bound it): such a death is never one of
	 * the quick ones that make the launcher give up. */
	int (*exited)(void *arg, int slot, int pid, const char *how);
	/* Executors keep dying: `why` says how. The run should end. */
	void (*gave_up)(void *arg, const char *why);
};

/*
 * Prepare `n` slots. `executor` is the maggy-executor binary, `driver` the
 * "HOST:PORT" to connect to, `secret_file` the path of the secret.
 * Returns NULL with `err` on failure.
 */
launcher_t *launcher_new(struct event_base *base, const char *executor,
			 int n, const char *driver, const char *secret_file,
			 const struct launcher_hooks *hooks, char *err,
			 size_t errlen);

/* Start every slot. Returns 0 or -1 with `err`. */
int launcher_start(launcher_t *l, char *err, size_t errlen);

/* No more restarts; children that are still running are sent SIGTERM
 * after `grace_s` seconds and SIGKILL after twice that. */
void launcher_stop(launcher_t *l, double grace_s);

/* Kill child `pid` at once (it is restarted as if it had died). Returns 0,
 * or -1 when `pid` is not one of this launcher's children. */
int launcher_kill(launcher_t *l, int pid);

/* GPUs the slots are spread over (slot modulo this); 0 when there are
 * none, and the children inherit CUDA_VISIBLE_DEVICES as it is. */
int launcher_gpus(const launcher_t *l);

/* Number of children still running. */
int launcher_alive(const launcher_t *l);

/* Kill the remaining children at once and reap them. NULL is accepted. */
void launcher_free(launcher_t *l);
