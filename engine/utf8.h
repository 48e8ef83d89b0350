/*
 * utf8: keeping text valid UTF-8 where it ends up in JSON (jansson refuses
 * to build a string from anything else, and a status or record that cannot
 * be built is lost).
 */
#pragma once

#include <stddef.h>

/* The length of the longest prefix of s[0..n) (valid UTF-8) that does not
 * end inside a character: where to cut text that must fit n bytes. */
size_t utf8_prefix(const char *s, size_t n);

/* Replace, in place, every byte of the NUL-terminated `s` that is not part
 * of a well-formed UTF-8 character with '?'. */
void utf8_repair(char *s);
