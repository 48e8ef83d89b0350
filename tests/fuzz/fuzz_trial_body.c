/*
 * fuzz_trial_body: the trial id in both of its forms. As a binary body
 * (HB_OK, HB_STOP, FINAL_ACK), proto_trial_decode() accepts exactly 8 bytes
 * and proto_trial_encode() gives them back. As text (JSON and the console),
 * proto_trial_parse() accepts exactly 16 lower-case hex digits, and
 * proto_trial_hex() of the parsed id gives the same text back. The input is
 * used whole for the binary form and, NUL-terminated, for the text form.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto.h"

static void binary(const uint8_t *data, size_t size)
{
	uint8_t *body = malloc(size ? size : 1), out[PROTO_TRIAL_BODY_SIZE];
	uint64_t trial;
	int rc;

	memcpy(body, data, size);
	rc = proto_trial_decode(body, size, &trial);
	FUZZ_CHECK((rc == PROTO_OK) == (size == PROTO_TRIAL_BODY_SIZE),
		   "size %zu rc %d", size, rc);
	if (rc == PROTO_OK) {
		proto_trial_encode(out, trial);
		FUZZ_CHECK(memcmp(out, body, size) == 0, "round trip differs");
	}
	free(body);
}

static int is_hex_id(const char *s, size_t len)
{
	if (len != 16)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static void text(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), hex[PROTO_TRIAL_HEX];
	uint64_t id;
	int rc;

	memcpy(s, data, size);
	s[size] = '\0';
	rc = proto_trial_parse(s, &id);
	FUZZ_CHECK((rc == PROTO_OK) == is_hex_id(s, strlen(s)), "rc %d", rc);
	if (rc == PROTO_OK) {
		proto_trial_hex(id, hex);
		FUZZ_CHECK(strcmp(hex, s) == 0, "'%s' came back as '%s'", s, hex);
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	binary(data, size);
	text(data, size);
	return 0;
}
