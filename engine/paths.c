/* paths: locations of the Lua library and the executor. See paths.h. */
#include "paths.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef MAGGY_LUA_DIR
#define MAGGY_LUA_DIR "lua"
#endif

const char *paths_lua_dir(void)
{
	const char *env = getenv("MAGGY_LUA_DIR");
	return env && *env ? env : MAGGY_LUA_DIR;
}

const char *paths_executor(void)
{
	static char path[PATH_MAX];
	char self[PATH_MAX];
	const char *env = getenv("MAGGY_EXECUTOR");
	ssize_t n;

	if (env && *env)
		return env;
	n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return "maggy-executor";
	self[n] = '\0';
	snprintf(path, sizeof path, "%s/maggy-executor", dirname(self));
	return path;
}
