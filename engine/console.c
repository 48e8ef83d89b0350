/* console: the progress status and the lines printed above it (see
 * console.h). */
#include "console.h"

#include <event2/event.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define LIVE_TICK 0.25	   /* seconds between checks of the LIVE line */
#define LIVE_MIN_GAP 0.1   /* at most ten redraws a second */

static struct {
	int on;
	enum console_mode mode;
	double every;
	int simulated;
	console_status_fn source;
	void *arg;
	struct event *timer;
	int drawn;	    /* the LIVE status is on the screen */
	int dirty;	    /* the counts changed since the last status */
	double last_draw;   /* monotonic seconds of the last status */
	long tenths_shown;  /* tenths of a simulation printed so far */
	double elapsed0;     /* the pace's origin (set_origin) */
	long done0;
} con = { .mode = CONSOLE_OFF };

static double monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int console_parse_mode(const char *text, enum console_mode *out)
{
	static const char *const names[] = { "auto", "live", "plain", "off" };

	for (int i = 0; i < 4; i++)
		if (strcmp(text, names[i]) == 0) {
			*out = (enum console_mode)i;
			return 0;
		}
	return -1;
}

/* "42 s", "4m05s", "1h02m". */
static void format_duration(double s, char *out, size_t len)
{
	long n = s < 0 ? 0 : (long)(s + 0.5);

	if (n < 60)
		snprintf(out, len, "%ld s", n);
	else if (n < 3600)
		snprintf(out, len, "%ldm%02lds", n / 60, n % 60);
	else
		snprintf(out, len, "%ldh%02ldm", n / 3600, n % 3600 / 60);
}

/* Where the pace is measured from: this console's start (a resumed run's
 * earlier pace is not this one's). */
static void set_origin(const struct console_status *st)
{
	con.elapsed0 = st->elapsed;
	con.done0 = st->finished + st->stopped + st->failed;
}

/* The time left at the pace of the trials ended since the origin. */
static int time_left(const struct console_status *st, double *out)
{
	long done = st->finished + st->stopped + st->failed;

	if (done <= con.done0 || done >= st->total)
		return 0;
	*out = (st->elapsed - con.elapsed0) / (double)(done - con.done0) *
	       (double)(st->total - done);
	return 1;
}

/* PLAIN: a line that says it all. LIVE: short enough for a terminal's
 * width, the least needed part (the best trial's id) last. */
static void format_status(char *out, size_t len, int compact)
{
	struct console_status st = { 0 };
	char elapsed[32], left[32] = "", best[128] = "";
	double eta;
	long done;

	con.source(con.arg, &st);
	done = st.finished + st.stopped + st.failed;
	format_duration(st.elapsed, elapsed, sizeof elapsed);
	if (time_left(&st, &eta)) {
		strcpy(left, ", ~");
		format_duration(eta, left + 3, sizeof left - 3);
		strcat(left, " left");
	}
	if (st.has_best)
		snprintf(best, sizeof best, compact ? " | best %s=%.6g (%.8s)"
					    : ", best %s %.6g (trial %s)",
			 st.metric, st.best, st.best_id);
	if (compact)
		snprintf(out, len, "%ld/%ld done (%ld ok, %ld stopped, %ld "
			 "failed), %ld running | %s%s%s%s", done, st.total,
			 st.finished, st.stopped, st.failed, st.running,
			 elapsed, con.simulated ? " virtual" : "", left, best);
	else
		snprintf(out, len, "[progress] %ld/%ld ended (%ld finished, "
			 "%ld early-stopped, %ld failed), %ld running%s, %s%s "
			 "elapsed%s", done, st.total, st.finished, st.stopped,
			 st.failed, st.running, best, elapsed,
			 con.simulated ? " virtual" : "", left);
}

static size_t terminal_width(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
		return ws.ws_col;
	return 80;
}

static void erase_live(void)
{
	if (con.drawn) {
		fputs("\r\033[K", stdout);
		con.drawn = 0;
	}
}

