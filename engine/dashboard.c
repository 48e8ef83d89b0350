/* dashboard: the read-only web view of an experiment. See dashboard.h and
 * docs/dashboard.md (the API). */
#include "dashboard.h"

#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netaddr.h"
#include "paths.h"
#include "proto/utf8.h"
#include "proto/proto.h"
#include "run.h"
#include "store.h"
#include "summary.h"

#define MAX_LOG_LINES 2000   /* lines per /api/logs answer */
#define STORE_WAIT_S 10	     /* how long a starting run's store is awaited */
#define MAX_CURVE_TRIALS 500 /* trials per /api/curves?trial=... answer */

struct dashboard {
	const char *dir;
	store_t *store;
};

/* What the page is made of: every file it loads comes from here. */
static const struct asset {
	const char *path, *file, *type;
} assets[] = {
	{ "/", "index.html", "text/html; charset=utf-8" },
	{ "/app.js", "app.js", "text/javascript; charset=utf-8" },
	{ "/style.css", "style.css", "text/css; charset=utf-8" },
};

/* ---- answers ----------------------------------------------------------- */

static void send_body(struct evhttp_request *req, int code, const char *type,
		      const char *body, size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *buf = evbuffer_new();

	if (buf == NULL || evbuffer_add(buf, body, len) < 0) {
		evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
		goto out;
	}
	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_send_reply(req, code, code == HTTP_OK ? "OK" : "Error", buf);
out:
	if (buf)
		evbuffer_free(buf);
}

/* Sends `body` (stolen) as JSON. */
static void send_json(struct evhttp_request *req, int code, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT |
					     JSON_REAL_PRECISION(17))
			  : NULL;

	json_decref(body);
	if (text == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
		return;
	}
	send_body(req, code, "application/json", text, strlen(text));
	free(text);
}

static void send_problem(struct evhttp_request *req, int code,
			 const char *why)
{
	send_json(req, code, json_pack("{s:s}", "error", why));
}

/* ---- /api/summary ------------------------------------------------------- */

static void api_summary(struct dashboard *d, struct evhttp_request *req,
			struct evkeyvalq *query)
{
	const char *since = evhttp_find_header(query, "since");
	char err[512], *end;
	unsigned long long n = 0;
	json_t *sum;

	if (since) {
		errno = 0;
		n = strtoull(since, &end, 10);
		if (!isdigit((unsigned char)*since) || *end != '\0' ||
		    errno || n > UINT32_MAX) {
			send_problem(req, HTTP_BADREQUEST, "since: the end_seq "
				     "of an earlier answer, 0 or more");
			return;
		}
	}
	sum = since ? summary_read_changes(d->store, d->dir, (json_int_t)n,
					   err, sizeof err)
		    : summary_read(d->store, d->dir, 1, err, sizeof err);
	if (sum == NULL) {
		send_problem(req, HTTP_INTERNAL, err);
		return;
	}
	send_json(req, HTTP_OK, sum);
}

/* ---- /api/curves -------------------------------------------------------- */

/* What add_curve fills: trial id (hex) -> its points; those of one trial
 * after step `after` (all when has_after is 0). */
struct curves {
	store_t *store;
	json_t *curves;
	json_t *points;
	uint64_t after;
	int has_after;
};

static int add_point(uint64_t step, double value, double unix_time,
		     void *arg)
{
	struct curves *c = arg;

	if (c->has_after && step <= c->after)
		return 0;
	return json_array_append_new(c->points, json_pack("[I, f, o]",
		(json_int_t)step, value,
		isnan(unix_time) ? json_null() : json_real(unix_time)));
}

static int add_curve(uint64_t id, const char *json, size_t len, void *arg)
{
	struct curves *c = arg;
	char hex[PROTO_TRIAL_HEX];

	(void)json, (void)len;
	proto_trial_hex(id, hex);
	c->points = json_array();
	if (c->points == NULL ||
	    json_object_set_new(c->curves, hex, c->points) < 0)
		return -1;
	return store_metrics_each(c->store, id, add_point, c) < 0 ? -1 : 0;
}

