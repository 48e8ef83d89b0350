/* lhost: the Lua host thread, its job queues and its watchdog. See lhost.h. */
#include "lhost.h"

#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define GRACE_S 2.0	    /* after the hook is armed, before we give up */
#define WATCH_PERIOD_MS 100 /* how often the watchdog looks */
#define INTERRUPT_SIGNAL SIGUSR2 /* watchdog -> Lua thread: time is up */
#define DEFAULT_MEMORY_MIB 1024   /* until lhost_limits() sets the experiment's */
#define MEM_HEADROOM (1u << 20) /* after a refusal: for the error itself */
#define LOAD_TIMEOUT_S 10.0	/* until lhost_limits() sets the experiment's */

struct job {
	int tag;
	char *json;
	struct job *next;
};

struct lhost {
	lua_State *L;
	char *script_path;
	int runtime_ref; /* registry ref of the maggy.runtime table */
	double timeout_s;

	/* The state's allocator, behind a limit (one thread at a time uses
	 * the state, so plain fields do). */
	lua_Alloc base_alloc;
	void *base_ud;
	size_t mem_used, mem_limit;
	int mem_refused; /* an allocation was refused since the last job */
	int mem_spent;   /* a call failed for memory: the state is full, and
			  * never entered again (it cannot push a name) */

	pthread_t thread, watchdog;
	pthread_t runner; /* the thread in the watched call: the caller's
			     before lhost_start(), then the Lua thread */
	int started, watching;
	int sync; /* the watched call is lhost_load()'s or lhost_call()'s */
	int limits_set; /* lhost_limits() was called */
	pthread_mutex_t mu;
	pthread_cond_t jobs_cv;	 /* the Lua thread waits here for a job */
	pthread_cond_t watch_cv; /* the watchdog sleeps here between looks:
				    apart, so a job posted wakes no one else */
	int quit;
	int dead; /* a job was abandoned: no more jobs */
	struct job *jobs, *jobs_tail;
	struct lhost_result *results, *results_tail;
	int wake_fd;

	/* What the watchdog watches, under mu. */
	int busy;
	int busy_tag;
	const char *busy_what; /* which strategy call the job makes */
	double deadline;
	double hooked_at; /* 0 when the interruption was not asked for yet */
	/* The job the Lua thread runs, and the one the watchdog wants
	 * interrupted: read by the signal handler, hence lock-free atomics. */
	atomic_uint job_no, interrupt_job;
};

/* The host whose state this thread runs (set on that thread only: the Lua
 * thread, or the caller of lhost_load() and lhost_call() during the call). */
static _Thread_local lhost_t *this_host;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *dup_printf(const char *fmt, const char *arg)
{
	size_t n = strlen(fmt) + strlen(arg) + 1;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, fmt, arg);
	return s;
}

static int in_library(const lua_Debug *ar, const char *lua_dir)
{
	size_t n = strlen(lua_dir);

	return ar->source[0] == '@' && strncmp(ar->source + 1, lua_dir, n) == 0;
}

/* The frame of the file that msg's "FILE:LINE: " names (Lua writes FILE
 * shortened, "...", when long): fills *ar and returns the length of
 * "FILE:LINE: ", or 0 when no Lua file on the stack matches. */
static size_t position_frame(lua_State *L, const char *msg, lua_Debug *ar)
{
	size_t n;
	const char *p;

	for (int level = 1; lua_getstack(L, level, ar); level++) {
		if (!lua_getinfo(L, "Sl", ar) || ar->source[0] != '@')
			continue;
		n = strlen(ar->short_src);
		if (strncmp(msg, ar->short_src, n) != 0 || msg[n] != ':')
			continue;
		for (p = msg + n + 1; *p >= '0' && *p <= '9'; p++)
			;
		if (p > msg + n + 1 && p[0] == ':' && p[1] == ' ')
			return (size_t)(p + 2 - msg);
	}
	return 0;
}

