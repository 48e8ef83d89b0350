/* reporter: the `maggy` Python module and the metric point buffer.
 * See reporter.h. */
#define PY_SSIZE_T_CLEAN
#include "reporter.h"
#include "pyjson.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* Points kept while the driver is unreachable; later ones are dropped. */
#define MAX_BUFFERED (1u << 20)

/* Shared with the I/O thread: everything under `lock`. */
static struct {
	pthread_mutex_t lock;
	uint64_t trial;
	int stop;
	struct proto_point *points;
	size_t n, cap;
	uint64_t next_step, steps, dropped;
	int has_last, stop_raised;
	double last;
} rs = {.lock = PTHREAD_MUTEX_INITIALIZER};

static reporter_log_fn log_fn;
static void *log_ud;
/* In a process the training function forked (see after_fork_child). */
static int forked;
static int forked_warned;
static PyObject *early_stop; /* the module's EarlyStop, a strong reference */

typedef struct {
	PyObject_HEAD
	uint64_t trial;
} Reporter;

void reporter_begin(uint64_t trial)
{
	pthread_mutex_lock(&rs.lock);
	rs.trial = trial;
	rs.stop = rs.has_last = rs.stop_raised = 0;
	rs.n = 0;
	rs.next_step = rs.steps = 0;
	pthread_mutex_unlock(&rs.lock);
}

void reporter_end(void)
{
	pthread_mutex_lock(&rs.lock);
	rs.trial = 0;
	rs.n = 0;
	pthread_mutex_unlock(&rs.lock);
}

uint64_t reporter_trial(void)
{
	uint64_t t;

	pthread_mutex_lock(&rs.lock);
	t = rs.trial;
	pthread_mutex_unlock(&rs.lock);
	return t;
}

uint32_t reporter_take(uint64_t *trial, struct proto_point *out, uint32_t max)
{
	uint32_t n;

	pthread_mutex_lock(&rs.lock);
	*trial = rs.trial;
	n = rs.n < max ? (uint32_t)rs.n : max;
	if (n) {
		memcpy(out, rs.points, n * sizeof *out);
		memmove(rs.points, rs.points + n, (rs.n - n) * sizeof *out);
		rs.n -= n;
	}
	pthread_mutex_unlock(&rs.lock);
	return n;
}

int reporter_stop(uint64_t trial)
{
	int match;

	pthread_mutex_lock(&rs.lock);
	match = trial != 0 && trial == rs.trial;
	if (match)
		rs.stop = 1;
	pthread_mutex_unlock(&rs.lock);
	return match;
}

void reporter_summary(struct reporter_summary *out)
{
	pthread_mutex_lock(&rs.lock);
	out->steps = rs.steps;
	out->has_last = rs.has_last;
	out->last = rs.last;
	out->stop_raised = rs.stop_raised;
	pthread_mutex_unlock(&rs.lock);
}

/* Record a point of `trial`. Returns 1 when the trial must stop, 0 when it
 * goes on, -1 when the point belongs to a trial that is over (ignored). */
static int record(uint64_t trial, int has_step, uint64_t step, double value)
{
	int rc = -1;

	pthread_mutex_lock(&rs.lock);
	if (trial != rs.trial)
		goto out;
	if (!has_step)
		step = rs.next_step;
	/* after the highest step so far: a point sent back to an earlier
	 * step (which the driver ignores) must not take the default along */
	if (step >= rs.next_step)
		rs.next_step = step + 1;
	rs.steps++;
	rs.has_last = 1;
	rs.last = value;
	if (rs.n == rs.cap && rs.cap < MAX_BUFFERED) {
		size_t cap = rs.cap ? rs.cap * 2 : 256;
		struct proto_point *p = realloc(rs.points, cap * sizeof *p);
		if (p) {
			rs.points = p;
			rs.cap = cap;
		}
	}
	if (rs.n < rs.cap)
		rs.points[rs.n++] = (struct proto_point){step, value};
	else
		rs.dropped++;
	rc = rs.stop;
	if (rc)
		rs.stop_raised = 1;
out:
	pthread_mutex_unlock(&rs.lock);
	return rc;
}

