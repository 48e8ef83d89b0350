/*
 * dashboard: the `dashboard` subcommand, a read-only web view of one
 * experiment served with libevent's HTTP server: the page and its assets
 * (from the web folder, paths.h) and a small JSON API under /api/ (see
 * docs/dashboard.md). It reads the experiment's store like `show` does, in
 * read transactions of its own, so it serves a finished experiment as well
 * as a running one, and never slows the engine: `run --dashboard` starts it
 * as a process of its own (dashboard_spawn).
 *
 * Called from main() (dashboard_serve) or from run.c (the spawn calls),
 * on the main thread.
 */
#pragma once

#include <sys/types.h>

/* How long a run's dashboard outlives the run: its pages poll every
 * 1.5 s, so each sees the end. */
#define DASHBOARD_LINGER_S 3

/* The default address: loopback only. */
#define DASHBOARD_DEFAULT_LISTEN "127.0.0.1:8765"

/*
 * Serve the experiment in `dir` on `listen` ("HOST:PORT", "PORT" or
 * ":PORT" for loopback; port 0 picks a free one) until SIGINT or SIGTERM.
 * Prints the page's address on stdout. Waits up to a few seconds for the
 * store to appear (a run that is starting). Returns an exit code: 0, or 2
 * when the address cannot be bound or DIR holds no experiment.
 */
int dashboard_serve(const char *dir, const char *listen);

/*
 * Bind the dashboard's address for a run, before the run starts anything,
 * so that an address that is malformed or in use refuses the run. Returns
 * the listening socket, or -1 with `err`.
 */
int dashboard_listen(const char *listen, char *err, size_t errlen);

/*
 * Start `maggy-engine dashboard DIR --dashboard LISTEN` as a child process
 * that serves on `fd` (from dashboard_listen, closed here) and ends with
 * this one. Returns its pid, or -1 with `err`.
 */
pid_t dashboard_spawn(const char *dir, const char *listen, int fd,
		      char *err, size_t errlen);

/* End a spawned dashboard and reap it. Does nothing for pid <= 0. */
void dashboard_stop(pid_t pid);
