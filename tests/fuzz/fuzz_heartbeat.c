/*
 * fuzz_heartbeat: proto_heartbeat_decode() on arbitrary bodies. A body it
 * accepts is exactly 12 + 16 * count bytes with count <= PROTO_MAX_POINTS;
 * counting only (points NULL) gives the same count; and encoding the decoded
 * trial and points gives the same bytes back (doubles travel as bit
 * patterns, so NaN payloads must survive too). The encoder is also given
 * one byte less room than it needs, which it must refuse. Buffers are
 * allocated to their exact size so that ASan sees any access past them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto.h"

static struct proto_point points[PROTO_MAX_POINTS];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *body = malloc(size ? size : 1), *out;
	uint64_t trial, trial2;
	uint32_t count, count2;
	int rc, n;

	memcpy(body, data, size);
	rc = proto_heartbeat_decode(body, size, &trial, points, &count);
	FUZZ_CHECK(rc == PROTO_OK || rc == PROTO_EBODY, "rc %d", rc);
	if (rc != PROTO_OK) {
		free(body);
		return 0;
	}
	FUZZ_CHECK(count <= PROTO_MAX_POINTS, "count %u", count);
	FUZZ_CHECK(size == proto_heartbeat_size(count), "size %zu count %u",
		   size, count);
	rc = proto_heartbeat_decode(body, size, &trial2, NULL, &count2);
	FUZZ_CHECK(rc == PROTO_OK && trial2 == trial && count2 == count,
		   "counting only: rc %d", rc);

	out = malloc(size);
	n = proto_heartbeat_encode(out, size, trial, points, count);
	FUZZ_CHECK(n == (int)size, "encoded %d bytes of %zu", n, size);
	FUZZ_CHECK(memcmp(out, body, size) == 0, "round trip differs");
	n = proto_heartbeat_encode(out, size - 1, trial, points, count);
	FUZZ_CHECK(n == PROTO_ENOSPC, "short buffer: %d", n);
	free(out);
	free(body);
	return 0;
}
