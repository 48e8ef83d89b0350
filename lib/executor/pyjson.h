/*
 * pyjson: conversions between jansson values and Python objects.
 *
 * Trial parameters arrive as JSON and become Python dicts, lists, str, int,
 * float, bool and None. Outputs go the other way; what JSON cannot hold is
 * made representable instead of failing the trial: non-string keys and
 * unknown objects become str(obj), NaN and infinities become their str()
 * ("nan", "inf"), numbers from numpy and the like go through __index__ or
 * __float__, and nesting deeper than PYJSON_MAX_DEPTH is cut with str().
 *
 * Threads: the main thread, with the GIL.
 */
#pragma once

#include <Python.h>
#include <jansson.h>

#define PYJSON_MAX_DEPTH 64

/* New reference, or NULL with a Python exception set. */
PyObject *pyjson_to_python(const json_t *v);

/* The str `s` as UTF-8 text in a new C string: characters UTF-8 cannot
 * hold (lone surrogates, as os.listdir gives for names it cannot decode)
 * become backslash escapes, and NUL characters "\x00", so the text is
 * always valid UTF-8 and whole. NULL when out of memory (no Python error
 * is left set). */
char *pyjson_text(PyObject *s);

/* New jansson value (never NULL unless out of memory). Any Python error met
 * on the way is cleared and the value replaced by its str() or null. */
json_t *pyjson_from_python(PyObject *o);
