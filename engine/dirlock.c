/* dirlock: the engine's lock on its experiment directory. See dirlock.h. */
#include "dirlock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void lock_path(const char *dir, char *out, size_t len)
{
	snprintf(out, len, "%s/engine.lock", dir);
}

int dirlock_take(const char *dir, char *err, size_t errlen)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char path[PATH_MAX];
	int fd, owner;

	lock_path(dir, path, sizeof path);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0 && fcntl(fd, F_SETLK, &fl) == 0)
		return 0; /* held until the process exits */
	owner = fd >= 0 ? dirlock_owner(dir) : 0;
	if (owner > 0)
		snprintf(err, errlen, "another maggy-engine (pid %d) is "
			 "running in this directory", owner);
	else
		snprintf(err, errlen, "cannot lock %s: %s", path,
			 strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

int dirlock_owner(const char *dir)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char path[PATH_MAX];
	int fd, rc;

	lock_path(dir, path, sizeof path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	rc = fcntl(fd, F_GETLK, &fl);
	close(fd);
	return rc == 0 && fl.l_type != F_UNLCK ? (int)fl.l_pid : 0;
}
