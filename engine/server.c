/* server: listener, handshake, connections and framing on the loop thread.
 * See server.h for the limits. */
#include "server.h"

#include "console.h"
#include "netaddr.h"
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "secret.h"

#define PENALTY_SLOTS 64         /* source addresses remembered */
#define NOTES_PER_WINDOW 10      /* refusal lines on stderr per window */
#define NOTE_WINDOW_S 10.0
#define ACCEPT_RETRY_MS 250      /* pause after EMFILE and the like */
#define SERVER_LINGER_BYTES (1u << 20) /* read and dropped while closing */

enum conn_state { HANDSHAKE, READY, CLOSING };

struct conn {
	server_t *srv;
	struct bufferevent *bev;
	struct event *deadline;  /* the handshake's, freed once READY */
	double since;            /* when the handshake began */
	void *peer;              /* the controller's handle, once READY */
	enum conn_state state;
	uint8_t nonce[PROTO_NONCE_SIZE];      /* ours, sent in CHALLENGE */
	uint8_t exec_nonce[PROTO_NONCE_SIZE]; /* the executor's, from HELLO */
	uint8_t source[16];                   /* address bytes, for penalties */
	size_t lingered;                      /* bytes dropped while closing */
	char addr[64];
	struct conn *prev, *next; /* oldest first */
};

/* A token bucket of failed handshakes for one source address. */
struct penalty {
	uint8_t source[16];
	double tokens, at;
	int used;
};

