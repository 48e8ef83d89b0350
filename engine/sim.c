/* sim: virtual executors on a virtual clock. See sim.h. */
#include "sim.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "proto/proto.h"
#include "trial.h"

enum sim_event_kind { EV_STEP, EV_CHECK, EV_FAIL };

struct sim_event {
	double at;     /* virtual seconds */
	uint64_t seq;  /* ties go in the order events were made */
	enum sim_event_kind kind;
	int slot;
};

/* One virtual executor and the trial it runs. */
struct slot {
	ctl_worker_t *worker;
	int busy;
	char hex[PROTO_TRIAL_HEX];
	uint64_t trial;
	double started;
	int steps, next;       /* the curve's length, the next step to report */
	double *value, *time;  /* the curve, copied */
	int cap;
	double truth;
	json_t *outputs;
	char error[256];       /* the benchmark refused the params */
};

/* When one trial ran, for the busy figures. */
struct span {
	double from, to;
};

/* Virtual time starts at 2000-01-01 00:00:00 UTC, whenever the simulation
 * runs: its store and summary are a function of its seed alone. */
#define SIM_EPOCH 946684800.0

struct sim {
	struct event_base *base;
	simbench_t *bench;
	struct sim_options opts;
	ctl_t *ctl;
	struct event *advance_ev;
	double epoch; /* unix time the virtual clock starts at */
	double now;

	struct sim_event *heap;
	size_t nheap, capheap;
	uint64_t next_seq;
	int check_scheduled;

	struct slot *slots;
	struct span *spans;
	size_t nspans, capspans;
	double last_start;

	long ended;
	int has_best;
	double best, best_truth;
	FILE *trace;
	int stalled;
};

/* ---- the event heap: earliest first, then first made ------------------ */

