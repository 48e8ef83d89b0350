/*
 * fuzz_log: proto_log_decode() on arbitrary bodies. A body it accepts has
 * the 9-byte prefix and a known stream; the text it points to lies inside
 * the body (it is not copied) and is the rest of the body; and encoding the
 * decoded trial, stream and text gives the same bytes back. The encoder is
 * also given one byte less room than it needs, which it must refuse.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *body = malloc(size ? size : 1), *out;
	enum proto_stream stream;
	const char *text;
	size_t text_len;
	uint64_t trial;
	int rc, n;

	memcpy(body, data, size);
	rc = proto_log_decode(body, size, &trial, &stream, &text, &text_len);
	FUZZ_CHECK(rc == PROTO_OK || rc == PROTO_EBODY, "rc %d", rc);
	if (rc != PROTO_OK) {
		free(body);
		return 0;
	}
	FUZZ_CHECK(stream <= PROTO_EXECUTOR, "stream %d", (int)stream);
	FUZZ_CHECK(text == (const char *)body + PROTO_LOG_PREFIX &&
		   text_len == size - PROTO_LOG_PREFIX, "text %zu bytes",
		   text_len);
	out = malloc(size);
	n = proto_log_encode(out, size, trial, stream, text, text_len);
	FUZZ_CHECK(n == (int)size, "encoded %d bytes of %zu", n, size);
	FUZZ_CHECK(memcmp(out, body, size) == 0, "round trip differs");
	n = proto_log_encode(out, size - 1, trial, stream, text, text_len);
	FUZZ_CHECK(n == PROTO_ENOSPC, "short buffer: %d", n);
	free(out);
	free(body);
	return 0;
}
