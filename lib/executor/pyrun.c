/* pyrun: the embedded interpreter and the training function. See pyrun.h. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "pyrun.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyjson.h"
#include "reporter.h"

#ifndef MAGGY_PYTHON_EXECUTABLE
#define MAGGY_PYTHON_EXECUTABLE "/usr/bin/python3"
#endif

/* Small helpers easier to say in Python; they live in a private namespace,
 * not in __main__. */
static const char helpers_src[] =
"import gc, sys, traceback\n"
"\n"
"def accepts_reporter(fn):\n"
"    import inspect\n"
"    try:\n"
"        sig = inspect.signature(fn)\n"
"    except (TypeError, ValueError):\n"
"        return False\n"
"    for p in sig.parameters.values():\n"
"        if p.kind is p.VAR_KEYWORD:\n"
"            return True\n"
"        if p.name == 'reporter' and p.kind in (p.POSITIONAL_OR_KEYWORD,\n"
"                                               p.KEYWORD_ONLY):\n"
"            return True\n"
"    return False\n"
"\n"
"def format_exc(etype, value, tb):\n"
"    lines = traceback.format_exception(etype, value, tb)\n"
"    return ''.join(lines).rstrip('\\n')\n"
"\n"
"def prepend_path(entries):\n"
"    sys.path[0:0] = list(entries)\n"
"\n"
"def streams():\n"
"    seen = []\n"
"    for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):\n"
"        if s is not None and all(s is not t for t in seen):\n"
"            seen.append(s)\n"
"    return seen\n"
"\n"
"def line_buffered():\n"
"    for s in streams():\n"
"        try:\n"
"            s.reconfigure(line_buffering=True)\n"
"        except Exception:\n"
"            pass\n"
"\n"
"def flush():\n"
"    for s in streams():\n"
"        try:\n"
"            s.flush()\n"
"        except Exception:\n"
"            pass\n"
"\n"
"def describe(v):\n"
"    try:\n"
"        r = repr(v)\n"
"    except Exception:\n"
"        r = '?'\n"
"    if len(r) > 80:\n"
"        r = r[:77] + '...'\n"
"    return 'None' if v is None else '%s (%s)' % (type(v).__name__, r)\n"
"\n"
"def freeze():\n"
"    gc.collect()\n"
"    gc.freeze()\n"
"\n"
"def unfreeze():\n"
"    gc.unfreeze()\n"
"\n"
"def collect():\n"
"    gc.collect()\n"
"    cuda = getattr(sys.modules.get('torch'), 'cuda', None)\n"
"    if cuda is not None and cuda.is_initialized():\n"
"        cuda.empty_cache()\n"
"\n"
"def key_list(d):\n"
"    keys = ', '.join(repr(k) for k in list(d)[:20])\n"
"    return keys + (', ...' if len(d) > 20 else '') if keys else 'none'\n";

/* Longer tracebacks lose their middle: frames and logs stay small. */
#define TRACEBACK_MAX (64 * 1024)

static PyObject *helpers;     /* dict of the functions above */
static PyObject *train_fn;    /* the user's function */
static int wants_reporter;
static PyThreadState *saved_state;

const char *pyrun_state_name(enum pyrun_state s)
{
	switch (s) {
	case PYRUN_FINISHED: return "FINISHED";
	case PYRUN_EARLY_STOPPED: return "EARLY_STOPPED";
	case PYRUN_FAILED: return "FAILED";
	}
	return "FAILED";
}

/* helpers[name](*args): new reference or NULL with an exception set. */
static PyObject *call_helper(const char *name, PyObject *args)
{
	PyObject *fn = PyDict_GetItemString(helpers, name);

	if (!fn) {
		PyErr_Format(PyExc_RuntimeError, "no helper %s", name);
		return NULL;
	}
	return PyObject_CallObject(fn, args);
}

/* Call a helper for its effect; errors are cleared. */
static void run_helper(const char *name)
{
	PyObject *r = call_helper(name, NULL);

	if (!r)
		PyErr_Clear();
	Py_XDECREF(r);
}