/* The innermost frame of a Lua file outside the library: the user's. */
static int user_frame(lua_State *L, const char *lua_dir, lua_Debug *ar)
{
	for (int level = 1; lua_getstack(L, level, ar); level++)
		if (lua_getinfo(L, "Sl", ar) && ar->source[0] == '@' &&
		    ar->currentline > 0 && !in_library(ar, lua_dir))
			return 1;
	return 0;
}

/* The runtime calls the strategy's methods and raises no error at a line
 * of its own: an error placed there was raised by the library for the
 * strategy's code, which made the call as `return f(...)`. That tail call
 * took the caller's frame off the stack, and with it the caller's line. */
static int blames_runtime(const lua_Debug *ar, const char *lua_dir)
{
	static const char file[] = "/maggy/runtime.lua";
	size_t n = strlen(ar->source), k = sizeof file - 1;

	return in_library(ar, lua_dir) && n > k &&
	       strcmp(ar->source + n - k, file) == 0;
}

/* Pushes the message as the user should read it: an error raised inside
 * the library on behalf of the user's code (a bad option, a nil handed to
 * space:to_unit) at the user's line, and every file with its whole path
 * (Lua shortens long ones to "..."). */
static void push_user_message(lua_State *L, const char *msg)
{
	const char *lua_dir;
	lua_Debug at, user;
	size_t cut;

	lua_getfield(L, LUA_REGISTRYINDEX, "maggy.lua_dir");
	lua_dir = lua_tostring(L, -1);
	cut = lua_dir ? position_frame(L, msg, &at) : 0;
	if (cut && in_library(&at, lua_dir) && user_frame(L, lua_dir, &user))
		lua_pushfstring(L, "%s:%d: %s", user.source + 1,
				user.currentline, msg + cut);
	else if (cut && blames_runtime(&at, lua_dir))
		lua_pushfstring(L, "%s (in a call made as `return f(...)`: "
				"a tail call leaves no line of its caller "
				"to show; the traceback names the method)",
				msg + cut);
	else if (cut)
		lua_pushfstring(L, "%s%s", at.source + 1,
				msg + strlen(at.short_src));
	else
		lua_pushstring(L, msg);
	lua_remove(L, -2);
}

/* Message handler of the bridge: the error text (at the user's line when
 * the library raised it for them), then a traceback. Without room for the
 * traceback (a stack overflow), the text alone. */
static int traceback_handler(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);

	if (!lua_checkstack(L, LUA_MINSTACK))
		return 1;
	if (msg == NULL) { /* error(t) with a table, nil...: say where */
		luaL_where(L, 2);
		msg = lua_pushfstring(L, "%serror() was given a %s value, not "
				      "a message", lua_tostring(L, -1),
				      luaL_typename(L, 1));
	}
	push_user_message(L, msg);
	luaL_traceback(L, L, lua_tostring(L, -1), 1);
	return 1;
}

/*
 * THE protected call: the function and its `nargs` arguments are on the
 * stack. Returns 0 with `nresults` results pushed, or -1 with the stack
 * restored and *error (malloc'd) holding the message and traceback.
 */
static int bridge_pcall(lua_State *L, int nargs, int nresults, char **error)
{
	int base = lua_gettop(L) - nargs;
	int rc;

	lua_pushcfunction(L, traceback_handler);
	lua_insert(L, base);
	rc = lua_pcall(L, nargs, nresults, base);
	lua_remove(L, base);
	if (rc == 0)
		return 0;
	if (rc == LUA_ERRERR) /* LuaJIT's answer to a stack overflow */
		*error = strdup("the Lua stack overflowed (error in error "
				"handling): most often a function that calls "
				"itself without end");
	else
		*error = strdup(lua_tostring(L, -1) ? lua_tostring(L, -1)
						    : "unknown Lua error");
	lua_pop(L, 1);
	return -1;
}

static void abandon_for_memory(lhost_t *h);
static void interrupt_handler(int sig);
static void begin_watch(lhost_t *h, int tag, const char *json);
static void *watchdog_thread(void *arg);
static void wake(lhost_t *h);
static void push_result(lhost_t *h, int tag, char *json, char *error);

/*
 * Give up on the running call, with mu held: the job fails with `msg` and
 * the host takes no more. A call on the caller's thread (lhost_load(),
 * lhost_call()) has nobody to fail it to, and nothing has started yet:
 * the process ends, as for a script that does not load.
 */
