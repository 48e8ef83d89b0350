/*
 * reporter: the built-in Python module `maggy` and the trial's metric points.
 *
 * Python sees:
 *   maggy.EarlyStop         raised by broadcast() once the driver said STOP
 *   maggy.Reporter          type of the `reporter` argument (not instantiable)
 *     .broadcast(metric, step=None)  record a point (metric: a real number;
 *                            step: int >= 0, default last step + 1, from 0)
 *     .log(msg)              send str(msg) to the driver (LOG stream 2)
 *     .trial_id              the trial id, 16 hex digits
 *
 * C side: the points of the current trial wait in a buffer under a pthread
 * mutex until the I/O thread takes them for a HEARTBEAT, so that thread never
 * needs the GIL. The same mutex guards the current trial id and its stop flag.
 *
 * Threads: reporter_register() before Py_Initialize; reporter_begin(),
 * reporter_new(), reporter_summary() and the Python methods on the main
 * thread with the GIL; reporter_take(), reporter_stop(), reporter_end() and
 * reporter_trial() from any thread (no GIL needed).
 */
#pragma once

#include <Python.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

/* Sends one reporter.log message of trial `trial`; set before Python runs. */
typedef void (*reporter_log_fn)(void *ud, uint64_t trial, const char *text,
				size_t len);

/* Register `maggy` as a built-in module, and the log sink. Before
 * Py_Initialize. Returns 0 or -1 (out of memory). */
int reporter_register(reporter_log_fn log, void *ud);

/* Start trial `trial` (!= 0): empty buffer, stop flag cleared, steps from 0. */
void reporter_begin(uint64_t trial);
/* No trial any more: later broadcasts of old reporters are ignored, and
 * points not taken are dropped; reporter_summary() still describes the
 * trial that ended. */
void reporter_end(void);
/* The current trial, 0 between trials. */
uint64_t reporter_trial(void);

/* A new Reporter for the current trial (new reference), NULL with a Python
 * exception set on failure. */
PyObject *reporter_new(void);
/* maggy.EarlyStop (borrowed reference; NULL before the module is imported). */
PyObject *reporter_early_stop(void);

/*
 * Move up to `max` buffered points into out[] and return how many; *trial
 * gets the trial they belong to (0 when none runs: then 0 points).
 */
uint32_t reporter_take(uint64_t *trial, struct proto_point *out, uint32_t max);
/* The driver said STOP for `trial`: the next broadcast of that trial raises
 * EarlyStop. Returns 1 when `trial` is the current one, else 0 (ignored). */
int reporter_stop(uint64_t trial);

struct reporter_summary {
	uint64_t steps;      /* points recorded in this trial */
	int has_last;        /* a point was recorded */
	double last;         /* its value */
	int stop_raised;     /* broadcast() raised EarlyStop in this trial */
};
void reporter_summary(struct reporter_summary *out);

/*
 * A "real number" the way the shim reads metrics: int or float (not bool),
 * or an object with __float__ that is not a string or bool (numpy scalars,
 * one-element tensors). Returns 0 and sets *out, or -1 (no exception set).
 * Needs the GIL.
 */
int reporter_to_real(PyObject *o, double *out);
