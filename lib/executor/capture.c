/* capture: stdout/stderr pipes split into lines. See capture.h. */
#include "capture.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/utf8.h"

/* A bigger pipe lets a chatty trial go on while the I/O thread is busy. */
#define PIPE_SIZE (1 << 20)

static int make_pipe(struct capture_stream *s, enum proto_stream stream,
		     int target, char *err, size_t errlen)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	fcntl(p[0], F_SETPIPE_SZ, PIPE_SIZE); /* best effort */
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	/* dup2 clears O_CLOEXEC on the target, as children must inherit it. */
	if (dup2(p[1], target) < 0) {
		snprintf(err, errlen, "dup2: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	close(p[1]);
	s->rfd = p[0];
	s->stream = stream;
	s->line = NULL;
	s->len = 0;
	return 0;
}

int capture_start(struct capture *cap, char *err, size_t errlen)
{
	int saved_out = -1;

	memset(cap, 0, sizeof *cap);
	cap->out.rfd = cap->err.rfd = -1;
	cap->diag_fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
	saved_out = fcntl(1, F_DUPFD_CLOEXEC, 3);
	if (cap->diag_fd < 0 || saved_out < 0) {
		snprintf(err, errlen, "dup: %s", strerror(errno));
		goto fail;
	}
	if (make_pipe(&cap->out, PROTO_STDOUT, 1, err, errlen) < 0)
		goto fail;
	if (make_pipe(&cap->err, PROTO_STDERR, 2, err, errlen) < 0)
		goto fail;
	close(saved_out);
	return 0;
fail:
	if (cap->out.rfd >= 0) {
		dup2(saved_out, 1);
		close(cap->out.rfd);
	}
	if (saved_out >= 0)
		close(saved_out);
	if (cap->diag_fd >= 0)
		close(cap->diag_fd);
	return -1;
}

/* Hand over a line, without the '\r' of a CRLF ending. */
static void emit(struct capture_stream *s, const char *p, size_t n,
		 capture_line_fn fn, void *ud)
{
	if (n && p[n - 1] == '\r')
		n--;
	fn(ud, s->stream, p, n);
}

/*
 * Carriage returns work as on a terminal: text after a '\r' overwrites the
 * line (progress bars redraw themselves; only the last state is kept). A
 * '\r' as the last byte is kept for now: it may be half of a CRLF.
 */
static void overwrite_cr(struct capture_stream *s, const char **p, size_t *n)
{
	const char *cr;

	if (*n && s->len && s->line[s->len - 1] == '\r')
		s->len = 0;
	cr = *n > 1 ? memrchr(*p, '\r', *n - 1) : NULL;
	if (cr) {
		s->len = 0;
		*n -= (size_t)(cr + 1 - *p);
		*p = cr + 1;
	}
}

/* Append to the unfinished line; a full one is handed over in pieces. */
static void append(struct capture_stream *s, const char *p, size_t n,
		   capture_line_fn fn, void *ud)
{
	overwrite_cr(s, &p, &n);
	while (n > 0) {
		size_t room = CAPTURE_MAX_LINE - s->len;
		size_t take = n < room ? n : room;
		memcpy(s->line + s->len, p, take);
		s->len += take;
		p += take;
		n -= take;
		if (s->len == CAPTURE_MAX_LINE) {
			/* between characters: what is cut off starts the
			 * next piece */
			size_t cut = utf8_prefix(s->line, s->len);
			fn(ud, s->stream, s->line, cut);
			memmove(s->line, s->line + cut, s->len - cut);
			s->len -= cut;
		}
	}
}

/* Split a chunk read from the pipe into lines. */
static void split(struct capture_stream *s, const char *p, size_t n,
		  capture_line_fn fn, void *ud)
{
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t seg = nl ? (size_t)(nl - p) : n;
		if (s->len == 0 && nl && seg <= CAPTURE_MAX_LINE &&
		    !memchr(p, '\r', seg ? seg - 1 : 0)) {
			emit(s, p, seg, fn, ud); /* the common case: no copy */
		} else {
			append(s, p, seg, fn, ud);
			if (nl) {
				emit(s, s->line, s->len, fn, ud);
				s->len = 0;
			}
		}
		if (!nl)
			break;
		p += seg + 1;
		n -= seg + 1;
	}
}

int capture_drain(struct capture_stream *s, capture_line_fn fn, void *ud)
{
	char buf[65536];
	ssize_t n;

	if (s->rfd < 0)
		return -1;
	if (!s->line && !(s->line = malloc(CAPTURE_MAX_LINE)))
		return 0; /* retried at the next drain */
	for (;;) {
		n = read(s->rfd, buf, sizeof buf);
		if (n > 0) {
			split(s, buf, (size_t)n, fn, ud);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		return -1;
	}
}

void capture_flush(struct capture_stream *s, capture_line_fn fn, void *ud)
{
	if (s->len) {
		emit(s, s->line, s->len, fn, ud);
		s->len = 0;
	}
}

static void stream_stop(struct capture_stream *s)
{
	if (s->rfd >= 0)
		close(s->rfd);
	s->rfd = -1;
	free(s->line);
	s->line = NULL;
	s->len = 0;
}

void capture_stop(struct capture *cap)
{
	stream_stop(&cap->out);
	stream_stop(&cap->err);
}
