/* run: the `run` subcommand, wiring everything together. See run.h. */
#include "run.h"

#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "controller.h"
#include "dashboard.h"
#include "dirlock.h"
#include "errtext.h"
#include "launcher.h"
#include "lhost.h"
#include "netaddr.h"
#include "paths.h"
#include "proto/numtext.h"
#include "resume.h"
#include "secret.h"
#include "server.h"
#include "sim.h"
#include "simbench.h"
#include "space_check.h"
#include "store.h"
#include "summary.h"

#define DRAIN_TIMEOUT_S 10.0 /* executors get this long to leave at the end */
#define SIM_COMMIT_S 0.25    /* a simulation commits its store this often */

struct run {
	const struct run_options *opts;
	char script[PATH_MAX];
	char dir[PATH_MAX];
	json_t *config;
	struct ctl_config cc;
	lhost_t *lhost;
	store_t *store;
	struct event_base *base;
	server_t *server;
	ctl_t *ctl;
	launcher_t *launcher;
	simbench_t *bench; /* simulations only, with sim */
	pid_t dashboard;   /* its process (--dashboard), 0 if none */
	int dashboard_fd;  /* its socket until it starts, -1 if none */
	int listen_fd;     /* --listen's socket until the server takes it */
	sim_t *sim;
	struct event *sigint, *sigterm, *sighup, *drain;
	double drain_started;
	int interrupts;
	uint8_t secret[PROTO_SECRET_SIZE];
	json_t *stored;	     /* resume: the stored experiment settings */
	char host[256];	     /* this machine's name */
};

static void fail(const char *what, const char *why)
{
	fprintf(stderr, "maggy-engine: %s: %s\n", what, why);
}

/* ---- loading the experiment ------------------------------------------- */

static char *options_json(const struct run *r)
{
	const struct run_options *o = r->opts;
	uint32_t fallback = 0;
	json_t *obj;
	char *text;

	json_t *seed = o->has_seed ? json_integer(o->seed) : json_null();

	if (r->stored) /* the seed it ran with, whatever it came from */
		seed = json_incref(json_object_get(r->stored, "seed"));
	secret_random(&fallback, sizeof fallback);
	obj = json_pack("{s:o, s:I}", "seed", seed,
			"default_seed", (json_int_t)(fallback & 0x7fffffff));
	if (r->bench)
		json_object_set_new(obj, "space", json_loads(
			simbench_space_json(r->bench), 0, NULL));
	text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	return text;
}

static int read_config(struct run *r)
{
	json_t *c = r->config;
	char why[300];

	r->cc.experiment = c;
	r->cc.name = json_string_value(json_object_get(c, "name"));
	r->cc.direction = json_string_value(json_object_get(c, "direction"));
	r->cc.metric = json_string_value(json_object_get(c, "metric"));
	r->cc.num_trials = (long)json_integer_value(json_object_get(c, "num_trials"));
	r->cc.hb_interval = json_number_value(json_object_get(c, "hb_interval"));
	r->cc.es_interval = json_number_value(json_object_get(c, "es_interval"));
	r->cc.max_attempts = (int)json_integer_value(json_object_get(c, "max_attempts"));
	r->cc.liveness_timeout = json_number_value(json_object_get(c, "liveness_timeout"));
	r->cc.trial_timeout = json_number_value(json_object_get(c, "trial_timeout"));
	r->cc.exclude_after = (int)json_integer_value(json_object_get(c, "exclude_after"));
	r->cc.fail_fast = (int)json_integer_value(json_object_get(c, "fail_fast"));
	gethostname(r->host, sizeof r->host - 1);
	r->cc.local_host = r->host;
	r->cc.local_executors = r->opts->workers > 0;
	r->cc.quiet = r->opts->quiet;
	r->cc.trial_lines = r->opts->progress != CONSOLE_OFF;
	if (!r->cc.name || !r->cc.direction || !r->cc.metric ||
	    r->cc.num_trials <= 0 || r->cc.hb_interval <= 0 ||
	    r->cc.es_interval <= 0 || r->cc.max_attempts <= 0) {
		fail("experiment settings", "maggy.runtime returned an "
					    "incomplete configuration");
		return -1;
	}
	/* the Lua side checked the space, unless a script's own describe()
	 * made it: refused here, before any trial */
	if (space_check_space(json_object_get(c, "space"), why,
			      sizeof why) < 0) {
		fail(r->script, why);
		return -1;
	}
	return 0;
}