/* Keep head and tail of an over-long text (a traceback's end matters most):
 * returns s, or a new string replacing it (s freed). Cuts at UTF-8
 * character boundaries. */
static char *cut_middle(char *s, size_t max)
{
	size_t len = s ? strlen(s) : 0, head = max / 4, tail = max - head;
	char *out;

	if (len <= max)
		return s;
	while (head > 0 && (s[head] & 0xC0) == 0x80)
		head--;
	while (tail > 0 && (s[len - tail] & 0xC0) == 0x80)
		tail--;
	if (asprintf(&out, "%.*s\n... (%zu bytes cut) ...\n%s", (int)head, s,
		     len - head - tail, s + len - tail) < 0)
		out = NULL;
	free(s);
	return out;
}

char *pyrun_traceback(void)
{
	PyObject *type, *value, *tb, *args, *text = NULL;
	char *out = NULL;

	PyErr_Fetch(&type, &value, &tb);
	if (!type)
		return strdup("unknown error (no Python exception set)");
	PyErr_NormalizeException(&type, &value, &tb);
	if (tb && value)
		PyException_SetTraceback(value, tb);
	args = PyTuple_Pack(3, type, value ? value : Py_None,
			    tb ? tb : Py_None);
	if (args && helpers)
		text = call_helper("format_exc", args);
	if (!text) {
		/* Formatting failed (broken traceback module?): at least the
		 * exception itself. */
		PyErr_Clear();
		text = PyObject_Str(value ? value : type);
	}
	out = cut_middle(text ? pyjson_text(text) : NULL, TRACEBACK_MAX);
	Py_XDECREF(text);
	Py_XDECREF(args);
	Py_XDECREF(type);
	Py_XDECREF(value);
	Py_XDECREF(tb);
	return out ? out : strdup("unknown error (cannot format it)");
}

static int load_helpers(char *err, size_t errlen)
{
	PyObject *r;
	char *tb;

	helpers = PyDict_New();
	if (!helpers)
		goto fail;
	if (PyDict_SetItemString(helpers, "__builtins__",
				 PyEval_GetBuiltins()) < 0)
		goto fail;
	r = PyRun_String(helpers_src, Py_file_input, helpers, helpers);
	if (!r)
		goto fail;
	Py_DECREF(r);
	return 0;
fail:
	tb = pyrun_traceback();
	snprintf(err, errlen, "cannot set up the interpreter: %s",
		 tb ? tb : "out of memory");
	free(tb);
	return -1;
}

int pyrun_init(char *err, size_t errlen)
{
	static char *argv[] = {"maggy-executor", NULL};
	PyObject *maggy;
	PyConfig config;
	PyStatus st;

	PyConfig_InitPythonConfig(&config);
	config.parse_argv = 0;
	/* SIGINT and SIGTERM keep their default: stop the executor, not raise
	 * KeyboardInterrupt inside a trial. */
	config.install_signal_handlers = 0;
	st = PyConfig_SetBytesString(&config, &config.program_name,
				     MAGGY_PYTHON_EXECUTABLE);
	if (!PyStatus_Exception(st))
		st = PyConfig_SetBytesArgv(&config, 1, argv);
	if (!PyStatus_Exception(st))
		st = Py_InitializeFromConfig(&config);
	PyConfig_Clear(&config);
	if (PyStatus_Exception(st)) {
		snprintf(err, errlen, "cannot start Python: %s",
			 st.err_msg ? st.err_msg : "unknown error");
		return -1;
	}
	if (load_helpers(err, errlen) < 0)
		return -1;
	run_helper("line_buffered");
	/* maggy.EarlyStop must exist before a broadcast can raise it, even
	 * when the training module never imports maggy itself. */
	maggy = PyImport_ImportModule("maggy");
	if (!maggy) {
		char *tb = pyrun_traceback();
		snprintf(err, errlen, "cannot set up the maggy module: %s",
			 tb ? tb : "out of memory");
		free(tb);
		return -1;
	}
	Py_DECREF(maggy);
	return 0;
}

