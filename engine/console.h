/*
 * console: what a running experiment prints on the terminal. Owns the
 * progress status (trials finished / early-stopped / failed / running out
 * of the total, the best value and its trial, elapsed time and an estimate
 * of the time left) and every line printed while it shows, so that lines
 * from the engine, the strategies and the executors appear whole above
 * the status instead of through it.
 *
 * Modes: LIVE redraws the status in place on the last line of a terminal;
 * PLAIN prints it as a line of its own every `every` seconds (and, for a
 * simulation, at each tenth of the trials), for logs and pipes; OFF prints
 * no status and no per-trial lines. AUTO is LIVE when stdout is a terminal,
 * PLAIN otherwise.
 *
 * One console per process (it is the process's terminal): a module with
 * its state in this file, used from the loop thread only.
 */
#pragma once

#include <stdio.h>

struct event_base;

enum console_mode { CONSOLE_AUTO = 0, CONSOLE_LIVE, CONSOLE_PLAIN, CONSOLE_OFF };

/* Where the experiment stands, filled in by the status source. */
struct console_status {
	long total, finished, stopped, failed, running;
	const char *metric; /* its name */
	int has_best;
	double best;
	char best_id[17];   /* the best trial's id in hex, "" if none */
	double elapsed;	    /* seconds since the experiment started (on the
			       experiment's clock: virtual when simulated) */
};

typedef void (*console_status_fn)(void *arg, struct console_status *out);

/* Parse "auto", "live", "plain" or "off". Returns 0, or -1 for anything
 * else. */
int console_parse_mode(const char *text, enum console_mode *out);

/*
 * Start showing progress on `base`: `source(arg)` is asked for the status
 * on each redraw. `every`: seconds between PLAIN lines (> 0). `simulated`:
 * the clock is virtual (PLAIN also prints at each tenth of the trials; the
 * times read "virtual"). Until console_start, and after console_stop,
 * console_line prints plainly.
 */
void console_start(struct event_base *base, enum console_mode mode,
		   double every, int simulated, console_status_fn source,
		   void *arg);

/* The counts changed (a trial started or ended): redraw LIVE now (at most
 * ten times a second), and print a PLAIN line at a tenth of a simulation. */
void console_changed(void);

/* Whether progress shows (started, not OFF, not stopped). */
int console_progress_on(void);

/* Print one line (a newline is added) on `f` (stdout or stderr) above the
 * status line. */
void console_line(FILE *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* console_line for each line of `text` (len bytes, not NUL-terminated),
 * each after `prefix`: a multi-line log record keeps its trial's prefix on
 * every line. */
void console_lines(FILE *f, const char *prefix, const char *text, size_t len);

/* Stop: erase the LIVE status, print a last PLAIN line if the counts
 * changed since the last one, free the timer. Idempotent. */
void console_stop(void);