struct server {
	struct event_base *base;
	struct evconnlistener *listener;
	struct event *resume_accept;
	struct event *handshake_room; /* the oldest handshake's grace ends */
	uint8_t secret[PROTO_SECRET_SIZE];
	uint32_t max_body;
	int max_connections;
	double auth_burst;
	struct server_handlers h;
	struct conn *head, *tail;
	int nconns, handshakes, paused;
	struct penalty penalties[PENALTY_SLOTS];
	double note_window;
	int notes;
	uint64_t notes_hidden;
	char address[80];
	struct server_stats stats;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One line on stderr, at most NOTES_PER_WINDOW per window: a flood of
 * hostile connections must not flood the console too. */
static void note(server_t *s, const char *fmt, ...)
{
	double now = now_s();
	char text[512];
	va_list ap;

	if (now - s->note_window > NOTE_WINDOW_S) {
		if (s->notes_hidden)
			console_line(stderr, "maggy-engine: %llu more refused "
				     "connections not shown (summary.json "
				     "counts them)",
				     (unsigned long long)s->notes_hidden);
		s->note_window = now;
		s->notes = 0;
		s->notes_hidden = 0;
	}
	if (s->notes++ >= NOTES_PER_WINDOW) {
		s->notes_hidden++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	console_line(stderr, "maggy-engine: %s", text);
}

/* ---- penalties for failed handshakes ---------------------------------- */

static struct penalty *penalty_of(server_t *s, const uint8_t source[16],
				  int create)
{
	struct penalty *p, *victim = &s->penalties[0];
	double now = now_s();
	int i;

	for (i = 0; i < PENALTY_SLOTS; i++) {
		p = &s->penalties[i];
		if (p->used && memcmp(p->source, source, 16) == 0) {
			p->tokens += (now - p->at) * SERVER_AUTH_RATE;
			if (p->tokens > s->auth_burst)
				p->tokens = s->auth_burst;
			p->at = now;
			return p;
		}
		/* Reuse a free slot, else the one longest untouched. */
		if (victim->used && (!p->used || p->at < victim->at))
			victim = p;
	}
	if (!create)
		return NULL;
	memcpy(victim->source, source, 16);
	victim->tokens = s->auth_burst;
	victim->at = now;
	victim->used = 1;
	return victim;
}

static int penalized(server_t *s, const uint8_t source[16])
{
	struct penalty *p = penalty_of(s, source, 0);

	return p && p->tokens < 1;
}

/* ---- connections ------------------------------------------------------- */

/* The oldest connection still in its handshake. */
static struct conn *oldest_handshake(server_t *s)
{
	struct conn *c;

	for (c = s->head; c; c = c->next)
		if (c->state == HANDSHAKE)
			return c;
	return NULL;
}

/*
 * Room for one more handshake: under the cap, or the oldest one has had
 * its grace and may be closed for a newcomer. Otherwise accepting waits
 * (the kernel's queue holds the newcomers) until a handshake ends or the
 * oldest one's grace is over: a thousand executors starting at once all
 * get in, none is closed before it could answer its CHALLENGE.
 */
static int handshake_room(server_t *s)
{
	struct conn *oldest;
	struct timeval tv;
	long left_us;
	double age;

	if (s->handshakes < SERVER_MAX_HANDSHAKES ||
	    (oldest = oldest_handshake(s)) == NULL)
		return 1;
	age = now_s() - oldest->since;
	if (age >= SERVER_HANDSHAKE_GRACE_S)
		return 1;
	if (!evtimer_pending(s->handshake_room, NULL)) {
		left_us = (long)((SERVER_HANDSHAKE_GRACE_S - age) * 1e6) + 1;
		tv.tv_sec = left_us / 1000000;
		tv.tv_usec = left_us % 1000000;
		evtimer_add(s->handshake_room, &tv);
	}
	return 0;
}

static void update_listener(server_t *s)
{
	int want = s->nconns < s->max_connections &&
		   !evtimer_pending(s->resume_accept, NULL) &&
		   handshake_room(s);

	if (want && s->paused) {
		evconnlistener_enable(s->listener);
		s->paused = 0;
	} else if (!want && !s->paused) {
		evconnlistener_disable(s->listener);
		s->paused = 1;
		s->stats.accept_pauses++;
	}
}

/* The handshake is over (verified, refused or dropped): no deadline. */
static void end_handshake(struct conn *c)
{
	if (c->deadline == NULL)
		return;
	event_free(c->deadline);
	c->deadline = NULL;
	c->srv->handshakes--;
	if (c->srv->listener)
		update_listener(c->srv);
}

static void conn_free(struct conn *c)
{
	server_t *s = c->srv;
	void *peer = c->peer;

	if (c->prev)
		c->prev->next = c->next;
	else
		s->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		s->tail = c->prev;
	s->nconns--;
	end_handshake(c);
	bufferevent_free(c->bev);
	free(c);
	if (s->listener)
		update_listener(s);
	if (peer)
		s->h.closed(s->h.arg, peer);
}

static int enqueue(conn_t *c, unsigned type, uint32_t id, const void *prefix,
		   size_t plen, const void *body, size_t len)
{
	uint8_t header[PROTO_HEADER_SIZE];
	struct evbuffer *out = bufferevent_get_output(c->bev);

	proto_header_encode(header, type, id, (uint32_t)(plen + len));
	if (evbuffer_add(out, header, sizeof header) < 0 ||
	    (plen && evbuffer_add(out, prefix, plen) < 0) ||
	    (len && evbuffer_add(out, body, len) < 0))
		return SERVER_ECLOSED;
	c->srv->stats.frames_out++;
	return 0;
}

int server_send(conn_t *c, unsigned type, uint32_t id, const void *body,
		size_t len)
{
	server_t *s = c->srv;

	if (c->state == CLOSING)
		return SERVER_ECLOSED;
	if (len > s->max_body)
		return SERVER_ETOOBIG;
	if (server_pending(c) + len > SERVER_MAX_OUTPUT) {
		s->stats.slow_readers++;
		note(s, "dropping the executor at %s: it has not read the "
		     "last %zu bytes sent to it", c->addr, server_pending(c));
		server_drop_conn(c);
		return SERVER_ECLOSED;
	}
	return enqueue(c, type, id, NULL, 0, body, len);
}

int server_send_welcome(conn_t *c, const char *json, size_t len)
{
	uint8_t mac[PROTO_MAC_SIZE];

	if (c->state == CLOSING)
		return SERVER_ECLOSED;
	proto_welcome_mac(c->srv->secret, c->nonce, c->exec_nonce, json, len,
			  mac);
	return enqueue(c, PROTO_WELCOME, 0, mac, sizeof mac, json, len);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_free(arg);
}

/* Lingering close: what the peer still sends is read and dropped, so the
 * kernel does not answer it with a reset that could destroy the ERROR
 * before the peer reads it. Bounded by SERVER_CLOSE_TIMEOUT_S and
 * SERVER_LINGER_BYTES. */
static void lingering_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	c->lingered += evbuffer_get_length(in);
	evbuffer_drain(in, evbuffer_get_length(in));
	if (c->lingered > SERVER_LINGER_BYTES)
		conn_free(c);
}

/* The ERROR is out: close, or when the peer has sent more than we read,
 * stop sending and wait for it to close. */
static void closing_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	evutil_socket_t fd = bufferevent_getfd(bev);
	int unread = 0;