static void abandon(lhost_t *h, const char *msg)
{
	if (h->sync) {
		fprintf(stderr, "maggy-engine: cannot load the experiment:\n%s\n",
			msg);
		_exit(LHOST_EXIT_ABANDONED);
	}
	h->dead = 1;
	push_result(h, h->busy_tag, NULL, strdup(msg));
	wake(h); /* with mu held; this is rare */
}

/* The state's allocator: LuaJIT's own, refusing to grow past mem_limit, so
 * a strategy that hoards memory gets "not enough memory" (call_runtime()
 * says which limit) instead of taking the machine. After a refusal the
 * error's own handling (a traceback) gets MEM_HEADROOM more; a strategy
 * that caught the error and asks for more than that is abandoned. */
static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	lhost_t *h = ud;
	size_t limit = h->mem_limit + (h->mem_refused ? MEM_HEADROOM : 0);
	void *out;

	if (nsize > osize && h->mem_used + (nsize - osize) > limit) {
		if (h->mem_refused && h->busy)
			abandon_for_memory(h); /* does not return */
		h->mem_refused = 1;
		return NULL;
	}
	out = h->base_alloc(h->base_ud, ptr, osize, nsize);
	if (out != NULL || nsize == 0)
		h->mem_used = h->mem_used + nsize > osize
				      ? h->mem_used + nsize - osize : 0;
	return out;
}

/* The message of a failed job: when it failed for memory, which limit. */
static void explain_memory(lhost_t *h, char **error)
{
	char msg[256];

	if (!h->mem_refused)
		return;
	h->mem_refused = 0;
	h->mem_spent = 1;
	snprintf(msg, sizeof msg, "the strategy needed more than %zu MiB of "
		 "memory (strategy_memory; the error was: %.80s)",
		 h->mem_limit >> 20, *error ? *error : "not enough memory");
	free(*error);
	*error = strdup(msg);
}

/* Call runtime[fname](args...) expecting one string back. */
static int call_runtime(lhost_t *h, const char *fname, const char *a1,
			const char *a2, char **out, char **error)
{
	lua_State *L = h->L;
	int nargs = a2 ? 2 : 1;

	if (h->mem_spent) { /* what follows allocates outside a pcall */
		*error = dup_printf("maggy.runtime.%s: the strategies' memory "
				    "is used up (strategy_memory)", fname);
		return -1;
	}
	lua_rawgeti(L, LUA_REGISTRYINDEX, h->runtime_ref);
	lua_getfield(L, -1, fname);
	lua_remove(L, -2);
	lua_pushstring(L, a1);
	if (a2)
		lua_pushstring(L, a2);
	h->mem_refused = 0;
	if (bridge_pcall(L, nargs, 1, error) < 0) {
		explain_memory(h, error);
		return -1;
	}
	if (lua_type(L, -1) != LUA_TSTRING) {
		*error = dup_printf("maggy.runtime.%s returned no string",
				    fname);
		lua_pop(L, 1);
		return -1;
	}
	*out = strdup(lua_tostring(L, -1));
	lua_pop(L, 1);
	return 0;
}

/*
 * What the state may load, set before any script runs: Lua modules from the
 * library folder only (a script's folder is searched by the sandbox's own
 * require, in the sandbox); the C modules the library uses (cjson) loaded
 * now, then no native loading at all; and no string.dump, which even a
 * sandboxed string can reach through the string metatable.
 */
static void confine_loading(lua_State *L, const char *lua_dir)
{
	static const char *const c_modules[] = { "cjson", "cjson.safe" };
	size_t i;

	lua_getglobal(L, "package");
	lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", lua_dir, lua_dir);
	lua_setfield(L, -2, "path");
	lua_pop(L, 1);
	for (i = 0; i < sizeof c_modules / sizeof c_modules[0]; i++) {
		lua_getglobal(L, "require");
		lua_pushstring(L, c_modules[i]);
		lua_call(L, 1, 0);
	}
	lua_getglobal(L, "package");
	lua_pushliteral(L, "");
	lua_setfield(L, -2, "cpath");
	lua_pop(L, 1);
	lua_getglobal(L, "string");
	lua_pushnil(L);
	lua_setfield(L, -2, "dump");
	lua_pop(L, 1);
}

