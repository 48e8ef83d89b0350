/* utf8: cutting and repairing text for JSON. See utf8.h. */
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

static size_t sequence_length(unsigned char c)
{
	return c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
}

size_t utf8_prefix(const char *s, size_t n)
{
	size_t i = 0, len;

	while (i < n) {
		len = sequence_length((unsigned char)s[i]);
		if (i + len > n)
			break;
		i += len;
	}
	return i;
}

size_t utf8_chars(const char *s, size_t max, size_t *bytes)
{
	size_t i = 0, n = 0;

	while (s[i] != '\0' && n < max) {
		i++;
		while (((unsigned char)s[i] & 0xC0) == 0x80)
			i++;
		n++;
	}
	*bytes = i;
	return n;
}

/* The length of the well-formed character at s, of `left` bytes (RFC 3629:
 * no overlong forms, no surrogates, nothing past U+10FFFF), or 0. */
static size_t well_formed(const unsigned char *s, size_t left)
{
	unsigned char c = s[0];
	size_t len, i;
	unsigned long cp;

	if (c < 0x80)
		return 1;
	if (c < 0xC2 || c > 0xF4)
		return 0;
	len = sequence_length(c);
	if (len > left)
		return 0;
	cp = c & (0x7F >> len);
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
		return 0;
	return len;
}

size_t utf8_valid_prefix(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, len;

	while (i < n && (len = well_formed(p + i, n - i)) > 0)
		i += len;
	return i;
}

void utf8_repair_n(char *s, size_t n)
{
	unsigned char *p = (unsigned char *)s;
	size_t i = 0, len;

	while (i < n) {
		len = well_formed(p + i, n - i);
		if (len == 0)
			p[i++] = '?';
		else
			i += len;
	}
}

const char *utf8_text(const char *s, size_t n, char **copy)
{
	char *nul;

	*copy = NULL;
	if ((utf8_valid_prefix(s, n) == n && memchr(s, 0, n) == NULL) ||
	    (*copy = malloc(n)) == NULL)
		return s;
	memcpy(*copy, s, n);
	utf8_repair_n(*copy, n);
	while ((nul = memchr(*copy, 0, n)) != NULL)
		*nul = '?';
	return *copy;
}

void utf8_repair(char *s)
{
	utf8_repair_n(s, strlen(s));
}