	if (evbuffer_get_length(bufferevent_get_input(bev)) == 0 &&
	    ioctl(fd, FIONREAD, &unread) == 0 && unread == 0) {
		conn_free(c);
		return;
	}
	if (shutdown(fd, SHUT_WR) < 0) {
		conn_free(c);
		return;
	}
	bufferevent_setwatermark(bev, EV_READ, 0, 0);
	bufferevent_setcb(bev, lingering_read_cb, NULL, conn_event_cb, c);
	bufferevent_enable(bev, EV_READ);
}

/* ERROR {"error": message}, with "retry": true when the peer may try again
 * (the engine was busy), then close. */
static void close_with(conn_t *c, const char *message, int retry)
{
	struct timeval tv = { SERVER_CLOSE_TIMEOUT_S, 0 };
	json_t *obj;
	char *body;

	if (c->state == CLOSING)
		return;
	obj = json_pack("{s:s}", "error", message);
	if (obj && retry)
		json_object_set_new(obj, "retry", json_true());
	body = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	if (body)
		enqueue(c, PROTO_ERROR, 0, NULL, 0, body, strlen(body));
	free(body);
	json_decref(obj);
	c->state = CLOSING;
	end_handshake(c);
	/* Freed once the ERROR is out and the peer has closed too, on a
	 * socket error, or when the peer takes too long; never here: our
	 * caller may still be in a callback of c. */
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_setcb(c->bev, NULL, closing_write_cb, conn_event_cb, c);
}

void server_close_conn(conn_t *c, const char *message)
{
	close_with(c, message, 0);
}

static void drop_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_free(arg);
}

void server_drop_conn(conn_t *c)
{
	struct timeval now = { 0, 0 };

	if (c->state == CLOSING)
		return;
	c->state = CLOSING;
	end_handshake(c);
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	bufferevent_setcb(c->bev, NULL, NULL, NULL, c);
	if (event_base_once(c->srv->base, -1, EV_TIMEOUT, drop_cb, c, &now) < 0)
		conn_free(c); /* out of memory: freeing now is the lesser harm */
}

/* Close a connection in its handshake, saying why. */
static void refuse(struct conn *c, const char *why, int retry)
{
	char msg[256];

	note(c->srv, "connection from %s refused: %s", c->addr, why);
	snprintf(msg, sizeof msg, "refused by maggy-engine: %s", why);
	close_with(c, msg, retry);
}

/* A handshake that failed by what the peer sent (not by silence): its
 * address pays a token. */
static void auth_failed(struct conn *c, const char *why)
{
	server_t *s = c->srv;

	s->stats.auth_failures++;
	penalty_of(s, c->source, 1)->tokens -= 1;
	refuse(c, why, 0);
}

static void protocol_error(struct conn *c, const char *why)
{
	if (c->state == HANDSHAKE) {
		auth_failed(c, why);
		return;
	}
	c->srv->stats.protocol_errors++;
	note(c->srv, "closing the connection of %s: %s", c->addr, why);
	server_close_conn(c, why);
}

static void authenticated(struct conn *c)
{
	server_t *s = c->srv;

	end_handshake(c);
	c->state = READY;
	bufferevent_setwatermark(c->bev, EV_READ, 0,
				 PROTO_HEADER_SIZE + (size_t)s->max_body);
}