/* Whether the store holds trial `id`: a query for one it does not is 404,
 * as `logs DIR ID` refuses it. */
static int known_trial(struct dashboard *d, uint64_t id)
{
	char *json = NULL;
	int rc = store_trial_get(d->store, id, &json);

	free(json);
	return rc == 0;
}

/* Adds the curves of ?trial=ID,ID:STEP,... (at most MAX_CURVE_TRIALS of
 * them; ID:STEP: the points after that step) to c; answers and returns -1
 * for a list that is not one or a trial the store does not hold. */
static int add_listed_curves(struct dashboard *d, struct evhttp_request *req,
			     const char *list, struct curves *c)
{
	char hex[PROTO_TRIAL_HEX + 1], why[112], *end;
	const char *at = list;
	size_t n = 0, len;
	uint64_t id;

	for (;;) {
		len = strcspn(at, ",:");
		if (len >= sizeof hex || ++n > MAX_CURVE_TRIALS)
			break;
		memcpy(hex, at, len);
		hex[len] = '\0';
		if (proto_trial_parse(hex, &id) < 0)
			break;
		c->has_after = at[len] == ':';
		if (c->has_after) {
			at += len + 1;
			errno = 0;
			c->after = strtoull(at, &end, 10);
			if (!isdigit((unsigned char)*at) || errno ||
			    (*end != ',' && *end != '\0'))
				break;
			len = (size_t)(end - at);
		}
		if (!known_trial(d, id)) {
			snprintf(why, sizeof why, "no such trial: %s", hex);
			send_problem(req, HTTP_NOTFOUND, why);
			return -1;
		}
		if (add_curve(id, NULL, 0, c) != 0) {
			send_problem(req, HTTP_INTERNAL, "cannot read the store");
			return -1;
		}
		if (at[len] == '\0')
			return 0;
		at += len + 1;
	}
	snprintf(why, sizeof why, "trial: ids of 16 hex digits (ID:STEP for "
		 "the points after a step) separated by commas, at most %d",
		 MAX_CURVE_TRIALS);
	send_problem(req, HTTP_BADREQUEST, why);
	return -1;
}

/* {"curves": {ID: [[step, value, time], ...]}} of every trial, or of
 * ?trial=ID,ID,... */
static void api_curves(struct dashboard *d, struct evhttp_request *req,
		       struct evkeyvalq *query)
{
	struct curves c = { d->store, json_object(), NULL, 0, 0 };
	const char *trial = evhttp_find_header(query, "trial");

	if (c.curves == NULL) {
		send_problem(req, HTTP_INTERNAL, "out of memory");
		return;
	}
	if (trial ? add_listed_curves(d, req, trial, &c) < 0
		  : store_trials_each(d->store, add_curve, &c) != 0) {
		if (trial == NULL)
			send_problem(req, HTTP_INTERNAL, "cannot read the store");
		json_decref(c.curves);
		return;
	}
	send_json(req, HTTP_OK, json_pack("{s:o}", "curves", c.curves));
}

/* ---- /api/logs ---------------------------------------------------------- */

struct log_page {
	uint32_t from;
	json_t *lines;
	int more;
	uint32_t next;
};

static int add_line(uint32_t seq, double unix_time, int stream,
		    const char *text, size_t len, void *arg)
{
	struct log_page *p = arg;
	char *repaired;
	int rc;

	if (seq < p->from)
		return 0;
	if (json_array_size(p->lines) >= MAX_LOG_LINES) {
		p->more = 1;
		return 1;
	}
	p->next = seq + 1;
	text = utf8_text(text, len, &repaired); /* stored raw by older engines */
	rc = json_array_append_new(p->lines, json_pack(
		"{s:I, s:f, s:s, s:s%}", "seq", (json_int_t)seq, "time",
		unix_time, "stream", proto_stream_name(stream),
		"text", text, len));
	free(repaired);
	return rc;
}

/* {"lines": [{seq, time, stream, text}], "next": SEQ, "more": bool} of
 * ?trial=ID (or "engine": the lines outside trials) from ?from=SEQ. */
