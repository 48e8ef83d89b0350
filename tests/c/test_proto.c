/* Unit tests of lib/proto: frame headers and binary codecs, including the
 * rejection of malformed and oversized frames. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "proto/proto.h"

#include "check.h"

static void test_header_round_trip(void)
{
	uint8_t buf[PROTO_HEADER_SIZE];
	struct proto_header h;

	proto_header_encode(buf, PROTO_FINAL, 0xdeadbeef, 1234);
	CHECK(proto_header_decode(buf, sizeof buf, PROTO_DEFAULT_MAX_BODY, &h) ==
	      PROTO_OK);
	CHECK(h.type == PROTO_FINAL);
	CHECK(h.id == 0xdeadbeef);
	CHECK(h.length == 1234);
	CHECK(h.version == PROTO_VERSION);
	CHECK(buf[0] == 'M' && buf[1] == 'G');
}

static void test_header_rejections(void)
{
	uint8_t buf[PROTO_HEADER_SIZE];
	struct proto_header h;

	proto_header_encode(buf, PROTO_HELLO, 1, 10);
	CHECK(proto_header_decode(buf, PROTO_HEADER_SIZE - 1, 100, &h) ==
	      PROTO_EAGAIN);

	buf[0] = 'X';
	CHECK(proto_header_decode(buf, sizeof buf, 100, &h) == PROTO_EMAGIC);

	proto_header_encode(buf, PROTO_HELLO, 1, 10);
	buf[2] = PROTO_VERSION + 1;
	CHECK(proto_header_decode(buf, sizeof buf, 100, &h) == PROTO_EVERSION);

	proto_header_encode(buf, 0, 1, 10);
	CHECK(proto_header_decode(buf, sizeof buf, 100, &h) == PROTO_ETYPE);
	proto_header_encode(buf, PROTO_TYPE_MAX + 1, 1, 10);
	CHECK(proto_header_decode(buf, sizeof buf, 100, &h) == PROTO_ETYPE);

	proto_header_encode(buf, PROTO_LOG, 1, 101);
	CHECK(proto_header_decode(buf, sizeof buf, 100, &h) == PROTO_ETOOBIG);
	proto_header_encode(buf, PROTO_LOG, 1, 100);
	CHECK(proto_header_decode(buf, sizeof buf, 100, &h) == PROTO_OK);
	proto_header_encode(buf, PROTO_LOG, 1, 0xffffffffu);
	CHECK(proto_header_decode(buf, sizeof buf, PROTO_DEFAULT_MAX_BODY, &h) ==
	      PROTO_ETOOBIG);
}

static void test_heartbeat_round_trip(void)
{
	struct proto_point in[3] = { { 0, 0.5 }, { 7, -1.25 }, { 1ull << 40, 1e300 } };
	static struct proto_point out[PROTO_MAX_POINTS];
	uint8_t buf[256];
	uint64_t trial;
	uint32_t n;
	int len = proto_heartbeat_encode(buf, sizeof buf, 42, in, 3);

	CHECK(len == (int)proto_heartbeat_size(3));
	CHECK(proto_heartbeat_decode(buf, (size_t)len, &trial, out, &n) == PROTO_OK);
	CHECK(trial == 42 && n == 3);
	CHECK(out[1].step == 7 && out[1].value == -1.25);
	CHECK(out[2].step == (1ull << 40) && out[2].value == 1e300);

	/* an empty heartbeat is a liveness signal */
	len = proto_heartbeat_encode(buf, sizeof buf, 0, NULL, 0);
	CHECK(len == 12);
	CHECK(proto_heartbeat_decode(buf, 12, &trial, out, &n) == PROTO_OK);
	CHECK(trial == 0 && n == 0);
}

static void test_heartbeat_rejections(void)
{
	struct proto_point in[2] = { { 1, 1.0 }, { 2, 2.0 } };
	uint8_t buf[256];
	uint64_t trial;
	uint32_t n;
	int len = proto_heartbeat_encode(buf, sizeof buf, 9, in, 2);

	CHECK(proto_heartbeat_decode(buf, (size_t)len - 1, &trial, NULL, &n) ==
	      PROTO_EBODY);
	CHECK(proto_heartbeat_decode(buf, (size_t)len + 1, &trial, NULL, &n) ==
	      PROTO_EBODY);
	CHECK(proto_heartbeat_decode(buf, 5, &trial, NULL, &n) == PROTO_EBODY);
	/* a count that does not match the length */
	buf[11] = 200;
	CHECK(proto_heartbeat_decode(buf, (size_t)len, &trial, NULL, &n) ==
	      PROTO_EBODY);
	/* a count beyond the limit */
	memset(buf + 8, 0xff, 4);
	CHECK(proto_heartbeat_decode(buf, (size_t)len, &trial, NULL, &n) ==
	      PROTO_EBODY);
	CHECK(proto_heartbeat_encode(buf, 20, 9, in, 2) == PROTO_ENOSPC);
}

