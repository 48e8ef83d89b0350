/* io_thread: socket reads, capture pipes, heartbeats, reconnects.
 * See io_thread.h. */
#include "io_thread.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include "reporter.h"

#define DEFAULT_HB_INTERVAL 1.0
#define MIN_HB_INTERVAL 0.001
#define BACKOFF_FIRST 0.1
#define BACKOFF_MAX 5.0
#define HANDSHAKE_TIMEOUT 10.0

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double hb_from_welcome(const json_t *welcome)
{
	json_t *v = json_object_get(welcome, "hb_interval");
	double hb = json_is_number(v) ? json_number_value(v) : 0;

	if (!isfinite(hb) || hb <= 0)
		return DEFAULT_HB_INTERVAL;
	return hb < MIN_HB_INTERVAL ? MIN_HB_INTERVAL : hb;
}

/* ---- output to the driver ---------------------------------------------- */

static void send_line(void *ud, enum proto_stream stream, const char *text,
		      size_t len)
{
	struct io_thread *io = ud;

	conn_send_log(io->conn, reporter_trial(), stream, text, len);
}

static void drain_pipes(struct io_thread *io, int flush_partial)
{
	capture_drain(&io->cap->out, send_line, io);
	capture_drain(&io->cap->err, send_line, io);
	if (flush_partial) {
		capture_flush(&io->cap->out, send_line, io);
		capture_flush(&io->cap->err, send_line, io);
	}
}

/*
 * Send the buffered points of the current trial, PROTO_MAX_POINTS per
 * HEARTBEAT. With `empty_ok` a HEARTBEAT goes out even with no point (the
 * periodic one, which is also the liveness signal), unless we are down.
 */
static void send_points(struct io_thread *io, int empty_ok)
{
	uint64_t trial;
	uint32_t n;
	int len;

	do {
		n = reporter_take(&trial, io->points, PROTO_MAX_POINTS);
		if (!trial || (n == 0 && (!empty_ok || !io->connected)))
			return;
		len = proto_heartbeat_encode(io->hb_buf,
					     proto_heartbeat_size(PROTO_MAX_POINTS),
					     trial, io->points, n);
		if (len > 0)
			conn_send(io->conn, PROTO_HEARTBEAT, io->hb_buf,
				  (size_t)len, CONN_QUEUE);
		empty_ok = 0;
	} while (n == PROTO_MAX_POINTS);
}

/* An idle executor's heartbeat (trial 0): the driver hears it is alive. */
static void send_idle(struct io_thread *io)
{
	int len = proto_heartbeat_encode(io->hb_buf,
					 proto_heartbeat_size(PROTO_MAX_POINTS),
					 0, io->points, 0);

	if (len > 0 && io->connected)
		conn_send(io->conn, PROTO_HEARTBEAT, io->hb_buf, (size_t)len,
			  CONN_QUEUE);
}

/* Heartbeat schedule: every hb_interval while connected, restarting when
 * a trial begins or ends; a busy one carries the trial's new points. */
static void heartbeat_tick(struct io_thread *io, double now)
{
	uint64_t trial = reporter_trial();

	if (trial != io->hb_trial) {
		io->hb_trial = trial;
		io->next_hb = now + io->hb_interval;
	}
	if (now < io->next_hb)
		return;
	if (trial)
		send_points(io, 1);
	else
		send_idle(io);
	io->next_hb += io->hb_interval;
	if (io->next_hb <= now) /* we fell behind: do not send a burst */
		io->next_hb = now + io->hb_interval;
}

/* ---- connection ---------------------------------------------------------- */

static void connection_lost(struct io_thread *io, const char *why)
{
	conn_close(io->conn);
	io->connected = 0;
	if (io->bye) {
		inbox_post(io->inbox, INBOX_CLOSED, 0, NULL);
		return;
	}
	diag("lost the driver at %s:%s (%s); reconnecting", io->cfg->host,
	     io->cfg->port, why);
	io->down_since = now_s();
	io->backoff = BACKOFF_FIRST;
	io->next_try = io->down_since + io->backoff;
}

/* The driver broke the protocol: tell it, then treat it as a lost link. */
static void protocol_error(struct io_thread *io, const char *msg)
{
	diag("%s", msg);
	conn_send_error(io->conn, msg, 0);
	connection_lost(io, "protocol error");
}

