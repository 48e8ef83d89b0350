/* errtext: short forms of error texts. See errtext.h. */
#include "errtext.h"

#include <stdio.h>
#include <string.h>

#define LUA_TRACEBACK "\nstack traceback:"
#define PY_TRACEBACK "Traceback (most recent call last):"

/* Where the last line of `text` that is not blank starts, and its length. */
static const char *last_line(const char *text, size_t *len)
{
	const char *end = text + strlen(text), *start;

	while (end > text && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	start = end;
	while (start > text && start[-1] != '\n')
		start--;
	*len = (size_t)(end - start);
	return start;
}

int errtext_brief(const char *error, char *out, size_t len)
{
	const char *lua = strstr(error, LUA_TRACEBACK);
	const char *py = strstr(error, PY_TRACEBACK);
	const char *last;
	size_t n;

	if (lua) {
		snprintf(out, len, "%.*s", (int)(lua - error), error);
		return 1;
	}
	if (py) {
		last = last_line(py, &n);
		snprintf(out, len, "%.*s%.*s", (int)(py - error), error,
			 (int)n, last);
		return 1;
	}
	snprintf(out, len, "%s", error);
	return 0;
}

void errtext_last_line(const char *text, char *out, size_t len)
{
	size_t n;
	const char *line = last_line(text, &n);

	snprintf(out, len, "%.*s", (int)n, line);
}
