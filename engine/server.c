/* server: listener, connections and framing on the loop thread. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct conn {
	server_t *srv;
	struct bufferevent *bev;
	void *peer;  /* the controller's handle, once authenticated */
	int closing; /* ERROR queued: drop input, free when flushed */
	char addr[64];
	struct conn *prev, *next;
};

struct server {
	struct event_base *base;
	struct evconnlistener *listener;
	uint8_t secret[PROTO_SECRET_SIZE];
	uint32_t max_body;
	struct server_handlers h;
	struct conn *conns;
	int nconns;
	char address[80];
	struct server_stats stats;
};

static void conn_free(struct conn *c)
{
	server_t *s = c->srv;
	void *peer = c->peer;

	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	bufferevent_free(c->bev);
	free(c);
	if (peer)
		s->h.closed(s->h.arg, peer);
}

int server_send(conn_t *c, unsigned type, uint32_t id, const void *body,
		size_t len)
{
	uint8_t header[PROTO_HEADER_SIZE];
	struct evbuffer *out;

	if (c->closing)
		return -1;
	out = bufferevent_get_output(c->bev);
	proto_header_encode(header, type, id, (uint32_t)len);
	if (evbuffer_add(out, header, sizeof header) < 0 ||
	    (len && evbuffer_add(out, body, len) < 0))
		return -1;
	c->srv->stats.frames_out++;
	return 0;
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_free(arg);
}

static void closing_write_cb(struct bufferevent *bev, void *arg)
{
	conn_free(arg);
}

void server_close_conn(conn_t *c, const char *message)
{
	json_t *obj;
	char *body;

	if (c->closing)
		return;
	obj = json_pack("{s:s}", "error", message);
	body = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	if (body)
		server_send(c, PROTO_ERROR, 0, body, strlen(body));
	free(body);
	json_decref(obj);
	c->closing = 1;
	/* Freed from the write callback once the ERROR is out (or on a socket
	 * error), never here: our caller may still be in a callback of c. */
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setcb(c->bev, NULL, closing_write_cb, conn_event_cb, c);
}

static void drop_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_free(arg);
}

void server_drop_conn(conn_t *c)
{
	struct timeval now = { 0, 0 };

	if (c->closing)
		return;
	c->closing = 1;
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	bufferevent_setcb(c->bev, NULL, NULL, NULL, c);
	if (event_base_once(c->srv->base, -1, EV_TIMEOUT, drop_cb, c, &now) < 0)
		conn_free(c); /* out of memory: freeing now is the lesser harm */
}

static void refuse(struct conn *c, const char *why)
{
	char msg[256];

	c->srv->stats.refused++;
	snprintf(msg, sizeof msg, "refused by maggy-engine: %s", why);
	fprintf(stderr, "maggy-engine: connection from %s refused: %s\n",
		c->addr, why);
	server_close_conn(c, msg);
}

static void protocol_error(struct conn *c, const char *why)
{
	c->srv->stats.protocol_errors++;
	refuse(c, why);
}

/* The first frame: HELLO with the secret, checked before any decoding. */
static void handle_hello(struct conn *c, const struct proto_header *h,
			 const uint8_t *body)
{
	server_t *s = c->srv;
	char err[256] = "";

	if (h->type != PROTO_HELLO || h->length < PROTO_SECRET_SIZE) {
		protocol_error(c, "the first frame must be HELLO");
		return;
	}
	if (!proto_secret_equal(body, s->secret)) {
		refuse(c, "wrong experiment secret");
		return;
	}
	c->peer = s->h.hello(s->h.arg, c, (const char *)body + PROTO_SECRET_SIZE,
			     h->length - PROTO_SECRET_SIZE, err, sizeof err);
	if (c->peer == NULL)
		refuse(c, err[0] ? err : "HELLO refused");
}