/* What the script printed before it failed to load. */
static void print_load_logs(const struct run *r)
{
	char *out = NULL, *error = NULL;
	json_t *reply, *line;
	size_t i;

	lhost_call(r->lhost, "take_logs", NULL, &out, &error);
	reply = out ? json_loads(out, 0, NULL) : NULL;
	json_array_foreach(json_object_get(reply, "logs"), i, line)
		if (json_is_string(line))
			fprintf(stderr, "[strategy] %s\n",
				json_string_value(line));
	json_decref(reply);
	free(out);
	free(error);
}

/* The user's file and line first; the library's traceback on demand. */
static void print_load_error(const struct run *r, const char *error)
{
	char brief[2048];

	print_load_logs(r);
	if (r->opts->verbose || !errtext_brief(error, brief, sizeof brief))
		fprintf(stderr, "maggy-engine: cannot load the experiment:\n%s\n",
			error);
	else
		fprintf(stderr, "maggy-engine: cannot load the experiment:\n%s\n"
			"(--verbose shows the traceback)\n", brief);
}

static int load_experiment(struct run *r)
{
	char err[512], *opts = NULL, *config = NULL, *error = NULL;
	int rc = -1;

	const char *script = r->stored ? json_string_value(json_object_get(
						 r->stored, "script"))
				       : r->opts->script;

	if (script == NULL || realpath(script, r->script) == NULL) {
		fail(script ? script : "the stored experiment",
		     script ? strerror(errno) : "names no script");
		return -1;
	}
	r->lhost = lhost_new(paths_lua_dir(), r->script, err, sizeof err);
	if (r->lhost == NULL) {
		fail("Lua", err);
		return -1;
	}
	if (r->opts->benchmark) {
		r->bench = simbench_open(r->opts->benchmark, err, sizeof err);
		if (r->bench == NULL) {
			fail("benchmark", err);
			return -1;
		}
	}
	opts = options_json(r);
	if (lhost_load(r->lhost, opts, &config, &error) < 0) {
		print_load_error(r, error);
		goto out;
	}
	r->config = json_loads(config, 0, NULL);
	if (r->config == NULL) {
		fail("experiment settings", "not JSON");
		goto out;
	}
	rc = read_config(r);
	if (rc == 0)
		lhost_limits(r->lhost, json_number_value(json_object_get(
				     r->config, "strategy_timeout")),
			     json_number_value(json_object_get(
				     r->config, "strategy_memory")));
out:
	free(opts);
	free(config);
	free(error);
	return rc;
}

/* ---- the experiment directory ----------------------------------------- */

static int make_dirs(const char *path)
{
	char tmp[PATH_MAX], *p;

	snprintf(tmp, sizeof tmp, "%s", path);
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

/* The experiment's name as one safe path component: letters, digits, '-',
 * '_' and '.' kept ('.' not first), anything else ('/', "..", spaces) '_',
 * at most 64 bytes. */
static void name_for_path(const char *name, char *out, size_t len)
{
	size_t i, n = 0;

	for (i = 0; name[i] && n + 1 < len && n < 64; i++) {
		char ch = name[i];
		int ok = isalnum((unsigned char)ch) || ch == '-' || ch == '_' ||
			 (ch == '.' && n > 0);
		out[n++] = ok ? ch : '_';
	}
	out[n] = '\0';
}

/* maggy-runs/NAME-YYYYmmdd-HHMMSS, with -2, -3... if that one is taken. */
static void default_dir(struct run *r, char *out, size_t len)
{
	char stamp[32], name[80];
	time_t now = time(NULL);
	struct stat st;
	int n;

	name_for_path(r->cc.name, name, sizeof name);
	strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&now));
	snprintf(out, len, "maggy-runs/%s-%s", name, stamp);
	for (n = 2; stat(out, &st) == 0; n++)
		snprintf(out, len, "maggy-runs/%s-%s-%d", name, stamp, n);
}

static int lock_dir(const char *dir)
{
	char err[512];

	if (dirlock_take(dir, err, sizeof err) < 0) {
		fail(dir, err);
		return -1;
	}
	return 0;
}

