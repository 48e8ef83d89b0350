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
#ifndef MAGGY_WEB_DIR
#define MAGGY_WEB_DIR "web"
#endif
#ifndef MAGGY_PYTHON
#define MAGGY_PYTHON "python3"
#endif
#ifndef MAGGY_PYTHON_DIR
#define MAGGY_PYTHON_DIR "python"
#endif

const char *paths_lua_dir(void)
{
	const char *env = getenv("MAGGY_LUA_DIR");
	return env && *env ? env : MAGGY_LUA_DIR;
}

const char *paths_web_dir(void)
{
	const char *env = getenv("MAGGY_WEB_DIR");
	return env && *env ? env : MAGGY_WEB_DIR;
}

const char *paths_python(void)
{
	const char *env = getenv("MAGGY_PYTHON");
	return env && *env ? env : MAGGY_PYTHON;
}

const char *paths_python_dir(void)
{
	return MAGGY_PYTHON_DIR;
}

const char *paths_engine(void)
{
	static char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

	if (n <= 0)
		return "maggy-engine";
	self[n] = '\0';
	return self;
}

const char *paths_executor(void)
{
	static char path[PATH_MAX];
	char self[PATH_MAX];
	const char *env = getenv("MAGGY_EXECUTOR");

	if (env && *env)
		return env;
	snprintf(self, sizeof self, "%s", paths_engine());
	snprintf(path, sizeof path, "%s/maggy-executor", dirname(self));
	return path;
}
