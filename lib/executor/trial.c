/* trial: run one trial and deliver its result. See trial.h. */
#include <Python.h>

#include "trial.h"

#include <math.h>
#include <string.h>

#include "pyrun.h"
#include "reporter.h"

/* Room left in a FINAL frame for the rest: id, state, error (<= 64 KiB). */
#define OUTPUTS_MAX (PROTO_DEFAULT_MAX_BODY / 2)

static json_t *final_body(uint64_t trial, const struct pyrun_result *res,
			  uint64_t steps)
{
	char hex[PROTO_TRIAL_HEX];
	json_t *final;

	proto_trial_hex(trial, hex);
	final = json_pack("{s:s, s:s, s:o, s:O, s:o, s:I}",
			 "id", hex,
			 "state", pyrun_state_name(res->state),
			 "value", res->has_value && isfinite(res->value)
				  ? json_real(res->value) : json_null(),
			 "outputs", res->outputs,
			 "error", res->error ? json_string(res->error)
					     : json_null(),
			 "steps", (json_int_t)steps);
	if (final)
		return final;
	/* Only when jansson refuses a piece (out of memory, bad UTF-8): the
	 * driver must still hear about the trial. */
	return json_pack("{s:s, s:s, s:n, s:{}, s:s, s:I}", "id", hex,
			 "state", "FAILED", "value", "outputs", "error",
			 "maggy-executor could not encode this trial's result",
			 "steps", (json_int_t)steps);
}

/* Outputs whose JSON would not fit in a frame are replaced by a note (the
 * driver refuses frames over PROTO_DEFAULT_MAX_BODY; a FINAL it refuses
 * would be resent forever). */
static void limit_outputs(struct pyrun_result *res)
{
	size_t n = json_dumpb(res->outputs, NULL, 0, JSON_COMPACT);
	char note[160];

	if (n <= OUTPUTS_MAX)
		return;
	snprintf(note, sizeof note, "outputs dropped: %zu bytes of JSON, over "
		 "the limit of %d", n, OUTPUTS_MAX);
	json_decref(res->outputs);
	res->outputs = json_pack("{s:s}", "maggy_outputs_dropped", note);
}

/* The FINAL in flight at `i` is acknowledged: the driver has the result. */
static void acked(struct trial_env *env, int i)
{
	uint64_t ours = env->in_flight[i].trial;

	/* The driver may already have sent the next TRIAL, which the I/O
	 * thread claimed for HELLO: clear only our own. */
	atomic_compare_exchange_strong(&env->conn->hello_trial, &ours, 0);
	json_decref(env->in_flight[i].final);
	env->n_in_flight--;
	memmove(env->in_flight + i, env->in_flight + i + 1,
		(size_t)(env->n_in_flight - i) * sizeof *env->in_flight);
}

void trial_on_event(struct trial_env *env, const struct inbox_event *ev)
{
	int i;

	for (i = 0; i < env->n_in_flight; i++) {
		if (ev->kind == INBOX_CONNECTED)
			conn_send_json(env->conn, PROTO_FINAL,
				       env->in_flight[i].final, 0);
		else if (ev->kind == INBOX_FINAL_ACK &&
			 ev->trial == env->in_flight[i].trial) {
			acked(env, i);
			return;
		}
	}
}

/* Wait until at most `most` FINALs are in flight. */
static int settle_to(struct trial_env *env, int most)
{
	struct inbox_event *ev;
	int closed = 0;

	while (env->n_in_flight > most && !closed) {
		ev = inbox_wait(env->inbox, INBOX_FINAL_ACK | INBOX_CONNECTED |
					    INBOX_CLOSED);
		closed = ev->kind == INBOX_CLOSED;
		trial_on_event(env, ev);
		inbox_event_free(ev);
	}
	return closed ? TRIAL_CLOSED : TRIAL_ACKED;
}

int trial_settle(struct trial_env *env)
{
	return settle_to(env, 0);
}

void trial_env_clear(struct trial_env *env)
{
	while (env->n_in_flight > 0)
		json_decref(env->in_flight[--env->n_in_flight].final);
}

int trial_run(struct trial_env *env, uint64_t trial, const json_t *msg)
{
	struct reporter_summary sum;
	struct pyrun_result res;
	json_t *final;
	int outcome;

	reporter_begin(trial);
	io_wake(env->io);
	pyrun_call(json_object_get(msg, "params"), env->metric, &res);
	limit_outputs(&res);
	pyrun_flush_stdio();
	pyrun_release();
	/* Lines and points of this trial go out before its FINAL. */
	io_end_trial(env->io);
	reporter_summary(&sum);
	final = final_body(trial, &res, sum.steps);
	if (final && env->last)
		json_object_set_new(final, "leaving", json_true());
	/* Room for one more FINAL in flight (the driver keeps that many
	 * acknowledgements per executor). */
	outcome = settle_to(env, PROTO_FINALS_IN_FLIGHT - 1);
	if (outcome == TRIAL_ACKED && final) {
		conn_send_json(env->conn, PROTO_FINAL, final, 0);
		env->in_flight[env->n_in_flight++] =
			(struct final_in_flight){ trial, final };
		final = NULL;
		/* This process ends after its last trial: not before the
		 * driver has every result. */
		if (env->last)
			outcome = trial_settle(env);
	}
	json_decref(final);
	pyrun_acquire();
	pyrun_result_free(&res);
	return outcome;
}
