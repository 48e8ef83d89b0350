/*
 * errtext: the short form of an error text for the console. Errors keep
 * their whole text in the store and in summary.json (a Lua error with the
 * traceback the bridge appends, an executor's report with the Python
 * traceback); the console shows what the user acts on first, and the rest
 * with --verbose.
 *
 * Pure functions, any thread.
 */
#pragma once

#include <stddef.h>

/*
 * Write the short form of `error` to `out` (always NUL-terminated):
 * - "MESSAGE\nstack traceback:..." (Lua): MESSAGE;
 * - "WHAT: Traceback (most recent call last):\n...\nLAST" (Python):
 *   "WHAT: LAST", the exception's own line;
 * - anything else: as it is.
 * Returns 1 when something was left out, 0 when not.
 */
int errtext_brief(const char *error, char *out, size_t len);

/* The last line of `text` that is not blank, in `out` (NUL-terminated):
 * a Python traceback's exception. */
void errtext_last_line(const char *text, char *out, size_t len);

/* 1 when errors `a` and `b` are alike: the same but for the numbers and
 * the quoted values in them ("'acc' is str ('0.3')" and "'acc' is str
 * ('0.7')", "cannot allocate 2.00 GiB" and "... 4.00 GiB"). */
int errtext_alike(const char *a, const char *b);