static char *import_error(const char *module, const char *function)
{
	char *tb = pyrun_traceback();
	size_t n = strlen(module) + strlen(function) + (tb ? strlen(tb) : 0) + 32;
	char *msg = malloc(n);

	if (msg)
		snprintf(msg, n, "cannot import %s:%s: %s", module, function,
			 tb ? tb : "");
	free(tb);
	return msg;
}

static int set_path(const json_t *python_path)
{
	PyObject *list, *args, *r;

	if (!python_path)
		return 0;
	list = pyjson_to_python(python_path);
	if (!list)
		return -1;
	if (!PyList_Check(list)) {
		Py_DECREF(list);
		PyErr_SetString(PyExc_TypeError, "python_path is not a list");
		return -1;
	}
	args = PyTuple_Pack(1, list);
	r = args ? call_helper("prepend_path", args) : NULL;
	Py_XDECREF(args);
	Py_DECREF(list);
	Py_XDECREF(r);
	return r ? 0 : -1;
}

static int check_reporter(PyObject *fn)
{
	PyObject *args = PyTuple_Pack(1, fn);
	PyObject *r = args ? call_helper("accepts_reporter", args) : NULL;
	int yes = r ? PyObject_IsTrue(r) : -1;

	Py_XDECREF(args);
	Py_XDECREF(r);
	return yes;
}

int pyrun_load(const json_t *python_path, const char *module,
	       const char *function, char **error)
{
	PyObject *mod = NULL, *fn = NULL;
	int rc = -1;

	*error = NULL;
	if (set_path(python_path) < 0)
		goto out;
	mod = PyImport_ImportModule(module);
	if (!mod)
		goto out;
	fn = PyObject_GetAttrString(mod, function);
	if (!fn)
		goto out;
	if (!PyCallable_Check(fn)) {
		PyErr_Format(PyExc_TypeError, "%s.%s is a %.100s, not a "
			     "function", module, function,
			     Py_TYPE(fn)->tp_name);
		goto out;
	}
	wants_reporter = check_reporter(fn);
	if (wants_reporter < 0)
		goto out;
	Py_XDECREF(train_fn);
	train_fn = fn;
	fn = NULL;
	/* What the import made lives on: the collections after each trial
	 * then look at what trials made, not at every module's objects. */
	run_helper("freeze");
	rc = 0;
out:
	if (rc)
		*error = import_error(module, function);
	Py_XDECREF(fn);
	Py_XDECREF(mod);
	return rc;
}

