"""Optuna and Hyperopt on the problems of `maggy-engine simulate`, scored
the way the engine scores maggy's own optimizers. Used by quality.py.

    import baselines
    history = baselines.run("optuna-tpe", "hpolib_naval_propulsion", seed=3, evals=200)
    baselines.regrets(history, "min", optimum, [50, 100, 200])

run() evaluates every suggestion on the benchmark through simbench.py
(the same C code the engine links) and returns the (observed value, truth)
pair of each evaluation, in order. Search spaces are translated parameter
by parameter from simbench's space description:

    DOUBLE       float, log scale when the space says so
    INTEGER      integer, log scale when the space says so
    DISCRETE     ORDERED: an integer index into the sorted values, so the
                 samplers see that 0.001 lies between 0.0005 and 0.005
                 (the tabular tables' numeric columns are DISCRETE)
    CATEGORICAL  categorical

The benchmark noise of evaluation i of seed s (the seed column of a
tabular table) comes from a hash of (s, i), so that a run is a function of
its seed. Every sampler keeps its library's defaults (Optuna: 10 random
startup trials; Hyperopt: 20), seeded with s, except that "optuna-tpe" asks
for the univariate TPE explicitly: Optuna 5's TPESampler() is multivariate
when there is one objective, which "optuna-tpe-mv" sets anyway.

GPSampler needs torch. With Debian's torch 1.13 it runs in a child Python
whose path puts Debian's numpy first (env_beside_torch), and without the
torch 2 device context it enters (allow_torch_1); latency.py uses both.
"""
import contextlib
import hashlib
import importlib.util
import json
import logging
import math
import os
import subprocess
import sys
import warnings

import simbench
import simrun

SYNTHETIC_MIN = ("branin", "hartmann3", "hartmann6")


def direction_of(problem):
    """What the problem asks for: the tabular error tables and the synthetic
    functions are minimized, accuracies maximized."""
    if problem in SYNTHETIC_MIN or problem.startswith("hpolib_"):
        return "min"
    return "max"


def noise_seed(seed, index):
    """The benchmark seed of evaluation `index` of run `seed`."""
    digest = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def regrets(history, direction, optimum, budgets):
    """Simple regret after each budget: |optimum - truth of the incumbent|,
    the incumbent being the evaluation with the best OBSERVED value so far
    (the first of equals), as the engine's simulation.json reports it."""
    out, best, best_truth = {}, None, None
    for n, (value, truth) in enumerate(history, start=1):
        if best is None or (value > best if direction == "max" else value < best):
            best, best_truth = value, truth
        if n in budgets:
            out[n] = abs(optimum - best_truth)
    missing = [n for n in budgets if n not in out]
    if missing:
        raise ValueError(f"only {len(history)} evaluations, no regret at {missing}")
    return out


class _Evaluator:
    """Scores params on one benchmark and records (value, truth)."""

    def __init__(self, bench, seed):
        self.bench, self.seed, self.history = bench, seed, []

    def __call__(self, params):
        result = self.bench.eval(params, seed=noise_seed(self.seed, len(self.history)))
        value = result["curve"][-1]
        self.history.append((value, result["truth"]))
        return value


# ---- Optuna ---------------------------------------------------------------

def quiet_optuna():
    """optuna, with its per-trial log lines and experimental warnings off."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def optuna_suggest(trial, p):
    """One parameter of simbench's space from an Optuna trial."""
    kind, name = p["type"], p["name"]
    if kind == "DOUBLE":
        return trial.suggest_float(name, p["low"], p["high"], log=p["log"])
    if kind == "INTEGER":
        return trial.suggest_int(name, int(p["low"]), int(p["high"]), log=p["log"])
    if kind == "DISCRETE":
        return p["values"][trial.suggest_int(name, 0, len(p["values"]) - 1)]
    if kind == "CATEGORICAL":
        return trial.suggest_categorical(name, p["values"])
    raise ValueError(f"parameter {name}: unknown type {kind!r}")


class _CpuOnlyTorch:
    """torch, except that torch.device(...) may be entered as a context."""

    def __init__(self, torch):
        self._torch = torch

    def __getattr__(self, name):
        return getattr(self._torch, name)

    @staticmethod
    def device(*args, **kwargs):
        return contextlib.nullcontext()


def allow_torch_1():
    """Optuna 5's GPSampler runs its model inside `with torch.device("cpu")`,
    a context that torch >= 2.0 has; Debian's CPU-only torch 1.13 has not.
    Its tensors are on the CPU anyway, so the sampler module is handed a
    torch whose device() is a do-nothing context (the sampler uses
    torch.device nowhere else)."""
    import torch
    if hasattr(torch.device("cpu"), "__enter__"):
        return
    from optuna.samplers._gp import sampler as gp_sampler
    gp_sampler.torch = _CpuOnlyTorch(torch)


def _optuna_sampler(optuna, name, seed):
    if name == "optuna-tpe":  # Optuna 5 defaults to multivariate for one objective
        return optuna.samplers.TPESampler(seed=seed, multivariate=False)
    if name == "optuna-tpe-mv":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    if name == "optuna-gp":
        import torch
        torch.set_num_threads(1)  # one core per job: quality.py runs --jobs of them
        allow_torch_1()
        return optuna.samplers.GPSampler(seed=seed)
    raise ValueError(f"unknown Optuna sampler {name!r}")