/* HELLO: the MAC over our nonce is checked before anything is decoded. */
static void handle_hello(struct conn *c, const struct proto_header *h,
			 const uint8_t *body)
{
	server_t *s = c->srv;
	const size_t prefix = PROTO_MAC_SIZE + PROTO_NONCE_SIZE;
	uint8_t mac[PROTO_MAC_SIZE];
	char err[512] = "";
	void *peer;

	if (h->type != PROTO_HELLO || h->length < prefix) {
		auth_failed(c, "the first frame must be HELLO");
		return;
	}
	memcpy(c->exec_nonce, body + PROTO_MAC_SIZE, PROTO_NONCE_SIZE);
	proto_hello_mac(s->secret, c->nonce, c->exec_nonce, body + prefix,
			h->length - prefix, mac);
	if (!proto_mac_equal(mac, body)) {
		auth_failed(c, "the HELLO was not signed with this experiment's "
			  "secret");
		return;
	}
	authenticated(c);
	peer = s->h.hello(s->h.arg, c, (const char *)body + prefix,
			  h->length - prefix, err, sizeof err);
	if (peer == NULL) {
		note(s, "connection from %s refused: %s", c->addr,
		     err[0] ? err : "HELLO refused");
		server_close_conn(c, err[0] ? err : "HELLO refused");
		return;
	}
	c->peer = peer;
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (c->state != CLOSING) {
		size_t avail = evbuffer_get_length(in);
		uint32_t limit = c->state == READY ? c->srv->max_body
						   : PROTO_MAX_HELLO;
		uint8_t hbuf[PROTO_HEADER_SIZE];
		struct proto_header h;
		uint8_t *frame;
		int rc;

		if (avail < PROTO_HEADER_SIZE)
			return;
		evbuffer_copyout(in, hbuf, sizeof hbuf);
		rc = proto_header_decode(hbuf, sizeof hbuf, limit, &h);
		if (rc < 0) {
			protocol_error(c, proto_strerror(rc));
			return;
		}
		if (avail < PROTO_HEADER_SIZE + (size_t)h.length)
			return;
		frame = evbuffer_pullup(in, PROTO_HEADER_SIZE + h.length);
		c->srv->stats.frames_in++;
		if (c->state == HANDSHAKE)
			handle_hello(c, &h, frame + PROTO_HEADER_SIZE);
		else
			c->srv->h.frame(c->srv->h.arg, c->peer, &h,
					frame + PROTO_HEADER_SIZE);
		if (c->state == CLOSING) /* may be gone: touch nothing */
			return;
		evbuffer_drain(in, PROTO_HEADER_SIZE + h.length);
	}
}

static void hello_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	c->srv->stats.hello_timeouts++;
	refuse(c, "no HELLO within the handshake deadline", 1);
}

/* ---- accepting --------------------------------------------------------- */

static int start_handshake(struct conn *c)
{
	struct timeval tv = { SERVER_HELLO_TIMEOUT_S, 0 };
	server_t *s = c->srv;

	c->deadline = evtimer_new(s->base, hello_timeout_cb, c);
	if (c->deadline == NULL || secret_random(c->nonce, sizeof c->nonce) < 0)
		return -1;
	evtimer_add(c->deadline, &tv);
	c->since = now_s();
	s->handshakes++;
	/* Never buffer more than one HELLO before it is verified. */
	bufferevent_setwatermark(c->bev, EV_READ, 0,
				 PROTO_HEADER_SIZE + PROTO_MAX_HELLO);
	bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return enqueue(c, PROTO_CHALLENGE, 0, NULL, 0, c->nonce,
		       sizeof c->nonce);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int socklen, void *arg)
{
	server_t *s = arg;
	uint8_t source[16];
	char addr[64];
	struct conn *c;
	int one = 1;

	netaddr_describe(sa, addr, sizeof addr, source);
	if (s->nconns >= s->max_connections) { /* accepted before the pause */
		evutil_closesocket(fd);
		update_listener(s);
		return;
	}
	if (penalized(s, source)) {
		s->stats.rate_limited++;
		note(s, "connection from %s closed: too many failed handshakes "
		     "from this address", addr);
		evutil_closesocket(fd);
		return;
	}
	if (s->handshakes >= SERVER_MAX_HANDSHAKES) { /* past its grace */
		s->stats.evicted++;
		refuse(oldest_handshake(s), "too many connections waiting "
		       "for their HELLO", 1);
	}
	c = calloc(1, sizeof *c);
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
	memcpy(c->addr, addr, sizeof c->addr);
	memcpy(c->source, source, sizeof c->source);
	c->prev = s->tail;
	if (s->tail)
		s->tail->next = c;
	else
		s->head = c;
	s->tail = c;
	s->nconns++;
	if (start_handshake(c) < 0)
		conn_free(c);
	else
		update_listener(s);
}

