/* config: settings from the environment and the command line. See config.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_RECONNECT_TIMEOUT 60.0

void config_usage(const char *argv0, FILE *file)
{
	fprintf(file,
"Usage: %s [--driver HOST:PORT] [--secret-file PATH] [--slot N]\n"
"       [--attempt N] [--reconnect-timeout SEC]\n"
"\n"
"Runs trials of a Python training function for a maggy-engine driver.\n"
"It connects to the driver, receives the training function to import and\n"
"then one trial at a time; it keeps one warm Python interpreter for all of\n"
"them. Normally started by maggy-engine itself (or by its Spark launcher).\n"
"\n"
"Settings (a flag overrides its environment variable):\n"
"  MAGGY_DRIVER=HOST:PORT       --driver            address of the driver\n"
"  MAGGY_SECRET_FILE=PATH       --secret-file       file holding the secret\n"
"  MAGGY_SECRET=HEX             (no flag)           the secret itself\n"
"  MAGGY_SLOT=N                 --slot              executor slot (default 0)\n"
"  MAGGY_ATTEMPT=N              --attempt           restart count (default 1)\n"
"  MAGGY_RECONNECT_TIMEOUT=SEC  --reconnect-timeout how long to retry a lost\n"
"                                                   driver (default 60)\n"
"  MAGGY_LOCAL_EXECUTOR=1       (no flag)           started by the engine on\n"
"                                                   its own terminal: errors\n"
"                                                   it was sent are not\n"
"                                                   printed again\n"
"  MAGGY_BYE_STATUS=N           (no flag)           exit status after the\n"
"                                                   driver's goodbye (default\n"
"                                                   0): lets a supervisor\n"
"                                                   tell the goodbye apart\n"
"                                                   from a training function\n"
"                                                   that ended the process\n"
"                                                   with os._exit(0)\n"
"  --help                                           this text\n"
"\n"
"The secret is the experiment's 256-bit key as 64 hexadecimal digits. It is\n"
"never accepted on the command line, where other users could read it.\n"
"\n"
"Exit status: 0 (or MAGGY_BYE_STATUS) the driver said goodbye; 1 internal\n"
"error; 2 invalid settings or refused by the driver; 3 driver unreachable\n"
"for longer than the reconnect timeout; 4 the training function cannot be\n"
"imported; 5 it ran the experiment's max_trials_per_executor, or a trial\n"
"ran out of time (trial_timeout) in it (start a fresh one).\n",
		argv0);
}

static int fail(char *err, size_t errlen, const char *fmt, const char *arg)
{
	snprintf(err, errlen, fmt, arg);
	return CONFIG_EINVAL;
}

/* HOST:PORT or [V6ADDR]:PORT. */
static int parse_driver(struct exec_config *cfg, const char *s, char *err,
			size_t errlen)
{
	const char *colon = strrchr(s, ':');
	const char *host = s;
	size_t hlen;
	char *end;
	long port;

	if (!colon || colon == s)
		return fail(err, errlen, "driver address '%s' is not HOST:PORT", s);
	hlen = (size_t)(colon - s);
	if (host[0] == '[' && hlen >= 2 && host[hlen - 1] == ']') {
		host++;
		hlen -= 2;
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port < 1 || port > 65535)
		return fail(err, errlen, "driver address '%s' has no valid port", s);
	if (hlen == 0 || hlen >= sizeof cfg->host)
		return fail(err, errlen, "driver address '%s' has no valid host", s);
	memcpy(cfg->host, host, hlen);
	cfg->host[hlen] = '\0';
	snprintf(cfg->port, sizeof cfg->port, "%ld", port);
	return CONFIG_OK;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* 64 hex digits, surrounding white space allowed. */
static int parse_secret(uint8_t out[PROTO_SECRET_SIZE], const char *s)
{
	size_t i;

	while (isspace((unsigned char)*s))
		s++;
	for (i = 0; i < PROTO_SECRET_SIZE; i++) {
		int hi = hexval((unsigned char)s[2 * i]);
		int lo = hi < 0 ? -1 : hexval((unsigned char)s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	for (s += 2 * PROTO_SECRET_SIZE; *s; s++)
		if (!isspace((unsigned char)*s))
			return -1;
	return 0;
}

static int read_secret_file(struct exec_config *cfg, const char *path,
			    char *err, size_t errlen)
{
	char buf[256];
	size_t n;
	FILE *f = fopen(path, "r");

	if (!f) {
		snprintf(err, errlen, "cannot read secret file %s: %s", path,
			 strerror(errno));
		return CONFIG_EINVAL;
	}
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (parse_secret(cfg->secret, buf) < 0)
		return fail(err, errlen,
			    "secret file %s does not hold 64 hexadecimal digits",
			    path);
	return CONFIG_OK;
}

static int parse_int(const char *name, const char *s, int min, int *out,
		     char *err, size_t errlen)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min || v > 1000000) {
		snprintf(err, errlen, "%s must be an integer >= %d, not '%s'",
			 name, min, s);
		return CONFIG_EINVAL;
	}
	*out = (int)v;
	return CONFIG_OK;
}

static int parse_seconds(const char *name, const char *s, double *out,
			 char *err, size_t errlen)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || end == s || !isfinite(v) || v <= 0) {
		snprintf(err, errlen, "%s must be a positive number of seconds, "
			 "not '%s'", name, s);
		return CONFIG_EINVAL;
	}
	*out = v;
	return CONFIG_OK;
}

