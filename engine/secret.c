/* secret: experiment secrets. See secret.h. */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

int secret_random(void *out, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom((char *)out + got, len - got, 0);
		if (n < 0 && errno != EINTR)
			return -1;
		if (n > 0)
			got += (size_t)n;
	}
	return 0;
}

int secret_create(const char *path, uint8_t secret[PROTO_SECRET_SIZE],
		  char *err, size_t errlen)
{
	char hex[2 * PROTO_SECRET_SIZE + 2];
	int fd, i, rc = -1;

	if (secret_random(secret, PROTO_SECRET_SIZE) < 0) {
		snprintf(err, errlen, "no randomness: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < PROTO_SECRET_SIZE; i++)
		snprintf(hex + 2 * i, 3, "%02x", secret[i]);
	hex[2 * PROTO_SECRET_SIZE] = '\n';
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out;
	if (write(fd, hex, 2 * PROTO_SECRET_SIZE + 1) ==
	    2 * PROTO_SECRET_SIZE + 1)
		rc = 0;
	if (close(fd) < 0)
		rc = -1;
out:
	if (rc < 0)
		snprintf(err, errlen, "cannot write the secret to %s: %s", path,
			 strerror(errno));
	return rc;
}

int secret_load(const char *path, uint8_t secret[PROTO_SECRET_SIZE],
		char *err, size_t errlen)
{
	char hex[2 * PROTO_SECRET_SIZE + 2] = "";
	FILE *f = fopen(path, "re");
	size_t n = f ? fread(hex, 1, sizeof hex - 1, f) : 0;
	int i;

	if (f)
		fclose(f);
	for (i = 0; n >= 2 * PROTO_SECRET_SIZE && i < PROTO_SECRET_SIZE; i++)
		if (sscanf(hex + 2 * i, "%2hhx", &secret[i]) != 1)
			break;
	if (i == PROTO_SECRET_SIZE)
		return 0;
	snprintf(err, errlen, "cannot read the secret from %s: %s", path,
		 f ? "not 64 hexadecimal digits" : strerror(errno));
	return -1;
}