/* The whole set-up of the state, run by lua_cpcall() so that an error or
 * a failed allocation in it is an error, never a panic: the libraries,
 * confine_loading(), then maggy.runtime, kept in the registry. */
static int setup_state(lua_State *L)
{
	lhost_t *h = lua_touserdata(L, 1);
	const char *lua_dir = lua_tostring(L, lua_upvalueindex(1));

	luaL_openlibs(L);
	confine_loading(L, lua_dir);
	lua_getglobal(L, "require");
	lua_pushliteral(L, "maggy.runtime");
	lua_call(L, 1, 1);
	h->runtime_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushlightuserdata(L, h);
	lua_setfield(L, LUA_REGISTRYINDEX, "maggy.lhost");
	lua_pushstring(L, lua_dir);
	lua_setfield(L, LUA_REGISTRYINDEX, "maggy.lua_dir");
	return 0;
}

/* lua_cpcall() with a string upvalue: the directory setup_state needs. */
static int setup_with_dir(lua_State *L)
{
	struct { lhost_t *h; const char *dir; } *a = lua_touserdata(L, 1);

	lua_pushstring(L, a->dir);
	lua_pushcclosure(L, setup_state, 1);
	lua_pushlightuserdata(L, a->h);
	lua_call(L, 1, 0);
	return 0;
}

lhost_t *lhost_new(const char *lua_dir, const char *script_path, char *err,
		   size_t errlen)
{
	lhost_t *h = calloc(1, sizeof *h);
	struct sigaction sa = { .sa_handler = interrupt_handler,
				.sa_flags = SA_RESTART };
	char *error = NULL;

	if (h == NULL)
		goto fail;
	h->wake_fd = -1;
	h->runtime_ref = LUA_NOREF;
	h->script_path = strdup(script_path);
	if (h->script_path == NULL)
		goto fail;
	h->L = luaL_newstate();
	if (h->L == NULL)
		goto fail;
	h->base_alloc = lua_getallocf(h->L, &h->base_ud);
	h->mem_used = (size_t)lua_gc(h->L, LUA_GCCOUNT, 0) * 1024 +
		      (size_t)lua_gc(h->L, LUA_GCCOUNTB, 0);
	h->mem_limit = (size_t)DEFAULT_MEMORY_MIB << 20;
	lua_setallocf(h->L, limited_alloc, h);
	{
		struct { lhost_t *h; const char *dir; } args = { h, lua_dir };
		if (lua_cpcall(h->L, setup_with_dir, &args) != 0) {
			error = strdup(lua_tostring(h->L, -1)
				       ? lua_tostring(h->L, -1)
				       : "out of memory");
			goto fail;
		}
	}
	h->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (h->wake_fd < 0)
		goto fail;
	h->timeout_s = LOAD_TIMEOUT_S;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->jobs_cv, NULL);
	pthread_cond_init(&h->watch_cv, NULL);
	sigemptyset(&sa.sa_mask);
	sigaction(INTERRUPT_SIGNAL, &sa, NULL);
	if ((errno = pthread_create(&h->watchdog, NULL, watchdog_thread,
				    h)) != 0)
		goto fail;
	h->watching = 1;
	return h;
fail:
	snprintf(err, errlen, "cannot start the Lua host: %s",
		 error ? error : (errno ? strerror(errno) : "out of memory"));
	free(error);
	if (h && h->wake_fd >= 0)
		close(h->wake_fd);
	if (h && h->L)
		lua_close(h->L);
	if (h)
		free(h->script_path);
	free(h);
	return NULL;
}

/* call_runtime() on the caller's thread, before lhost_start(), watched as
 * a job is: interrupted after timeout_s, the process ended when it cannot
 * be (abandon()). */