static void api_logs(struct dashboard *d, struct evhttp_request *req,
		     struct evkeyvalq *query)
{
	const char *trial = evhttp_find_header(query, "trial");
	const char *from = evhttp_find_header(query, "from");
	struct log_page p = { .lines = json_array() };
	uint64_t id = 0;
	char *end;

	if (trial == NULL || (strcmp(trial, "engine") != 0 &&
			      proto_trial_parse(trial, &id) < 0)) {
		json_decref(p.lines);
		send_problem(req, HTTP_BADREQUEST, "trial: 16 hex digits, or "
						   "engine");
		return;
	}
	if (id != 0 && !known_trial(d, id)) {
		json_decref(p.lines);
		send_problem(req, HTTP_NOTFOUND, "no such trial");
		return;
	}
	if (from) {
		unsigned long v = strtoul(from, &end, 10);
		if (!isdigit((unsigned char)*from) || *end != '\0' ||
		    v > UINT32_MAX) {
			json_decref(p.lines);
			send_problem(req, HTTP_BADREQUEST, "from: a line number, "
				     "0 or more");
			return;
		}
		p.from = (uint32_t)v;
	}
	p.next = p.from;
	if (p.lines == NULL || store_logs_each(d->store, id, add_line, &p) < 0) {
		json_decref(p.lines);
		send_problem(req, HTTP_INTERNAL, "cannot read the store");
		return;
	}
	send_json(req, HTTP_OK, json_pack("{s:o, s:I, s:b}", "lines", p.lines,
					  "next", (json_int_t)p.next, "more",
					  p.more));
}

/* ---- the page ----------------------------------------------------------- */

static void send_asset(struct evhttp_request *req, const struct asset *a)
{
	char path[PATH_MAX], *body = NULL;
	FILE *f;
	long len;

	snprintf(path, sizeof path, "%s/%s", paths_web_dir(), a->file);
	f = fopen(path, "rb");
	if (f && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (body = malloc((size_t)len + 1)) &&
	    fread(body, 1, (size_t)len, f) == (size_t)len)
		send_body(req, HTTP_OK, a->type, body, (size_t)len);
	else
		send_problem(req, HTTP_NOTFOUND, "the dashboard's files are "
				"missing (MAGGY_WEB_DIR)");
	free(body);
	if (f)
		fclose(f);
}

static void route(struct evhttp_request *req, void *arg)
{
	static const struct {
		const char *path;
		void (*fn)(struct dashboard *, struct evhttp_request *,
			   struct evkeyvalq *);
	} api[] = {
		{ "/api/summary", api_summary },
		{ "/api/curves", api_curves },
		{ "/api/logs", api_logs },
	};
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
	struct evkeyvalq query = { 0 };
	size_t i;

	if (path == NULL || *path == '\0')
		path = "/";
	if (q && evhttp_parse_query_str(q, &query) < 0) {
		send_problem(req, HTTP_BADREQUEST, "bad query string");
		return;
	}
	for (i = 0; i < sizeof api / sizeof *api; i++)
		if (strcmp(path, api[i].path) == 0)
			break;
	if (i < sizeof api / sizeof *api)
		api[i].fn(arg, req, &query);
	else {
		for (i = 0; i < sizeof assets / sizeof *assets; i++)
			if (strcmp(path, assets[i].path) == 0)
				break;
		if (i < sizeof assets / sizeof *assets)
			send_asset(req, &assets[i]);
		else
			send_problem(req, HTTP_NOTFOUND, "no such page");
	}
	evhttp_clear_headers(&query);
}

/* ---- serving ------------------------------------------------------------ */

/* "PORT" and ":PORT" mean loopback. */
static void full_address(const char *listen, char *out, size_t len)
{
	if (strchr(listen, ':') == NULL)
		snprintf(out, len, "127.0.0.1:%s", listen);
	else if (listen[0] == ':')
		snprintf(out, len, "127.0.0.1%s", listen);
	else
		snprintf(out, len, "%s", listen);
}

/* The environment variable through which a run hands its dashboard the
 * socket it bound (dashboard_spawn). */
#define LISTENER_FD_ENV "MAGGY_DASHBOARD_FD"

/* A socket listening on `where` (full_address's forms), close-on-exec:
 * its descriptor, or -1 with err. */
