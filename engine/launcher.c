/* launcher: local executor processes. See launcher.h. */
#include "launcher.h"
#include "console.h"
#include "gpus.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define QUICK_DEATH_S 2.0  /* a child that lived less than this died "quickly" */
#define MAX_QUICK_DEATHS 8 /* in a row, per slot, before giving up */
#define MAX_DELAY_S 5.0
/* maggy-executor's exit status once it ran the experiment's
 * max_trials_per_executor (lib/executor/diag.h): start a fresh one. */
#define EXEC_RECYCLED 5
/* What a local executor gets when the engine dies: it ends its process
 * group (lib/executor/diag.h, EXEC_ENGINE_GONE_SIGNAL). */
#define ENGINE_GONE_SIGNAL (SIGRTMIN + 1)

struct slot {
	launcher_t *l;
	int index;
	pid_t pid; /* 0 when not running */
	int attempt;
	int quick_deaths;
	int killed;	/* by the engine (launcher_kill): not a quick death */
	double started;
	struct event *restart_timer;
};

struct launcher {
	struct event_base *base;
	char *executor, *driver, *secret_file;
	struct launcher_hooks hooks;
	int n;
	struct slot *slots;
	struct event *sigchld;
	struct event *term_timer, *kill_timer;
	int stopping;
	struct gpus gpus; /* the slots' devices, none if n == 0 */
};

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

extern char **environ;

/* Whether the child gets `entry` of the engine's environment as it is: not
 * when the launcher sets it itself. */
static int inherited(const launcher_t *l, const char *entry)
{
	static const char *const ours[] = { "MAGGY_DRIVER=", "MAGGY_SECRET_FILE=",
					    "MAGGY_SECRET=", "MAGGY_SLOT=",
					    "MAGGY_ATTEMPT=",
					    "MAGGY_LOCAL_EXECUTOR=" };
	size_t i;

	for (i = 0; i < sizeof ours / sizeof *ours; i++)
		if (strncmp(entry, ours[i], strlen(ours[i])) == 0)
			return 0;
	return l->gpus.n == 0 ||
	       strncmp(entry, "CUDA_VISIBLE_DEVICES=", 21) != 0;
}

static void free_env(char **env)
{
	char **p;

	for (p = env; p && *p; p++)
		free(*p);
	free(env);
}

/* The child's environment, built before fork(): ours plus the engine's. */
static char **child_env(launcher_t *l, struct slot *s)
{
	size_t n = 0, i = 0;
	char **env, **p;

	for (p = environ; *p; p++)
		n++;
	env = calloc(n + 7, sizeof *env);
	if (env == NULL)
		return NULL;
	for (p = environ; *p; p++)
		if (inherited(l, *p) && (env[i++] = strdup(*p)) == NULL)
			goto fail;
	if (asprintf(&env[i++], "MAGGY_DRIVER=%s", l->driver) < 0 ||
	    asprintf(&env[i++], "MAGGY_SECRET_FILE=%s", l->secret_file) < 0 ||
	    asprintf(&env[i++], "MAGGY_SLOT=%d", s->index) < 0 ||
	    asprintf(&env[i++], "MAGGY_ATTEMPT=%d", s->attempt) < 0 ||
	    (env[i++] = strdup("MAGGY_LOCAL_EXECUTOR=1")) == NULL ||
	    (l->gpus.n > 0 && asprintf(&env[i++], "CUDA_VISIBLE_DEVICES=%s",
				       gpus_of_slot(&l->gpus, s->index)) < 0))
		goto fail;
	return env;
fail:
	env[i - 1] = NULL; /* undefined after a failed asprintf */
	free_env(env);
	return NULL;
}

/* In the child: own process group (a terminal's Ctrl-C goes to the engine
 * alone, and the engine's signals reach whatever the training function
 * started), die with the engine and take the group along, run the shim. */
