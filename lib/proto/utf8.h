/*
 * utf8: keeping text valid UTF-8 where it ends up in JSON (jansson refuses
 * to build a string from anything else, and a status or record that cannot
 * be built is lost), and cutting it between characters.
 */
#pragma once

#include <stddef.h>

/* The length of the longest prefix of s[0..n) (valid UTF-8) that does not
 * end inside a character: where to cut text that must fit n bytes. */
size_t utf8_prefix(const char *s, size_t n);

/* The number of characters of the NUL-terminated UTF-8 text s, counting
 * no further than `max`; *bytes gets the length of that many. A character
 * takes one column on a terminal (but the wide ones of East Asian scripts):
 * what lines text up in a table. */
size_t utf8_chars(const char *s, size_t max, size_t *bytes);

/* The length of the longest prefix of s[0..n) that is well-formed UTF-8:
 * n when all of it is. */
size_t utf8_valid_prefix(const char *s, size_t n);

/* Replace, in place, every byte of s[0..n) that is not part of a
 * well-formed UTF-8 character with '?'. */
void utf8_repair_n(char *s, size_t n);

/* s[0..n) as well-formed UTF-8 with no NUL (a reader that takes it as a C
 * string, a terminal too, would end it there): s itself when it is; else a
 * copy with utf8_repair_n applied and each NUL made '?', which *copy then
 * holds for the caller to free (*copy is NULL otherwise, and when out of
 * memory: s comes back as it is). */
const char *utf8_text(const char *s, size_t n, char **copy);

/* utf8_repair_n on the NUL-terminated `s`. */
void utf8_repair(char *s);