static void try_reconnect(struct io_thread *io, double now)
{
	double left = io->down_since + io->cfg->reconnect_timeout - now;
	json_t *welcome = NULL;
	char err[512];
	int rc;

	rc = conn_open(io->conn, left < HANDSHAKE_TIMEOUT ?
		       (left > 1 ? left : 1) : HANDSHAKE_TIMEOUT,
		       &welcome, err, sizeof err);
	if (rc == 0) {
		io->hb_interval = hb_from_welcome(welcome);
		io->connected = 1;
		if (io->ever_connected)
			diag("reconnected to the driver at %s:%s",
			     io->cfg->host, io->cfg->port);
		io->ever_connected = 1;
		inbox_post(io->inbox, INBOX_CONNECTED, 0, welcome);
		return;
	}
	if (rc == CONN_EREJECTED)
		diag_fatal(EXEC_EXIT_CONFIG, "driver at %s:%s refused us: %s",
			   io->cfg->host, io->cfg->port, err);
	if (!io->ever_connected && io->backoff == BACKOFF_FIRST)
		diag("waiting for the driver at %s:%s (%s)", io->cfg->host,
		     io->cfg->port, err);
	now = now_s();
	if (now - io->down_since >= io->cfg->reconnect_timeout)
		diag_fatal(EXEC_EXIT_UNREACHABLE, "driver at %s:%s unreachable "
			   "for %g s, giving up (last error: %s)",
			   io->cfg->host, io->cfg->port,
			   io->cfg->reconnect_timeout, err);
	/* Each executor waits its own share of the backoff: executors that
	 * lost the driver together (a restart, a burst turned away) do not
	 * all come back at the same instant, again and again. */
	io->next_try = now + io->backoff * (0.5 + 0.5 * (double)rand_r(
					&io->jitter_seed) / RAND_MAX);
	if (io->next_try > io->down_since + io->cfg->reconnect_timeout)
		io->next_try = io->down_since + io->cfg->reconnect_timeout;
	io->backoff = io->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX
						     : io->backoff * 2;
}

/* ---- frames from the driver --------------------------------------------- */

static int on_trial_frame(struct io_thread *io, const uint8_t *body,
			  size_t len)
{
	json_t *o = json_loadb((const char *)body, len, 0, NULL);
	const char *id = json_string_value(json_object_get(o, "id"));
	uint64_t trial;

	if (!id || proto_trial_parse(id, &trial) || trial == 0 ||
	    !json_is_object(json_object_get(o, "params"))) {
		json_decref(o);
		return -1;
	}
	atomic_store(&io->conn->hello_trial, trial);
	inbox_post(io->inbox, INBOX_TRIAL, trial, o);
	return 0;
}

static void on_error_frame(struct io_thread *io, const uint8_t *body,
			   size_t len)
{
	json_t *o = json_loadb((const char *)body, len, 0, NULL);
	const char *msg = json_string_value(json_object_get(o, "error"));

	diag_fatal(EXEC_EXIT_CONFIG, "driver at %s:%s sent an error: %s",
		   io->cfg->host, io->cfg->port, msg ? msg : "(no message)");
}

/*
 * RECYCLE: the driver failed `trial` for running out of time. While the
 * training function still runs it, nothing short of ending the process
 * takes it out of a call that may never return: the last output goes out
 * and the process ends with EXEC_EXIT_RECYCLED, so that whoever started it
 * starts a fresh one (the engine's launcher, or the Spark task). A trial
 * that has ended meanwhile leaves nothing to do.
 */
static void on_recycle(struct io_thread *io, uint64_t trial)
{
	if (trial == 0 || reporter_trial() != trial)
		return;
	/* The main thread holds out_lock only between trials. */
	if (pthread_mutex_trylock(&io->out_lock) == 0) {
		drain_pipes(io, 1);
		pthread_mutex_unlock(&io->out_lock);
	}
	diag_fatal(EXEC_EXIT_RECYCLED, "trial %016llx ran out of time and is "
		   "still running: this executor ends so that a fresh one takes "
		   "its place", (unsigned long long)trial);
}

/* Returns 0, or -1 when the frame breaks the protocol. */
static int dispatch(struct io_thread *io, const struct proto_header *h,
		    const uint8_t *body)
{
	uint64_t trial;

	switch (h->type) {
	case PROTO_HB_OK:
		return proto_trial_decode(body, h->length, &trial) ? -1 : 0;
	case PROTO_HB_STOP:
		if (proto_trial_decode(body, h->length, &trial))
			return -1;
		reporter_stop(trial);
		return 0;
	case PROTO_RECYCLE:
		if (proto_trial_decode(body, h->length, &trial))
			return -1;
		on_recycle(io, trial);
		return 0;
	case PROTO_TRIAL:
		return on_trial_frame(io, body, h->length);
	case PROTO_FINAL_ACK:
		if (proto_trial_decode(body, h->length, &trial))
			return -1;
		conn_final_acked(io->conn, trial);
		inbox_post(io->inbox, INBOX_FINAL_ACK, trial, NULL);
		return 0;
	case PROTO_BYE:
		io->bye = 1;
		/* The experiment is over: a running trial stops at its next
		 * broadcast instead of running to its end for nothing. */
		reporter_stop(reporter_trial());
		inbox_post(io->inbox, INBOX_BYE, 0, NULL);
		return 0;
	case PROTO_ERROR:
		on_error_frame(io, body, h->length);
		return 0;
	}
	return -1;
}