static void exec_child(launcher_t *l, pid_t engine, char **env)
{
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, ENGINE_GONE_SIGNAL);
	if (getppid() != engine) /* the engine died before prctl */
		_exit(127);
	execve(l->executor, (char *[]){ l->executor, NULL }, env);
	_exit(127);
}

static int spawn(launcher_t *l, struct slot *s)
{
	char **env;
	pid_t pid, engine = getpid();

	s->attempt++;
	env = child_env(l, s);
	if (env == NULL)
		return -1;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0)
		exec_child(l, engine, env);
	free_env(env);
	if (pid < 0)
		return -1;
	/* as the child does: its group exists before either goes on, so a
	 * signal to it right away (a stop) cannot miss */
	setpgid(pid, pid);
	s->pid = pid;
	s->killed = 0;
	s->started = mono_now();
	return 0;
}

static void restart_cb(evutil_socket_t fd, short what, void *arg)
{
	struct slot *s = arg;

	if (!s->l->stopping && s->pid == 0 && spawn(s->l, s) < 0)
		console_line(stderr, "maggy-engine: cannot restart "
			     "executor slot %d: %s", s->index, strerror(errno));
}

static void describe_status(int status, char *out, size_t len)
{
	if (WIFEXITED(status))
		snprintf(out, len, "exit code %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, len, "signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(out, len, "status %d", status);
}

/* `trial_died`: it died running a trial, which answers for it. */
static void schedule_restart(launcher_t *l, struct slot *s, int status,
			     int trial_died)
{
	char how[64], why[256];
	double delay;
	struct timeval tv;

	if (WIFEXITED(status) && WEXITSTATUS(status) == EXEC_RECYCLED) {
		event_active(s->restart_timer, EV_TIMEOUT, 0); /* a fresh one */
		return;
	}
	describe_status(status, how, sizeof how);
	s->quick_deaths = !trial_died && !s->killed &&
				  mono_now() - s->started < QUICK_DEATH_S
				  ? s->quick_deaths + 1 : 0;
	if (s->quick_deaths >= MAX_QUICK_DEATHS) {
		snprintf(why, sizeof why, "executor slot %d exited %d times in "
			 "a row right after starting (last: %s)", s->index,
			 s->quick_deaths, how);
		l->hooks.gave_up(l->hooks.arg, why);
		return;
	}
	console_line(stderr, "maggy-engine: executor slot %d exited (%s); "
		     "restarting it", s->index, how);
	delay = s->quick_deaths ? 0.1 * (1 << s->quick_deaths) : 0;
	if (delay > MAX_DELAY_S)
		delay = MAX_DELAY_S;
	tv.tv_sec = (time_t)delay;
	tv.tv_usec = (suseconds_t)((delay - (double)tv.tv_sec) * 1e6);
	evtimer_add(s->restart_timer, &tv);
}

static struct slot *slot_of(launcher_t *l, pid_t pid)
{
	int i;

	for (i = 0; i < l->n; i++)
		if (l->slots[i].pid == pid)
			return &l->slots[i];
	return NULL;
}

static void sigchld_cb(evutil_socket_t fd, short what, void *arg)
{
	launcher_t *l = arg;
	pid_t pid;
	int status, trial_died;
	char how[64];

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct slot *s = slot_of(l, pid);
		if (s == NULL)
			continue;
		s->pid = 0;
		/* what the trial started (a Pool's workers, a child process)
		 * ends with its executor: it would hold the executor's
		 * connection and a CPU */
		kill(-pid, SIGKILL);
		if (l->stopping)
			continue;
		describe_status(status, how, sizeof how);
		trial_died = l->hooks.exited(l->hooks.arg, s->index, (int)pid,
					     how);
		if (!l->stopping)
			schedule_restart(l, s, status, trial_died);
	}
}