static void test_log_and_trial_bodies(void)
{
	uint8_t buf[64];
	uint64_t trial;
	enum proto_stream stream;
	const char *text;
	size_t len;
	int n = proto_log_encode(buf, sizeof buf, 77, PROTO_STDERR, "hello", 5);

	CHECK(n == PROTO_LOG_PREFIX + 5);
	CHECK(proto_log_decode(buf, (size_t)n, &trial, &stream, &text, &len) ==
	      PROTO_OK);
	CHECK(trial == 77 && stream == PROTO_STDERR && len == 5 &&
	      memcmp(text, "hello", 5) == 0);
	buf[8] = 9; /* unknown stream */
	CHECK(proto_log_decode(buf, (size_t)n, &trial, &stream, &text, &len) ==
	      PROTO_EBODY);
	CHECK(proto_log_decode(buf, 3, &trial, &stream, &text, &len) == PROTO_EBODY);
	CHECK(proto_log_encode(buf, 10, 1, PROTO_STDOUT, "too long", 8) ==
	      PROTO_ENOSPC);

	proto_trial_encode(buf, 0x0123456789abcdefull);
	CHECK(proto_trial_decode(buf, 8, &trial) == PROTO_OK &&
	      trial == 0x0123456789abcdefull);
	CHECK(proto_trial_decode(buf, 7, &trial) == PROTO_EBODY);
}

static void test_trial_hex(void)
{
	char hex[PROTO_TRIAL_HEX];
	uint64_t id;

	proto_trial_hex(0x00ab00cd00ef0012ull, hex);
	CHECK(strcmp(hex, "00ab00cd00ef0012") == 0);
	CHECK(proto_trial_parse(hex, &id) == PROTO_OK && id == 0x00ab00cd00ef0012ull);
	CHECK(proto_trial_parse("00ab00cd00ef001", &id) == PROTO_EBODY);
	CHECK(proto_trial_parse("00ab00cd00ef00123", &id) == PROTO_EBODY);
	CHECK(proto_trial_parse("00AB00CD00EF0012", &id) == PROTO_EBODY);
	CHECK(proto_trial_parse("zzab00cd00ef0012", &id) == PROTO_EBODY);
}

static void hex_of(const uint8_t *b, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/* The handshake MACs against Python's hmac module (the reference the
 * end-to-end tests' fake peers use too). */
static void test_handshake_macs(void)
{
	uint8_t secret[PROTO_SECRET_SIZE], ns[PROTO_NONCE_SIZE],
		ne[PROTO_NONCE_SIZE], mac[PROTO_MAC_SIZE], other[PROTO_MAC_SIZE];
	const char *json = "{\"host\":\"a\"}";
	char hex[2 * PROTO_MAC_SIZE + 1];
	size_t i;

	for (i = 0; i < sizeof secret; i++)
		secret[i] = (uint8_t)i;
	memset(ns, 0x11, sizeof ns);
	memset(ne, 0x22, sizeof ne);
	proto_hello_mac(secret, ns, ne, json, strlen(json), mac);
	hex_of(mac, sizeof mac, hex);
	CHECK(strcmp(hex, "c2c6063c18625a96bf51ae338eff501d"
			  "cf9d403b4fd49cd148b143bbafbd544a") == 0);
	proto_welcome_mac(secret, ns, ne, json, strlen(json), other);
	hex_of(other, sizeof other, hex);
	CHECK(strcmp(hex, "87fdcc7e7cc9f324b8dba5250cf3ab0d"
			  "a5908739cecb83724fa479d028d9cbd8") == 0);
	CHECK(!proto_mac_equal(mac, other));
	memcpy(other, mac, sizeof mac);
	CHECK(proto_mac_equal(mac, other));
	other[PROTO_MAC_SIZE - 1] ^= 1;
	CHECK(!proto_mac_equal(mac, other));
	/* Another server nonce, another MAC: a recorded HELLO is no use. */
	ns[0] ^= 1;
	proto_hello_mac(secret, ns, ne, json, strlen(json), other);
	CHECK(!proto_mac_equal(mac, other));
}

static void test_names(void)
{
	CHECK(strcmp(proto_type_name(PROTO_HEARTBEAT), "HEARTBEAT") == 0);
	CHECK(strcmp(proto_type_name(200), "UNKNOWN") == 0);
	CHECK(strlen(proto_strerror(PROTO_ETOOBIG)) > 0);
	CHECK(strlen(proto_strerror(-99)) > 0);
}

int main(void)
{
	test_header_round_trip();
	test_header_rejections();
	test_heartbeat_round_trip();
	test_heartbeat_rejections();
	test_log_and_trial_bodies();
	test_trial_hex();
	test_handshake_macs();
	test_names();
	if (failures) {
		fprintf(stderr, "test_proto: %d check(s) failed\n", failures);
		return 1;
	}
	printf("test_proto: all checks passed\n");
	return 0;
}
