/*
 * proto: the wire protocol between maggy-engine (driver) and maggy-executor.
 *
 * Owns the frame layout, the message types and the codecs of the binary
 * messages. It is pure: no sockets, no allocation except where a function
 * says so, no global state, so both sides and the fuzzers call it from any
 * thread.
 *
 * Every frame is a 16-byte header followed by `length` bytes of body.
 * All integers are big-endian.
 *
 *   offset size field
 *   0      2    magic    0x4D47 ("MG")
 *   2      1    version  PROTO_VERSION
 *   3      1    type     enum proto_type
 *   4      4    id       request id; a reply carries the id of its request
 *   8      4    length   body length in bytes (<= the receiver's limit)
 *   12     4    flags    reserved, 0
 *
 * Bodies: CHALLENGE is a 32-byte server nonce; HELLO is a 32-byte MAC and
 * a 32-byte executor nonce followed by JSON (worker identity); WELCOME is a
 * 32-byte MAC followed by JSON (experiment settings); HEARTBEAT, HB_OK,
 * HB_STOP, FINAL_ACK, RECYCLE and LOG are binary (codecs below); TRIAL,
 * FINAL and ERROR are JSON objects; BYE is empty.
 *
 * The handshake proves both sides know the experiment secret without
 * sending it: the driver opens with CHALLENGE(ns), the executor answers
 * HELLO(HMAC-SHA256(secret, "maggy/2 hello" ns ne identity), ne, identity),
 * the driver answers WELCOME(HMAC-SHA256(secret, "maggy/2 welcome" ns ne
 * settings), settings). A recorded HELLO is worth nothing on another
 * connection (another ns), and an executor only runs settings signed by a
 * driver that holds the secret.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define PROTO_MAGIC 0x4D47u
#define PROTO_VERSION 2
#define PROTO_HEADER_SIZE 16
#define PROTO_DEFAULT_MAX_BODY (1u << 20)
#define PROTO_SECRET_SIZE 32
#define PROTO_NONCE_SIZE 32
#define PROTO_MAC_SIZE 32
/* Body limit of a connection until its HELLO is verified. */
#define PROTO_MAX_HELLO 4096

enum proto_type {
	PROTO_HELLO = 1,     /* exec -> engine: mac, nonce + JSON identity */
	PROTO_WELCOME = 2,   /* engine -> exec: mac + JSON settings */
	PROTO_TRIAL = 3,     /* engine -> exec: JSON {id, params, attempt} */
	PROTO_HEARTBEAT = 4, /* exec -> engine: binary trial + metric points */
	PROTO_HB_OK = 5,     /* engine -> exec: binary trial id */
	PROTO_HB_STOP = 6,   /* engine -> exec: binary trial id, stop it */
	PROTO_LOG = 7,       /* exec -> engine: binary trial, stream, text */
	PROTO_FINAL = 8,     /* exec -> engine: JSON final result */
	PROTO_FINAL_ACK = 9, /* engine -> exec: binary trial id, durable */
	PROTO_BYE = 10,      /* engine -> exec: no more trials, exit */
	PROTO_ERROR = 11,    /* either way: JSON {error}, then close */
	PROTO_CHALLENGE = 12, /* engine -> exec: nonce, the first frame */
	PROTO_RECYCLE = 13,  /* engine -> exec: binary trial id, out of time:
				end the process if it still runs it */
	PROTO_TYPE_MAX = 13,
};

/* Errors returned by the codecs (negative, so callers can mix them with
 * counts). proto_strerror() names them. */
enum proto_err {
	PROTO_OK = 0,
	PROTO_EAGAIN = -1,   /* not enough bytes yet: read more, try again */
	PROTO_EMAGIC = -2,   /* bad magic: not our protocol */
	PROTO_EVERSION = -3, /* protocol version we do not speak */
	PROTO_ETYPE = -4,    /* unknown message type */
	PROTO_ETOOBIG = -5,  /* body larger than the receiver's limit */
	PROTO_EBODY = -6,    /* body malformed for its type */
	PROTO_ENOSPC = -7,   /* output buffer too small */
};

struct proto_header {
	uint8_t version;
	uint8_t type;
	uint32_t id;
	uint32_t length;
	uint32_t flags;
};

/* Where a LOG line came from. */
enum proto_stream {
	PROTO_STDOUT = 0,
	PROTO_STDERR = 1,
	PROTO_REPORTER = 2,
	PROTO_EXECUTOR = 3, /* the shim itself, not the training function */
};

/* "stdout", "stderr", "log" or "executor"; "?" for anything else. */
const char *proto_stream_name(int stream);