/* The XXH3 of the script's text, as 16 hex digits (empty if unreadable). */
static void script_hash(const char *path, char out[17])
{
	FILE *f = fopen(path, "re");
	XXH3_state_t *st = XXH3_createState();
	char buf[8192];
	size_t n;

	out[0] = '\0';
	if (f && st && XXH3_64bits_reset(st) == XXH_OK) {
		while ((n = fread(buf, 1, sizeof buf, f)) > 0)
			XXH3_64bits_update(st, buf, n);
		snprintf(out, 17, "%016llx",
			 (unsigned long long)XXH3_64bits_digest(st));
	}
	if (f)
		fclose(f);
	XXH3_freeState(st);
}

static int prepare_dir(struct run *r)
{
	char want[PATH_MAX], path[PATH_MAX], err[512];
	struct stat st;

	if (r->opts->dir)
		snprintf(want, sizeof want, "%s", r->opts->dir);
	else
		default_dir(r, want, sizeof want);
	if (make_dirs(want) < 0 || realpath(want, r->dir) == NULL) {
		fail(want, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof path, "%s/store", r->dir);
	if (stat(path, &st) == 0) {
		fail(r->dir, "already holds an experiment (choose another "
			     "--dir; `maggy-engine show` reads it, and "
			     "`maggy-engine resume` continues it when it was "
			     "interrupted and is not a simulation)");
		return -1;
	}
	if (lock_dir(r->dir) < 0)
		return -1;
	if (r->bench)
		return 0; /* no executor connects to a simulation */
	snprintf(path, sizeof path, "%s/secret", r->dir);
	if (secret_create(path, r->secret, err, sizeof err) < 0) {
		fail("secret", err);
		return -1;
	}
	return 0;
}

static int open_store(struct run *r)
{
	char err[512], *text, hash[17];
	json_t *exp = json_deep_copy(r->config);

	if (store_open(&r->store, r->dir, STORE_WRITE, err, sizeof err) < 0) {
		fail("store", err);
		json_decref(exp);
		return -1;
	}
	store_set_nosync(r->store, r->opts->no_fsync || r->bench);
	json_object_set_new(exp, "script", json_string(r->script));
	json_object_set_new(exp, "dir", json_string(r->dir));
	json_object_set_new(exp, "workers", json_integer(r->opts->workers));
	script_hash(r->script, hash);
	json_object_set_new(exp, "script_hash", json_string(hash));
	if (r->bench)
		json_object_set_new(exp, "simulation", json_pack(
			"{s:s, s:s}", "benchmark", simbench_name(r->bench),
			"mode", r->opts->bsp ? "bsp" : "async"));
	text = json_dumps(exp, JSON_COMPACT | JSON_REAL_PRECISION(17));
	store_meta_put(r->store, "experiment", text);
	free(text);
	json_decref(exp);
	if (store_commit(r->store, err, sizeof err) < 0) {
		fail("store", err);
		return -1;
	}
	return 0;
}

/* ---- resuming ---------------------------------------------------------- */

static json_t *stored_meta(struct run *r, const char *key)
{
	char *text = NULL;
	json_t *obj = NULL;

	if (store_meta_get(r->store, key, &text) == 0)
		obj = json_loads(text, JSON_DECODE_ANY, NULL);
	free(text);
	return obj;
}

/*
 * The directory of the experiment to resume: locked, its store open, its
 * settings and secret read back. Returns 0, 1 when the experiment finished
 * already (nothing to do), or -1.
 */
static int open_for_resume(struct run *r)
{
	char err[512], path[PATH_MAX];
	json_t *status;
	int done;

	if (realpath(r->opts->resume, r->dir) == NULL) {
		fail(r->opts->resume, strerror(errno));
		return -1;
	}
	if (lock_dir(r->dir) < 0)
		return -1;
	if (store_open(&r->store, r->dir, STORE_WRITE, err, sizeof err) < 0 ||
	    (r->stored = stored_meta(r, "experiment")) == NULL) {
		fail(r->dir, "holds no experiment to resume");
		return -1;
	}
	status = stored_meta(r, "status");
	done = json_is_string(json_object_get(status, "status")) &&
	       strcmp(json_string_value(json_object_get(status, "status")),
		      "finished") == 0;
	json_decref(status);
	if (done) {
		printf("maggy-engine: %s: the experiment finished already; "
		       "nothing to resume (`maggy-engine show` prints its "
		       "summary)\n", r->dir);
		return 1;
	}
	if (json_object_get(r->stored, "simulation")) {
		fail(r->dir, "holds a simulation: run it again instead (it "
			     "takes seconds)");
		return -1;
	}
	snprintf(path, sizeof path, "%s/secret", r->dir);
	if (secret_load(path, r->secret, err, sizeof err) < 0) {
		fail("secret", err);
		return -1;
	}
	return 0;
}

/* A changed script would replay the journal into other strategies. */
static int check_script(struct run *r)
{
	const char *was = json_string_value(json_object_get(r->stored,
							   "script_hash"));
	char now[17];

	script_hash(r->script, now);
	if (was == NULL || strcmp(was, now) == 0)
		return 0;
	if (r->opts->force) {
		fprintf(stderr, "maggy-engine: %s changed since the experiment "
			"started; resuming with it anyway (--force)\n",
			r->script);
		return 0;
	}
	fail(r->script, "changed since the experiment started: resuming "
			"with another script could suggest other trials than "
			"the stored ones. Restore the script, or resume with "
			"--force to go on with the changed one");
	return -1;
}

/* ---- the loop --------------------------------------------------------- */

static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;
	int children = r->launcher ? launcher_alive(r->launcher) : 0;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if ((children == 0 && server_connections(r->server) == 0) ||
	    ts.tv_sec - r->drain_started > DRAIN_TIMEOUT_S)
		event_base_loopbreak(r->base);
}