int reporter_to_real(PyObject *o, double *out)
{
	PyNumberMethods *nm = Py_TYPE(o)->tp_as_number;
	PyObject *f;

	if (PyBool_Check(o) || PyUnicode_Check(o) || PyBytes_Check(o))
		return -1;
	if (PyFloat_Check(o)) {
		*out = PyFloat_AS_DOUBLE(o);
		return 0;
	}
	if (!PyLong_Check(o) && !(nm && nm->nb_float))
		return -1;
	f = PyNumber_Float(o);
	if (!f && PyLong_Check(o) && PyErr_ExceptionMatches(PyExc_OverflowError)) {
		/* an int past what a double holds: infinite, so that it is
		 * refused as not finite rather than as not a number */
		PyObject *zero;
		int negative;

		PyErr_Clear(); /* the comparison runs with no error set */
		zero = PyLong_FromLong(0);
		negative = zero ? PyObject_RichCompareBool(o, zero, Py_LT) : 0;
		Py_XDECREF(zero);
		PyErr_Clear();
		*out = negative > 0 ? -INFINITY : INFINITY;
		return 0;
	}
	if (!f) {
		PyErr_Clear();
		return -1;
	}
	*out = PyFloat_AS_DOUBLE(f);
	Py_DECREF(f);
	return 0;
}

/* step=None, or an int >= 0 (anything with __index__ but bool). */
static int parse_step(PyObject *o, int *has_step, uint64_t *step)
{
	unsigned long long v;
	PyObject *i;

	*has_step = o && o != Py_None;
	if (!*has_step)
		return 0;
	if (PyBool_Check(o) || !PyIndex_Check(o)) {
		PyErr_Format(PyExc_TypeError, "step must be an int >= 0 or None, "
			     "not %.100s", Py_TYPE(o)->tp_name);
		return -1;
	}
	if (!(i = PyNumber_Index(o)))
		return -1;
	v = PyLong_AsUnsignedLongLong(i);
	Py_DECREF(i);
	if (v == (unsigned long long)-1 && PyErr_Occurred()) {
		PyErr_SetString(PyExc_ValueError, "step must be an int >= 0");
		return -1;
	}
	*step = v;
	return 0;
}

static PyObject *l_broadcast(Reporter *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"metric", "step", NULL};
	PyObject *metric, *step_obj = Py_None;
	uint64_t step = 0;
	int has_step, rc;
	double value;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:broadcast", kwlist,
					 &metric, &step_obj))
		return NULL;
	if (reporter_to_real(metric, &value) < 0)
		return PyErr_Format(PyExc_TypeError, "metric must be a real "
				    "number, not %.100s",
				    Py_TYPE(metric)->tp_name);
	if (parse_step(step_obj, &has_step, &step) < 0)
		return NULL;
	if (forked) {
		static const char why[] =
			"maggy: reporter.broadcast() in a process that the "
			"training function started is ignored: broadcast from "
			"the process that runs train (send the metric back to "
			"it, as a DataLoader sends batches)\n";

		if (!forked_warned) {
			ssize_t n = write(2, why, sizeof why - 1);

			(void)n; /* a closed stderr: nowhere else to say it */
			forked_warned = 1;
		}
		Py_RETURN_NONE;
	}
	rc = record(self->trial, has_step, step, value);
	if (rc == 1) {
		char hex[PROTO_TRIAL_HEX];
		proto_trial_hex(self->trial, hex);
		return PyErr_Format(early_stop, "the driver stopped trial %s",
				    hex);
	}
	Py_RETURN_NONE;
}

static PyObject *l_log(Reporter *self, PyObject *msg)
{
	PyObject *s = PyObject_Str(msg);
	char *text;

	if (!s)
		return NULL;
	text = pyjson_text(s);
	Py_DECREF(s);
	if (!text)
		return PyErr_NoMemory();
	if (log_fn) {
		/* The send may block on the socket: let other threads run. */
		Py_BEGIN_ALLOW_THREADS
		log_fn(log_ud, self->trial, text, strlen(text));
		Py_END_ALLOW_THREADS
	} else if (forked) {
		/* its stderr is the executor's capture pipe: the line is the
		 * trial's all the same, on stderr */
		struct iovec line[2] = { { text, strlen(text) }, { "\n", 1 } };
		ssize_t n = writev(2, line, 2); /* closed: nowhere else to say */

		(void)n;
	}
	free(text);
	Py_RETURN_NONE;
}

