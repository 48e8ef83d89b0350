/*
 * config: the executor's settings, from the environment and the command
 * line (a flag overrides its variable).
 *
 *   MAGGY_DRIVER=HOST:PORT        --driver HOST:PORT
 *   MAGGY_SECRET_FILE=PATH        --secret-file PATH
 *   MAGGY_SECRET=HEX64            (environment only, never a flag)
 *   MAGGY_SLOT=N                  --slot N              (default 0)
 *   MAGGY_ATTEMPT=N               --attempt N           (default 1)
 *   MAGGY_RECONNECT_TIMEOUT=SEC   --reconnect-timeout SEC (default 60)
 *
 * The secret never travels on a command line (other users see those in
 * ps); MAGGY_SECRET is removed from the environment once read, so the
 * training function and its subprocesses do not inherit it.
 *
 * Threads: main thread, at start-up, before any other thread exists.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proto/proto.h"

struct exec_config {
	char host[256];    /* driver host name or address, no brackets */
	char port[16];     /* driver port, decimal */
	uint8_t secret[PROTO_SECRET_SIZE];
	int slot;          /* 0.. */
	int attempt;       /* 1.. */
	double reconnect_timeout; /* seconds, > 0 */
	int bye_status;    /* exit status after the driver's goodbye */
};

enum config_result {
	CONFIG_OK = 0,
	CONFIG_HELP = 1,    /* --help was printed: exit 0 */
	CONFIG_EINVAL = -1, /* missing or invalid setting: see err */
};

/*
 * Fill *cfg from the environment and argv. Returns CONFIG_OK, CONFIG_HELP
 * (usage written to stdout) or CONFIG_EINVAL with a one-line reason in
 * err[errlen]. Reads the secret file; never prints the secret.
 */
int config_load(struct exec_config *cfg, int argc, char **argv, char *err,
		size_t errlen);

/* The --help text, for the usage error path too. */
void config_usage(const char *argv0, FILE *file);
