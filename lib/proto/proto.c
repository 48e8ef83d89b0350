/* proto: frame header and binary message codecs. See proto.h. */
#include "proto.h"
#include "bytes.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

const char *proto_strerror(int err)
{
	switch (err) {
	case PROTO_OK: return "ok";
	case PROTO_EAGAIN: return "incomplete frame";
	case PROTO_EMAGIC: return "bad magic (not a maggy frame)";
	case PROTO_EVERSION: return "unsupported protocol version";
	case PROTO_ETYPE: return "unknown message type";
	case PROTO_ETOOBIG: return "frame larger than the limit";
	case PROTO_EBODY: return "malformed message body";
	case PROTO_ENOSPC: return "output buffer too small";
	}
	return "unknown protocol error";
}

const char *proto_type_name(unsigned type)
{
	static const char *const names[] = {
		"UNKNOWN", "HELLO",  "WELCOME",   "TRIAL", "HEARTBEAT", "HB_OK",
		"HB_STOP", "LOG",    "FINAL",     "FINAL_ACK", "BYE",   "ERROR",
		"CHALLENGE", "RECYCLE",
	};
	return type <= PROTO_TYPE_MAX ? names[type] : names[0];
}

void proto_header_encode(uint8_t *out, unsigned type, uint32_t id,
			 uint32_t length)
{
	put_u16(out, PROTO_MAGIC);
	out[2] = PROTO_VERSION;
	out[3] = (uint8_t)type;
	put_u32(out + 4, id);
	put_u32(out + 8, length);
	put_u32(out + 12, 0);
}

int proto_header_decode(const uint8_t *buf, size_t len, uint32_t max_body,
			struct proto_header *h)
{
	if (len < PROTO_HEADER_SIZE)
		return PROTO_EAGAIN;
	if (get_u16(buf) != PROTO_MAGIC)
		return PROTO_EMAGIC;
	h->version = buf[2];
	h->type = buf[3];
	h->id = get_u32(buf + 4);
	h->length = get_u32(buf + 8);
	h->flags = get_u32(buf + 12);
	if (h->version != PROTO_VERSION)
		return PROTO_EVERSION;
	if (h->type == 0 || h->type > PROTO_TYPE_MAX)
		return PROTO_ETYPE;
	if (h->length > max_body)
		return PROTO_ETOOBIG;
	return PROTO_OK;
}

void proto_trial_hex(uint64_t id, char out[PROTO_TRIAL_HEX])
{
	snprintf(out, PROTO_TRIAL_HEX, "%016llx", (unsigned long long)id);
}

int proto_trial_parse(const char *hex, uint64_t *id)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 16; i++) {
		char c = hex[i];
		int d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return PROTO_EBODY;
		v = (v << 4) | (uint64_t)d;
	}
	if (hex[16] != '\0')
		return PROTO_EBODY;
	*id = v;
	return PROTO_OK;
}

size_t proto_heartbeat_size(uint32_t count)
{
	return 12 + (size_t)count * 16;
}

int proto_heartbeat_encode(uint8_t *out, size_t cap, uint64_t trial,
			   const struct proto_point *points, uint32_t count)
{
	size_t need = proto_heartbeat_size(count);
	uint32_t i;

	if (count > PROTO_MAX_POINTS || need > cap)
		return PROTO_ENOSPC;
	put_u64(out, trial);
	put_u32(out + 8, count);
	for (i = 0; i < count; i++) {
		put_u64(out + 12 + i * 16, points[i].step);
		put_f64(out + 20 + i * 16, points[i].value);
	}
	return (int)need;
}

int proto_heartbeat_decode(const uint8_t *body, size_t len, uint64_t *trial,
			   struct proto_point *points, uint32_t *count)
{
	uint32_t n, i;

