/*
 * capture: the training function's stdout and stderr.
 *
 * Owns two pipes dup2()ed onto fds 1 and 2, so that whatever the trial
 * prints reaches the driver: Python's print(), C extensions writing to
 * stdout, subprocesses inheriting the fds. The read ends are drained into
 * lines; each complete line (without its newline or CRLF) is handed to a
 * callback, a line longer than CAPTURE_MAX_LINE is cut into pieces of at
 * most that size (between UTF-8 characters), a carriage return overwrites the line as on a terminal (a progress
 * bar that redraws itself yields its last state only), and
 * capture_flush() hands over what is left of an unfinished line (end of a
 * trial). capture_start() also keeps a duplicate of the original stderr for
 * the shim's own messages (see diag.h).
 *
 * Threads: capture_start() in the main thread before Python starts; then
 * capture_fds(), capture_drain() and capture_flush() are called by one
 * thread at a time (the line buffers are not locked: io_thread.c holds its
 * output lock around them).
 */
#pragma once

#include <stddef.h>

#include "proto/proto.h"

#define CAPTURE_MAX_LINE 65536

struct capture_stream {
	int rfd;          /* read end, non-blocking; -1 when not capturing */
	enum proto_stream stream;
	char *line;       /* bytes of the unfinished line */
	size_t len;
};

struct capture {
	struct capture_stream out, err;
	int diag_fd;      /* the original stderr, close-on-exec */
};

/* Called for each line; `text` is not NUL-terminated. */
typedef void (*capture_line_fn)(void *ud, enum proto_stream stream,
				const char *text, size_t len);

/*
 * Create the pipes, keep a copy of the original stderr in cap->diag_fd and
 * put the write ends on fds 1 and 2. Returns 0, or -1 with err set (nothing
 * changed then).
 */
int capture_start(struct capture *cap, char *err, size_t errlen);

/* Read everything the stream's pipe holds now, calling fn per full line.
 * Returns 0, or -1 when the pipe is gone (EOF: all writers closed). */
int capture_drain(struct capture_stream *s, capture_line_fn fn, void *ud);

/* Hand over the unfinished line of the stream, if any. */
void capture_flush(struct capture_stream *s, capture_line_fn fn, void *ud);

/* Free the line buffers and close the read ends (fds 1 and 2 stay the
 * pipes' write ends). After io_stop(); the main thread. */
void capture_stop(struct capture *cap);
