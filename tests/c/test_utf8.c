/* test_utf8: unit tests of engine/utf8.c, the cuts and repairs that keep
 * text buildable as JSON. Exit status 0 when every check holds. */
#include "utf8.h"

#include <stdio.h>
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
	if (failures == 0)
		printf("test_utf8: all checks passed\n");
	return failures != 0;
}
