/*
 * maggy-executor: runs trials of a Python training function for a
 * maggy-engine driver (see docs/protocol.md and config.h for its settings).
 *
 * The main thread owns the interpreter: it imports the training function
 * once, then takes TRIAL after TRIAL from the inbox until BYE. The I/O thread
 * (io_thread.h) does all waiting on the network and the capture pipes.
 */
#include <Python.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "config.h"
#include "conn.h"
#include "diag.h"
#include "inbox.h"
#include "io_thread.h"
#include "pyrun.h"
#include "reporter.h"
#include "trial.h"

struct executor {
	struct exec_config cfg;
	struct capture cap;
	struct conn conn;
	struct inbox inbox;
	struct io_thread io;
	json_t *welcome;
};

/* reporter.log() lines go straight out, tagged with their trial. */
static void send_reporter_log(void *ud, uint64_t trial, const char *text,
			      size_t len)
{
	conn_send_log(ud, trial, PROTO_REPORTER, text, len);
}

/* Wait for an event with the GIL released (when Python runs). */
static struct inbox_event *wait_event(struct executor *ex, unsigned kinds,
				      int python)
{
	struct inbox_event *ev;

	if (python)
		pyrun_release();
	ev = inbox_wait(&ex->inbox, kinds);
	if (python)
		pyrun_acquire();
	return ev;
}

static void load_config(struct executor *ex, int argc, char **argv)
{
	char err[512];
	int rc = config_load(&ex->cfg, argc, argv, err, sizeof err);

	if (rc == CONFIG_HELP) {
		config_usage(argv[0], stdout);
		exit(EXEC_EXIT_OK);
	}
	if (rc) {
		fprintf(stderr, "maggy-executor: %s\n", err);
		exit(EXEC_EXIT_CONFIG);
	}
}

/* Capture fds 1/2, start the I/O thread and wait for the first WELCOME. */
static void connect_driver(struct executor *ex)
{
	struct inbox_event *ev;
	char err[512];

	if (capture_start(&ex->cap, err, sizeof err) < 0) {
		fprintf(stderr, "maggy-executor: cannot capture stdout/stderr: "
			"%s\n", err);
		exit(EXEC_EXIT_INTERNAL);
	}
	diag_init(ex->cap.diag_fd, ex->cfg.slot);
	conn_init(&ex->conn, &ex->cfg);
	inbox_init(&ex->inbox);
	if (io_start(&ex->io, &ex->cfg, &ex->conn, &ex->cap, &ex->inbox, err,
		     sizeof err) < 0)
		diag_fatal(EXEC_EXIT_INTERNAL, "%s", err);
	ev = wait_event(ex, INBOX_CONNECTED, 0);
	ex->welcome = json_incref(ev->json);
	inbox_event_free(ev);
}

static const char *welcome_str(struct executor *ex, const char *key)
{
	const char *v = json_string_value(json_object_get(ex->welcome, key));

	if (!v || !*v) {
		char msg[128];
		snprintf(msg, sizeof msg, "WELCOME has no \"%s\"", key);
		conn_send_error(&ex->conn, msg, 1);
		diag_fatal(EXEC_EXIT_CONFIG, "driver at %s:%s: %s",
			   ex->cfg.host, ex->cfg.port, msg);
	}
	return v;
}

/* Start Python and import the training function; exits on failure. */
static void load_function(struct executor *ex)
{
	const char *module = welcome_str(ex, "module");
	const char *function = welcome_str(ex, "function");
	char err[512], *error = NULL;
	int rc;

	welcome_str(ex, "metric");
	if (reporter_register(send_reporter_log, &ex->conn) < 0 ||
	    pyrun_init(err, sizeof err) < 0) {
		conn_send_error(&ex->conn, err, 1);
		diag_fatal(EXEC_EXIT_INTERNAL, "%s", err);
	}
	rc = pyrun_load(json_object_get(ex->welcome, "python_path"), module,
			function, &error);
	/* What the import printed goes out now, outside any trial. */
	pyrun_flush_stdio();
	pyrun_release();
	io_sync(&ex->io);
	pyrun_acquire();
	if (rc == 0)
		return;
	/* A local executor's terminal is the engine's, which shows what it
	 * was sent, once for all executors: it says nothing more. */
	if (conn_send_error(&ex->conn, error ? error : "cannot import", 1) == 0 &&
	    getenv("MAGGY_LOCAL_EXECUTOR") != NULL)
		_exit(EXEC_EXIT_IMPORT);
	diag_fatal(EXEC_EXIT_IMPORT, "%s", error ? error : "cannot import");
}

/* Whether serve() ended after the experiment's max_trials_per_executor. */
static int recycled;

/* Run trials until BYE (or the connection closes after it), or until the
 * experiment's max_trials_per_executor have run: the process then ends to
 * give back what the training function leaked, and its launcher starts a
 * fresh one. */
static void serve(struct executor *ex)
{
	struct trial_env env = {
		.conn = &ex->conn,
		.io = &ex->io,
		.inbox = &ex->inbox,
		.metric = welcome_str(ex, "metric"),
	};
	unsigned kinds = INBOX_TRIAL | INBOX_BYE | INBOX_CLOSED |
			 INBOX_CONNECTED | INBOX_FINAL_ACK;
	struct inbox_event *ev;
	json_int_t max = json_integer_value(json_object_get(ex->welcome,
							    "max_trials"));
	json_int_t ran = 0;
	int done = 0;

	while (!done) {
		ev = wait_event(ex, kinds, 1);
		if (ev->kind == INBOX_TRIAL) {
			env.last = max > 0 && ran + 1 >= max;
			done = trial_run(&env, ev->trial, ev->json) ==
			       TRIAL_CLOSED;
			if (!done && env.last)
				recycled = 1;
			/* the engine restarts its own executors quietly */
			if (recycled && !getenv("MAGGY_LOCAL_EXECUTOR"))
				diag("ran the experiment's "
				     "max_trials_per_executor (%lld trials): "
				     "this executor ends so that a fresh one "
				     "takes its place", (long long)max);
			done |= env.last;
			ran++;
		} else if (ev->kind & (INBOX_BYE | INBOX_CLOSED)) {
			done = 1;
		}
		/* Stale FINAL_ACKs and idle reconnections need nothing. */
		inbox_event_free(ev);
	}
}

/* The engine that started this executor died: nothing of this process
 * group has anyone to report to. */
static void on_engine_gone(int sig)
{
	(void)sig;
	kill(0, SIGKILL);
}

int main(int argc, char **argv)
{
	struct executor ex;
	int status;

	memset(&ex, 0, sizeof ex);
	/* Socket writes report EPIPE instead of killing us. */
	signal(SIGPIPE, SIG_IGN);
	if (getenv("MAGGY_LOCAL_EXECUTOR"))
		signal(EXEC_ENGINE_GONE_SIGNAL, on_engine_gone);
	load_config(&ex, argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	connect_driver(&ex);
	load_function(&ex);
	serve(&ex);
	pyrun_flush_stdio();
	status = pyrun_finalize();
	io_stop(&ex.io);
	capture_stop(&ex.cap);
	if (status < 0)
		diag("Python's shutdown reported an error");
	json_decref(ex.welcome);
	conn_destroy(&ex.conn);
	inbox_destroy(&ex.inbox);
	return recycled ? EXEC_EXIT_RECYCLED : ex.cfg.bye_status;
}
