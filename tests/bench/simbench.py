"""simbench: the benchmark problems of `maggy-engine simulate`, from Python.

A thin ctypes wrapper of libmaggy-simbench.so (lib/simbench), so that
baseline optimizers (Optuna, random search ...) are scored on exactly the
problems maggy's strategies see. docs/benchmarks.md describes them.

    import simbench
    with simbench.open("lcbench_7593", data_dir="/work/shared/data") as b:
        space = b.space()              # Space:describe() format, by name
        r = b.eval({"batch_size": 64, ..., "budget": 10}, seed=1)
        r["curve"], r["time"], r["truth"], r["outputs"]
        regret = b.optimum("max") - r["truth"]

The library is found through $MAGGY_SIMBENCH_LIB, else in the build
directories of the repository (build-simbench, build).
"""

import ctypes
import json
import os

SYNTHETIC = ("branin", "hartmann3", "hartmann6",
             "branin_mf", "hartmann3_mf", "hartmann6_mf")

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_LIB_NAME = "libmaggy-simbench.so"
_ERR_SIZE = 512
_lib = None


class SimbenchError(Exception):
    """A benchmark could not be opened or a configuration evaluated."""


class _Curve(ctypes.Structure):
    _fields_ = [
        ("n", ctypes.c_int),
        ("value", ctypes.POINTER(ctypes.c_double)),
        ("time", ctypes.POINTER(ctypes.c_double)),
        ("truth", ctypes.c_double),
        ("outputs", ctypes.c_char * 256),
    ]


def _library_path():
    env = os.environ.get("MAGGY_SIMBENCH_LIB")
    if env:
        return env
    for build in ("build-simbench", "build"):
        path = os.path.join(_REPO, build, _LIB_NAME)
        if os.path.exists(path):
            return path
    raise SimbenchError("%s not found: build it (cmake --build build) or set "
                        "MAGGY_SIMBENCH_LIB" % _LIB_NAME)


def _declare(lib):
    handle = ctypes.c_void_p
    lib.simbench_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.simbench_open.restype = handle
    lib.simbench_name.argtypes = [handle]
    lib.simbench_name.restype = ctypes.c_char_p
    lib.simbench_space_json.argtypes = [handle]
    lib.simbench_space_json.restype = ctypes.c_char_p
    lib.simbench_max_budget.argtypes = [handle]
    lib.simbench_max_budget.restype = ctypes.c_int
    lib.simbench_optimum.argtypes = [handle, ctypes.c_char_p]
    lib.simbench_optimum.restype = ctypes.c_double
    lib.simbench_eval.argtypes = [handle, ctypes.c_char_p, ctypes.c_uint64,
                                  ctypes.POINTER(_Curve), ctypes.c_char_p,
                                  ctypes.c_size_t]
    lib.simbench_eval.restype = ctypes.c_int
    lib.simbench_close.argtypes = [handle]
    lib.simbench_close.restype = None
    return lib


def _library():
    global _lib
    if _lib is None:
        _lib = _declare(ctypes.CDLL(_library_path()))
    return _lib


def _plain(value):
    """numpy scalars (as Optuna may hand out) become Python numbers."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError("cannot send %r to simbench" % (value,))


def _resolve(spec, data_dir):
    if spec in SYNTHETIC or data_dir is None or os.path.isabs(spec):
        return spec
    for name in (spec, spec + ".csv"):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            return path
    return os.path.join(data_dir, spec)


class Benchmark:
    """An open benchmark; close() it, or use it in a with statement."""

    def __init__(self, lib, handle):
        self._lib = lib
        self._handle = handle
        self.name = lib.simbench_name(handle).decode()
        self.max_budget = lib.simbench_max_budget(handle)

    def _check_open(self):
        if self._handle is None:
            raise SimbenchError("benchmark %s is closed" % self.name)

    def space(self):
        """The search space: a list of dicts, sorted by name."""
        self._check_open()
        return json.loads(self._lib.simbench_space_json(self._handle))

    def eval(self, params, seed=0):
        """Runs one configuration (params may hold "budget").

        Returns {"curve": [value per step], "time": [cumulative seconds],
        "truth": noise-free final value, "outputs": dict}.
        """
        self._check_open()
        curve = _Curve()
        err = ctypes.create_string_buffer(_ERR_SIZE)
        text = json.dumps(params, default=_plain).encode()
        rc = self._lib.simbench_eval(self._handle, text, seed & (2**64 - 1),
                                     ctypes.byref(curve), err, _ERR_SIZE)
        if rc != 0:
            raise SimbenchError(err.value.decode(errors="replace"))
        return {
            "curve": curve.value[:curve.n],
            "time": curve.time[:curve.n],
            "truth": curve.truth,
            "outputs": json.loads(curve.outputs.decode()),
        }

    def optimum(self, direction):
        """The best full-budget value for "max" or "min"; nan if unknown."""
        self._check_open()
        return self._lib.simbench_optimum(self._handle, direction.encode())

    def close(self):
        if self._handle is not None:
            self._lib.simbench_close(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


def open(spec, data_dir=None):  # noqa: A001 (the module's verb, like io.open)
    """Opens a synthetic function by name or a CSV benchmark.

    With data_dir, a bare table name ("lcbench_7593") is looked up there,
    with or without ".csv".
    """
    lib = _library()
    err = ctypes.create_string_buffer(_ERR_SIZE)
    handle = lib.simbench_open(_resolve(spec, data_dir).encode(), err, _ERR_SIZE)
    if not handle:
        raise SimbenchError(err.value.decode(errors="replace"))
    return Benchmark(lib, handle)
