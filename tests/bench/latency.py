#!/usr/bin/env python3
"""Suggestion latency: the time of one suggest() after N finished trials in
a 10-parameter space, maggy's TPE and GP beside Optuna's TPESampler and
GPSampler, in the same run.

    tests/bench/latency.py [--tpe-sizes 100,1000,5000] [--gp-sizes 100,500]
                           [--repeats 5] [--gp-timeout 900]

maggy: tests/bench/tpe_latency.lua and gp_latency.lua, run with luajit from
the repository root (their headers describe the spaces and objectives):
  TPE  mean of 50 suggest() calls, multivariate (the default) and univariate,
       10 parameters of every type;
  GP   first suggest() of a fresh optimizer (hyperparameters fitted from
       scratch) and the median of the next 5, each after one more trial
       (the steady state of a run: the fit starts from the previous one),
       10 continuous parameters, Levy's function.
Optuna: a study given N precomputed trials with study.add_trials() over the
same kind of space and objective (the TPE space's discrete parameters as an
index, as quality.py passes them), then study.ask(distributions) timed:
  TPE  median of --repeats asks after the first, univariate
       (multivariate=False) and multivariate (Optuna 5's default);
  GP   the first ask and the median of --repeats more, like maggy's GP.
Every timed ask is told FAILED so that N stays N. GPSampler runs in a child
Python beside torch (baselines.env_beside_torch) with one torch thread,
maggy being single-threaded. Times are CPU time (os.clock and
time.process_time), in milliseconds; they depend on the machine.

Targets: maggy's TPE < 5 ms at 1,000 trials; maggy's GP < 200 ms at 500
(steady state).
"""
import argparse
import json
import math
import re
import statistics
import subprocess
import sys
import time

import baselines
import simrun

TPE_TARGET_MS, TPE_TARGET_N = 5.0, 1000
GP_TARGET_MS, GP_TARGET_N = 200.0, 500
LEVY_DIMS = 10
WARM_UP_TRIALS = 20  # past both samplers' 10 random startup trials


# ---- maggy ----------------------------------------------------------------

