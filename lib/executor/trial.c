/* trial: run one trial and deliver its result. See trial.h. */
#include <Python.h>

#include "trial.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
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

/* Wait until at most `most` FINALs are in flight (the I/O thread takes
 * each off as its FINAL_ACK comes, then posts the ack). The GIL is
 * released. */
static int settle_to(const struct trial_env *env, int most)
{
	struct inbox_event *ev;
	int closed = 0;

	while (!closed && conn_finals_in_flight(env->conn) > most) {
		ev = inbox_wait(env->inbox, INBOX_FINAL_ACK | INBOX_CLOSED);
		closed = ev->kind == INBOX_CLOSED;
		inbox_event_free(ev);
	}
	return closed ? TRIAL_CLOSED : TRIAL_SENT;
}

/* The directory the executor started in, where every trial starts: one
 * that changes directory (os.chdir) does not move the next ones. */
static void back_to_start_dir(void)
{
	static int start_dir = -2;

	if (start_dir == -2)
		start_dir = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	else if (start_dir >= 0 && fchdir(start_dir) < 0)
		diag("cannot go back to the executor's directory: %s",
		     strerror(errno));
}

int trial_run(const struct trial_env *env, uint64_t trial, const json_t *msg)
{
	struct reporter_summary sum;
	struct pyrun_result res;
	json_t *final;
	int outcome;

	back_to_start_dir();
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
	if (outcome == TRIAL_SENT && final)
		conn_send_final(env->conn, trial, final);
	/* This process ends after its last trial: not before the driver has
	 * every result. */
	if (outcome == TRIAL_SENT && env->last)
		outcome = settle_to(env, 0);
	json_decref(final);
	pyrun_acquire();
	pyrun_result_free(&res);
	pyrun_collect();
	return outcome;
}