static void fail_with(struct pyrun_result *res, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail_with(struct pyrun_result *res, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	res->state = PYRUN_FAILED;
	res->has_value = 0;
	free(res->error);
	res->error = msg;
}

/* helpers[name](v) as a malloc'd string, never NULL: for error messages. */
static char *text_of(const char *name, PyObject *v)
{
	PyObject *args = PyTuple_Pack(1, v);
	PyObject *s = args ? call_helper(name, args) : NULL;
	char *out = s ? pyjson_text(s) : NULL;

	PyErr_Clear();
	Py_XDECREF(args);
	Py_XDECREF(s);
	return out ? out : strdup("?");
}

/* "str ('abc')", "None". */
static char *describe(PyObject *v)
{
	return text_of("describe", v);
}

static void interpret_dict(PyObject *d, const char *metric,
			   struct pyrun_result *res)
{
	PyObject *m = PyDict_GetItemString(d, metric), *rest;
	char *what;
	double v;

	if (!m) {
		what = text_of("key_list", d);
		fail_with(res, "training function returned a dict without key "
			  "'%s' (keys: %s); expected a number or a dict with "
			  "key '%s'", metric, what ? what : "?", metric);
		free(what);
		return;
	}
	if (reporter_to_real(m, &v) < 0 || !isfinite(v)) {
		what = describe(m);
		fail_with(res, "training function returned a dict whose '%s' "
			  "is %s; expected a finite number", metric, what);
		free(what);
		return;
	}
	res->state = PYRUN_FINISHED;
	res->has_value = 1;
	res->value = v;
	rest = PyDict_Copy(d);
	if (rest && PyDict_DelItemString(rest, metric) == 0) {
		json_decref(res->outputs);
		res->outputs = pyjson_from_python(rest);
	}
	PyErr_Clear();
	Py_XDECREF(rest);
}

static void interpret(PyObject *ret, const char *metric,
		      struct pyrun_result *res)
{
	char *what;
	double v;

	if (PyDict_Check(ret)) {
		interpret_dict(ret, metric, res);
		return;
	}
	if (reporter_to_real(ret, &v) == 0 && isfinite(v)) {
		res->state = PYRUN_FINISHED;
		res->has_value = 1;
		res->value = v;
		return;
	}
	what = describe(ret);
	fail_with(res, "training function returned %s; expected a %snumber or "
		  "a dict with key '%s'", what,
		  reporter_to_real(ret, &v) == 0 ? "finite " : "", metric);
	free(what);
}

/* The keyword arguments of a call: params, plus reporter= when wanted. */
static PyObject *make_kwargs(const json_t *params)
{
	PyObject *kw = pyjson_to_python(params), *r;

	if (!kw || !wants_reporter)
		return kw;
	r = reporter_new();
	if (!r || PyDict_SetItemString(kw, "reporter", r) < 0) {
		Py_XDECREF(r);
		Py_DECREF(kw);
		return NULL;
	}
	Py_DECREF(r);
	return kw;
}

/* The function raised: early stop, or a failure with its traceback. */
static void on_exception(struct pyrun_result *res,
			 const struct reporter_summary *sum)
{
	PyObject *es = reporter_early_stop();

	if (es && PyErr_ExceptionMatches(es)) {
		PyErr_Clear();
		res->state = PYRUN_EARLY_STOPPED;
		res->has_value = sum->has_last && isfinite(sum->last);
		res->value = sum->last;
		return;
	}
	res->state = PYRUN_FAILED;
	res->error = pyrun_traceback();
}

void pyrun_call(const json_t *params, const char *metric,
		struct pyrun_result *res)
{
	struct reporter_summary sum;
	PyObject *kw = NULL, *args = NULL, *ret = NULL;

	memset(res, 0, sizeof *res);
	res->outputs = json_object();
	if (!json_is_object(params)) {
		fail_with(res, "the trial's params are not a JSON object");
		return;
	}
	if (!train_fn) {
		fail_with(res, "no training function loaded");
		return;
	}
	args = PyTuple_New(0);
	kw = args ? make_kwargs(params) : NULL;
	if (kw)
		ret = PyObject_Call(train_fn, args, kw);
	reporter_summary(&sum);
	if (!ret)
		on_exception(res, &sum);
	else
		interpret(ret, metric, res);
	/* A trial that saw EarlyStop and then returned is still a stopped
	 * trial; a return the shim cannot read then falls back on the last
	 * broadcast value. */
	if (sum.stop_raised && res->state != PYRUN_EARLY_STOPPED) {
		if (res->state == PYRUN_FAILED && ret) {
			free(res->error);
			res->error = NULL;
			res->has_value = sum.has_last && isfinite(sum.last);
			res->value = sum.last;
		}
		if (ret)
			res->state = PYRUN_EARLY_STOPPED;
	}
	Py_XDECREF(ret);
	Py_XDECREF(kw);
	Py_XDECREF(args);
}

void pyrun_collect(void)
{
	run_helper("collect");
}

void pyrun_result_free(struct pyrun_result *res)
{
	json_decref(res->outputs);
	free(res->error);
	res->outputs = NULL;
	res->error = NULL;
}

void pyrun_flush_stdio(void)
{
	run_helper("flush");
	fflush(stdout);
	fflush(stderr);
}

void pyrun_release(void)
{
	saved_state = PyEval_SaveThread();
}

void pyrun_acquire(void)
{
	PyEval_RestoreThread(saved_state);
}

int pyrun_finalize(void)
{
	/* What pyrun_load() froze is freed at exit like the rest (extension
	 * modules' state, OpenSSL's included). */
	run_helper("unfreeze");
	Py_CLEAR(train_fn);
	Py_CLEAR(helpers);
	return Py_FinalizeEx();
}
