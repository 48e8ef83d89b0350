/*
 * fuzz_stream: arbitrary bytes as what an executor writes on its
 * connection. They are split into frames the way engine/server.c
 * conn_read_cb() does (a header once 16 bytes are there, refused when
 * proto_header_decode() refuses it, the body once all of it is there), and
 * each body goes to the decoder of its type, in a buffer of its exact size
 * so that ASan sees a read past it. The secret check is left out (the
 * fuzzer cannot guess 32 bytes); proto_secret_equal() is checked on its own
 * instead: equal to itself, unequal after any one-bit change. The bytes are
 * then fed again in small pieces, as TCP may deliver them, and must split
 * into the same frames with the same verdict. A message type without a
 * decoder below fails the run: a new type needs its case here.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "fuzz_check.h"
#include "proto.h"

/* What came out of one connection's bytes. */
struct split {
	uint8_t *buf; /* bytes received, not yet consumed */
	size_t len, cap;
	int refused;  /* a header was refused: the connection is closed */
	uint64_t frames, digest;
};

static uint64_t mix(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull; /* FNV-1a */
	return h;
}

/* The handshake's MAC check as the server makes it: a HELLO signed for one
 * server nonce never verifies for another, and every bit of the MAC counts. */
static void check_hello(const uint8_t *body, size_t len)
{
	static const uint8_t secret[PROTO_SECRET_SIZE] = { 7 };
	uint8_t ns[PROTO_NONCE_SIZE] = { 1 }, mac[PROTO_MAC_SIZE];
	const size_t prefix = PROTO_MAC_SIZE + PROTO_NONCE_SIZE;
	unsigned bit = body[0];

	proto_hello_mac(secret, ns, body + PROTO_MAC_SIZE, body + prefix,
			len - prefix, mac);
	FUZZ_CHECK(proto_mac_equal(mac, mac), "a MAC differs from itself");
	ns[0] ^= 1;
	{
		uint8_t other[PROTO_MAC_SIZE];
		proto_hello_mac(secret, ns, body + PROTO_MAC_SIZE,
				body + prefix, len - prefix, other);
		FUZZ_CHECK(!proto_mac_equal(mac, other),
			   "a HELLO verifies under another server nonce");
		memcpy(other, mac, sizeof other);
		other[(bit / 8) % PROTO_MAC_SIZE] ^= (uint8_t)(1u << (bit % 8));
		FUZZ_CHECK(!proto_mac_equal(mac, other), "bit %u ignored", bit);
	}
}

static void decode_json(const uint8_t *body, size_t len)
{
	json_t *v = json_loadb((const char *)body, len, 0, NULL);
	json_decref(v);
}

static void decode_body(const struct proto_header *h, const uint8_t *body)
{
	static struct proto_point points[PROTO_MAX_POINTS];
	enum proto_stream stream;
	const char *text;
	size_t text_len;
	uint64_t trial;
	uint32_t n;

	switch (h->type) {
	case PROTO_HELLO:
		if (h->length < PROTO_MAC_SIZE + PROTO_NONCE_SIZE)
			break; /* the server refuses it */
		check_hello(body, h->length);
		decode_json(body + PROTO_MAC_SIZE + PROTO_NONCE_SIZE,
			    h->length - PROTO_MAC_SIZE - PROTO_NONCE_SIZE);
		break;
	case PROTO_WELCOME:
		if (h->length >= PROTO_MAC_SIZE)
			decode_json(body + PROTO_MAC_SIZE,
				    h->length - PROTO_MAC_SIZE);
		break;
	case PROTO_CHALLENGE:
		break; /* a nonce: any 32 bytes (the executor checks the size) */
	case PROTO_TRIAL:
	case PROTO_FINAL:
	case PROTO_ERROR:
		decode_json(body, h->length);
		break;
	case PROTO_HEARTBEAT:
		proto_heartbeat_decode(body, h->length, &trial, points, &n);
		break;
	case PROTO_HB_OK:
	case PROTO_HB_STOP:
	case PROTO_FINAL_ACK:
	case PROTO_RECYCLE:
		proto_trial_decode(body, h->length, &trial);
		break;
	case PROTO_LOG:
		proto_log_decode(body, h->length, &trial, &stream, &text,
				 &text_len);
		break;
	case PROTO_BYE:
		break; /* no body to decode */
	default:
		FUZZ_CHECK(0, "no decoder for type %u (%s): add its case",
			   h->type, proto_type_name(h->type));
	}
}

/* conn_read_cb: consume every complete frame in s->buf. */
static void read_frames(struct split *s, int decode)
{
	size_t off = 0;

	while (!s->refused && s->len - off >= PROTO_HEADER_SIZE) {
		struct proto_header h;
		int rc = proto_header_decode(s->buf + off, PROTO_HEADER_SIZE,
					     PROTO_DEFAULT_MAX_BODY, &h);
		uint8_t *body;

		if (rc < 0) {
			s->refused = 1;
			break;
		}
		if (s->len - off < PROTO_HEADER_SIZE + (size_t)h.length)
			break;
		body = malloc(h.length ? h.length : 1);
		memcpy(body, s->buf + off + PROTO_HEADER_SIZE, h.length);
		if (decode)
			decode_body(&h, body);
		s->frames++;
		s->digest = mix(s->digest, s->buf + off, PROTO_HEADER_SIZE);
		s->digest = mix(s->digest, body, h.length);
		free(body);
		off += PROTO_HEADER_SIZE + h.length;
	}
	memmove(s->buf, s->buf + off, s->len - off);
	s->len -= off;
}

static void receive(struct split *s, const uint8_t *p, size_t n, int decode)
{
	if (s->refused || n == 0)
		return; /* a closed connection reads nothing more */
	if (s->len + n > s->cap) {
		s->cap = s->len + n;
		s->buf = realloc(s->buf, s->cap);
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	read_frames(s, decode);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct split whole = { 0 }, pieces = { 0 };
	size_t off = 0, piece = 1;

	receive(&whole, data, size, 1);
	while (off < size) {
		size_t n = size - off < piece ? size - off : piece;
		receive(&pieces, data + off, n, 0);
		off += n;
		piece = piece % 23 + 1;
	}
	FUZZ_CHECK(whole.frames == pieces.frames && whole.digest == pieces.digest,
		   "%llu frames at once, %llu in pieces",
		   (unsigned long long)whole.frames,
		   (unsigned long long)pieces.frames);
	FUZZ_CHECK(whole.refused == pieces.refused &&
			   (whole.refused || whole.len == pieces.len),
		   "refused %d/%d, left %zu/%zu", whole.refused, pieces.refused,
		   whole.len, pieces.len);
	free(whole.buf);
	free(pieces.buf);
	return 0;
}