static int call_watched(lhost_t *h, const char *fname, const char *a1,
			const char *a2, char **out, char **error)
{
	int rc;

	pthread_mutex_lock(&h->mu);
	h->runner = pthread_self();
	h->sync = 1;
	begin_watch(h, -1, NULL);
	pthread_mutex_unlock(&h->mu);
	this_host = h;
	rc = call_runtime(h, fname, a1, a2, out, error);
	this_host = NULL;
	pthread_mutex_lock(&h->mu);
	h->busy = 0;
	h->sync = 0;
	lua_sethook(h->L, NULL, 0, 0);
	pthread_mutex_unlock(&h->mu);
	return rc;
}

int lhost_load(lhost_t *h, const char *options_json, char **config_json,
	       char **error)
{
	return call_watched(h, "load", h->script_path, options_json,
			    config_json, error);
}

int lhost_call(lhost_t *h, const char *fname, const char *arg, char **out,
	       char **error)
{
	return call_watched(h, fname, arg, NULL, out, error);
}

static void wake(lhost_t *h)
{
	uint64_t one = 1;
	ssize_t n = write(h->wake_fd, &one, sizeof one);
	(void)n; /* a full counter still wakes the reader */
}

/* Queue a result. Called with mu held; the caller wakes the loop thread,
 * after releasing mu when it can (woken first, the loop thread would only
 * wait for mu). */
static void push_result(lhost_t *h, int tag, char *json, char *error)
{
	struct lhost_result *r = calloc(1, sizeof *r);

	if (r == NULL) {
		free(json);
		free(error);
		return;
	}
	r->tag = tag;
	r->json = json;
	r->error = error;
	if (h->results_tail)
		h->results_tail->next = r;
	else
		h->results = r;
	h->results_tail = r;
}

/*
 * The strategy caught "not enough memory" and went on asking for more.
 * Raising the error again from JIT-compiled code crashes the LuaJIT of
 * Debian 12 (LuaJIT issues #1034 and #1247, fixed upstream later), and
 * handing the memory over would break the limit. So the job fails here,
 * like one that cannot be interrupted (watch_once()), and the Lua thread
 * stays parked in this call for good.
 */
static void abandon_for_memory(lhost_t *h)
{
	char msg[256];

	snprintf(msg, sizeof msg, "the strategy needed more than %zu MiB of "
		 "memory (strategy_memory) and went on after the error "
		 "(a pcall that catches it): the strategy was abandoned",
		 h->mem_limit >> 20);
	pthread_mutex_lock(&h->mu);
	abandon(h, msg);
	pthread_mutex_unlock(&h->mu);
	for (;;)
		pause();
}

/* Count hook armed by the watchdog: raise an error inside the strategy. */
static void timeout_hook(lua_State *L, lua_Debug *ar)
{
	lhost_t *h;

	lua_getfield(L, LUA_REGISTRYINDEX, "maggy.lhost");
	h = lua_touserdata(L, -1);
	lua_pop(L, 1);
	if (h && atomic_load(&h->interrupt_job) != atomic_load(&h->job_no)) {
		lua_sethook(L, NULL, 0, 0);
		return; /* a late signal meant for a job that has ended */
	}
	/* The hook stays armed until the job ends: a strategy that catches
	 * this error with pcall is interrupted again. */
	if (h && !h->limits_set)
		luaL_error(L, "loading the experiment took more than %f s (its "
			      "script with count() and initialize(); the "
			      "experiment's strategy_timeout applies once it "
			      "is loaded)", h->timeout_s);
	luaL_error(L, "strategy time limit exceeded: a call took more than "
		      "%f s (strategy_timeout)", h ? h->timeout_s : 0.0);
}

/*
 * The watchdog's signal, delivered on the Lua thread itself: arm a count
 * hook there, the way lua.c and luajit.c stop a script on Ctrl-C, so that
 * no other thread ever touches the lua_State.
 */
static void interrupt_handler(int sig)
{
	lhost_t *h = this_host;

	if (h && atomic_load(&h->interrupt_job) == atomic_load(&h->job_no))
		lua_sethook(h->L, timeout_hook, LUA_MASKCOUNT, 1000);
}