static void show_status(void)
{
	char text[512];
	size_t width;

	format_status(text, sizeof text, con.mode == CONSOLE_LIVE);
	con.dirty = 0;
	con.last_draw = monotonic();
	if (con.mode == CONSOLE_PLAIN) {
		printf("%s\n", text);
		fflush(stdout);
		return;
	}
	width = terminal_width() - 1; /* never wrap onto a new line */
	if (strlen(text) > width)
		text[width] = '\0';
	fputs("\r\033[K", stdout);
	fputs(text, stdout);
	fflush(stdout);
	con.drawn = 1;
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	double since = monotonic() - con.last_draw;

	(void)fd, (void)what, (void)arg;
	if (con.mode == CONSOLE_PLAIN || con.dirty || since >= 1.0)
		show_status();
}

void console_start(struct event_base *base, enum console_mode mode,
		   double every, int simulated, console_status_fn source,
		   void *arg)
{
	struct console_status st = { 0 };
	double tick;
	struct timeval tv;

	if (mode == CONSOLE_AUTO)
		mode = isatty(STDOUT_FILENO) ? CONSOLE_LIVE : CONSOLE_PLAIN;
	con.mode = mode;
	con.on = mode != CONSOLE_OFF;
	con.every = every;
	con.simulated = simulated;
	con.source = source;
	con.arg = arg;
	con.last_draw = monotonic();
	if (!con.on)
		return;
	source(arg, &st); /* so that the first status line has a pace */
	set_origin(&st);
	tick = mode == CONSOLE_LIVE ? LIVE_TICK : every;
	tv.tv_sec = (time_t)tick;
	tv.tv_usec = (suseconds_t)((tick - (double)tv.tv_sec) * 1e6);
	con.timer = event_new(base, -1, EV_PERSIST, timer_cb, NULL);
	if (con.timer)
		event_add(con.timer, &tv);
	if (mode == CONSOLE_LIVE)
		show_status();
}

/* A PLAIN line at each tenth of a simulation's trials. */
static void simulated_tenth(void)
{
	struct console_status st = { 0 };
	long tenths;

	con.source(con.arg, &st);
	tenths = st.total > 0 ? (st.finished + st.stopped + st.failed) * 10 /
					st.total
			      : 0;
	if (tenths > con.tenths_shown) {
		con.tenths_shown = tenths;
		show_status();
	}
}

void console_changed(void)
{
	if (!con.on)
		return;
	con.dirty = 1;
	if (con.mode == CONSOLE_LIVE &&
	    monotonic() - con.last_draw >= LIVE_MIN_GAP)
		show_status();
	else if (con.mode == CONSOLE_PLAIN && con.simulated)
		simulated_tenth();
}

int console_progress_on(void)
{
	return con.on;
}

void console_line(FILE *f, const char *fmt, ...)
{
	va_list ap;

	if (con.on && con.mode == CONSOLE_LIVE)
		erase_live();
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fflush(f);
	if (con.on && con.mode == CONSOLE_LIVE)
		show_status();
}

void console_lines(FILE *f, const char *prefix, const char *text, size_t len)
{
	const char *end = text + len, *nl;

	if (con.on && con.mode == CONSOLE_LIVE)
		erase_live();
	do {
		nl = memchr(text, '\n', (size_t)(end - text));
		fprintf(f, "%s%.*s\n", prefix, (int)((nl ? nl : end) - text),
			text);
		text = nl ? nl + 1 : end;
	} while (nl && text < end);
	fflush(f);
	if (con.on && con.mode == CONSOLE_LIVE)
		show_status();
}

void console_stop(void)
{
	if (!con.on)
		return;
	if (con.mode == CONSOLE_PLAIN && con.dirty)
		show_status();
	erase_live();
	fflush(stdout);
	if (con.timer)
		event_free(con.timer);
	con.timer = NULL;
	con.on = 0;
}