static void done_cb(enum ctl_outcome outcome, void *arg)
{
	struct run *r = arg;
	struct timeval tv = { 0, 20000 };
	struct timespec ts;

	if (r->sim) {
		event_base_loopbreak(r->base);
		return;
	}
	if (r->launcher)
		launcher_stop(r->launcher, 3.0);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	r->drain_started = (double)ts.tv_sec;
	r->drain = event_new(r->base, -1, EV_PERSIST, drain_cb, r);
	event_add(r->drain, &tv);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct run *r = arg;

	if (++r->interrupts > 1) {
		console_line(stderr, "maggy-engine: interrupted again, leaving "
			     "now");
		event_base_loopbreak(r->base);
		return;
	}
	console_line(stderr, "\nmaggy-engine: %s received, ending the "
		     "experiment (finished trials are kept)",
		     strsignal((int)sig));
	ctl_abort(r->ctl, CTL_INTERRUPTED, "interrupted by a signal");
}

static int launcher_exited(void *arg, int slot, int pid, const char *how)
{
	struct run *r = arg;
	return ctl_executor_exited(r->ctl, pid, how);
}

/* A trial ran out of time: restart the process if it is one of ours. */
static int recycle(void *arg, const char *host, int pid)
{
	struct run *r = arg;

	if (r->launcher && strcmp(host, r->host) == 0)
		return launcher_kill(r->launcher, pid);
	return -1;
}

static void launcher_gave_up(void *arg, const char *why)
{
	struct run *r = arg;
	ctl_abort(r->ctl, CTL_FAILED, why);
}

static int start_launcher(struct run *r, char *secret_path)
{
	struct launcher_hooks hooks = { r, launcher_exited, launcher_gave_up };
	char err[512];

	r->launcher = launcher_new(r->base, paths_executor(), r->opts->workers,
				   server_address(r->server), secret_path,
				   &hooks, err, sizeof err);
	if (r->launcher == NULL || launcher_start(r->launcher, err, sizeof err) < 0) {
		fail("executors", err);
		return -1;
	}
	return 0;
}

/* Where to listen: --listen; when resuming without it, the address the
 * experiment had, so executors that outlived the engine find it again. */
static int start_server(struct run *r)
{
	struct server_handlers h = ctl_server_handlers(r->ctl);
	json_t *was = r->stored ? stored_meta(r, "address") : NULL;
	struct server_options so = {
		.listen = r->opts->listen ? r->opts->listen : "127.0.0.1:0",
		.max_body = PROTO_DEFAULT_MAX_BODY,
		.max_connections = r->opts->max_connections,
		.listen_fd = r->listen_fd,
	};
	char err[512], *text;

	if (r->opts->listen == NULL && json_is_string(was)) {
		struct server_options again = so;

		again.listen = json_string_value(was);
		r->server = server_new(r->base, &again, r->secret, &h, err,
				       sizeof err);
		if (r->server == NULL)
			fprintf(stderr, "maggy-engine: cannot listen on %s "
				"again (%s); executors started elsewhere must "
				"be pointed at the new address\n",
				json_string_value(was), err);
	}
	json_decref(was);
	if (r->server == NULL) {
		r->server = server_new(r->base, &so, r->secret, &h, err,
				       sizeof err);
		r->listen_fd = -1; /* the server's now, or closed */
	}
	if (r->server == NULL) {
		fail("server", err);
		return -1;
	}
	was = json_string(server_address(r->server));
	text = json_dumps(was, JSON_ENCODE_ANY);
	store_meta_put(r->store, "address", text);
	free(text);
	json_decref(was);
	return 0;
}