/* One reported metric value. */
struct proto_point {
	uint64_t step;
	double value;
};

/* Largest number of points one HEARTBEAT may carry. */
#define PROTO_MAX_POINTS 4096

/* FINALs an executor may send before the first of them is acknowledged
 * (FINAL_ACK comes once a result is committed): it runs its next trials
 * meanwhile, and the driver's commits hold several results each. */
#define PROTO_FINALS_IN_FLIGHT 4

/* Human-readable name of an enum proto_err value. Never NULL. */
const char *proto_strerror(int err);

/* Name of a message type ("HELLO", ...), "UNKNOWN" for others. */
const char *proto_type_name(unsigned type);

/* Write a header for a body of `length` bytes into out[PROTO_HEADER_SIZE]. */
void proto_header_encode(uint8_t *out, unsigned type, uint32_t id,
			 uint32_t length);

/*
 * Decode and check the header at the start of `buf` (`len` bytes available).
 * Returns PROTO_OK and fills *h, PROTO_EAGAIN when len < PROTO_HEADER_SIZE,
 * or PROTO_EMAGIC / PROTO_EVERSION / PROTO_ETYPE / PROTO_ETOOBIG when the
 * frame must be refused (`max_body` is the receiver's body limit).
 * A header that fails leaves *h unspecified.
 */
int proto_header_decode(const uint8_t *buf, size_t len, uint32_t max_body,
			struct proto_header *h);

/* Trial ids travel as 8 raw bytes in binary bodies and as 16 lower-case hex
 * digits in JSON and on screen. */
#define PROTO_TRIAL_HEX 17 /* 16 digits + NUL */
void proto_trial_hex(uint64_t id, char out[PROTO_TRIAL_HEX]);
/* Parse 16 hex digits. Returns 0, or PROTO_EBODY if `hex` is not that. */
int proto_trial_parse(const char *hex, uint64_t *id);

/*
 * HEARTBEAT body: u64 trial, u32 count, count x (u64 step, f64 value).
 * A trial id of 0 means "idle, no trial" (liveness only, count 0).
 * proto_heartbeat_size() is the body size for `count` points.
 * encode returns the body length or PROTO_ENOSPC.
 * decode checks the length matches exactly; `points` may be NULL to only
 * count them, else it must hold PROTO_MAX_POINTS entries.
 */
size_t proto_heartbeat_size(uint32_t count);
int proto_heartbeat_encode(uint8_t *out, size_t cap, uint64_t trial,
			   const struct proto_point *points, uint32_t count);
int proto_heartbeat_decode(const uint8_t *body, size_t len, uint64_t *trial,
			   struct proto_point *points, uint32_t *count);

/* HB_OK / HB_STOP / FINAL_ACK / RECYCLE body: u64 trial. */
#define PROTO_TRIAL_BODY_SIZE 8
void proto_trial_encode(uint8_t out[PROTO_TRIAL_BODY_SIZE], uint64_t trial);
int proto_trial_decode(const uint8_t *body, size_t len, uint64_t *trial);

/*
 * LOG body: u64 trial, u8 stream, then the text (not NUL-terminated).
 * decode points *text into `body` (no copy) and sets *text_len.
 */
#define PROTO_LOG_PREFIX 9
int proto_log_encode(uint8_t *out, size_t cap, uint64_t trial,
		     enum proto_stream stream, const char *text,
		     size_t text_len);
int proto_log_decode(const uint8_t *body, size_t len, uint64_t *trial,
		     enum proto_stream *stream, const char **text,
		     size_t *text_len);

/*
 * Handshake MACs (HMAC-SHA256, libsodium), see the top of this file.
 * proto_hello_mac() signs an identity, proto_welcome_mac() the settings;
 * `server` and `exec` are the two nonces of the connection.
 */
void proto_hello_mac(const uint8_t secret[PROTO_SECRET_SIZE],
		     const uint8_t server[PROTO_NONCE_SIZE],
		     const uint8_t exec[PROTO_NONCE_SIZE], const void *json,
		     size_t len, uint8_t mac[PROTO_MAC_SIZE]);
void proto_welcome_mac(const uint8_t secret[PROTO_SECRET_SIZE],
		       const uint8_t server[PROTO_NONCE_SIZE],
		       const uint8_t exec[PROTO_NONCE_SIZE], const void *json,
		       size_t len, uint8_t mac[PROTO_MAC_SIZE]);

/* Constant-time comparison of two MACs: 1 when equal, else 0. */
int proto_mac_equal(const uint8_t a[PROTO_MAC_SIZE],
		    const uint8_t b[PROTO_MAC_SIZE]);