/* Handle every complete frame in the read buffer. */
static void handle_frames(struct io_thread *io)
{
	struct proto_header h;
	const uint8_t *body;
	char err[256];
	int rc;

	while (io->connected &&
	       (rc = conn_frame(io->conn, &h, &body, err, sizeof err)) != 0) {
		if (rc < 0) {
			protocol_error(io, err);
			return;
		}
		if (dispatch(io, &h, body) < 0) {
			snprintf(err, sizeof err, "driver sent a malformed or "
				 "unexpected %s frame", proto_type_name(h.type));
			protocol_error(io, err);
			return;
		}
	}
}

/* Everything captured and every point buffered goes out, on the calling
 * thread; with `end_trial` the reporter's trial ends under the same hold of
 * out_lock, so that no HEARTBEAT of it can follow (the I/O thread sends
 * them only under out_lock). */
static void flush_output(struct io_thread *io, int end_trial)
{
	pthread_mutex_lock(&io->out_lock);
	drain_pipes(io, 1);
	send_points(io, 0);
	if (end_trial)
		reporter_end();
	pthread_mutex_unlock(&io->out_lock);
}

/* ---- a fatal signal: what the trial printed last still goes out --------- */

#define LAST_WORDS_WAIT_MS 3000

/* The pipes' read ends are this process's alone: bytes still in them when
 * it dies are lost, a segfault's last lines and the traceback that
 * faulthandler writes at the fault among them. */
static struct {
	volatile sig_atomic_t dying;
	volatile sig_atomic_t wake_fd; /* the I/O thread's wake pipe, -1
					  once it is closed */
	int done[2];	/* where the I/O thread says it sent everything */
	pid_t pid;	/* the executor's own, not a forked child's */
	volatile sig_atomic_t io_tid; /* the I/O thread, which cannot wait
					 for itself */
} last_words = { 0, -1, { -1, -1 }, 0, 0 };

static char alt_stack[1 << 16]; /* for a fault that overflowed the stack */

/*
 * In the thread that faulted: wake the I/O thread and give it a moment to
 * send what the pipes hold (Python's faulthandler, when a trial enabled
 * it, runs before this and chains to it), then die of the signal
 * (SA_RESETHAND put its default action back). Only write, poll and raise:
 * async-signal-safe.
 */
static void on_fatal_signal(int sig)
{
	struct pollfd p = { .fd = last_words.done[0], .events = POLLIN };
	int fd = last_words.wake_fd;

	if (getpid() == last_words.pid && !last_words.dying && fd >= 0 &&
	    (pid_t)syscall(SYS_gettid) != last_words.io_tid) {
		last_words.dying = 1;
		/* a full pipe (EAGAIN) wakes the thread all the same */
		if (write(fd, "", 1) == 1 || errno == EAGAIN)
			poll(&p, 1, LAST_WORDS_WAIT_MS);
	}
	raise(sig);
}

static void catch_fatal_signals(struct io_thread *io)
{
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
	struct sigaction sa = { .sa_handler = on_fatal_signal,
				.sa_flags = SA_RESETHAND | SA_ONSTACK };
	stack_t st = { .ss_sp = alt_stack, .ss_size = sizeof alt_stack };
	size_t i;

	if (pipe2(last_words.done, O_CLOEXEC | O_NONBLOCK) < 0)
		return; /* the executor works without its last words */
	last_words.wake_fd = io->wake[1];
	last_words.pid = getpid();
	sigaltstack(&st, NULL); /* the main thread's: it runs the trials */
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof fatal / sizeof *fatal; i++)
		sigaction(fatal[i], &sa, NULL);
}

/* The I/O thread, woken by on_fatal_signal: once. The thread that
 * faulted may hold out_lock (it faulted sending its own output): then
 * its last words are lost, and the wait for the lock is short. */
static void say_last_words(struct io_thread *io)
{
	static int said;
	struct timespec until;

	if (said++)
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 1;
	if (pthread_mutex_timedlock(&io->out_lock, &until) == 0) {
		drain_pipes(io, 1);
		send_points(io, 0);
		pthread_mutex_unlock(&io->out_lock);
	}
	if (write(last_words.done[1], "", 1) < 0)
		return; /* the faulting thread waits out its time */
}

/* ---- the loop ------------------------------------------------------------ */