/* The virtual executors; the controller must read their clock. */
static int make_sim(struct run *r)
{
	struct sim_options o = {
		.workers = r->opts->workers, .bsp = r->opts->bsp,
		.seed = (uint64_t)json_integer_value(
			json_object_get(r->config, "seed")),
		.dir = r->dir, .direction = r->cc.direction,
		.es_interval = strcmp(json_string_value(json_object_get(
				      r->config, "earlystop")), "none") == 0
				       ? 0 : r->cc.es_interval,
		.trials = r->cc.num_trials,
	};
	char err[512];

	r->sim = sim_new(r->base, r->bench, &o, err, sizeof err);
	if (r->sim == NULL) {
		fail("simulate", err);
		return -1;
	}
	r->cc.simulated = 1;
	r->cc.commit_interval = SIM_COMMIT_S;
	r->cc.liveness_timeout = 0; /* virtual executors are never silent */
	r->cc.trial_lines = 0; /* the console's lines at each tenth */
	r->cc.clock = sim_clock;
	r->cc.clock_arg = r->sim;
	return 0;
}

static int start_services(struct run *r)
{
	char err[512], secret_path[PATH_MAX];

	r->base = event_base_new();
	if (r->base == NULL || (r->bench && make_sim(r) < 0))
		return -1;
	if (r->sim == NULL) /* also while a resume replays the journal */
		lhost_collect_eagerly(r->lhost);
	r->ctl = ctl_new(r->base, r->store, r->lhost, &r->cc, err, sizeof err);
	if (r->ctl == NULL) {
		fail("engine", err);
		return -1;
	}
	if (r->stored && (resume_strategies(r->store, r->lhost, err,
					    sizeof err) < 0 ||
			  ctl_restore(r->ctl, err, sizeof err) < 0)) {
		fail("resume", err);
		return -1;
	}
	ctl_on_recycle(r->ctl, recycle, r);
	if (r->sim ? sim_attach(r->sim, r->ctl, err, sizeof err) < 0
		   : start_server(r) < 0) {
		if (r->sim)
			fail("simulate", err);
		return -1;
	}
	ctl_on_done(r->ctl, done_cb, r);
	if (lhost_start(r->lhost, err, sizeof err) < 0) {
		fail("Lua", err);
		return -1;
	}
	/* Ctrl-C, kill, and a terminal closed (an ssh session dropped): the
	 * same clean stop */
	r->sigint = evsignal_new(r->base, SIGINT, signal_cb, r);
	r->sigterm = evsignal_new(r->base, SIGTERM, signal_cb, r);
	r->sighup = evsignal_new(r->base, SIGHUP, signal_cb, r);
	event_add(r->sigint, NULL);
	event_add(r->sigterm, NULL);
	event_add(r->sighup, NULL);
	snprintf(secret_path, sizeof secret_path, "%s/secret", r->dir);
	return r->opts->workers > 0 && !r->sim ? start_launcher(r, secret_path)
						: 0;
}

/* A benchmark whose metric says which way it goes, simulated the other
 * way, finds the worst trials as its best: say so before it runs. */
static void check_direction(const struct run *r)
{
	const char *wants, *metric = simbench_metric(r->bench, &wants);

	if (wants && strcmp(wants, r->cc.direction) != 0)
		fprintf(stderr, "maggy-engine: warning: %s's metric (%s) is to "
			"be %s, but the experiment says direction = \"%s\": "
			"its best trial will be the worst one (set direction = "
			"\"%s\")\n", simbench_name(r->bench), metric,
			strcmp(wants, "max") == 0 ? "maximized" : "minimized",
			r->cc.direction, wants);
}

/* How the local executors share the GPUs, for the banner. */
static const char *gpu_share(const struct run *r)
{
	static char text[96];
	int gpus = launcher_gpus(r->launcher);

	if (gpus == 0)
		return "";
	if (r->opts->workers <= gpus)
		return ", one GPU each";
	snprintf(text, sizeof text, " on %d GPU%s (CUDA_VISIBLE_DEVICES = "
		 "slot mod %d)", gpus, gpus > 1 ? "s" : "", gpus);
	return text;
}