def _run_optuna(name, bench, direction, seed, evals):
    optuna = quiet_optuna()
    study = optuna.create_study(direction="maximize" if direction == "max" else "minimize",
                                sampler=_optuna_sampler(optuna, name, seed))
    space, evaluate = bench.space(), _Evaluator(bench, seed)
    study.optimize(lambda t: evaluate({p["name"]: optuna_suggest(t, p) for p in space}),
                   n_trials=evals)
    return evaluate.history


# ---- Hyperopt -------------------------------------------------------------

def _hyperopt_dimension(hp, p):
    """A Hyperopt expression for one parameter, plus a function that turns
    its sample into the benchmark's value. Integers and indices are drawn
    on [low - 0.5, high + 0.5] and rounded so that every value gets the same
    prior mass (hp.quniform on [low, high] halves the ends')."""
    kind, name = p["type"], p["name"]
    if kind == "DOUBLE":
        if p["log"]:
            return hp.loguniform(name, math.log(p["low"]), math.log(p["high"])), float
        return hp.uniform(name, p["low"], p["high"]), float
    if kind in ("INTEGER", "DISCRETE"):
        low, high = (int(p["low"]), int(p["high"])) if kind == "INTEGER" else (0, len(p["values"]) - 1)
        if kind == "INTEGER" and p["log"]:
            expr = hp.qloguniform(name, math.log(low - 0.5), math.log(high + 0.5), 1)
        else:
            expr = hp.quniform(name, low - 0.5, high + 0.5, 1)

        def clamp(x):
            return min(max(int(round(x)), low), high)
        if kind == "INTEGER":
            return expr, clamp
        return expr, lambda x: p["values"][clamp(x)]
    if kind == "CATEGORICAL":
        return hp.choice(name, p["values"]), lambda x: x
    raise ValueError(f"parameter {name}: unknown type {kind!r}")


def _run_hyperopt(bench, direction, seed, evals):
    import hyperopt
    import numpy as np
    logging.getLogger("hyperopt").setLevel(logging.WARNING)
    dims = {p["name"]: _hyperopt_dimension(hyperopt.hp, p) for p in bench.space()}
    evaluate = _Evaluator(bench, seed)

    def loss(sample):
        value = evaluate({k: convert(sample[k]) for k, (_, convert) in dims.items()})
        return {"loss": -value if direction == "max" else value, "status": hyperopt.STATUS_OK}
    hyperopt.fmin(loss, {k: expr for k, (expr, _) in dims.items()}, algo=hyperopt.tpe.suggest,
                  max_evals=evals, trials=hyperopt.Trials(), rstate=np.random.default_rng(seed),
                  show_progressbar=False, verbose=False)
    return evaluate.history


# ---- entry point ----------------------------------------------------------

OPTIMIZERS = ("optuna-tpe", "optuna-tpe-mv", "optuna-gp", "hyperopt")


def _torch_site():
    """The directory torch is installed in, found without importing it."""
    spec = importlib.util.find_spec("torch")
    if spec is None:
        raise RuntimeError("optuna-gp needs torch, which is not installed")
    return os.path.dirname(list(spec.submodule_search_locations)[0])


def env_beside_torch():
    """The environment for a child Python that can run GPSampler: torch's
    own site directory first on its path, then this directory. Debian's
    torch 1.13 is built against Debian's numpy 1.24; a venv that
    pip-installed numpy 2 hides that one, and torch's numpy bridge, which
    GPSampler uses, then fails with "Numpy is not available"."""
    here = os.path.dirname(os.path.abspath(__file__))
    return dict(os.environ, PYTHONPATH=os.pathsep.join([here, _torch_site()]))


def _run_beside_torch(optimizer, problem, seed, evals):
    """Runs this module as a script beside torch (env_beside_torch); the
    history comes back as JSON on stdout."""
    cmd = [sys.executable, os.path.abspath(__file__), optimizer, problem, str(seed), str(evals)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env_beside_torch())
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    return [tuple(pair) for pair in json.loads(proc.stdout)]


def run(optimizer, problem, seed, evals, isolate=True):
    """Runs one baseline for `evals` evaluations on a problem (a synthetic
    name or a table of simrun.DATA); returns [(value, truth), ...].
    optuna-gp runs in a child process beside torch unless isolate=False."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown baseline {optimizer!r} (known: {', '.join(OPTIMIZERS)})")
    if optimizer == "optuna-gp" and isolate:
        return _run_beside_torch(optimizer, problem, seed, evals)
    with simbench.open(problem, data_dir=str(simrun.DATA)) as bench:
        direction = direction_of(problem)
        if optimizer == "hyperopt":
            return _run_hyperopt(bench, direction, seed, evals)
        return _run_optuna(optimizer, bench, direction, seed, evals)


def optimum(problem):
    """The problem's best value in its direction (simbench's optimum)."""
    with simbench.open(problem, data_dir=str(simrun.DATA)) as bench:
        return bench.optimum(direction_of(problem))


if __name__ == "__main__":
    # python baselines.py OPTIMIZER PROBLEM SEED EVALS: the history as JSON
    name, bench_name, seed_arg, evals_arg = sys.argv[1:5]
    json.dump(run(name, bench_name, int(seed_arg), int(evals_arg), isolate=False), sys.stdout)