static int earlier(const struct sim_event *a, const struct sim_event *b)
{
	return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void swap(struct sim_event *a, struct sim_event *b)
{
	struct sim_event t = *a;
	*a = *b;
	*b = t;
}

static int push(sim_t *s, double at, enum sim_event_kind kind, int slot)
{
	size_t i;

	if (s->nheap == s->capheap) {
		size_t cap = s->capheap ? s->capheap * 2 : 64;
		struct sim_event *h = realloc(s->heap, cap * sizeof *h);
		if (h == NULL)
			return -1;
		s->heap = h;
		s->capheap = cap;
	}
	i = s->nheap++;
	s->heap[i] = (struct sim_event){ at, s->next_seq++, kind, slot };
	while (i > 0 && earlier(&s->heap[i], &s->heap[(i - 1) / 2])) {
		swap(&s->heap[i], &s->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	return 0;
}

static struct sim_event pop(sim_t *s)
{
	struct sim_event top = s->heap[0];
	size_t i = 0;

	s->heap[0] = s->heap[--s->nheap];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < s->nheap && earlier(&s->heap[l], &s->heap[m]))
			m = l;
		if (r < s->nheap && earlier(&s->heap[r], &s->heap[m]))
			m = r;
		if (m == i)
			break;
		swap(&s->heap[i], &s->heap[m]);
		i = m;
	}
	return top;
}

/* ---- starting a trial (the controller's port) ------------------------- */

static int keep_curve(struct slot *sl, const struct simbench_curve *c)
{
	json_error_t jerr;

	if (c->n > sl->cap) {
		double *v = realloc(sl->value, (size_t)c->n * sizeof *v);
		double *t = v ? realloc(sl->time, (size_t)c->n * sizeof *t) : NULL;
		if (v)
			sl->value = v;
		if (t == NULL)
			return -1;
		sl->time = t;
		sl->cap = c->n;
	}
	memcpy(sl->value, c->value, (size_t)c->n * sizeof *sl->value);
	memcpy(sl->time, c->time, (size_t)c->n * sizeof *sl->time);
	sl->steps = c->n;
	sl->next = 0;
	sl->truth = c->truth;
	json_decref(sl->outputs);
	sl->outputs = json_loads(c->outputs, 0, &jerr);
	return 0;
}

/* The benchmark's noise for one attempt of one trial. */
static uint64_t trial_seed(const sim_t *s, const char *hex, int attempt)
{
	return XXH3_64bits_withSeed(hex, strlen(hex),
				    s->opts.seed + (uint64_t)attempt);
}

static void start_trial(void *arg, void *peer, json_t *msg)
{
	sim_t *s = arg;
	struct slot *sl = peer;
	const char *hex = json_string_value(json_object_get(msg, "id"));
	int attempt = (int)json_integer_value(json_object_get(msg, "attempt"));
	/* The benchmark knows its space's params (and budget): the seed of an
	 * ablation's repeat is already in the trial id, hence in the noise. */
	json_t *own = json_deep_copy(json_object_get(msg, "params"));
	char *params;

	json_object_del(own, "seed");
	params = own ? json_dumps(own, JSON_COMPACT | JSON_REAL_PRECISION(17))
		     : NULL;
	json_decref(own);
	struct simbench_curve curve;
	int ok;

	snprintf(sl->hex, sizeof sl->hex, "%s", hex ? hex : "");
	proto_trial_parse(sl->hex, &sl->trial);
	sl->busy = 1;
	sl->started = s->now;
	sl->error[0] = '\0';
	if (s->now > s->last_start)
		s->last_start = s->now;
	ok = params && simbench_eval(s->bench, params,
				     trial_seed(s, sl->hex, attempt), &curve,
				     sl->error, sizeof sl->error) == 0 &&
	     curve.n > 0 && keep_curve(sl, &curve) == 0;
	free(params);
	if (!ok && sl->error[0] == '\0')
		snprintf(sl->error, sizeof sl->error,
			 "the benchmark gave no curve (out of memory?)");
	if (ok)
		push(s, s->now + sl->time[0], EV_STEP, (int)(sl - s->slots));
	else
		push(s, s->now, EV_FAIL, (int)(sl - s->slots));
}

static void ignore_ack(void *arg, void *peer, uint64_t trial, uint32_t req)
{
}

static void ignore_bye(void *arg, void *peer)
{
}

/* ---- ending a trial --------------------------------------------------- */

static int better(const sim_t *s, double a, double b)
{
	return trial_better(s->opts.direction, a, b);
}

static void record_end(sim_t *s, struct slot *sl, const char *state,
		       const double *value)
{
	struct span *sp;

	s->ended++;
	if (value && strcmp(state, "FAILED") != 0 &&
	    (!s->has_best || better(s, *value, s->best))) {
		s->has_best = 1;
		s->best = *value;
		s->best_truth = sl->truth;
	}
	if (s->nspans == s->capspans) {
		size_t cap = s->capspans ? s->capspans * 2 : 256;
		sp = realloc(s->spans, cap * sizeof *sp);
		if (sp) {
			s->spans = sp;
			s->capspans = cap;
		}
	}
	if (s->nspans < s->capspans)
		s->spans[s->nspans++] = (struct span){ sl->started, s->now };
	if (s->trace) {
		fprintf(s->trace, "%.6f,%ld,", s->now, s->ended);
		if (s->has_best)
			fprintf(s->trace, "%.17g,%.17g", s->best, s->best_truth);
		else
			fprintf(s->trace, ",");
		fprintf(s->trace, ",%s,%s,", sl->hex, state);
		if (value)
			fprintf(s->trace, "%.17g", *value);
		fprintf(s->trace, "\n");
	}
}

/* Synchronized waves: the wave ends when its last trial does. */
static void end_of_wave(sim_t *s)
{
	int i;

	for (i = 0; i < s->opts.workers; i++)
		if (s->slots[i].busy)
			return;
	for (i = 0; i < s->opts.workers; i++)
		ctl_worker_hold(s->ctl, s->slots[i].worker, 0);
}

static void finish_trial(sim_t *s, struct slot *sl, const char *state,
			 const double *value, const char *error)
{
	json_t *msg = json_pack("{s:s, s:s}", "id", sl->hex, "state", state);
	char err[128];

	if (value)
		json_object_set_new(msg, "value", json_real(*value));
	if (sl->outputs)
		json_object_set(msg, "outputs", sl->outputs);
	if (error)
		json_object_set_new(msg, "error", json_string(error));
	sl->busy = 0;
	record_end(s, sl, state, value);
	if (s->opts.bsp)
		ctl_worker_hold(s->ctl, sl->worker, 1);
	if (ctl_worker_final(s->ctl, sl->worker, msg, 0, err, sizeof err) < 0)
		fprintf(stderr, "maggy-engine: simulate: %s\n", err);
	json_decref(msg);
	if (s->opts.bsp)
		end_of_wave(s);
}

/* ---- events ----------------------------------------------------------- */

static void schedule_check(sim_t *s)
{
	double es = s->opts.es_interval;
	double at = ceil(s->now / es) * es;

	if (s->check_scheduled || es <= 0)
		return;
	if (at < s->now)
		at += es;
	s->check_scheduled = 1;
	push(s, at, EV_CHECK, -1);
}

static void step(sim_t *s, struct slot *sl)
{
	int i = sl->next++;
	struct proto_point pt = { (uint64_t)i + 1, sl->value[i] };
	int stop = ctl_worker_points(s->ctl, sl->worker, sl->trial, &pt, 1);

	schedule_check(s);
	if (i == sl->steps - 1)
		finish_trial(s, sl, "FINISHED", &sl->value[i], NULL);
	else if (stop)
		finish_trial(s, sl, "EARLY_STOPPED", &sl->value[i], NULL);
	else
		push(s, sl->started + sl->time[i + 1], EV_STEP,
		     (int)(sl - s->slots));
}

static void handle(sim_t *s, const struct sim_event *ev)
{
	struct slot *sl = ev->slot >= 0 ? &s->slots[ev->slot] : NULL;

	s->now = ev->at;
	switch (ev->kind) {
	case EV_STEP:
		step(s, sl);
		break;
	case EV_FAIL:
		finish_trial(s, sl, "FAILED", NULL, sl->error);
		break;
	case EV_CHECK:
		s->check_scheduled = 0;
		ctl_check_now(s->ctl);
		break;
	}
}

/* Move time on while the controller has nothing in flight. */
static void advance_cb(evutil_socket_t fd, short what, void *arg)
{
	sim_t *s = arg;

	while (ctl_outcome(s->ctl, NULL) == CTL_RUNNING && ctl_settled(s->ctl)) {
		if (s->nheap == 0) {
			s->stalled = 1;
			ctl_abort(s->ctl, CTL_FAILED,
				  "the simulation stalled: no trial is running "
				  "and the strategy suggests nothing");
			return;
		}
		struct sim_event ev = pop(s);
		handle(s, &ev);
	}
}

static void settled_cb(void *arg)
{
	sim_t *s = arg;
	event_active(s->advance_ev, EV_TIMEOUT, 0);
}

/* ---- life cycle ------------------------------------------------------- */

double sim_clock(void *arg)
{
	const sim_t *s = arg;
	return s->epoch + s->now;
}

sim_t *sim_new(struct event_base *base, simbench_t *bench,
	       const struct sim_options *o, char *err, size_t errlen)
{
	sim_t *s = calloc(1, sizeof *s);

	if (s == NULL || o->workers < 1)
		goto fail;
	s->base = base;
	s->bench = bench;
	s->opts = *o;
	s->epoch = SIM_EPOCH;
	s->slots = calloc((size_t)o->workers, sizeof *s->slots);
	s->advance_ev = event_new(base, -1, 0, advance_cb, s);
	if (s->slots == NULL || s->advance_ev == NULL)
		goto fail;
	return s;
fail:
	snprintf(err, errlen, o->workers < 1 ? "simulate needs at least one "
						"worker"
					      : "out of memory");
	sim_free(s);
	return NULL;
}

static int open_trace(sim_t *s, char *err, size_t errlen)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/trace.csv", s->opts.dir);
	s->trace = fopen(path, "w");
	if (s->trace == NULL) {
		snprintf(err, errlen, "cannot write %s", path);
		return -1;
	}
	fprintf(s->trace, "virtual_time_s,trials_ended,best_value,best_truth,"
			  "trial,state,value\n");
	return 0;
}