	if (len < 12)
		return PROTO_EBODY;
	n = get_u32(body + 8);
	if (n > PROTO_MAX_POINTS || len != proto_heartbeat_size(n))
		return PROTO_EBODY;
	*trial = get_u64(body);
	*count = n;
	for (i = 0; points && i < n; i++) {
		points[i].step = get_u64(body + 12 + i * 16);
		points[i].value = get_f64(body + 20 + i * 16);
	}
	return PROTO_OK;
}

void proto_trial_encode(uint8_t out[PROTO_TRIAL_BODY_SIZE], uint64_t trial)
{
	put_u64(out, trial);
}

int proto_trial_decode(const uint8_t *body, size_t len, uint64_t *trial)
{
	if (len != PROTO_TRIAL_BODY_SIZE)
		return PROTO_EBODY;
	*trial = get_u64(body);
	return PROTO_OK;
}

int proto_log_encode(uint8_t *out, size_t cap, uint64_t trial,
		     enum proto_stream stream, const char *text,
		     size_t text_len)
{
	if (cap < PROTO_LOG_PREFIX + text_len)
		return PROTO_ENOSPC;
	put_u64(out, trial);
	out[8] = (uint8_t)stream;
	memcpy(out + PROTO_LOG_PREFIX, text, text_len);
	return (int)(PROTO_LOG_PREFIX + text_len);
}

int proto_log_decode(const uint8_t *body, size_t len, uint64_t *trial,
		     enum proto_stream *stream, const char **text,
		     size_t *text_len)
{
	if (len < PROTO_LOG_PREFIX || body[8] > PROTO_EXECUTOR)
		return PROTO_EBODY;
	*trial = get_u64(body);
	*stream = (enum proto_stream)body[8];
	*text = (const char *)body + PROTO_LOG_PREFIX;
	*text_len = len - PROTO_LOG_PREFIX;
	return PROTO_OK;
}

static void handshake_mac(const char *label,
			  const uint8_t secret[PROTO_SECRET_SIZE],
			  const uint8_t server[PROTO_NONCE_SIZE],
			  const uint8_t exec[PROTO_NONCE_SIZE],
			  const void *json, size_t len,
			  uint8_t mac[PROTO_MAC_SIZE])
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, secret, PROTO_SECRET_SIZE);
	/* The label's NUL ends it, so no label is a prefix of another. */
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)label,
				      strlen(label) + 1);
	crypto_auth_hmacsha256_update(&st, server, PROTO_NONCE_SIZE);
	crypto_auth_hmacsha256_update(&st, exec, PROTO_NONCE_SIZE);
	crypto_auth_hmacsha256_update(&st, json, len);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_memzero(&st, sizeof st);
}

void proto_hello_mac(const uint8_t secret[PROTO_SECRET_SIZE],
		     const uint8_t server[PROTO_NONCE_SIZE],
		     const uint8_t exec[PROTO_NONCE_SIZE], const void *json,
		     size_t len, uint8_t mac[PROTO_MAC_SIZE])
{
	handshake_mac("maggy/2 hello", secret, server, exec, json, len, mac);
}

void proto_welcome_mac(const uint8_t secret[PROTO_SECRET_SIZE],
		       const uint8_t server[PROTO_NONCE_SIZE],
		       const uint8_t exec[PROTO_NONCE_SIZE], const void *json,
		       size_t len, uint8_t mac[PROTO_MAC_SIZE])
{
	handshake_mac("maggy/2 welcome", secret, server, exec, json, len, mac);
}

int proto_mac_equal(const uint8_t a[PROTO_MAC_SIZE],
		    const uint8_t b[PROTO_MAC_SIZE])
{
	return sodium_memcmp(a, b, PROTO_MAC_SIZE) == 0;
}

const char *proto_stream_name(int stream)
{
	static const char *const names[] = { "stdout", "stderr", "log",
					     "executor" };
	return stream >= PROTO_STDOUT && stream <= PROTO_EXECUTOR ? names[stream]
								  : "?";
}