/* The raw strings, environment first, then flags on top. */
struct raw_config {
	const char *driver, *secret_file, *slot, *attempt, *timeout;
};

/* getopt_long() accepts abbreviations ("--secret" for "--secret-file"):
 * refuse them, so that nobody passes the secret itself by mistake. */
static int check_spelled_out(const struct option *opts, int argc, char **argv,
			     char *err, size_t errlen)
{
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		const char *a = argv[i];
		size_t n = strcspn(a, "=");
		const struct option *o;

		if (strncmp(a, "--", 2) != 0)
			continue;
		for (o = opts; o->name; o++)
			if (strlen(o->name) == n - 2 &&
			    strncmp(o->name, a + 2, n - 2) == 0)
				break;
		if (!o->name) {
			snprintf(err, errlen, "unknown option '%.*s' (see --help;"
				 " the secret is only read from MAGGY_SECRET_FILE"
				 " or MAGGY_SECRET)", (int)n, a);
			return CONFIG_EINVAL;
		}
		if (o->has_arg == required_argument && !a[n])
			i++; /* its value */
	}
	return CONFIG_OK;
}

static int parse_flags(struct raw_config *raw, int argc, char **argv,
		       char *err, size_t errlen)
{
	static const struct option opts[] = {
		{"driver", required_argument, NULL, 'd'},
		{"secret-file", required_argument, NULL, 's'},
		{"slot", required_argument, NULL, 'n'},
		{"attempt", required_argument, NULL, 'a'},
		{"reconnect-timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	if (check_spelled_out(opts, argc, argv, err, errlen))
		return CONFIG_EINVAL;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': raw->driver = optarg; break;
		case 's': raw->secret_file = optarg; break;
		case 'n': raw->slot = optarg; break;
		case 'a': raw->attempt = optarg; break;
		case 't': raw->timeout = optarg; break;
		case 'h': return CONFIG_HELP;
		default:
			return fail(err, errlen, "unknown or incomplete option "
				    "'%s' (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return fail(err, errlen, "unexpected argument '%s' (see --help)",
			    argv[optind]);
	return CONFIG_OK;
}

static int load_secret(struct exec_config *cfg, const char *file,
		       char *err, size_t errlen)
{
	const char *hex = getenv("MAGGY_SECRET");
	int rc;

	if (file && *file) {
		unsetenv("MAGGY_SECRET");
		return read_secret_file(cfg, file, err, errlen);
	}
	if (!hex)
		return fail(err, errlen, "%s", "no secret: set MAGGY_SECRET_FILE "
			    "(or --secret-file) or MAGGY_SECRET");
	rc = parse_secret(cfg->secret, hex) < 0 ? CONFIG_EINVAL : CONFIG_OK;
	unsetenv("MAGGY_SECRET"); /* hex points into the environment: last use */
	if (rc)
		return fail(err, errlen, "%s", "MAGGY_SECRET does not hold 64 "
			    "hexadecimal digits");
	return CONFIG_OK;
}

int config_load(struct exec_config *cfg, int argc, char **argv, char *err,
		size_t errlen)
{
	struct raw_config raw = {
		.driver = getenv("MAGGY_DRIVER"),
		.secret_file = getenv("MAGGY_SECRET_FILE"),
		.slot = getenv("MAGGY_SLOT"),
		.attempt = getenv("MAGGY_ATTEMPT"),
		.timeout = getenv("MAGGY_RECONNECT_TIMEOUT"),
	};
	const char *bye = getenv("MAGGY_BYE_STATUS");
	int rc;

	memset(cfg, 0, sizeof *cfg);
	cfg->attempt = 1;
	cfg->reconnect_timeout = DEFAULT_RECONNECT_TIMEOUT;
	rc = parse_flags(&raw, argc, argv, err, errlen);
	if (rc)
		return rc;
	if (!raw.driver || !*raw.driver)
		return fail(err, errlen, "%s", "no driver address: set "
			    "MAGGY_DRIVER=HOST:PORT or pass --driver HOST:PORT");
	if ((rc = parse_driver(cfg, raw.driver, err, errlen)) ||
	    (raw.slot && (rc = parse_int("the slot", raw.slot, 0, &cfg->slot,
					 err, errlen))) ||
	    (raw.attempt && (rc = parse_int("the attempt", raw.attempt, 1,
					    &cfg->attempt, err, errlen))) ||
	    (raw.timeout && (rc = parse_seconds("the reconnect timeout",
						raw.timeout,
						&cfg->reconnect_timeout, err,
						errlen))) ||
	    (bye && (rc = parse_int("MAGGY_BYE_STATUS", bye, 0,
				    &cfg->bye_status, err, errlen))))
		return rc;
	if (cfg->bye_status > 255)
		return fail(err, errlen, "MAGGY_BYE_STATUS must be an exit "
			    "status, 0 to 255, not '%s'", bye);
	return load_secret(cfg, raw.secret_file, err, errlen);
}
