/* test_utf8: unit tests of lib/proto/utf8.c, the cuts and repairs that keep
 * text buildable as JSON. Exit status 0 when every check holds. */
#include "proto/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static void repaired(const char *in, const char *want)
{
	char buf[64];

	snprintf(buf, sizeof buf, "%s", in);
	utf8_repair(buf);
	if (strcmp(buf, want) != 0) {
		fprintf(stderr, "repair: got '%s', want '%s'\n", buf, want);
		failures++;
	}
}

int main(void)
{
	const char *e = "a\xc3\xa9" "b"; /* "aéb" */

	CHECK(utf8_prefix(e, 4) == 4);
	CHECK(utf8_prefix(e, 2) == 1); /* not inside the é */
	CHECK(utf8_prefix(e, 3) == 3);
	CHECK(utf8_prefix("\xf0\x9f\x99\x82", 3) == 0);

	repaired("plain", "plain");
	repaired(e, e);
	repaired("\xf0\x9f\x99\x82!", "\xf0\x9f\x99\x82!"); /* a 4-byte one */
	repaired("cut \xc3", "cut ?");
	repaired("\xff\xfe x", "?? x");
	repaired("\xc0\xaf", "??");		  /* overlong '/' */
	repaired("\xed\xa0\x80", "???");	  /* a surrogate */
	repaired("\xf4\x90\x80\x80", "????");	  /* past U+10FFFF */
	repaired("\xe2\x82", "??");		  /* cut at the end */

	{
		size_t bytes;

		CHECK(utf8_chars(e, 10, &bytes) == 3 && bytes == 4);
		CHECK(utf8_chars(e, 2, &bytes) == 2 && bytes == 3); /* "aé" */
		CHECK(utf8_chars("\xe2\x9c\x93!", 1, &bytes) == 1 && bytes == 3);
		CHECK(utf8_chars("", 5, &bytes) == 0 && bytes == 0);
	}
	CHECK(utf8_valid_prefix(e, 4) == 4);
	CHECK(utf8_valid_prefix(e, 2) == 1);	  /* the é cut short */
	CHECK(utf8_valid_prefix("ok\xff!", 4) == 2);
	CHECK(utf8_valid_prefix("", 0) == 0);
	{
		char bytes[] = "a\0\xff\xc3\xa9\xc3"; /* a NUL is text too */
		utf8_repair_n(bytes, 6);
		CHECK(memcmp(bytes, "a\0?\xc3\xa9?", 6) == 0);
	}
	{
		char *copy;
		const char *out = utf8_text(e, 4, &copy);
		CHECK(out == e && copy == NULL);	  /* valid: no copy */
		out = utf8_text("x\xffy", 3, &copy);
		CHECK(out == copy && memcmp(out, "x?y", 3) == 0);
		free(copy);
		out = utf8_text("a\0b\0", 4, &copy); /* valid, but no C string */
		CHECK(out == copy && memcmp(out, "a?b?", 4) == 0);
		free(copy);
	}
	if (failures == 0)
		printf("test_utf8: all checks passed\n");
	return failures != 0;
}
