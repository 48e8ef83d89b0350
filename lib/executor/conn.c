/* conn: the TCP connection to the driver. See conn.h. */
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define BACKLOG_MAX (8u << 20)
#define READ_CHUNK 65536

void conn_init(struct conn *c, const struct exec_config *cfg)
{
	memset(c, 0, sizeof *c);
	c->cfg = cfg;
	c->fd = c->rfd = -1;
	pthread_mutex_init(&c->send_lock, NULL);
}

void conn_destroy(struct conn *c)
{
	conn_close(c);
	while (c->nfinals > 0)
		free(c->finals[--c->nfinals].frame);
	free(c->backlog);
	free(c->rbuf);
	pthread_mutex_destroy(&c->send_lock);
}

int conn_fd(const struct conn *c)
{
	return c->rfd;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int ms_left(double deadline)
{
	double left = deadline - now_s();

	return left <= 0 ? 0 : (int)(left * 1000) + 1;
}

/* The one place errno becomes a conn error. */
static int io_error(int e, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s", what, strerror(e));
	return e == ETIMEDOUT || e == EAGAIN ? CONN_ETIMEDOUT :
	       e == ENOMEM ? CONN_ENOMEM : CONN_EIO;
}

static void set_options(int fd, double send_timeout)
{
	int one = 1;
	struct timeval tv = {
		.tv_sec = (time_t)send_timeout,
		.tv_usec = (suseconds_t)((send_timeout - (time_t)send_timeout) * 1e6),
	};

	/* Heartbeats and FINALs are small and latency-bound. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	/* A driver that stops reading must not block our writers forever. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* Non-blocking connect to one address, bounded by `deadline`. */
static int connect_addr(const struct addrinfo *ai, double deadline, char *err,
			size_t errlen)
{
	struct pollfd p;
	int fd, e = 0, rc;
	socklen_t elen = sizeof e;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    ai->ai_protocol);
	if (fd < 0)
		return io_error(errno, "socket", err, errlen);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
		e = errno;
		goto fail;
	}
	p.fd = fd;
	p.events = POLLOUT;
	do
		rc = poll(&p, 1, ms_left(deadline));
	while (rc < 0 && errno == EINTR);
	if (rc == 0)
		e = ETIMEDOUT;
	else if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
		e = errno;
	if (e)
		goto fail;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
fail:
	close(fd);
	return io_error(e, "connect", err, errlen);
}

static int tcp_connect(const struct exec_config *cfg, double deadline,
		       char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	int rc, fd = CONN_EIO;

	rc = getaddrinfo(cfg->host, cfg->port, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "cannot resolve %s: %s", cfg->host,
			 gai_strerror(rc));
		return CONN_EIO;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = connect_addr(ai, deadline, err, errlen);
		if (fd >= 0)
			break;
	}
	freeaddrinfo(res);
	return fd;
}