static void resume_accept_cb(evutil_socket_t fd, short what, void *arg)
{
	update_listener(arg);
}

/* accept() failed for a reason that does not go away by itself (out of
 * descriptors or memory): pause instead of spinning on a readable socket. */
static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	server_t *s = arg;
	struct timeval tv = { 0, ACCEPT_RETRY_MS * 1000 };
	int err = EVUTIL_SOCKET_ERROR();

	note(s, "cannot accept connections for now: %s",
	     evutil_socket_error_to_string(err));
	evtimer_add(s->resume_accept, &tv);
	update_listener(s);
}

/* ---- set-up ------------------------------------------------------------ */

static void bound_address(server_t *s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	evutil_socket_t fd = evconnlistener_get_fd(s->listener);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		netaddr_describe((struct sockaddr *)&ss, s->address,
			      sizeof s->address, NULL);
}

/* The cap asked for, within what the descriptor limit leaves (the store,
 * the executors' pipes and the listener need some too). */
static int connection_cap(int wanted)
{
	struct rlimit rl;
	int room;

	if (wanted <= 0)
		wanted = SERVER_DEFAULT_MAX_CONNECTIONS;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur > (1u << 30))
		return wanted;
	room = (int)(rl.rlim_cur - (rl.rlim_cur < 256 ? rl.rlim_cur / 4 : 64));
	if (wanted > room) {
		fprintf(stderr, "maggy-engine: accepting at most %d "
			"connections: the descriptor limit is %llu (ulimit "
			"-n)\n", room, (unsigned long long)rl.rlim_cur);
		return room;
	}
	return wanted;
}

server_t *server_new(struct event_base *base, const struct server_options *o,
		     const uint8_t secret[PROTO_SECRET_SIZE],
		     const struct server_handlers *handlers, char *err,
		     size_t errlen)
{
	server_t *s = calloc(1, sizeof *s);
	struct sockaddr_storage ss;
	int sslen;

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		if (o->listen_fd > 0)
			close(o->listen_fd);
		return NULL;
	}
	if (netaddr_parse(o->listen, &ss, &sslen, err, errlen) < 0)
		goto fail;
	s->base = base;
	memcpy(s->secret, secret, PROTO_SECRET_SIZE);
	s->max_body = o->max_body;
	s->max_connections = connection_cap(o->max_connections);
	s->auth_burst = o->auth_burst > 0 ? o->auth_burst : SERVER_AUTH_BURST;
	s->h = *handlers;
	s->note_window = now_s();
	s->resume_accept = evtimer_new(base, resume_accept_cb, s);
	s->handshake_room = evtimer_new(base, resume_accept_cb, s);
	if (s->resume_accept == NULL || s->handshake_room == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (o->listen_fd > 0) {
		evutil_make_socket_nonblocking(o->listen_fd);
		s->listener = evconnlistener_new(
			base, accept_cb, s,
			LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1,
			o->listen_fd);
	} else {
		s->listener = evconnlistener_new_bind(
			base, accept_cb, s,
			LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
				LEV_OPT_CLOSE_ON_EXEC,
			SERVER_LISTEN_BACKLOG, (struct sockaddr *)&ss, sslen);
	}
	if (s->listener == NULL) {
		snprintf(err, errlen, "cannot listen on %s: %s", o->listen,
			 strerror(errno));
		goto fail;
	}
	evconnlistener_set_error_cb(s->listener, accept_error_cb);
	bound_address(s);
	return s;
fail:
	if (o->listen_fd > 0)
		close(o->listen_fd);
	if (s->resume_accept)
		event_free(s->resume_accept);
	if (s->handshake_room)
		event_free(s->handshake_room);
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
	evconnlistener_free(s->listener);
	s->listener = NULL;
	while (s->head) {
		s->head->peer = NULL; /* no callbacks while tearing down */
		conn_free(s->head);
	}
	event_free(s->resume_accept);
	event_free(s->handshake_room);
	free(s);
}