/* A watched call begins: the watchdog's clock starts. With mu held. */
/* Which strategy call a job (JSON, as the controller writes it) makes,
 * for the message of one that does not return. */
static const char *job_what(const char *json)
{
	if (json == NULL)
		return "a call";
	if (strstr(json, "\"op\":\"suggest\""))
		return "a call (the optimizer's suggest, or its observe of a "
		       "trial that ended before it)";
	if (strstr(json, "\"op\":\"check\""))
		return "a call (the early-stop rule's check, or the optimizer's "
		       "observe of a trial that ended before it)";
	if (strstr(json, "\"op\":\"finalize\""))
		return "a call (the optimizer's finalize, or an ablation "
		       "study's report)";
	return "a call (the optimizer's observe of a trial that ended)";
}

static void begin_watch(lhost_t *h, int tag, const char *json)
{
	h->busy = 1;
	h->busy_tag = tag;
	h->busy_what = job_what(json);
	atomic_fetch_add(&h->job_no, 1);
	h->deadline = now_s() + h->timeout_s;
	h->hooked_at = 0;
}

static struct job *next_job(lhost_t *h)
{
	struct job *j;

	pthread_mutex_lock(&h->mu);
	while (!h->quit && h->jobs == NULL)
		pthread_cond_wait(&h->jobs_cv, &h->mu);
	j = h->quit ? NULL : h->jobs;
	if (j) {
		h->jobs = j->next;
		if (h->jobs == NULL)
			h->jobs_tail = NULL;
		begin_watch(h, j->tag, j->json);
	}
	pthread_mutex_unlock(&h->mu);
	return j;
}

/* Record the end of a job; returns 0 if the thread may go on. */
static int job_done(lhost_t *h, struct job *j, char *out, char *error)
{
	int abandoned;

	pthread_mutex_lock(&h->mu);
	h->busy = 0;
	lua_sethook(h->L, NULL, 0, 0);
	abandoned = h->dead;
	if (abandoned) {
		free(out);
		free(error);
	} else {
		push_result(h, j->tag, out, error);
	}
	pthread_mutex_unlock(&h->mu);
	if (!abandoned)
		wake(h);
	free(j->json);
	free(j);
	return abandoned ? -1 : 0;
}

/* After a call that raised: the lines it printed before, as the reply
 * ({"logs": [...]}) it never gave. Not from a state the watchdog gave up
 * on, which may still be running. */
static void take_failed_logs(lhost_t *h, char **out)
{
	char *error = NULL;
	int dead;

	pthread_mutex_lock(&h->mu);
	dead = h->dead;
	pthread_mutex_unlock(&h->mu);
	if (!dead)
		call_runtime(h, "take_logs", NULL, NULL, out, &error);
	free(error);
}

static void *lua_thread(void *arg)
{
	lhost_t *h = arg;
	struct job *j;

	this_host = h;
	while ((j = next_job(h)) != NULL) {
		char *out = NULL, *error = NULL;
		if (call_runtime(h, "handle", j->json, NULL, &out, &error) < 0)
			take_failed_logs(h, &out);
		if (job_done(h, j, out, error) < 0)
			break;
	}
	return NULL;
}

/* One look of the watchdog at the running job. Called with mu held. */
static void watch_once(lhost_t *h)
{
	double now = now_s();
	char msg[512];

	if (!h->busy || h->dead || now < h->deadline)
		return;
	if (h->hooked_at == 0) {
		h->hooked_at = now;
		atomic_store(&h->interrupt_job, atomic_load(&h->job_no));
		pthread_kill(h->runner, INTERRUPT_SIGNAL);
		return;
	}
	if (now < h->hooked_at + GRACE_S)
		return;
	snprintf(msg, sizeof msg,
		 "%s%s has not returned after %.1f s (%s) and cannot be "
		 "interrupted (a loop in JIT-compiled code, or one that "
		 "catches every error); the strategy was abandoned",
		 h->limits_set ? "strategy time limit exceeded: " : "",
		 h->limits_set ? h->busy_what
			       : "loading the experiment (its script with "
				 "count() and initialize())",
		 h->timeout_s + GRACE_S,
		 h->limits_set ? "strategy_timeout"
			       : "the experiment's strategy_timeout applies "
				 "once it is loaded");
	abandon(h, msg);
}

