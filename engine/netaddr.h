/*
 * netaddr: the listen addresses of the engine's servers (executors' and
 * the dashboard's): parsing "HOST:PORT", binding it, and writing an
 * address back.
 * Pure functions, any thread.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* "HOST:PORT" or "[V6]:PORT" (port 0: any free port) into *ss and *sslen.
 * Returns 0, or -1 with `err`. */
int netaddr_parse(const char *listen, struct sockaddr_storage *ss,
		  int *sslen, char *err, size_t errlen);

/* A socket (close-on-exec, SO_REUSEADDR) bound to `where` ("HOST:PORT")
 * and listening with `backlog`: its descriptor, or -1 with `err` ("cannot
 * listen on HOST:PORT: Address already in use"). */
int netaddr_listen(const char *where, int backlog, char *err,
		   size_t errlen);

/* "HOST:PORT" of `sa` in `out`; `source` (may be NULL) gets its 16 address
 * bytes (IPv4 in the first 4, the rest zero). */
void netaddr_describe(const struct sockaddr *sa, char *out, size_t len,
		      uint8_t source[16]);