int sim_attach(sim_t *s, ctl_t *ctl, char *err, size_t errlen)
{
	/* Virtual executors never go silent: nothing is ever dropped. Nor do
	 * they hang: one whose trial ran out of time is told to stop at the
	 * trial's next step, as a training function that reports is. */
	struct ctl_port port = { s, start_trial, ignore_ack, ignore_bye,
				 ignore_bye, NULL };
	int i;

	s->ctl = ctl;
	if (open_trace(s, err, errlen) < 0)
		return -1;
	ctl_set_port(ctl, &port);
	ctl_on_settled(ctl, settled_cb, s);
	for (i = 0; i < s->opts.workers; i++) {
		s->slots[i].worker = ctl_worker_add(ctl, &s->slots[i],
						    "simulated", i, 0, NULL);
		if (s->slots[i].worker == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

/* The share of executor time spent on trials over [0, until]. */
static double busy_fraction(const sim_t *s, double until)
{
	double busy = 0;
	size_t i;

	if (until <= 0)
		return 0;
	for (i = 0; i < s->nspans; i++) {
		double to = s->spans[i].to < until ? s->spans[i].to : until;
		if (to > s->spans[i].from)
			busy += to - s->spans[i].from;
	}
	return busy / (until * s->opts.workers);
}

static json_t *number_or_null(int has, double v)
{
	return has && isfinite(v) ? json_real(v) : json_null();
}

int sim_report(sim_t *s, char *err, size_t errlen)
{
	double optimum = simbench_optimum(s->bench, s->opts.direction);
	int has_regret = s->has_best && isfinite(optimum) && isfinite(s->best_truth);
	char path[PATH_MAX];
	json_t *rep;
	int rc;

	if (s->trace)
		fflush(s->trace);
	rep = json_pack("{s:s, s:i, s:s, s:I, s:f, s:I, s:f, s:o, s:f}",
			"benchmark", simbench_name(s->bench), "workers",
			s->opts.workers, "mode", s->opts.bsp ? "bsp" : "async",
			"seed", (json_int_t)s->opts.seed, "virtual_time_s",
			s->now, "trials_ended", (json_int_t)s->ended,
			"busy_fraction", busy_fraction(s, s->now),
			"busy_fraction_until_last_start",
			number_or_null(s->last_start > 0,
				       busy_fraction(s, s->last_start)),
			"last_start_s", s->last_start);
	json_object_set_new(rep, "optimum", number_or_null(1, optimum));
	json_object_set_new(rep, "best_value", number_or_null(s->has_best, s->best));
	json_object_set_new(rep, "best_truth",
			    number_or_null(s->has_best, s->best_truth));
	json_object_set_new(rep, "regret", number_or_null(
		has_regret, fabs(optimum - s->best_truth)));
	snprintf(path, sizeof path, "%s/simulation.json", s->opts.dir);
	rc = json_dump_file(rep, path, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
	if (rc < 0)
		snprintf(err, errlen, "cannot write %s", path);
	printf("simulated: %.1f s of virtual time on %d %s executors, busy "
	       "%.1f%%", s->now, s->opts.workers, s->opts.bsp ? "BSP" : "async",
	       100 * busy_fraction(s, s->now));
	if (s->last_start > 0)
		printf(" (%.1f%% until the last trial started)",
		       100 * busy_fraction(s, s->last_start));
	else
		printf(" (every trial started at once)");
	if (has_regret)
		printf("; regret of the best trial %.6g", fabs(optimum - s->best_truth));
	printf("\n");
	json_decref(rep);
	return rc < 0 ? -1 : 0;
}

void sim_free(sim_t *s)
{
	int i;

	if (s == NULL)
		return;
	if (s->trace)
		fclose(s->trace);
	for (i = 0; s->slots && i < s->opts.workers; i++) {
		free(s->slots[i].value);
		free(s->slots[i].time);
		json_decref(s->slots[i].outputs);
	}
	free(s->slots);
	free(s->heap);
	free(s->spans);
	if (s->advance_ev)
		event_free(s->advance_ev);
	free(s);
}