static void banner(const struct run *r)
{
	printf("maggy-engine: experiment '%s': %ld trials, optimizer %s, "
	       "early stop %s, %s %s\n",
	       r->cc.name, r->cc.num_trials,
	       json_string_value(json_object_get(r->config, "optimizer")),
	       json_string_value(json_object_get(r->config, "earlystop")),
	       r->cc.direction, r->cc.metric);
	if (r->sim)
		printf("maggy-engine: simulating on %s with %d %s executors; "
		       "results in %s\n", simbench_name(r->bench),
		       r->opts->workers, r->opts->bsp ? "BSP" : "async", r->dir);
	if (r->sim)
		check_direction(r);
	else if (r->opts->workers > 0)
		printf("maggy-engine: %d local executor%s%s; listening on %s; "
		       "results in %s\n", r->opts->workers,
		       r->opts->workers == 1 ? "" : "s", gpu_share(r),
		       server_address(r->server), r->dir);
	else
		printf("maggy-engine: waiting for executors on %s (secret in "
		       "%s/secret); results in %s\n", server_address(r->server),
		       r->dir, r->dir);
	if (r->stored) {
		struct console_status st = { 0 };
		long ended;

		ctl_console_status(r->ctl, &st);
		ended = st.finished + st.stopped + st.failed;
		printf("maggy-engine: resuming: %ld of %ld trials ended and are "
		       "kept (%ld finished, %ld early-stopped, %ld failed); "
		       "the other %ld run, interrupted ones again\n", ended,
		       st.total, st.finished, st.stopped, st.failed,
		       st.total - ended);
	}
	fflush(stdout);
}

/* ---- the end ---------------------------------------------------------- */

/* What the server refused, added to what earlier runs of this experiment
 * refused (resume), queued as the store's "connections" meta for the
 * summary. */
static void save_connection_stats(struct run *r)
{
	struct server_stats st;
	json_t *was = stored_meta(r, "connections"), *now;
	char *text;

	if (r->server == NULL)
		return;
	server_stats(r->server, &st);
	now = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			"failed_handshakes", (json_int_t)st.auth_failures,
			"rate_limited", (json_int_t)st.rate_limited,
			"hello_timeouts", (json_int_t)st.hello_timeouts,
			"evicted", (json_int_t)st.evicted,
			"protocol_errors", (json_int_t)st.protocol_errors,
			"slow_readers", (json_int_t)st.slow_readers,
			"accept_pauses", (json_int_t)st.accept_pauses);
	if (now && json_is_object(was)) {
		const char *key;
		json_t *v;

		json_object_foreach(now, key, v)
			json_integer_set(v, json_integer_value(v) +
				json_integer_value(json_object_get(was, key)));
	}
	text = now ? json_dumps(now, JSON_COMPACT) : NULL;
	if (text)
		store_meta_put(r->store, "connections", text);
	free(text);
	json_decref(now);
	json_decref(was);
}

/* The summary of what the store holds; when its last commit failed, the
 * status is the run's own (the store's is stale), and the run failed. */
static int report(struct run *r, int saved)
{
	char err[512], path[PATH_MAX];
	const char *error;
	enum ctl_outcome outcome = ctl_outcome(r->ctl, &error);
	json_t *sum = summary_build(r->store, r->dir, 0, err, sizeof err);

	if (sum == NULL) {
		fail("summary", err);
		return EXIT_FAILED;
	}
	if (!saved) {
		outcome = CTL_FAILED;
		json_object_set_new(sum, "status", json_string("failed"));
		json_object_set_new(sum, "error", json_string(
			error ? error : "the store could not be written"));
	}
	summary_print(sum, stdout, r->opts->verbose);
	if (r->sim && sim_report(r->sim, err, sizeof err) < 0)
		fail("simulate", err);
	snprintf(path, sizeof path, "%s/summary.json", r->dir);
	if (summary_write(sum, r->store, path, err, sizeof err) < 0)
		fail("summary", err);
	json_decref(sum);
	if (outcome == CTL_FINISHED)
		return EXIT_OK;
	return outcome == CTL_INTERRUPTED ? EXIT_INTERRUPTED : EXIT_FAILED;
}

