/*
 * sim: virtual executors on a virtual clock, for `maggy-engine simulate`.
 *
 * Each virtual executor is a controller worker like a connected one: it
 * gets trials through the controller's port, reports one metric point per
 * step of the benchmark's curve at the step's (virtual) time, stops when the
 * controller says so, and sends a FINAL. Time jumps from one event to the
 * next, and only once the controller has settled (every strategy call
 * answered, every result committed), so a simulation gives the same trials
 * for the same seed however slow the strategies are.
 *
 * With `bsp`, trials start in synchronized waves of W: an executor whose
 * trial ended waits until every trial of its wave has ended (the baseline
 * of the Maggy paper).
 *
 * It writes `trace.csv` (one row per ended trial: virtual time, trials
 * done, best so far) and `simulation.json` in the experiment directory.
 *
 * Threads: loop thread only.
 */
#pragma once

#include <event2/event.h>
#include <stdint.h>

#include "controller.h"
#include "simbench.h"

typedef struct sim sim_t;

struct sim_options {
	int workers;	   /* virtual executors */
	int bsp;	   /* synchronized waves */
	uint64_t seed;	   /* the benchmark's noise */
	const char *dir;   /* where trace.csv and simulation.json go */
	const char *direction;
	double es_interval; /* virtual seconds between early-stop checks */
	long trials;	   /* the experiment's, for progress lines */
};

/* A simulator over `bench` (borrowed). Returns NULL with `err`. */
sim_t *sim_new(struct event_base *base, simbench_t *bench,
	       const struct sim_options *o, char *err, size_t errlen);

/* The virtual clock, as seconds since the epoch: for ctl_config.clock. */
double sim_clock(void *sim);

/* Plug the virtual executors into the controller (before ctl_start). */
int sim_attach(sim_t *s, ctl_t *ctl, char *err, size_t errlen);

/* Write simulation.json and print the simulation's figures. */
int sim_report(sim_t *s, char *err, size_t errlen);

void sim_free(sim_t *s);