def luajit(script, *args):
    cmd = ["luajit", f"tests/bench/{script}", *map(str, args)]
    proc = subprocess.run(cmd, cwd=simrun.ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def number_after(pattern, text):
    match = re.search(pattern, text)
    if not match:
        raise RuntimeError(f"cannot find {pattern!r} in:\n{text}")
    return float(match.group(1))


def maggy_tpe(n):
    """(multivariate ms, univariate ms) of one suggest after n trials."""
    out = luajit("tpe_latency.lua", n)
    return (number_after(r"multivariate \(default\)\s+([\d.]+) ms", out),
            number_after(r"univariate\s+([\d.]+) ms", out))


def maggy_gp(n):
    """(first ms, steady ms) of one suggest after n trials."""
    out = luajit("gp_latency.lua", n)
    return (number_after(r"first suggest\s+([\d.]+) ms", out),
            number_after(r"steady \(median of \d+\)\s+([\d.]+) ms", out))


# ---- Optuna: spaces and objectives like the Lua scripts' ------------------

def tpe_space(d):
    """tpe_latency.lua's space; batch and kernel (DISCRETE) as indices."""
    return {
        "lr": d.FloatDistribution(1e-5, 1, log=True), "momentum": d.FloatDistribution(0, 1),
        "dropout": d.FloatDistribution(0, 0.9), "decay": d.FloatDistribution(1e-6, 1e-2, log=True),
        "layers": d.IntDistribution(1, 8), "units": d.IntDistribution(16, 1024, log=True),
        "batch": d.IntDistribution(0, 4), "kernel": d.IntDistribution(0, 2),
        "act": d.CategoricalDistribution(["relu", "tanh", "gelu", "elu"]),
        "bn": d.CategoricalDistribution([True, False]),
    }


def tpe_value(p):
    """tpe_latency.lua's made-up objective."""
    v = math.log10(p["lr"]) + 3
    return (v * v + (p["momentum"] - 0.9) ** 2 + p["dropout"] + p["layers"] / 8
            + (0 if p["act"] == "gelu" else 0.5))


def gp_space(d):
    return {f"x{i}": d.FloatDistribution(-10, 10) for i in range(1, LEVY_DIMS + 1)}


def gp_value(p):
    """Levy's function, as gp_latency.lua computes it."""
    w = [1 + (p[f"x{i}"] - 1) / 4 for i in range(1, LEVY_DIMS + 1)]
    s = math.sin(math.pi * w[0]) ** 2
    for i in range(LEVY_DIMS - 1):
        s += (w[i] - 1) ** 2 * (1 + 10 * math.sin(math.pi * w[i] + 1) ** 2)
    return s + (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)


def draw(rng, dist, d):
    """A uniform (log-uniform where the distribution says so) sample."""
    if isinstance(dist, d.CategoricalDistribution):
        return dist.choices[rng.randrange(len(dist.choices))]
    if dist.log:
        x = math.exp(rng.uniform(math.log(dist.low), math.log(dist.high)))
    else:
        x = rng.uniform(dist.low, dist.high)
    if isinstance(dist, d.IntDistribution):
        return min(max(round(x), dist.low), dist.high)
    return x


def filled_study(optuna, sampler, space, value, n):
    """A minimizing study holding n finished trials at random points."""
    import random
    rng, d = random.Random(2), optuna.distributions
    study = optuna.create_study(sampler=sampler)
    trials = []
    for _ in range(n):
        params = {name: draw(rng, dist, d) for name, dist in space.items()}
        trials.append(optuna.trial.create_trial(params=params, distributions=space,
                                                value=value(params)))
    study.add_trials(trials)
    return study


def timed_ask(optuna, study, space):
    start = time.process_time()
    trial = study.ask(space)
    elapsed = (time.process_time() - start) * 1000
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return elapsed


def optuna_latency(kind, n, repeats):
    """(first ms, median ms of the next `repeats`) of study.ask() after n
    trials. kind: "tpe", "tpe-mv" or "gp". An ask on a small study of its
    own comes first, so that no first-use imports are timed."""
    optuna = baselines.quiet_optuna()
    d = optuna.distributions
    if kind == "gp":
        import torch
        torch.set_num_threads(1)
        baselines.allow_torch_1()
        space, value = gp_space(d), gp_value

        def sampler():
            return optuna.samplers.GPSampler(seed=1)
    else:
        space, value = tpe_space(d), tpe_value

        def sampler():
            return optuna.samplers.TPESampler(seed=1, multivariate=(kind == "tpe-mv"))
    timed_ask(optuna, filled_study(optuna, sampler(), space, value, WARM_UP_TRIALS), space)
    study = filled_study(optuna, sampler(), space, value, n)
    first = timed_ask(optuna, study, space)
    return first, statistics.median(timed_ask(optuna, study, space) for _ in range(repeats))


def optuna_gp(n, repeats, timeout):
    """optuna_latency("gp", ...) in a child Python beside torch; None when
    it does not finish within `timeout` seconds."""
    cmd = [sys.executable, __file__, "--child-gp", str(n), "--repeats", str(repeats)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=baselines.env_beside_torch())
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    return tuple(json.loads(proc.stdout))


# ---- report ---------------------------------------------------------------

def ms(x):
    return f"{x:.2f}" if x < 10 else f"{x:.0f}"


def tpe_table(sizes, repeats):
    print("TPE: ms per suggest (maggy: mean of 50; Optuna: median of "
          f"{repeats} asks)")
    print(f"{'trials':>7}{'maggy mv':>11}{'maggy uni':>11}{'optuna mv':>11}{'optuna uni':>12}")
    by_size = {}
    for n in sizes:
        mv, uni = maggy_tpe(n)
        o_mv = optuna_latency("tpe-mv", n, repeats)[1]
        o_uni = optuna_latency("tpe", n, repeats)[1]
        by_size[n] = mv
        print(f"{n:>7}{ms(mv):>11}{ms(uni):>11}{ms(o_mv):>11}{ms(o_uni):>12}", flush=True)
    return by_size


def gp_table(sizes, repeats, timeout):
    print(f"\nGP: ms per suggest, first (cold fit) / steady (median of the next ones; "
          f"maggy 5, Optuna {repeats})")
    print(f"{'trials':>7}{'maggy first':>13}{'maggy steady':>14}{'optuna first':>14}"
          f"{'optuna steady':>15}")
    by_size = {}
    for n in sizes:
        first, steady = maggy_gp(n)
        optuna = optuna_gp(n, repeats, timeout)
        theirs = (f"{ms(optuna[0]):>14}{ms(optuna[1]):>15}" if optuna
                  else f"{f'> {timeout} s in all, stopped':>29}")
        by_size[n] = steady
        print(f"{n:>7}{ms(first):>13}{ms(steady):>14}{theirs}", flush=True)
    return by_size


def print_targets(tpe, gp):
    print("\ntargets")
    if TPE_TARGET_N in tpe:
        t = tpe[TPE_TARGET_N]
        print(f"  maggy TPE < {TPE_TARGET_MS:g} ms at {TPE_TARGET_N} trials: {ms(t)} ms, "
              f"{'met' if t < TPE_TARGET_MS else 'NOT met'}")
    if GP_TARGET_N in gp:
        g = gp[GP_TARGET_N]
        print(f"  maggy GP < {GP_TARGET_MS:g} ms at {GP_TARGET_N} trials (steady): {ms(g)} ms, "
              f"{'met' if g < GP_TARGET_MS else 'NOT met'}")


def sizes(option, text):
    try:
        values = [int(n) for n in text.split(",") if n]
    except ValueError:
        sys.exit(f"--{option}: want comma-separated integers, got {text!r}")
    if any(n < 2 for n in values):
        sys.exit(f"--{option}: every size must be >= 2")
    return values


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tpe-sizes", default="100,1000,5000")
    ap.add_argument("--gp-sizes", default="100,500")
    ap.add_argument("--repeats", type=int, default=5, help="timed Optuna asks per size (default 5)")
    ap.add_argument("--gp-timeout", type=int, default=900,
                    help="seconds for all of Optuna's GP asks at one size (default 900)")
    ap.add_argument("--child-gp", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.repeats < 1:
        sys.exit("--repeats must be >= 1")
    if args.child_gp:  # the child process of optuna_gp()
        json.dump(optuna_latency("gp", args.child_gp, args.repeats), sys.stdout)
        return
    print("suggest() latency after N finished trials, 10 parameters, CPU time\n")
    tpe = tpe_table(sizes("tpe-sizes", args.tpe_sizes), args.repeats)
    gp = gp_table(sizes("gp-sizes", args.gp_sizes), args.repeats, args.gp_timeout)
    print_targets(tpe, gp)


if __name__ == "__main__":
    main()
