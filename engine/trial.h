/*
 * trial: one trial of an experiment as the controller keeps it in memory,
 * and the trial record stored in LMDB (trial_table.h keeps all trials).
 *
 * A trial id is the 64-bit XXH3 hash of the canonical JSON of its
 * parameters (keys sorted, compact, doubles with 17 digits), so the same
 * parameters always get the same id, in any run and after a resume.
 *
 * Threads: loop thread only.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

enum trial_state {
	TRIAL_PENDING = 0,
	TRIAL_RUNNING,
	TRIAL_FINISHED,
	TRIAL_EARLY_STOPPED,
	TRIAL_FAILED,
};

struct worker;

struct trial {
	/* (8-byte fields first, then the 4-byte ones and the flags: a trial
	   lives as long as the experiment, and padding adds up) */
	uint64_t id;
	char *params;	  /* canonical JSON (trial_id_of), owned: a fifth
			     of the memory of a JSON object */
	struct worker *worker; /* executor running it, NULL if none */
	json_t *worker_info;   /* identity of the last executor, owned */
	double created, started, ended; /* unix times, 0 = not yet */
	double value;	  /* final metric when has_value */
	json_t *outputs;  /* owned, may be NULL */
	char *error;	  /* owned, may be NULL */
	uint64_t last_step; /* highest step kept in this attempt */
	uint64_t held_step; /* the last point thinned out (has_held), */
	double held_value;  /* kept after all if the trial ends on it */
	double lost_at;	  /* when its executor vanished, 0 if not lost */
	json_t *lost_on;  /* hosts whose attempts were lost (array), owned */
	struct trial *next_pending;
	struct trial *next_unsaved;
	/* counters: 4 bytes each (count_up stops them at UINT32_MAX) */
	uint32_t points;  /* metric points kept (steps increase, values finite) */
	uint32_t valid;	  /* points that were valid, kept or thinned out */
	uint32_t ignored; /* points refused: step not increasing, not finite */
	uint32_t log_bytes;   /* output stored in this engine run (at most
				 CTL_MAX_LOG_BYTES) */
	uint32_t log_dropped; /* output over CTL_MAX_LOG_BYTES, dropped */
	uint32_t seq;	  /* creation order, from 1 */
	uint32_t end_seq; /* order of ending, from 1; 0 until it ends (a
			     reader asks for the trials ended after one) */
	uint32_t log_seq; /* next log line number */
	enum trial_state state;
	int attempts;	  /* times it was handed to an executor */
	int slot;	  /* slot of the last executor, -1 if none */
	int last_worker;  /* engine id of the executor of the last attempt */
	unsigned has_value : 1;
	unsigned has_step : 1;
	unsigned has_held : 1;
	unsigned warned : 4;	 /* bits: a non-finite value, a step not
				    increasing, a step too large, thinning */
	unsigned stop_requested : 1;
	unsigned unsaved : 1;	 /* its record waits for the next commit */
};

/* *counter += n, or UINT32_MAX where that would overflow. */
static inline void count_up(uint32_t *counter, uint64_t n)
{
	*counter = n > UINT32_MAX - *counter ? UINT32_MAX
					      : *counter + (uint32_t)n;
}

/* "PENDING", "RUNNING", ...; trial_state_parse returns -1 if unknown. */
const char *trial_state_name(enum trial_state s);
int trial_state_parse(const char *name);
int trial_is_final(const struct trial *t);

/*
 * The id of a parameter object (see above). `canonical` (optional) receives
 * the canonical JSON, malloc'd. Returns 0, or -1 when params is not a JSON
 * object.
 */
int trial_id_of(const json_t *params, uint64_t *id, char **canonical);

/* A new PENDING trial owning `params`, its canonical JSON (malloc'd; freed
 * here when the trial cannot be made). */
struct trial *trial_new(uint64_t id, uint32_t seq, char *params);

/* The trial's params as a new JSON object; NULL when out of memory. */
json_t *trial_params(const struct trial *t);
void trial_free(struct trial *t);

/* The stored record of a trial as JSON text (see docs/store.md), malloc'd;
 * NULL when out of memory. Its params go in as their canonical text, never
 * parsed. */
char *trial_record_text(const struct trial *t);

/* The head stored beside its record (store.h): its state and times. */
struct store_trial_head;
void trial_head(const struct trial *t, struct store_trial_head *head);

/*
 * What a trial keeps of the outputs of its FINAL or record: a new reference
 * to `outputs` when it is a JSON object, NULL when it is not. Empty objects,
 * what most training functions give, all share one: an empty jansson object
 * costs some 250 bytes, and a run may keep 100,000 of them. Never change
 * a trial's outputs in place.
 */
json_t *trial_outputs_keep(json_t *outputs);

/* Rebuild a trial from its stored record; NULL if the record is malformed. */
struct trial *trial_from_record(const json_t *rec);

/* 1 when value a is strictly better than b for `direction` ("min" or,
 * for anything else, "max"). */
int trial_better(const char *direction, double a, double b);

/* Seconds since the epoch, with sub-second resolution. */
double trial_now(void);
