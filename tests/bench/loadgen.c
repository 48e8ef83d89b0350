/*
 * loadgen: fake executors that load maggy-engine over loopback, for the
 * benchmarks (tests/bench/run_bench.py drives it). Speaks the real protocol
 * through lib/proto.
 *
 *   loadgen trials     HOST:PORT SECRET_FILE CLIENTS SECONDS [POINTS [TOTAL]]
 *       each client answers every TRIAL with a FINAL at once (with the
 *       empty outputs and null error a real executor sends), after one
 *       HEARTBEAT with POINTS metric points (default 0); prints the
 *       FINAL_ACKs per second (zero-work trials the engine completes). The
 *       clients stop after SECONDS, or once TOTAL trials are acknowledged.
 *   loadgen heartbeats HOST:PORT SECRET_FILE CLIENTS SECONDS WINDOW
 *       each client keeps WINDOW heartbeats in flight; prints answers per
 *       second and the p50/p99 answer latency.
 *   loadgen echo       HOST:PORT
 *       a bare server that answers HELLO with WELCOME (no MACs checked or
 *       made) and every HEARTBEAT with HB_OK, nothing else: the baseline
 *       for the heartbeat figure.
 *
 * Output: one JSON object on stdout.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proto/proto.h"

#define MAX_LAT 2000000

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	size_t put = 0;
	while (put < len) {
		ssize_t n = write(fd, (const char *)buf + put, len - put);
		if (n <= 0)
			return -1;
		put += (size_t)n;
	}
	return 0;
}

static int send_frame(int fd, unsigned type, uint32_t id, const void *body,
		      size_t len)
{
	uint8_t buf[PROTO_HEADER_SIZE + 4096];
	proto_header_encode(buf, type, id, (uint32_t)len);
	memcpy(buf + PROTO_HEADER_SIZE, body, len);
	return write_full(fd, buf, PROTO_HEADER_SIZE + len);
}

/* Read one frame; the body goes to `body` (cap bytes, NUL-terminated). */
static int recv_frame(int fd, struct proto_header *h, char *body, size_t cap)
{
	uint8_t hb[PROTO_HEADER_SIZE];
	if (read_full(fd, hb, sizeof hb) < 0 ||
	    proto_header_decode(hb, sizeof hb, PROTO_DEFAULT_MAX_BODY, h) < 0 ||
	    h->length >= cap || read_full(fd, body, h->length) < 0)
		return -1;
	body[h->length] = '\0';
	return 0;
}

static const struct timeval recv_timeout = { 5, 0 };