static void *watchdog_thread(void *arg)
{
	lhost_t *h = arg;
	struct timespec ts;

	pthread_mutex_lock(&h->mu);
	while (!h->quit) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += WATCH_PERIOD_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&h->watch_cv, &h->mu, &ts);
		watch_once(h);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

void lhost_collect_eagerly(lhost_t *h)
{
	/* a cycle starts once the heap is 1.2 times what the last one left,
	   and runs in steps of 8 times the memory allocated meanwhile: both
	   short enough that little garbage piles up (engine_memory.py) */
	lua_gc(h->L, LUA_GCSETPAUSE, 120);
	lua_gc(h->L, LUA_GCSETSTEPMUL, 800);
}

void lhost_limits(lhost_t *h, double timeout_s, double memory_mib)
{
	pthread_mutex_lock(&h->mu);
	if (timeout_s > 0)
		h->timeout_s = timeout_s;
	if (memory_mib > 0)
		h->mem_limit = (size_t)(memory_mib * 1048576.0);
	h->limits_set = 1;
	pthread_mutex_unlock(&h->mu);
}

int lhost_start(lhost_t *h, char *err, size_t errlen)
{
	pthread_mutex_lock(&h->mu);
	if (pthread_create(&h->thread, NULL, lua_thread, h) != 0) {
		pthread_mutex_unlock(&h->mu);
		snprintf(err, errlen, "cannot start the Lua thread");
		return -1;
	}
	h->runner = h->thread;
	h->started = 1;
	pthread_mutex_unlock(&h->mu);
	return 0;
}

int lhost_post(lhost_t *h, int tag, const char *json)
{
	struct job *j = calloc(1, sizeof *j);
	int rc = 0;

	if (j == NULL || (j->json = strdup(json)) == NULL) {
		free(j);
		return -1;
	}
	j->tag = tag;
	pthread_mutex_lock(&h->mu);
	if (h->dead) {
		rc = -1;
	} else {
		if (h->jobs_tail)
			h->jobs_tail->next = j;
		else
			h->jobs = j;
		h->jobs_tail = j;
		pthread_cond_signal(&h->jobs_cv);
	}
	pthread_mutex_unlock(&h->mu);
	if (rc < 0) {
		free(j->json);
		free(j);
	}
	return rc;
}

int lhost_wake_fd(const lhost_t *h)
{
	return h->wake_fd;
}

struct lhost_result *lhost_take(lhost_t *h)
{
	struct lhost_result *r;
	uint64_t count;
	ssize_t n = read(h->wake_fd, &count, sizeof count);

	(void)n; /* EAGAIN just means nothing was signalled */
	pthread_mutex_lock(&h->mu);
	r = h->results;
	h->results = h->results_tail = NULL;
	pthread_mutex_unlock(&h->mu);
	return r;
}

void lhost_result_free(struct lhost_result *r)
{
	while (r) {
		struct lhost_result *next = r->next;
		free(r->json);
		free(r->error);
		free(r);
		r = next;
	}
}

static void free_jobs(struct job *j)
{
	while (j) {
		struct job *next = j->next;
		free(j->json);
		free(j);
		j = next;
	}
}

void lhost_free(lhost_t *h)
{
	int abandoned;

	if (h == NULL)
		return;
	pthread_mutex_lock(&h->mu);
	h->quit = 1;
	abandoned = h->dead && h->busy;
	pthread_cond_signal(&h->jobs_cv);
	pthread_cond_signal(&h->watch_cv);
	pthread_mutex_unlock(&h->mu);
	if (h->watching)
		pthread_join(h->watchdog, NULL);
	if (abandoned)
		return; /* the thread still runs in L: leave it all */
	if (h->started)
		pthread_join(h->thread, NULL);
	free_jobs(h->jobs);
	lhost_result_free(h->results);
	if (h->wake_fd >= 0)
		close(h->wake_fd);
	lua_close(h->L);
	free(h->script_path);
	free(h);
}