/* Handle one complete frame; returns 0 to go on reading. */
static int handle_frame(struct conn *c, const struct proto_header *h,
			const uint8_t *body)
{
	c->srv->stats.frames_in++;
	if (c->peer == NULL)
		handle_hello(c, h, body);
	else
		c->srv->h.frame(c->srv->h.arg, c->peer, h, body);
	return c->closing ? -1 : 0;
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (!c->closing) {
		size_t avail = evbuffer_get_length(in);
		uint8_t hbuf[PROTO_HEADER_SIZE];
		struct proto_header h;
		uint8_t *frame;
		int rc;

		if (avail < PROTO_HEADER_SIZE)
			return;
		evbuffer_copyout(in, hbuf, sizeof hbuf);
		rc = proto_header_decode(hbuf, sizeof hbuf, c->srv->max_body, &h);
		if (rc < 0) {
			protocol_error(c, proto_strerror(rc));
			return;
		}
		if (avail < PROTO_HEADER_SIZE + (size_t)h.length)
			return;
		frame = evbuffer_pullup(in, PROTO_HEADER_SIZE + h.length);
		rc = handle_frame(c, &h, frame + PROTO_HEADER_SIZE);
		if (c->closing) /* the connection may be gone: touch nothing */
			return;
		evbuffer_drain(in, PROTO_HEADER_SIZE + h.length);
		if (rc < 0)
			return;
	}
}

static void describe_addr(const struct sockaddr *sa, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		port = ntohs(in6->sin6_port);
	}
	snprintf(out, len, "%s:%d", host, port);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int socklen, void *arg)
{
	server_t *s = arg;
	struct conn *c = calloc(1, sizeof *c);
	int one = 1;

	if (c == NULL) {
		evutil_closesocket(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->srv = s;
	c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		evutil_closesocket(fd);
		free(c);
		return;
	}
	describe_addr(sa, c->addr, sizeof c->addr);
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	/* Never buffer more than one frame of the largest allowed size. */
	bufferevent_setwatermark(c->bev, EV_READ, 0,
				 PROTO_HEADER_SIZE + (size_t)s->max_body);
	bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* "HOST:PORT" or "[V6]:PORT"; port 0 picks a free port. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss,
			int *sslen, char *err, size_t errlen)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	struct addrinfo hints = { 0 }, *ai = NULL;
	size_t hlen;
	int rc;

	if (colon == NULL || colon == listen || colon[1] == '\0')
		goto bad;
	hlen = (size_t)(colon - listen);
	if (listen[0] == '[' && colon[-1] == ']')
		listen++, hlen -= 2;
	if (hlen >= sizeof host)
		goto bad;
	memcpy(host, listen, hlen);
	host[hlen] = '\0';
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host, colon + 1, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "cannot use listen address '%s': %s",
			 listen, gai_strerror(rc));
		return -1;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*sslen = (int)ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
bad:
	snprintf(err, errlen, "cannot parse listen address '%s' "
			      "(expected HOST:PORT, e.g. 127.0.0.1:0)", listen);
	return -1;
}

static void bound_address(server_t *s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	evutil_socket_t fd = evconnlistener_get_fd(s->listener);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		describe_addr((struct sockaddr *)&ss, s->address,
			      sizeof s->address);
}

server_t *server_new(struct event_base *base, const char *listen,
		     const uint8_t secret[PROTO_SECRET_SIZE], uint32_t max_body,
		     const struct server_handlers *handlers, char *err,
		     size_t errlen)
{
	server_t *s = calloc(1, sizeof *s);
	struct sockaddr_storage ss;
	int sslen;

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (parse_listen(listen, &ss, &sslen, err, errlen) < 0)
		goto fail;
	s->base = base;
	memcpy(s->secret, secret, PROTO_SECRET_SIZE);
	s->max_body = max_body;
	s->h = *handlers;
	s->listener = evconnlistener_new_bind(
		base, accept_cb, s,
		LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
		128, (struct sockaddr *)&ss, sslen);
	if (s->listener == NULL) {
		snprintf(err, errlen, "cannot listen on %s: %s", listen,
			 strerror(errno));
		goto fail;
	}
	bound_address(s);
	return s;
fail:
	free(s);
	return NULL;
}

const char *server_address(const server_t *s)
{
	return s->address;
}

size_t server_pending(const conn_t *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

int server_connections(const server_t *s)
{
	return s->nconns;
}

void server_stats(const server_t *s, struct server_stats *out)
{
	*out = s->stats;
}

void server_free(server_t *s)
{
	if (s == NULL)
		return;
	while (s->conns) {
		s->conns->peer = NULL; /* no callbacks while tearing down */
		conn_free(s->conns);
	}
	evconnlistener_free(s->listener);
	free(s);
}
