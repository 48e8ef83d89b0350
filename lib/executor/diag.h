/*
 * diag: the executor's own diagnostics, on the original stderr.
 *
 * fds 1 and 2 of the executor belong to the training function once capture
 * has started (they are pipes to the driver), so the shim writes its own
 * messages to a duplicate of the stderr it was started with, each line
 * prefixed "maggy-executor[slot N]: ". Every message is one write(2), so
 * lines from different threads do not interleave.
 *
 * Threads: any thread, at any time (before diag_init() messages go to fd 2).
 */
#pragma once

#include <signal.h>
#include <stdnoreturn.h>

/* Exit codes of maggy-executor (documented in --help). */
enum exec_exit {
	EXEC_EXIT_OK = 0,          /* BYE from the driver */
	EXEC_EXIT_INTERNAL = 1,    /* the shim itself failed (Python init...) */
	EXEC_EXIT_CONFIG = 2,      /* bad configuration, or the driver refused us */
	EXEC_EXIT_UNREACHABLE = 3, /* driver gone longer than the timeout */
	EXEC_EXIT_IMPORT = 4,      /* the training function cannot be imported */
	EXEC_EXIT_RECYCLED = 5,    /* ran its max_trials, or a trial ran out of
				      time: start a fresh one */
};

/* The signal a local executor gets when its engine dies (the launcher's
 * PR_SET_PDEATHSIG): it ends its whole process group, what its trial
 * started included. Not SIGTERM, which a training function may catch. */
#define EXEC_ENGINE_GONE_SIGNAL (SIGRTMIN + 1)

/* Send further messages to `fd` (not closed by diag) with slot `slot` in
 * the prefix. Call once, from the main thread, before other threads start. */
void diag_init(int fd, int slot);

/* printf-style message; a newline is added. */
void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* diag() then _exit(code) at once: no atexit handlers, no Python
 * finalization. For fatal conditions seen outside the main thread (or while
 * it runs a trial that cannot be interrupted). */
noreturn void diag_fatal(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
