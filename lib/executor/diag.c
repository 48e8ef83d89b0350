/* diag: the executor's own messages on the original stderr. See diag.h. */
#include "diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int diag_fd = 2;
static int diag_slot;

void diag_init(int fd, int slot)
{
	diag_fd = fd;
	diag_slot = slot;
}

static void vdiag(const char *fmt, va_list ap)
{
	char line[4096];
	int n, m;

	n = snprintf(line, sizeof line, "maggy-executor[slot %d]: ", diag_slot);
	m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	/* Best effort: there is nobody left to tell if stderr is gone. */
	if (write(diag_fd, line, (size_t)n) < 0)
		return;
}

void diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(fmt, ap);
	va_end(ap);
}

void diag_fatal(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(fmt, ap);
	va_end(ap);
	_exit(code);
}