/* Write all of iov; EINTR-safe. Returns 0 or an errno value. */
static int write_all(int fd, struct iovec *iov, int cnt)
{
	while (cnt > 0) {
		ssize_t n = writev(fd, iov, cnt);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

static size_t iov_total(const struct iovec *iov, int cnt)
{
	size_t n = 0;

	while (cnt-- > 0)
		n += iov[cnt].iov_len;
	return n;
}

/* Append a whole frame (iov[0] is the header) to the backlog; send_lock
 * held. */
static void backlog_add(struct conn *c, const struct iovec *iov, int cnt)
{
	size_t need = c->blen + iov_total(iov, cnt);
	int i;

	if (need > BACKLOG_MAX) {
		c->dropped++;
		return;
	}
	if (need > c->bcap) {
		size_t cap = c->bcap ? c->bcap : 65536;
		uint8_t *p;
		while (cap < need)
			cap *= 2;
		p = realloc(c->backlog, cap);
		if (!p) {
			c->dropped++;
			return;
		}
		c->backlog = p;
		c->bcap = cap;
	}
	for (i = 0; i < cnt; i++) {
		memcpy(c->backlog + c->blen, iov[i].iov_base, iov[i].iov_len);
		c->blen += iov[i].iov_len;
	}
}

/* Send a frame whose body is parts[0..cnt-1] (at most 2). */
static int send_frame(struct conn *c, unsigned type, const struct iovec *parts,
		      int cnt, unsigned flags)
{
	uint8_t hdr[PROTO_HEADER_SIZE];
	struct iovec iov[3], copy[3];
	int rc = 0, n = 1, i;

	iov[0] = (struct iovec){hdr, sizeof hdr};
	for (i = 0; i < cnt; i++)
		if (parts[i].iov_len)
			iov[n++] = parts[i];
	proto_header_encode(hdr, type, 0, (uint32_t)(iov_total(iov, n) - sizeof hdr));
	memcpy(copy, iov, sizeof iov); /* write_all() consumes its iov */
	pthread_mutex_lock(&c->send_lock);
	if (c->fd < 0)
		rc = CONN_ENOTCONN;
	else if (write_all(c->fd, copy, n)) {
		/* The reader sees the shutdown as EOF, closes the socket and
		 * reconnects; the frame may be half out, so a queued copy goes
		 * whole on the next connection. */
		shutdown(c->fd, SHUT_RDWR);
		c->fd = -1;
		rc = CONN_EIO;
	}
	if (rc && (flags & CONN_QUEUE))
		backlog_add(c, iov, n);
	pthread_mutex_unlock(&c->send_lock);
	return rc;
}

int conn_send(struct conn *c, unsigned type, const void *body, size_t len,
	      unsigned flags)
{
	struct iovec part = {(void *)body, len};

	return send_frame(c, type, &part, 1, flags);
}

int conn_send_log(struct conn *c, uint64_t trial, enum proto_stream stream,
		  const char *text, size_t len)
{
	uint8_t prefix[PROTO_LOG_PREFIX];
	int rc = 0;

	do {
		size_t n = len < CONN_MAX_LOG_TEXT ? len : CONN_MAX_LOG_TEXT;
		struct iovec parts[2] = {{prefix, sizeof prefix},
					 {(void *)text, n}};
		proto_log_encode(prefix, sizeof prefix, trial, stream, text, 0);
		rc = send_frame(c, PROTO_LOG, parts, 2, CONN_QUEUE);
		text += n;
		len -= n;
	} while (len > 0);
	return rc;
}

int conn_send_json(struct conn *c, unsigned type, const json_t *body,
		   unsigned flags)
{
	char *text = json_dumps(body, JSON_COMPACT);
	int rc;

	if (!text)
		return CONN_ENOMEM;
	rc = conn_send(c, type, text, strlen(text), flags);
	free(text);
	return rc;
}

int conn_send_final(struct conn *c, uint64_t trial, const json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);
	size_t len = text ? strlen(text) : 0;
	uint8_t *frame = text ? malloc(PROTO_HEADER_SIZE + len) : NULL;
	struct iovec iov;
	int rc = 0;

	if (!frame) {
		free(text);
		return CONN_ENOMEM;
	}
	proto_header_encode(frame, PROTO_FINAL, 0, (uint32_t)len);
	memcpy(frame + PROTO_HEADER_SIZE, text, len);
	free(text);
	iov = (struct iovec){frame, PROTO_HEADER_SIZE + len};
	pthread_mutex_lock(&c->send_lock);
	if (c->nfinals == PROTO_FINALS_IN_FLIGHT) {
		rc = CONN_ENOMEM; /* the caller's bound was broken */
	} else {
		c->finals[c->nfinals++] =
			(struct conn_final){trial, frame, iov.iov_len};
		if (c->fd < 0) {
			rc = CONN_ENOTCONN;
		} else if (write_all(c->fd, &iov, 1)) {
			shutdown(c->fd, SHUT_RDWR); /* as in send_frame */
			c->fd = -1;
			rc = CONN_EIO;
		}
	}
	pthread_mutex_unlock(&c->send_lock);
	if (rc == CONN_ENOMEM)
		free(frame);
	return rc;
}

void conn_final_acked(struct conn *c, uint64_t trial)
{
	uint64_t ours = trial;
	int i;

	/* Every FINAL of the trial: one process may have run a trial twice
	 * (a restarted driver handed it out again), and the driver answers a
	 * repeated FINAL with the one acknowledgement. */
	pthread_mutex_lock(&c->send_lock);
	for (i = 0; i < c->nfinals;) {
		if (c->finals[i].trial != trial) {
			i++;
			continue;
		}
		free(c->finals[i].frame);
		c->nfinals--;
		memmove(c->finals + i, c->finals + i + 1,
			(size_t)(c->nfinals - i) * sizeof *c->finals);
	}
	pthread_mutex_unlock(&c->send_lock);
	/* The driver may already have sent the next TRIAL, which the I/O
	 * thread claimed for HELLO: clear only this one. */
	atomic_compare_exchange_strong(&c->hello_trial, &ours, 0);
}

int conn_finals_in_flight(struct conn *c)
{
	int n;

	pthread_mutex_lock(&c->send_lock);
	n = c->nfinals;
	pthread_mutex_unlock(&c->send_lock);
	return n;
}

int conn_send_error(struct conn *c, const char *msg, int fatal)
{
	json_t *o = json_pack("{s:s}", "error", msg);
	int rc;

	if (!o)
		return CONN_ENOMEM;
	if (fatal)
		json_object_set_new(o, "fatal", json_true());
	rc = conn_send_json(c, PROTO_ERROR, o, 0);
	json_decref(o);
	return rc;
}

void conn_close(struct conn *c)
{
	pthread_mutex_lock(&c->send_lock);
	c->fd = -1;
	pthread_mutex_unlock(&c->send_lock);
	if (c->rfd >= 0)
		close(c->rfd);
	c->rfd = -1;
	c->rlen = c->roff = 0;
}

int conn_read(struct conn *c)
{
	ssize_t n;

	if (c->roff) {
		memmove(c->rbuf, c->rbuf + c->roff, c->rlen - c->roff);
		c->rlen -= c->roff;
		c->roff = 0;
	}
	if (c->rcap - c->rlen < READ_CHUNK) {
		size_t cap = c->rcap ? c->rcap * 2 : 2 * READ_CHUNK;
		uint8_t *p = realloc(c->rbuf, cap);
		if (!p)
			return CONN_ENOMEM;
		c->rbuf = p;
		c->rcap = cap;
	}
	do
		n = read(c->rfd, c->rbuf + c->rlen, c->rcap - c->rlen);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return CONN_EIO;
	c->rlen += (size_t)n;
	return (int)n;
}

int conn_frame(struct conn *c, struct proto_header *h, const uint8_t **body,
	       char *err, size_t errlen)
{
	size_t avail = c->rlen - c->roff;
	int rc = proto_header_decode(c->rbuf + c->roff, avail,
				     PROTO_DEFAULT_MAX_BODY, h);

	if (rc == PROTO_EAGAIN)
		return 0;
	if (rc == PROTO_ETOOBIG) {
		snprintf(err, errlen, "driver sent a %s frame of %u bytes, over "
			 "the limit of %u", proto_type_name(h->type),
			 h->length, PROTO_DEFAULT_MAX_BODY);
		return CONN_EPROTO;
	}
	if (rc) {
		snprintf(err, errlen, "driver sent an invalid frame: %s",
			 proto_strerror(rc));
		return CONN_EPROTO;
	}
	if (avail < PROTO_HEADER_SIZE + (size_t)h->length)
		return 0;
	*body = c->rbuf + c->roff + PROTO_HEADER_SIZE;
	c->roff += PROTO_HEADER_SIZE + h->length;
	return 1;
}

static json_t *identity(struct conn *c)
{
	char host[256] = "unknown";
	uint64_t trial = atomic_load(&c->hello_trial);
	json_t *o;

	gethostname(host, sizeof host - 1);
	o = json_pack("{s:s, s:I, s:i, s:i}", "host", host,
		      "pid", (json_int_t)getpid(), "slot", c->cfg->slot,
		      "attempt", c->cfg->attempt);
	if (o && trial) {
		char hex[PROTO_TRIAL_HEX];
		proto_trial_hex(trial, hex);
		json_object_set_new(o, "trial", json_string(hex));
	}
	return o;
}

/* HELLO: our MAC over the driver's nonce, our nonce, the identity. */
static int send_hello(struct conn *c, int fd, char *err, size_t errlen)
{
	uint8_t hdr[PROTO_HEADER_SIZE], mac[PROTO_MAC_SIZE];
	json_t *id = identity(c);
	char *text = id ? json_dumps(id, JSON_COMPACT) : NULL;
	struct iovec iov[4];
	size_t len;
	int rc = CONN_ENOMEM, e;

	if (!text)
		goto out;
	len = strlen(text);
	if (getrandom(c->nonce, sizeof c->nonce, 0) != sizeof c->nonce) {
		rc = io_error(errno, "drawing a nonce", err, errlen);
		goto out;
	}
	proto_hello_mac(c->cfg->secret, c->server_nonce, c->nonce, text, len,
			mac);
	proto_header_encode(hdr, PROTO_HELLO, 0,
			    (uint32_t)(sizeof mac + sizeof c->nonce + len));
	iov[0] = (struct iovec){hdr, sizeof hdr};
	iov[1] = (struct iovec){mac, sizeof mac};
	iov[2] = (struct iovec){c->nonce, sizeof c->nonce};
	iov[3] = (struct iovec){text, len};
	e = write_all(fd, iov, 4);
	rc = e ? io_error(e, "sending HELLO", err, errlen) : 0;
out:
	free(text);
	json_decref(id);
	return rc;
}

/* An ERROR in the handshake, its text into err: CONN_EREJECTED, or
 * CONN_EIO when the driver says to try again (it was busy). */
static int handshake_error(const uint8_t *body, size_t len, char *err,
			   size_t errlen)
{
	json_t *o = json_loadb((const char *)body, len, 0, NULL);
	const char *msg = json_string_value(json_object_get(o, "error"));
	int retry = json_is_true(json_object_get(o, "retry"));

	snprintf(err, errlen, "%s", msg ? msg : "(no message)");
	json_decref(o);
	return retry ? CONN_EIO : CONN_EREJECTED;
}

/* Wait for the next frame on the receive side, bounded by `deadline`. */
static int next_frame(struct conn *c, double deadline, struct proto_header *h,
		      const uint8_t **body, char *err, size_t errlen)
{
	struct pollfd p = {.fd = c->rfd, .events = POLLIN};
	int rc;

	while ((rc = conn_frame(c, h, body, err, errlen)) == 0) {
		rc = poll(&p, 1, ms_left(deadline));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return io_error(errno, "poll", err, errlen);
		if (rc == 0) {
			snprintf(err, errlen, "the driver did not answer in "
				 "time");
			return CONN_ETIMEDOUT;
		}
		if (conn_read(c) < 0) {
			snprintf(err, errlen, "driver closed the connection "
				 "during the handshake");
			return CONN_EIO;
		}
	}
	return rc < 0 ? rc : 0;
}

/* The driver's CHALLENGE: its nonce, which our HELLO must sign. */
static int await_challenge(struct conn *c, double deadline, char *err,
			   size_t errlen)
{
	struct proto_header h;
	const uint8_t *body;
	int rc = next_frame(c, deadline, &h, &body, err, errlen);

	if (rc)
		return rc;
	if (h.type == PROTO_ERROR)
		return handshake_error(body, h.length, err, errlen);
	if (h.type != PROTO_CHALLENGE || h.length != PROTO_NONCE_SIZE) {
		snprintf(err, errlen, "driver sent %s instead of CHALLENGE",
			 proto_type_name(h.type));
		return CONN_EPROTO;
	}
	memcpy(c->server_nonce, body, PROTO_NONCE_SIZE);
	return 0;
}

/* WELCOME: settings signed by a driver that knows the secret. */
static int await_welcome(struct conn *c, double deadline, json_t **welcome,
			 char *err, size_t errlen)
{
	struct proto_header h;
	const uint8_t *body;
	uint8_t mac[PROTO_MAC_SIZE];
	json_error_t jerr;
	int rc = next_frame(c, deadline, &h, &body, err, errlen);

	if (rc)
		return rc;
	if (h.type == PROTO_ERROR)
		return handshake_error(body, h.length, err, errlen);
	if (h.type != PROTO_WELCOME || h.length < PROTO_MAC_SIZE) {
		snprintf(err, errlen, "driver sent %s instead of WELCOME",
			 proto_type_name(h.type));
		return CONN_EPROTO;
	}
	proto_welcome_mac(c->cfg->secret, c->server_nonce, c->nonce,
			  body + PROTO_MAC_SIZE, h.length - PROTO_MAC_SIZE, mac);
	if (!proto_mac_equal(mac, body)) {
		snprintf(err, errlen, "its WELCOME was not signed with the "
			 "experiment's secret (another experiment, or not a "
			 "maggy driver)");
		return CONN_EREJECTED;
	}
	*welcome = json_loadb((const char *)body + PROTO_MAC_SIZE,
			      h.length - PROTO_MAC_SIZE, 0, &jerr);
	if (!json_is_object(*welcome)) {
		snprintf(err, errlen, "WELCOME is not a JSON object: %s",
			 jerr.text);
		json_decref(*welcome);
		*welcome = NULL;
		return CONN_EPROTO;
	}
	return 0;
}

/* Make fd the writers' socket, the backlog and then the FINALs in flight
 * going out first. */
static int publish(struct conn *c, int fd, char *err, size_t errlen)
{
	struct iovec iov = {c->backlog, c->blen};
	int e = 0, i;

	pthread_mutex_lock(&c->send_lock);
	if (c->blen)
		e = write_all(fd, &iov, 1);
	if (!e)
		c->blen = 0; /* out: not again if a FINAL below fails */
	for (i = 0; i < c->nfinals && !e; i++) {
		iov = (struct iovec){c->finals[i].frame, c->finals[i].len};
		e = write_all(fd, &iov, 1);
	}
	if (!e)
		c->fd = fd;
	pthread_mutex_unlock(&c->send_lock);
	return e ? io_error(e, "sending queued frames", err, errlen) : 0;
}

int conn_open(struct conn *c, double timeout, json_t **welcome, char *err,
	      size_t errlen)
{
	double deadline = now_s() + timeout;
	int fd, rc;

	*welcome = NULL;
	conn_close(c);
	fd = tcp_connect(c->cfg, deadline, err, errlen);
	if (fd < 0)
		return fd;
	set_options(fd, c->cfg->reconnect_timeout);
	c->rfd = fd;
	rc = await_challenge(c, deadline, err, errlen);
	if (!rc)
		rc = send_hello(c, fd, err, errlen);
	if (!rc)
		rc = await_welcome(c, deadline, welcome, err, errlen);
	if (!rc)
		rc = publish(c, fd, err, errlen);
	if (rc) {
		json_decref(*welcome);
		*welcome = NULL;
		conn_close(c);
	}
	return rc;
}