launcher_t *launcher_new(struct event_base *base, const char *executor,
			 int n, const char *driver, const char *secret_file,
			 const struct launcher_hooks *hooks, char *err,
			 size_t errlen)
{
	launcher_t *l = calloc(1, sizeof *l);
	int i;

	if (l == NULL || (l->slots = calloc((size_t)n, sizeof *l->slots)) == NULL)
		goto fail;
	l->base = base;
	l->n = n;
	l->hooks = *hooks;
	l->executor = strdup(executor);
	l->driver = strdup(driver);
	l->secret_file = strdup(secret_file);
	l->sigchld = evsignal_new(base, SIGCHLD, sigchld_cb, l);
	if (!l->executor || !l->driver || !l->secret_file || !l->sigchld ||
	    gpus_find(&l->gpus) < 0)
		goto fail;
	for (i = 0; i < n; i++) {
		l->slots[i].l = l;
		l->slots[i].index = i;
		l->slots[i].restart_timer = evtimer_new(base, restart_cb,
							&l->slots[i]);
	}
	event_add(l->sigchld, NULL);
	return l;
fail:
	snprintf(err, errlen, "cannot prepare %d executors: out of memory", n);
	launcher_free(l);
	return NULL;
}

int launcher_start(launcher_t *l, char *err, size_t errlen)
{
	int i;

	if (access(l->executor, X_OK) != 0) {
		snprintf(err, errlen, "executor binary %s: %s (build it, or "
			 "set MAGGY_EXECUTOR)", l->executor, strerror(errno));
		return -1;
	}
	for (i = 0; i < l->n; i++) {
		if (spawn(l, &l->slots[i]) < 0) {
			snprintf(err, errlen, "cannot start executor %d: %s", i,
				 strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void signal_all(launcher_t *l, int sig)
{
	int i;

	for (i = 0; i < l->n; i++)
		if (l->slots[i].pid > 0)
			kill(-l->slots[i].pid, sig); /* its process group */
}

int launcher_kill(launcher_t *l, int pid)
{
	struct slot *s = pid > 0 ? slot_of(l, pid) : NULL;

	if (s == NULL)
		return -1;
	s->killed = 1;
	kill(-pid, SIGKILL); /* its process group */
	return 0;
}

static void term_cb(evutil_socket_t fd, short what, void *arg)
{
	signal_all(arg, SIGTERM);
}

static void kill_cb(evutil_socket_t fd, short what, void *arg)
{
	signal_all(arg, SIGKILL);
}

void launcher_stop(launcher_t *l, double grace_s)
{
	struct timeval term = { (time_t)grace_s, 0 };
	struct timeval kill9 = { (time_t)(2 * grace_s) + 1, 0 };
	int i;

	l->stopping = 1;
	for (i = 0; i < l->n; i++)
		evtimer_del(l->slots[i].restart_timer);
	l->term_timer = evtimer_new(l->base, term_cb, l);
	l->kill_timer = evtimer_new(l->base, kill_cb, l);
	evtimer_add(l->term_timer, &term);
	evtimer_add(l->kill_timer, &kill9);
}

int launcher_gpus(const launcher_t *l)
{
	return l->gpus.n;
}

int launcher_alive(const launcher_t *l)
{
	int i, n = 0;

	for (i = 0; i < l->n; i++)
		n += l->slots[i].pid > 0;
	return n;
}

void launcher_free(launcher_t *l)
{
	int i;

	if (l == NULL)
		return;
	if (l->slots) {
		signal_all(l, SIGKILL);
		for (i = 0; i < l->n; i++) {
			if (l->slots[i].pid > 0)
				waitpid(l->slots[i].pid, NULL, 0);
			if (l->slots[i].restart_timer)
				event_free(l->slots[i].restart_timer);
		}
	}
	if (l->sigchld)
		event_free(l->sigchld);
	if (l->term_timer)
		event_free(l->term_timer);
	if (l->kill_timer)
		event_free(l->kill_timer);
	free(l->slots);
	free(l->executor);
	free(l->driver);
	free(l->secret_file);
	gpus_free(&l->gpus);
	free(l);
}