static int bind_listener(const char *where, char *err, size_t errlen)
{
	char addr[300];

	full_address(where, addr, sizeof addr);
	return netaddr_listen(addr, 64, err, errlen);
}

/* A run that starts creates its store in a moment: wait for it. */
static int open_store(struct dashboard *d)
{
	char err[512];

	for (int i = 0; i < STORE_WAIT_S * 10; i++) {
		if (store_open(&d->store, d->dir, STORE_READ, err,
			       sizeof err) == 0)
			return 0;
		usleep(100000);
	}
	fprintf(stderr, "maggy-engine: dashboard: %s\n", err);
	return -1;
}

static void stop_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)sig, (void)what;
	event_base_loopbreak(arg);
}

static int serve(struct dashboard *d, struct event_base *base,
		 const char *listen)
{
	struct sockaddr_storage ss;
	socklen_t sslen_bound = sizeof ss;
	struct evconnlistener *l = NULL;
	struct evhttp *http = evhttp_new(base);
	struct event *sigint, *sigterm;
	const char *handed = getenv(LISTENER_FD_ENV);
	char bound[128], err[512] = "out of memory";
	int fd = handed ? atoi(handed) : -1;

	if (http == NULL)
		goto fail;
	if (handed == NULL && (fd = bind_listener(listen, err, sizeof err)) < 0)
		goto fail;
	evutil_make_socket_nonblocking(fd);
	l = evconnlistener_new(base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE |
			       LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (l == NULL || evhttp_bind_listener(http, l) == NULL) {
		snprintf(err, sizeof err, "cannot serve on %s: %s", listen,
			 strerror(errno));
		if (l)
			evconnlistener_free(l);
		else
			close(fd);
		goto fail;
	}
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(http, route, d);
	getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&ss,
		    &sslen_bound);
	netaddr_describe((struct sockaddr *)&ss, bound, sizeof bound, NULL);
	printf("maggy-engine: dashboard of %s on http://%s/\n", d->dir, bound);
	fflush(stdout);
	sigint = evsignal_new(base, SIGINT, stop_cb, base);
	sigterm = evsignal_new(base, SIGTERM, stop_cb, base);
	event_add(sigint, NULL);
	event_add(sigterm, NULL);
	event_base_dispatch(base);
	event_free(sigint);
	event_free(sigterm);
	evhttp_free(http);
	return EXIT_OK;
fail:
	fprintf(stderr, "maggy-engine: dashboard: %s\n", err);
	if (http)
		evhttp_free(http);
	return EXIT_USAGE;
}

int dashboard_serve(const char *dir, const char *listen)
{
	struct dashboard d = { .dir = dir };
	struct event_base *base;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	if (open_store(&d) < 0)
		return EXIT_USAGE;
	base = event_base_new();
	rc = base ? serve(&d, base, listen) : EXIT_FAILED;
	if (base)
		event_base_free(base);
	store_close(d.store);
	return rc;
}

/* ---- as a child of a run ------------------------------------------------ */

int dashboard_listen(const char *listen, char *err, size_t errlen)
{
	return bind_listener(listen, err, errlen);
}

pid_t dashboard_spawn(const char *dir, const char *listen, int fd,
		      char *err, size_t errlen)
{
	pid_t parent = getpid(), pid;
	char handed[16];

	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "cannot start the dashboard: %s",
			 strerror(errno));
		close(fd);
		return -1;
	}
	if (pid > 0) {
		close(fd);
		return pid;
	}
	fcntl(fd, F_SETFD, 0); /* the one process that inherits it */
	snprintf(handed, sizeof handed, "%d", fd);
	setenv(LISTENER_FD_ENV, handed, 1);
	/* the child: it ends with the run, even one that is killed */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(0);
	signal(SIGINT, SIG_IGN); /* Ctrl-C is the run's to handle */
	execl(paths_engine(), "maggy-engine", "dashboard", dir, "--dashboard",
	      listen, (char *)NULL);
	fprintf(stderr, "maggy-engine: cannot start the dashboard: %s\n",
		strerror(errno));
	_exit(127);
}

void dashboard_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}
