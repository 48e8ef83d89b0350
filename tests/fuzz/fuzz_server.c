/*
 * fuzz_server: the real server (engine/server.c on libevent) fed arbitrary
 * bytes over a loopback connection. When byte 0 is odd the harness first
 * does what a real executor does (reads the CHALLENGE, sends a HELLO signed
 * with the secret); then the rest of the input goes out as it is, the
 * harness closes its sending side, reads until the server lets go, closes,
 * and runs the loop until the server has freed the connection. Checked: no
 * HELLO is accepted and no frame reaches the handlers without the signed
 * HELLO (a MAC cannot be guessed), every frame handed over is within the
 * limit, each peer is closed exactly once, and every connection is freed
 * whatever the bytes were (server_connections() back to 0).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_check.h"
#include "proto.h"
#include "server.h"

#define MAX_BODY 4096
#define GIVE_UP_S 5.0

static const uint8_t SECRET[PROTO_SECRET_SIZE] = { 42, 7 };
static struct event_base *base;
static server_t *srv;
static struct sockaddr_in addr;
static int hellos, frames, closes, peers;

struct peer {
	int closed;
};

static void *on_hello(void *arg, conn_t *c, const char *json, size_t len,
		      char *err, size_t errlen)
{
	struct peer *p = calloc(1, sizeof *p);

	FUZZ_CHECK(p != NULL, "out of memory");
	hellos++;
	peers++;
	server_send_welcome(c, "{}", 2);
	return p;
}

static void on_frame(void *arg, void *peer, const struct proto_header *h,
		     const uint8_t *body)
{
	struct peer *p = peer;

	FUZZ_CHECK(!p->closed, "a frame for a closed peer");
	FUZZ_CHECK(h->length <= MAX_BODY, "a frame of %u bytes", h->length);
	FUZZ_CHECK(h->type >= 1 && h->type <= PROTO_TYPE_MAX, "type %u",
		   h->type);
	frames++;
}

static void on_closed(void *arg, void *peer)
{
	struct peer *p = peer;

	FUZZ_CHECK(!p->closed, "a peer closed twice");
	p->closed = 1;
	closes++;
	peers--;
	free(p);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void start_server(void)
{
	struct server_handlers h = { NULL, on_hello, on_frame, on_closed };
	/* Every input comes from the same address: no penalties here. */
	struct server_options o = { "127.0.0.1:0", MAX_BODY, 64, 1 << 30 };
	char err[256];
	const char *a;

	base = event_base_new();
	srv = server_new(base, &o, SECRET, &h, err, sizeof err);
	FUZZ_CHECK(srv != NULL, "server_new: %s", err);
	a = server_address(srv);
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)atoi(strrchr(a, ':') + 1));
	inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
}

/* Run the loop until fd has `want` bytes to read (or EOF), or time out. */
static ssize_t read_some(int fd, uint8_t *buf, size_t want, double deadline)
{
	size_t got = 0;

	while (got < want && now_s() < deadline) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;

		event_base_loop(base, EVLOOP_NONBLOCK);
		if (poll(&p, 1, 1) <= 0)
			continue;
		n = recv(fd, buf + got, want - got, 0);
		if (n < 0 && errno == EINTR) /* libFuzzer's timers */
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* send() all of it, through the signals libFuzzer's timers raise. */
static int send_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* connect(), finished with poll() when a signal interrupts it. */
static int connect_to_server(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), err = 0;
	socklen_t len = sizeof err;
	struct pollfd p = { fd, POLLOUT, 0 };

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0)
		return fd;
	if (errno != EINTR && errno != EINPROGRESS)
		return -1;
	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err)
		return -1;
	return fd;
}

/* The handshake of a real executor: CHALLENGE in, signed HELLO out. */
static void handshake(int fd, double deadline)
{
	uint8_t challenge[PROTO_HEADER_SIZE + PROTO_NONCE_SIZE];
	uint8_t hello[PROTO_HEADER_SIZE + PROTO_MAC_SIZE + PROTO_NONCE_SIZE + 2];
	uint8_t *body = hello + PROTO_HEADER_SIZE;

	FUZZ_CHECK(read_some(fd, challenge, sizeof challenge, deadline) ==
			   (ssize_t)sizeof challenge, "no CHALLENGE");
	FUZZ_CHECK(challenge[3] == PROTO_CHALLENGE, "first frame %u",
		   challenge[3]);
	memset(body + PROTO_MAC_SIZE, 9, PROTO_NONCE_SIZE);
	memcpy(body + PROTO_MAC_SIZE + PROTO_NONCE_SIZE, "{}", 2);
	proto_hello_mac(SECRET, challenge + PROTO_HEADER_SIZE,
			body + PROTO_MAC_SIZE, "{}", 2, body);
	proto_header_encode(hello, PROTO_HELLO, 0, sizeof hello -
			    PROTO_HEADER_SIZE);
	FUZZ_CHECK(send_all(fd, hello, sizeof hello) == 0, "send HELLO: %d",
		   errno);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	double deadline = now_s() + GIVE_UP_S;
	int signed_hello = size > 0 && (data[0] & 1);
	uint8_t sink[4096];
	int fd;

	if (srv == NULL)
		start_server();
	hellos = frames = closes = 0;
	fd = connect_to_server();
	FUZZ_CHECK(fd >= 0, "connect: %d", errno);
	if (signed_hello)
		handshake(fd, deadline);
	if (size > 1)
		send_all(fd, data + 1, size - 1); /* it may have closed */
	shutdown(fd, SHUT_WR);
	while (read_some(fd, sink, sizeof sink, deadline) == sizeof sink)
		;
	close(fd);
	while (server_connections(srv) > 0 && now_s() < deadline)
		event_base_loop(base, EVLOOP_NONBLOCK);
	FUZZ_CHECK(server_connections(srv) == 0, "a connection never freed");
	FUZZ_CHECK(peers == 0, "%d peers never closed", peers);
	if (!signed_hello)
		FUZZ_CHECK(hellos == 0 && frames == 0, "%d HELLOs and %d frames "
			   "accepted without the signed HELLO", hellos, frames);
	else
		FUZZ_CHECK(hellos == 1 && closes == 1, "signed HELLO: %d "
			   "accepted, %d closed", hellos, closes);
	return 0;
}
