/* pyjson: jansson <-> Python conversions. See pyjson.h. */
#define PY_SSIZE_T_CLEAN
#include "pyjson.h"

#include <math.h>

static PyObject *object_to_python(const json_t *v)
{
	PyObject *d = PyDict_New();
	const char *key;
	json_t *item;

	if (!d)
		return NULL;
	json_object_foreach((json_t *)v, key, item) {
		PyObject *pv = pyjson_to_python(item);
		if (!pv || PyDict_SetItemString(d, key, pv) < 0) {
			Py_XDECREF(pv);
			Py_DECREF(d);
			return NULL;
		}
		Py_DECREF(pv);
	}
	return d;
}

static PyObject *array_to_python(const json_t *v)
{
	size_t i, n = json_array_size(v);
	PyObject *l = PyList_New((Py_ssize_t)n);

	for (i = 0; l && i < n; i++) {
		PyObject *pv = pyjson_to_python(json_array_get(v, i));
		if (!pv) {
			Py_DECREF(l);
			return NULL;
		}
		PyList_SET_ITEM(l, (Py_ssize_t)i, pv);
	}
	return l;
}

PyObject *pyjson_to_python(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return object_to_python(v);
	case JSON_ARRAY: return array_to_python(v);
	case JSON_STRING:
		return PyUnicode_FromStringAndSize(json_string_value(v),
						   (Py_ssize_t)json_string_length(v));
	case JSON_INTEGER: return PyLong_FromLongLong(json_integer_value(v));
	case JSON_REAL: return PyFloat_FromDouble(json_real_value(v));
	case JSON_TRUE: Py_RETURN_TRUE;
	case JSON_FALSE: Py_RETURN_FALSE;
	case JSON_NULL: Py_RETURN_NONE;
	}
	PyErr_SetString(PyExc_ValueError, "unknown JSON value");
	return NULL;
}

char *pyjson_text(PyObject *s)
{
	PyObject *b = PyUnicode_AsEncodedString(s, "utf-8", "backslashreplace");
	char *data, *out, *p;
	Py_ssize_t len, i, nuls = 0;

	if (b == NULL || PyBytes_AsStringAndSize(b, &data, &len) < 0) {
		PyErr_Clear();
		Py_XDECREF(b);
		return NULL;
	}
	for (i = 0; i < len; i++)
		nuls += data[i] == '\0';
	out = malloc((size_t)len + 3 * (size_t)nuls + 1);
	for (p = out, i = 0; out && i < len; i++) {
		if (data[i] == '\0') {
			memcpy(p, "\\x00", 4);
			p += 4;
		} else {
			*p++ = data[i];
		}
	}
	if (out)
		*p = '\0';
	Py_DECREF(b);
	return out;
}

/* str(o) as a JSON string; null when even that fails. */
static json_t *as_string(PyObject *o)
{
	PyObject *s = PyObject_Str(o);
	char *text = s ? pyjson_text(s) : NULL;
	json_t *v = text ? json_string(text) : json_null();

	PyErr_Clear();
	free(text);
	Py_XDECREF(s);
	return v ? v : json_null();
}

static json_t *from_python(PyObject *o, int depth);

static json_t *dict_from_python(PyObject *o, int depth)
{
	json_t *obj = json_object();
	PyObject *k, *v;
	Py_ssize_t pos = 0;

	while (obj && PyDict_Next(o, &pos, &k, &v)) {
		json_t *key = as_string(k);
		const char *name = json_string_value(key);
		if (name)
			json_object_set_new(obj, name, from_python(v, depth + 1));
		json_decref(key);
	}
	return obj;
}

static json_t *seq_from_python(PyObject *o, int depth)
{
	PyObject *seq = PySequence_Fast(o, "not a sequence");
	json_t *arr = json_array();
	Py_ssize_t i, n;

	if (!seq) {
		PyErr_Clear();
		json_decref(arr);
		return as_string(o);
	}
	n = PySequence_Fast_GET_SIZE(seq);
	for (i = 0; arr && i < n; i++)
		json_array_append_new(arr, from_python(
			PySequence_Fast_GET_ITEM(seq, i), depth + 1));
	Py_DECREF(seq);
	return arr;
}

static json_t *real_from_python(PyObject *o, double d)
{
	return isfinite(d) ? json_real(d) : as_string(o);
}

/* Numbers that are not int/float: numpy scalars, one-element tensors... */
static json_t *number_from_python(PyObject *o)
{
	PyNumberMethods *nm = Py_TYPE(o)->tp_as_number;
	PyObject *n;
	json_t *v = NULL;

	if (nm && nm->nb_index && (n = PyNumber_Index(o))) {
		long long i = PyLong_AsLongLong(n);
		v = i == -1 && PyErr_Occurred() ? NULL : json_integer(i);
		Py_DECREF(n);
	}
	PyErr_Clear();
	if (!v && nm && nm->nb_float && (n = PyNumber_Float(o))) {
		v = real_from_python(o, PyFloat_AS_DOUBLE(n));
		Py_DECREF(n);
	}
	PyErr_Clear();
	return v;
}

/* Arrays (numpy, torch) through their tolist(). */
static json_t *tolist_from_python(PyObject *o, int depth)
{
	PyObject *l = PyObject_CallMethod(o, "tolist", NULL);
	json_t *v = NULL;

	if (l && (PyList_Check(l) || PyLong_Check(l) || PyFloat_Check(l) ||
		  PyBool_Check(l)))
		v = from_python(l, depth + 1);
	PyErr_Clear();
	Py_XDECREF(l);
	return v;
}

static json_t *from_python(PyObject *o, int depth)
{
	json_t *v;

	if (o == Py_None)
		return json_null();
	if (PyBool_Check(o))
		return json_boolean(o == Py_True);
	if (PyUnicode_Check(o))
		return as_string(o);
	if (depth > PYJSON_MAX_DEPTH)
		return as_string(o);
	if (PyLong_Check(o)) {
		long long i = PyLong_AsLongLong(o);
		if (i == -1 && PyErr_Occurred()) {
			PyErr_Clear();
			return as_string(o); /* beyond 64 bits: keep the digits */
		}
		return json_integer(i);
	}
	if (PyFloat_Check(o))
		return real_from_python(o, PyFloat_AS_DOUBLE(o));
	if (PyDict_Check(o))
		return dict_from_python(o, depth);
	if (PyList_Check(o) || PyTuple_Check(o))
		return seq_from_python(o, depth);
	if ((v = number_from_python(o)))
		return v;
	if (PyObject_HasAttrString(o, "tolist") &&
	    (v = tolist_from_python(o, depth)))
		return v;
	return as_string(o);
}

json_t *pyjson_from_python(PyObject *o)
{
	return from_python(o, 0);
}
