/* errtext: short forms of error texts. See errtext.h. */
#include "errtext.h"

#include <ctype.h>
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

/* The next token of an error text, past it: a number or a quoted value
 * stands for any other (NUMBER, QUOTED), any other byte for itself; 0 at
 * the end. */
enum { NUMBER = 256, QUOTED = 257 };

static int next_token(const char **p)
{
	const char *s = *p, *end;

	if (*s == '\0')
		return 0;
	if (isdigit((unsigned char)*s)) {
		while (isdigit((unsigned char)*s) ||
		       (*s == '.' && isdigit((unsigned char)s[1])))
			s++;
		*p = s;
		return NUMBER;
	}
	if ((*s == '\'' || *s == '"') && (end = strchr(s + 1, *s)) != NULL) {
		*p = end + 1;
		return QUOTED;
	}
	*p = s + 1;
	return (unsigned char)*s;
}

int errtext_alike(const char *a, const char *b)
{
	int x, y;

	do {
		x = next_token(&a);
		y = next_token(&b);
		if (x != y)
			return 0;
	} while (x != 0);
	return 1;
}