static int connect_to(const char *addr)
{
	char host[64];
	const char *colon = strrchr(addr, ':');
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
	inet_pton(AF_INET, host, &sa.sin_addr);
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		perror("connect");
		exit(1);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	/* A read that waits this long counts as a failure: a connection
	 * never served (a full accept queue) is tried again, never waited
	 * on forever. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &recv_timeout, sizeof recv_timeout);
	return fd;
}

static uint8_t secret[PROTO_SECRET_SIZE];

static void load_secret(const char *path)
{
	char hex[80] = "";
	FILE *f = fopen(path, "r");
	int i;

	if (f == NULL || fgets(hex, sizeof hex, f) == NULL) {
		perror(path);
		exit(1);
	}
	fclose(f);
	for (i = 0; i < PROTO_SECRET_SIZE; i++)
		sscanf(hex + 2 * i, "%2hhx", &secret[i]);
}

/* The handshake of proto.h; the nonce of a load generator need not be
 * random, only the engine's must. Returns the connection, or -1 when the
 * engine turned it away (too many handshakes at once: try again). */
static int try_hello(const char *addr, int slot)
{
	const size_t prefix = PROTO_MAC_SIZE + PROTO_NONCE_SIZE;
	uint8_t body[256], server_nonce[PROTO_NONCE_SIZE];
	char reply[4096];
	struct proto_header h;
	int fd = connect_to(addr);
	int n = snprintf((char *)body + prefix, sizeof body - prefix,
			 "{\"host\":\"loadgen\",\"pid\":%d,\"slot\":%d,\"attempt\":1}",
			 (int)getpid(), slot);

	if (recv_frame(fd, &h, reply, sizeof reply) < 0 ||
	    h.type != PROTO_CHALLENGE || h.length != PROTO_NONCE_SIZE) {
		close(fd);
		return -1;
	}
	memcpy(server_nonce, reply, PROTO_NONCE_SIZE);
	memset(body + PROTO_MAC_SIZE, slot, PROTO_NONCE_SIZE);
	proto_hello_mac(secret, server_nonce, body + PROTO_MAC_SIZE,
			body + prefix, (size_t)n, body);
	send_frame(fd, PROTO_HELLO, 0, body, prefix + (size_t)n);
	if (recv_frame(fd, &h, reply, sizeof reply) < 0 || h.type != PROTO_WELCOME) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Connects as executors do: hundreds at once exceed the engine's pending
 * handshakes, and the ones it turns away come back after a pause. */
static int hello(const char *addr, int slot)
{
	for (int attempt = 0; attempt < 100; attempt++) {
		int fd = try_hello(addr, slot);
		if (fd >= 0)
			return fd;
		usleep(10000 + 1000 * (unsigned)(slot % 50));
	}
	fprintf(stderr, "loadgen: slot %d: no handshake after 100 tries\n", slot);
	exit(1);
}

/* Every client has its handshake done before the clock starts: with
 * hundreds of clients the handshakes take seconds, which are no part of
 * the load. */
static pthread_barrier_t all_connected, clock_set;
static double until;

static void wait_for_all(void)
{
	pthread_barrier_wait(&all_connected);
	pthread_barrier_wait(&clock_set);
}

struct client {
	const char *addr;
	int slot, window;
	long done;
	double *lat;
	long nlat;
	pthread_t thread;
};

/* ---- trials ----------------------------------------------------------- */

/* Points each trial reports (one HEARTBEAT before its FINAL), and the
 * trials after which every client stops (0: only the clock stops them). */
static uint32_t points_per_trial;
static long total_trials;
static long trials_acked; /* atomic */

static int enough_trials(void)
{
	return total_trials &&
	       __atomic_load_n(&trials_acked, __ATOMIC_RELAXED) >= total_trials;
}

static void report_points(int fd, const char *hex)
{
	static __thread struct proto_point *points;
	static __thread uint8_t *body;
	uint64_t trial = strtoull(hex, NULL, 16);
	uint32_t i;
	int len;

	if (points == NULL) {
		points = malloc(sizeof *points * points_per_trial);
		body = malloc(proto_heartbeat_size(points_per_trial));
	}
	for (i = 0; i < points_per_trial; i++)
		points[i] = (struct proto_point){ i + 1, 1.0 / (i + 1) };
	len = proto_heartbeat_encode(body, proto_heartbeat_size(points_per_trial),
				     trial, points, points_per_trial);
	send_frame(fd, PROTO_HEARTBEAT, 1, body, (size_t)len);
}

/* End the trial `hex` at once: its points, then its FINAL. */
static void finish_trial(int fd, const char *hex)
{
	char final[256];
	int n = snprintf(final, sizeof final,
			 "{\"id\":\"%.16s\",\"state\":\"FINISHED\","
			 "\"value\":1.0,\"outputs\":{},\"error\":null,"
			 "\"steps\":%u}", hex, points_per_trial);

	if (points_per_trial)
		report_points(fd, hex);
	send_frame(fd, PROTO_FINAL, 0, final, (size_t)n);
}

/* As a real executor, a client keeps at most PROTO_FINALS_IN_FLIGHT FINALs
 * unacknowledged: a trial that comes past that ends at the next ack. */
static void *trials_client(void *arg)
{
	struct client *c = arg;
	int fd = hello(c->addr, c->slot);
	char body[8192], held[17] = "";
	struct proto_header h;
	int in_flight = 0;

	wait_for_all();
	while (now() < until && !enough_trials() &&
	       recv_frame(fd, &h, body, sizeof body) == 0) {
		if (h.type == PROTO_TRIAL) {
			const char *id = strstr(body, "\"id\":\"") + 6;
			if (in_flight == PROTO_FINALS_IN_FLIGHT) {
				snprintf(held, sizeof held, "%.16s", id);
				continue;
			}
			finish_trial(fd, id);
			in_flight++;
		} else if (h.type == PROTO_FINAL_ACK) {
			c->done++;
			__atomic_add_fetch(&trials_acked, 1, __ATOMIC_RELAXED);
			in_flight--;
			if (held[0]) {
				finish_trial(fd, held);
				in_flight++;
				held[0] = '\0';
			}
		} else if (h.type == PROTO_BYE) {
			break;
		}
	}
	close(fd);
	return NULL;
}

/* ---- heartbeats ------------------------------------------------------- */

static void *heartbeat_client(void *arg)
{
	struct client *c = arg;
	int fd = hello(c->addr, c->slot);
	uint8_t body[64];
	char reply[8192];
	struct proto_header h;
	uint32_t id = 0;
	double *sent = calloc(1u << 16, sizeof *sent);
	int len = proto_heartbeat_encode(body, sizeof body, 0, NULL, 0);
	int i;

	wait_for_all();
	for (i = 0; i < c->window; i++, id++) {
		sent[id & 0xffff] = now();
		send_frame(fd, PROTO_HEARTBEAT, id, body, (size_t)len);
	}
	while (now() < until && recv_frame(fd, &h, reply, sizeof reply) == 0) {
		if (h.type != PROTO_HB_OK && h.type != PROTO_HB_STOP)
			continue; /* a TRIAL pushed to us: ignored */
		if (c->nlat < MAX_LAT)
			c->lat[c->nlat++] = now() - sent[h.id & 0xffff];
		c->done++;
		sent[id & 0xffff] = now();
		send_frame(fd, PROTO_HEARTBEAT, id++, body, (size_t)len);
	}
	close(fd);
	free(sent);
	return NULL;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int run_clients(int argc, char **argv, void *(*fn)(void *), int heart)
{
	int n = atoi(argv[4]), window = heart ? atoi(argv[6]) : 1, i;
	double seconds = atof(argv[5]), start, elapsed;
	struct client *cs = calloc((size_t)n, sizeof *cs);
	long total = 0, nlat = 0;
	double *all = heart ? malloc(sizeof(double) * MAX_LAT * (size_t)n) : NULL;

	load_secret(argv[3]);
	pthread_barrier_init(&all_connected, NULL, (unsigned)n + 1);
	pthread_barrier_init(&clock_set, NULL, (unsigned)n + 1);
	for (i = 0; i < n; i++) {
		cs[i] = (struct client){ argv[2], i, window, 0,
					 heart ? malloc(sizeof(double) * MAX_LAT) : NULL,
					 0, 0 };
		pthread_create(&cs[i].thread, NULL, fn, &cs[i]);
	}
	pthread_barrier_wait(&all_connected);
	start = now();
	until = start + seconds;
	pthread_barrier_wait(&clock_set); /* the clients read `until` after it */
	for (i = 0; i < n; i++) {
		pthread_join(cs[i].thread, NULL);
		total += cs[i].done;
		if (heart) {
			memcpy(all + nlat, cs[i].lat, sizeof(double) * (size_t)cs[i].nlat);
			nlat += cs[i].nlat;
		}
	}
	elapsed = now() - start;
	if (heart) {
		qsort(all, (size_t)nlat, sizeof *all, by_value);
		printf("{\"answers\": %ld, \"seconds\": %.3f, \"per_second\": %.0f, "
		       "\"p50_ms\": %.3f, \"p99_ms\": %.3f}\n", total, elapsed,
		       total / elapsed, nlat ? all[nlat / 2] * 1e3 : 0,
		       nlat ? all[(long)(nlat * 0.99)] * 1e3 : 0);
	} else {
		printf("{\"trials\": %ld, \"seconds\": %.3f, \"per_second\": %.0f}\n",
		       total, elapsed, total / elapsed);
	}
	return 0;
}

/* ---- echo baseline ---------------------------------------------------- */

static void *echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char body[8192];
	uint8_t out[PROTO_HEADER_SIZE + 8];
	struct proto_header h;

	uint8_t nonce[PROTO_NONCE_SIZE] = { 0 };

	send_frame(fd, PROTO_CHALLENGE, 0, nonce, sizeof nonce);
	while (recv_frame(fd, &h, body, sizeof body) == 0) {
		if (h.type == PROTO_HELLO) {
			send_frame(fd, PROTO_WELCOME, 0, "{}", 2);
		} else if (h.type == PROTO_HEARTBEAT) {
			proto_header_encode(out, PROTO_HB_OK, h.id, 8);
			memcpy(out + PROTO_HEADER_SIZE, body, 8);
			write_full(fd, out, sizeof out);
		}
	}
	close(fd);
	return NULL;
}

static int echo_server(const char *addr)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof sa;
	int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	const char *colon = strrchr(addr, ':');
	char host[64];

	snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
	inet_pton(AF_INET, host, &sa.sin_addr);
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 64) < 0) {
		perror("echo");
		return 1;
	}
	getsockname(lfd, (struct sockaddr *)&sa, &len);
	printf("listening on %s:%d\n", host, ntohs(sa.sin_port));
	fflush(stdout);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		pthread_t t;
		if (fd < 0)
			continue;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		pthread_create(&t, NULL, echo_conn, (void *)(intptr_t)fd);
		pthread_detach(t);
	}
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN); /* peers hang up mid-write at the end */
	if (argc >= 6 && argc <= 8 && strcmp(argv[1], "trials") == 0) {
		points_per_trial = argc > 6 ? (uint32_t)atoi(argv[6]) : 0;
		total_trials = argc > 7 ? atol(argv[7]) : 0;
		if (points_per_trial > PROTO_MAX_POINTS) {
			fprintf(stderr, "loadgen: at most %d points per trial\n",
				PROTO_MAX_POINTS);
			return 2;
		}
		return run_clients(argc, argv, trials_client, 0);
	}
	if (argc == 7 && strcmp(argv[1], "heartbeats") == 0)
		return run_clients(argc, argv, heartbeat_client, 1);
	if (argc == 3 && strcmp(argv[1], "echo") == 0)
		return echo_server(argv[2]);
	fprintf(stderr, "usage: see the comment at the top of loadgen.c\n");
	return 2;
}