/* Milliseconds until the next timed job (heartbeat, reconnect), -1: none. */
static int poll_timeout(struct io_thread *io, double now)
{
	double until = INFINITY;

	if (io->connected)
		until = io->next_hb - now;
	if (!io->connected && !io->bye)
		until = fmin(until, io->next_try - now);
	if (isinf(until))
		return -1;
	return until <= 0 ? 0 : (int)ceil(until * 1000);
}

static int stop_requested(struct io_thread *io)
{
	int stop;

	pthread_mutex_lock(&io->lock);
	stop = io->stop_req;
	pthread_mutex_unlock(&io->lock);
	return stop;
}

static void clear_wake(struct io_thread *io)
{
	char buf[64];

	while (read(io->wake[0], buf, sizeof buf) > 0)
		;
}

static void *io_main(void *arg)
{
	struct io_thread *io = arg;
	struct pollfd p[4];
	double now;

	last_words.io_tid = (sig_atomic_t)syscall(SYS_gettid);

	while (!stop_requested(io)) {
		handle_frames(io);
		now = now_s();
		pthread_mutex_lock(&io->out_lock);
		heartbeat_tick(io, now);
		pthread_mutex_unlock(&io->out_lock);
		if (!io->connected && !io->bye && now >= io->next_try) {
			try_reconnect(io, now);
			continue;
		}
		p[0] = (struct pollfd){.fd = io->wake[0], .events = POLLIN};
		p[1] = (struct pollfd){.fd = io->cap->out.rfd, .events = POLLIN};
		p[2] = (struct pollfd){.fd = io->cap->err.rfd, .events = POLLIN};
		p[3] = (struct pollfd){.fd = io->connected ? conn_fd(io->conn)
							   : -1,
				       .events = POLLIN};
		if (poll(p, 4, poll_timeout(io, now)) < 0 && errno != EINTR)
			diag_fatal(EXEC_EXIT_INTERNAL, "poll: %s",
				   strerror(errno));
		if (p[0].revents)
			clear_wake(io);
		if (last_words.dying)
			say_last_words(io);
		if (p[1].revents || p[2].revents) {
			pthread_mutex_lock(&io->out_lock);
			drain_pipes(io, 0);
			pthread_mutex_unlock(&io->out_lock);
		}
		if (p[3].revents && conn_read(io->conn) < 0)
			connection_lost(io, "connection closed");
	}
	flush_output(io, 0);
	return NULL;
}

/* ---- main-thread side ---------------------------------------------------- */

static void wake(struct io_thread *io)
{
	/* A full pipe already wakes the thread: ignore EAGAIN. */
	if (write(io->wake[1], "", 1) < 0)
		return;
}

int io_start(struct io_thread *io, const struct exec_config *cfg,
	     struct conn *conn, struct capture *cap, struct inbox *inbox,
	     char *err, size_t errlen)
{
	int rc;

	memset(io, 0, sizeof *io);
	io->cfg = cfg;
	io->conn = conn;
	io->cap = cap;
	io->inbox = inbox;
	io->hb_interval = DEFAULT_HB_INTERVAL;
	io->down_since = io->next_try = now_s();
	io->backoff = BACKOFF_FIRST;
	io->jitter_seed = (unsigned)getpid() ^ (unsigned)(now_s() * 1e6);
	io->points = malloc(PROTO_MAX_POINTS * sizeof *io->points);
	io->hb_buf = malloc(proto_heartbeat_size(PROTO_MAX_POINTS));
	if (!io->points || !io->hb_buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (pipe2(io->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	pthread_mutex_init(&io->lock, NULL);
	pthread_mutex_init(&io->out_lock, NULL);
	catch_fatal_signals(io);
	rc = pthread_create(&io->thread, NULL, io_main, io);
	if (rc) {
		snprintf(err, errlen, "cannot start the I/O thread: %s",
			 strerror(rc));
		return -1;
	}
	return 0;
}

void io_wake(struct io_thread *io)
{
	wake(io);
}

void io_sync(struct io_thread *io)
{
	flush_output(io, 0);
}

void io_end_trial(struct io_thread *io)
{
	flush_output(io, 1);
}

void io_stop(struct io_thread *io)
{
	pthread_mutex_lock(&io->lock);
	io->stop_req = 1;
	pthread_mutex_unlock(&io->lock);
	wake(io);
	pthread_join(io->thread, NULL);
	last_words.wake_fd = -1; /* no I/O thread to say them any more */
	close(io->wake[0]);
	close(io->wake[1]);
	free(io->points);
	free(io->hb_buf);
	pthread_mutex_destroy(&io->lock);
	pthread_mutex_destroy(&io->out_lock);
}