static PyObject *l_trial_id(Reporter *self, void *closure)
{
	char hex[PROTO_TRIAL_HEX];

	proto_trial_hex(self->trial, hex);
	return PyUnicode_FromString(hex);
}

static PyObject *l_repr(Reporter *self)
{
	char hex[PROTO_TRIAL_HEX];

	proto_trial_hex(self->trial, hex);
	return PyUnicode_FromFormat("<maggy.Reporter trial %s>", hex);
}

static PyMethodDef reporter_methods[] = {
	{"broadcast", (PyCFunction)(void (*)(void))l_broadcast,
	 METH_VARARGS | METH_KEYWORDS,
	 "broadcast(metric, step=None)\n--\n\n"
	 "Record the current value of the trial's metric. Raises\n"
	 "maggy.EarlyStop when the driver has asked to stop this trial."},
	{"log", (PyCFunction)l_log, METH_O,
	 "log(msg)\n--\n\nSend str(msg) to the driver's log of this trial."},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef reporter_getset[] = {
	{"trial_id", (getter)l_trial_id, NULL, "the trial id (16 hex digits)",
	 NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ReporterType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "maggy.Reporter",
	.tp_basicsize = sizeof(Reporter),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Passed to the training function as `reporter`.",
	.tp_methods = reporter_methods,
	.tp_getset = reporter_getset,
	.tp_repr = (reprfunc)l_repr,
};

PyObject *reporter_new(void)
{
	Reporter *r = PyObject_New(Reporter, &ReporterType);

	if (r)
		r->trial = reporter_trial();
	return (PyObject *)r;
}

PyObject *reporter_early_stop(void)
{
	return early_stop;
}

static struct PyModuleDef maggy_module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "maggy",
	.m_doc = "The maggy executor's API for training functions.",
	.m_size = -1,
};

static PyObject *l_init_module(void)
{
	PyObject *m = NULL, *path;
	const char *dir;

	if (PyType_Ready(&ReporterType) < 0)
		return NULL;
	if (!early_stop) {
		early_stop = PyErr_NewExceptionWithDoc(
			"maggy.EarlyStop",
			"Raised by reporter.broadcast() when the driver stops the "
			"trial early.", PyExc_Exception, NULL);
		if (!early_stop)
			return NULL;
	}
	m = PyModule_Create(&maggy_module);
	if (!m)
		return NULL;
	/* A package: its submodules (maggy.ablation) are the Python files of
	 * python/maggy/, or of MAGGY_PYTHON_DIR. */
	dir = getenv("MAGGY_PYTHON_DIR");
	path = Py_BuildValue("[s]", dir && *dir ? dir : MAGGY_PYTHON_DIR);
	if (!path || PyModule_AddObjectRef(m, "__path__", path) < 0 ||
	    PyModule_AddObjectRef(m, "EarlyStop", early_stop) < 0 ||
	    PyModule_AddObjectRef(m, "Reporter",
				  (PyObject *)&ReporterType) < 0) {
		Py_XDECREF(path);
		Py_DECREF(m);
		return NULL;
	}
	Py_DECREF(path);
	return m;
}

/* A child forked by the training function (multiprocessing, DataLoader
 * workers) has no I/O thread and must not write on the driver's socket: its
 * reporter's log lines go to its stderr (the executor captures it), and a
 * broadcast is dropped with a warning. The lock may have been held by the
 * I/O thread at the fork, hence the new one. */
static void after_fork_child(void)
{
	pthread_mutex_init(&rs.lock, NULL);
	rs.trial = 0;
	rs.n = 0;
	log_fn = NULL;
	forked = 1;
}

int reporter_register(reporter_log_fn log, void *ud)
{
	log_fn = log;
	log_ud = ud;
	if (pthread_atfork(NULL, NULL, after_fork_child))
		return -1;
	return PyImport_AppendInittab("maggy", l_init_module);
}
