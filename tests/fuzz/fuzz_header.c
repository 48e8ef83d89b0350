/*
 * fuzz_header: proto_header_decode() on arbitrary bytes. Its verdict must be
 * the one the frame layout in proto.h gives (checked here independently, in
 * the same order: length, magic, version, type, body limit), and a header it
 * accepts must encode back to the same bytes: proto_header_encode() of the
 * decoded type, id and length reproduces bytes 0-11, and the reserved flags
 * word is decoded as it came (the encoder always writes 0, so bytes 12-15
 * round-trip only when they are 0). Bytes 16-19, when present, are the
 * receiver's body limit, so limits other than the default are tried too.
 */
#include <stdint.h>
#include <string.h>

#include "bytes.h"
#include "fuzz_check.h"
#include "proto.h"

static int expected(const uint8_t *data, size_t size, uint32_t max_body)
{
	if (size < PROTO_HEADER_SIZE)
		return PROTO_EAGAIN;
	if (get_u16(data) != PROTO_MAGIC)
		return PROTO_EMAGIC;
	if (data[2] != PROTO_VERSION)
		return PROTO_EVERSION;
	if (data[3] == 0 || data[3] > PROTO_TYPE_MAX)
		return PROTO_ETYPE;
	if (get_u32(data + 8) > max_body)
		return PROTO_ETOOBIG;
	return PROTO_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t max_body = size >= 20 ? get_u32(data + 16)
				       : PROTO_DEFAULT_MAX_BODY;
	struct proto_header h;
	uint8_t out[PROTO_HEADER_SIZE];
	int rc = proto_header_decode(data, size, max_body, &h);

	FUZZ_CHECK(rc == expected(data, size, max_body), "rc %d (%s)", rc,
		   proto_strerror(rc));
	if (rc != PROTO_OK)
		return 0;
	FUZZ_CHECK(strcmp(proto_type_name(h.type), "UNKNOWN") != 0,
		   "type %u", h.type);
	proto_header_encode(out, h.type, h.id, h.length);
	FUZZ_CHECK(memcmp(out, data, 12) == 0, "type %u id %u length %u",
		   h.type, h.id, h.length);
	FUZZ_CHECK(get_u32(out + 12) == 0, "encoded flags");
	FUZZ_CHECK(h.flags == get_u32(data + 12), "flags %u", h.flags);
	return 0;
}