static void cleanup(struct run *r)
{
	dashboard_stop(r->dashboard);
	if (r->dashboard_fd >= 0)
		close(r->dashboard_fd);
	if (r->listen_fd >= 0)
		close(r->listen_fd);
	launcher_free(r->launcher);
	server_free(r->server);
	ctl_free(r->ctl);
	sim_free(r->sim);
	simbench_close(r->bench);
	if (r->drain)
		event_free(r->drain);
	if (r->sigint)
		event_free(r->sigint);
	if (r->sigterm)
		event_free(r->sigterm);
	if (r->sighup)
		event_free(r->sighup);
	if (r->base)
		event_base_free(r->base);
	lhost_free(r->lhost);
	store_close(r->store);
	json_decref(r->config);
	json_decref(r->stored);
}

/* The experiment's directory and store: a new one, or (resume) the one
 * to continue. Returns 0, 1 when there is nothing to do, or -1. */
static int open_experiment(struct run *r)
{
	int rc;

	if (r->opts->resume == NULL)
		return load_experiment(r) < 0 || prepare_dir(r) < 0 ||
		       open_store(r) < 0 ? -1 : 0;
	rc = open_for_resume(r);
	if (rc != 0)
		return rc;
	return load_experiment(r) < 0 || check_script(r) < 0 ? -1 : 0;
}

/* What the last commit could not write is lost: say so. */
static int final_commit(struct run *r)
{
	char err[512];
	size_t queued;

	ctl_flush_trials(r->ctl);
	queued = store_pending(r->store);
	if (store_commit(r->store, err, sizeof err) == 0)
		return 0;
	fprintf(stderr, "maggy-engine: the store could not be written (%s): "
		"%zu writes are lost, among them the experiment's final state "
		"and possibly the last results; `maggy-engine resume %s` runs "
		"again what was not saved\n", err, queued, r->dir);
	return -1;
}

/* One parameter of a described space: "lr DOUBLE [1e-05, 0.1] log". */
static void print_param(const json_t *p)
{
	const json_t *values = json_object_get(p, "values"), *v;
	char num[NUMTEXT_SIZE], *copy;
	size_t i;

	printf("    %s %s", json_string_value(json_object_get(p, "name")),
	       json_string_value(json_object_get(p, "type")));
	if (values) {
		json_array_foreach(values, i, v) {
			printf("%s%s", i ? ", " : " [",
			       summary_value_text(v, 0, num, &copy));
			free(copy);
		}
		printf("]");
	} else {
		printf(" [%.6g, %.6g]%s",
		       json_number_value(json_object_get(p, "low")),
		       json_number_value(json_object_get(p, "high")),
		       json_is_true(json_object_get(p, "log")) ? " log" : "");
	}
	printf("\n");
}

/* The study's ablator and what it leaves out, the first MAX_SHOWN items. */
static void print_study(const json_t *study)
{
	enum { MAX_SHOWN = 20 };
	const json_t *items = json_object_get(study, "items"), *item;
	size_t i;

	printf("  ablation: %s, %lld repeat%s",
	       json_string_value(json_object_get(study, "ablator")),
	       (long long)json_integer_value(json_object_get(study, "repeats")),
	       json_integer_value(json_object_get(study, "repeats")) == 1 ? "" : "s");
	if (json_array_size(items))
		printf(", %zu item%s to leave out:", json_array_size(items),
		       json_array_size(items) == 1 ? "" : "s");
	printf("\n");
	json_array_foreach(items, i, item) {
		if (i == MAX_SHOWN) {
			printf("    ... and %zu more\n", json_array_size(items) - i);
			break;
		}
		printf("    %s\n", json_string_value(item));
	}
}

/* Whether module (dots for packages) is a .py file or a package in one of
 * the training function's folders. */
static int module_found(const json_t *train)
{
	const char *module = json_string_value(json_object_get(train, "module"));
	char rel[PATH_MAX], path[PATH_MAX * 2];
	const json_t *dir;
	size_t i;

	snprintf(rel, sizeof rel, "%s", module ? module : "");
	for (char *c = rel; *c; c++)
		if (*c == '.')
			*c = '/';
	json_array_foreach(json_object_get(train, "python_path"), i, dir) {
		snprintf(path, sizeof path, "%s/%s.py", json_string_value(dir), rel);
		if (access(path, R_OK) == 0)
			return 1;
		snprintf(path, sizeof path, "%s/%s/__init__.py",
			 json_string_value(dir), rel);
		if (access(path, R_OK) == 0)
			return 1;
	}
	return 0;
}

