/*
 * secret: the per-experiment secret executors prove they know in HELLO.
 *
 * 256 random bits from the kernel, written as 64 hex digits to a file only
 * the owner can read. Executors get the file's path through their
 * environment; the secret itself never appears on a command line.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

/* Make a new secret, store it in `path` (mode 0600, replaced if present).
 * Returns 0, or -1 with `err`. */
int secret_create(const char *path, uint8_t secret[PROTO_SECRET_SIZE],
		  char *err, size_t errlen);

/* Read the secret back from `path` (resume). Returns 0, or -1 with `err`. */
int secret_load(const char *path, uint8_t secret[PROTO_SECRET_SIZE],
		char *err, size_t errlen);

/* Fill `out` with `len` random bytes from the kernel. Returns 0 or -1. */
int secret_random(void *out, size_t len);