/* `check`: what the script would run, from the settings it loaded to. */
static void describe_experiment(const struct run *r)
{
	const json_t *train = json_object_get(r->config, "train");
	const json_t *p;
	size_t i;

	json_array_foreach(json_object_get(r->config, "logs"), i, p)
		if (json_is_string(p))
			printf("[strategy] %s\n", json_string_value(p));
	printf("%s: experiment '%s' loads: %ld trials, optimizer %s, early stop "
	       "%s, %s %s, seed %lld\n", r->script, r->cc.name,
	       r->cc.num_trials,
	       json_string_value(json_object_get(r->config, "optimizer")),
	       json_string_value(json_object_get(r->config, "earlystop")),
	       r->cc.direction, r->cc.metric,
	       (long long)json_integer_value(json_object_get(r->config, "seed")));
	if (train)
		printf("  train: %s:%s, imported from %s\n",
		       json_string_value(json_object_get(train, "module")),
		       json_string_value(json_object_get(train, "function")),
		       json_string_value(json_array_get(json_object_get(
			       train, "python_path"), 0)));
	if (train && !module_found(train))
		printf("  warning: no %s.py there: the executors' Python must "
		       "find it elsewhere, or every trial fails to import it\n",
		       json_string_value(json_object_get(train, "module")));
	printf("  space:\n");
	json_array_foreach(json_object_get(r->config, "space"), i, p)
		print_param(p);
	if (json_object_get(r->config, "ablation"))
		print_study(json_object_get(r->config, "ablation"));
}

int run_experiment(const struct run_options *opts)
{
	struct run r = { .opts = opts, .dashboard_fd = -1, .listen_fd = -1 };
	char err[512];
	int rc, saved;

	if (opts->check) {
		rc = load_experiment(&r) < 0 ? EXIT_USAGE : EXIT_OK;
		if (rc == EXIT_OK)
			describe_experiment(&r);
		goto out;
	}
	/* the addresses asked for, bound before anything is made: one in
	 * use refuses the run and leaves no experiment behind */
	if (opts->listen && !opts->benchmark &&
	    (r.listen_fd = netaddr_listen(opts->listen, SERVER_LISTEN_BACKLOG,
					  err, sizeof err)) < 0) {
		fail("--listen", err);
		rc = EXIT_USAGE;
		goto out;
	}
	if (opts->dashboard &&
	    (r.dashboard_fd = dashboard_listen(opts->dashboard, err,
					       sizeof err)) < 0) {
		fail("--dashboard", err);
		rc = EXIT_USAGE;
		goto out;
	}
	rc = open_experiment(&r);
	signal(SIGPIPE, SIG_IGN);
	if (rc != 0) {
		rc = rc > 0 ? EXIT_OK : EXIT_USAGE;
		goto out;
	}
	rc = EXIT_FAILED;
	if (start_services(&r) < 0)
		goto out;
	banner(&r);
	if (r.dashboard_fd >= 0) {
		r.dashboard = dashboard_spawn(r.dir, opts->dashboard,
					      r.dashboard_fd, err, sizeof err);
		r.dashboard_fd = -1;
	}
	if (r.dashboard < 0)
		console_line(stderr, "maggy-engine: %s", err);
	ctl_start(r.ctl);
	console_start(r.base, opts->progress, opts->progress_every,
		      r.sim != NULL, ctl_console_status, r.ctl);
	event_base_dispatch(r.base);
	console_stop();
	if (ctl_outcome(r.ctl, NULL) == CTL_RUNNING)
		ctl_abort(r.ctl, CTL_INTERRUPTED, "the engine loop stopped");
	save_connection_stats(&r);
	saved = final_commit(&r) == 0;
	rc = report(&r, saved);
	if (r.dashboard > 0 && waitpid(r.dashboard, NULL, WNOHANG) != 0)
		r.dashboard = 0; /* it ended, and said why */
	if (r.dashboard > 0) {
		/* open pages poll once more and show the end */
		printf("dashboard: closes in %d s; `maggy-engine dashboard %s` "
		       "serves it again\n", DASHBOARD_LINGER_S, r.dir);
		sleep(DASHBOARD_LINGER_S);
	}
out:
	cleanup(&r);
	return rc;
}
