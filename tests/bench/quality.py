#!/usr/bin/env python3
"""Optimizer quality: simple regret of maggy's random search, TPE and GP
against Optuna's and Hyperopt's samplers, one trial at a time (W = 1), or
maggy's alone with W asynchronous workers (--workers).

    tests/bench/quality.py [--seeds 20] [--gp-seeds 4] [--evals 50,100,200]
                           [--problems branin,...] [--optimizers tpe,...]
                           [--variant NAME=LUA ...] [--workers W]
                           [--jobs 2] [--json OUT]

Problems: branin, hartmann6 (minimize), every lcbench_*.csv at full budget
(maximize val_acc at epoch 52), the tabular hpolib_* (minimize validation
MSE), hpobench_* and nasbench201_cifar10 (maximize accuracy).

Optimizers:
  random, tpe, gp   maggy's "random", maggy.optimizers.tpe{} and
                    maggy.optimizers.gp{}, run by `maggy-engine simulate`
  tpe-naive,        the same with pending trials left out (lie = "none",
  gp-naive          pending = "ignore"): what --workers compares against
  optuna-tpe        Optuna TPESampler(multivariate=False), the original TPE
  optuna-tpe-mv     Optuna TPESampler(multivariate=True), Optuna 5's default
  optuna-gp         Optuna GPSampler
  hyperopt          Hyperopt tpe.suggest
  --variant NAME=LUA adds one of ours with other settings, e.g.
  'tpe-uni=maggy.optimizers.tpe{multivariate = false}'.
The baselines see the same problems through simbench.py (baselines.py says
how the spaces are translated: the tables' numeric columns stay ordered).
With --workers W > 1 only maggy's optimizers run (the baselines here are
sequential), W trials at a time on simulated asynchronous executors.

Simple regret after n evaluations = |optimum - truth of the incumbent|: the
incumbent is the trial with the best OBSERVED value so far, its truth the
noise-free value (a tabular table's mean over seeds). One run per seed goes
to the largest budget; the regret at each budget comes from its history.
Prints per problem the median [25%, 75%] over the seeds.

Optuna's GPSampler gets fewer seeds (--gp-seeds, default 4): 15-90 s per
run here (no greenlet, so its sequential L-BFGS-B), ~450 s for a seed of
all 13 problems. maggy's GP gets --seeds: 2-3 s per run on the continuous
and LCBench problems, 10-20 s on hpolib and 70 s on nasbench201 (one-hot
inputs: 30 for nasbench201's six 5-way choices).

Targets:
  (a) tpe and gp have a lower median regret than random on every problem,
      at every budget (a tie at zero counts as met);
  (b) tpe's median is at most the better of optuna-tpe and optuna-tpe-mv
      on at least 3 of every 4 problems, at every budget;
  (c) gp's median is at most optuna-gp's on at least 3 of every 4
      problems, at every budget;
  (d) with --workers: tpe and gp below their naive forms' median regret on
      at least 3 of every 4 problems at the largest budget.
"""
import argparse
import importlib.metadata
import json
import math
import os
import statistics
import sys
import time

import baselines
import simbench
import simrun

OURS = {"random": '"random"', "tpe": "maggy.optimizers.tpe{}", "gp": "maggy.optimizers.gp{}",
        "tpe-naive": 'maggy.optimizers.tpe{lie = "none"}',
        "gp-naive": 'maggy.optimizers.gp{pending = "ignore"}'}
OPTIMIZERS = tuple(OURS) + baselines.OPTIMIZERS
SLOW_OPTIMIZERS = ("optuna-gp",)
# Submission order, so that the long runs do not make up the tail.
SLOWEST_FIRST = ("optuna-gp", "hyperopt", "optuna-tpe", "optuna-tpe-mv", "gp", "gp-naive",
                 "tpe", "tpe-naive", "random")
TABLE_PREFIXES = ("lcbench_", "hpolib_", "hpobench_", "nasbench201_cifar10")


def all_problems():
    names = ["branin", "hartmann6"]
    for prefix in TABLE_PREFIXES:
        names += sorted(p.stem for p in simrun.DATA.glob(f"{prefix}*.csv"))
    return names


def benchmark_arg(problem):
    """What `maggy-engine simulate --benchmark` takes for a problem."""
    return problem if problem in simbench.SYNTHETIC else simrun.DATA / f"{problem}.csv"


# ---- one run --------------------------------------------------------------

def ours(optimizer, problem, seed, budgets, workers):
    """Regret per budget of one engine run, read from its trace."""
    script = simrun.experiment_lua(OURS[optimizer], trials=max(budgets),
                                   direction=baselines.direction_of(problem))
    report = simrun.simulate(script, benchmark_arg(problem), workers=workers, seed=seed, trace=True)
    rows = {int(r["trials_ended"]): r for r in report["trace"]}
    out = {}
    for n in budgets:
        if n not in rows or rows[n]["best_truth"] == "":
            raise RuntimeError(f"{optimizer} on {problem}, seed {seed}: no incumbent after {n} trials")
        out[n] = abs(report["optimum"] - float(rows[n]["best_truth"]))
    return out


def one_run(optimizer, problem, seed, budgets, workers):
    """(regret per budget, wall seconds) of one optimizer on one seed."""
    start = time.monotonic()
    if optimizer in OURS:
        regret = ours(optimizer, problem, seed, budgets, workers)
    else:
        history = baselines.run(optimizer, problem, seed, max(budgets))
        regret = baselines.regrets(history, baselines.direction_of(problem),
                                   baselines.optimum(problem), budgets)
    return regret, time.monotonic() - start


def run_all(problems, optimizers, seeds_of, budgets, jobs, workers):
    """results[problem][optimizer] = {"regret": {n: [per seed]}, "seconds": [...]}"""
    order = sorted(((o, p, s) for p in problems for o in optimizers
                    for s in range(1, seeds_of(o) + 1)),
                   key=lambda k: (SLOWEST_FIRST.index(k[0]) if k[0] in SLOWEST_FIRST else 0, k[1], k[2]))
    outputs = simrun.parallel([(one_run, o, p, s, budgets, workers) for o, p, s in order], jobs)
    results = {p: {o: {"regret": {n: [] for n in budgets}, "seconds": []} for o in optimizers}
               for p in problems}
    for (o, p, _), (regret, seconds) in zip(order, outputs):
        for n in budgets:
            results[p][o]["regret"][n].append(regret[n])
        results[p][o]["seconds"].append(seconds)
    return results


# ---- report ---------------------------------------------------------------

def cell(values):
    q1, q2, q3 = simrun.quartiles(values)
    return f"{q2:.3g} [{q1:.3g}, {q3:.3g}]"


def print_problem(problem, optimum, by_optimizer, budgets):
    print(f"\n{problem} ({baselines.direction_of(problem)}imize, optimum {optimum:.6g}): "
          "regret median [25%, 75%]")
    print(f"{'optimizer':<15}{'seeds':>6}" + "".join(f"{f'{n} evals':>30}" for n in budgets)
          + f"{'s/run':>8}")
    for name, r in by_optimizer.items():
        print(f"{name:<15}{len(r['seconds']):>6}"
              + "".join(f"{cell(r['regret'][n]):>30}" for n in budgets)
              + f"{statistics.mean(r['seconds']):>8.1f}")


def target_a(results, budgets):
    """Lines of problems/budgets where tpe or gp is not below random."""
    misses = []
    for name in ("tpe", "gp"):
        for problem, by_opt in results.items():
            if name not in by_opt or "random" not in by_opt:
                continue
            for n in budgets:
                ours_m = statistics.median(by_opt[name]["regret"][n])
                random_m = statistics.median(by_opt["random"]["regret"][n])
                if not (ours_m < random_m or ours_m == random_m == 0):
                    misses.append(f"{name} on {problem} at {n}: {ours_m:.3g} vs random {random_m:.3g}")
    return misses


def share(results, budget, ours, theirs, strict):
    """(problems where `ours` beats the best of `theirs`, compared, misses):
    a median at most theirs, or strictly below (a tie at zero counts) when
    `strict`."""
    met, compared, misses = 0, 0, []
    for problem, by_opt in results.items():
        if not all(o in by_opt for o in (ours, *theirs)):
            continue
        compared += 1
        ours_m = statistics.median(by_opt[ours]["regret"][budget])
        best = min(statistics.median(by_opt[o]["regret"][budget]) for o in theirs)
        if (ours_m < best or ours_m == best == 0) if strict else ours_m <= best:
            met += 1
        else:
            misses.append(f"{problem}: {ours} {ours_m:.3g} vs {' / '.join(theirs)} {best:.3g}")
    return met, compared, misses


def print_share(label, met, compared, misses):
    need = math.ceil(0.75 * compared)
    print(f"{label}: {met}/{compared} problems (need {need}): {'met' if met >= need else 'NOT met'}")
    for line in misses:
        print(f"      {line}")


def print_targets(results, budgets):
    print("\ntargets")
    if any("random" in r and ("tpe" in r or "gp" in r) for r in results.values()):
        misses = target_a(results, budgets)
        print(f"(a) tpe and gp below random's median regret everywhere: "
              f"{'met' if not misses else 'NOT met'}")
        for line in misses:
            print(f"      not below random: {line}")
    for budget in budgets:
        met, compared, misses = share(results, budget, "tpe", ("optuna-tpe", "optuna-tpe-mv"), False)
        if compared:
            print_share(f"(b) tpe <= better of optuna-tpe / optuna-tpe-mv at {budget} evals",
                        met, compared, misses)
    for budget in budgets:
        met, compared, misses = share(results, budget, "gp", ("optuna-gp",), False)
        if compared:
            print_share(f"(c) gp <= optuna-gp at {budget} evals", met, compared, misses)
    for name in ("tpe", "gp"):
        met, compared, misses = share(results, budgets[-1], name, (f"{name}-naive",), True)
        if compared:
            print_share(f"(d) {name} below {name}-naive at {budgets[-1]} evals", met, compared, misses)


def peer_versions():
    """The versions of the peers installed: their results change with them."""
    found = {}
    for name in ("optuna", "hyperopt"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def save_json(path, results, optima, budgets):
    out = {"budgets": budgets, "peers": peer_versions(), "problems": {}}
    for problem, by_opt in results.items():
        out["problems"][problem] = {
            "direction": baselines.direction_of(problem), "optimum": optima[problem],
            "optimizers": {o: {"regret": {str(n): r["regret"][n] for n in budgets},
                               "seconds": r["seconds"]} for o, r in by_opt.items()},
        }
    with open(path, "w") as f:
        json.dump(out, f, indent=1)


# ---- main -----------------------------------------------------------------

def pick(option, given, known):
    """The comma-separated names of an option, checked against `known`."""
    if not given:
        return list(known)
    names = given.split(",")
    bad = [n for n in names if n not in known]
    if bad:
        sys.exit(f"--{option}: unknown {', '.join(bad)} (known: {', '.join(known)})")
    return names


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=20, help="seeds per optimizer (default 20)")
    ap.add_argument("--gp-seeds", type=int, default=4,
                    help="seeds of optuna-gp, whose runs are slow (default 4; never more than --seeds)")
    ap.add_argument("--workers", type=int, default=1,
                    help="asynchronous workers (default 1); above 1 only maggy's optimizers run")
    ap.add_argument("--evals", default="50,100,200", help="budgets (default 50,100,200)")
    ap.add_argument("--problems", default="", help="comma-separated (default: all)")
    ap.add_argument("--optimizers", default="", help="comma-separated (default: all)")
    ap.add_argument("--jobs", type=int, default=2, help="parallel processes (default 2)")
    ap.add_argument("--json", metavar="OUT", help="write every regret to this file")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=LUA",
                    help="also run a variant of ours, e.g. "
                         "'tpe-uni=maggy.optimizers.tpe{multivariate = false}' (repeatable)")
    args = ap.parse_args()
    try:
        args.budgets = sorted({int(n) for n in args.evals.split(",")})
    except ValueError:
        sys.exit(f"--evals: want comma-separated integers, got {args.evals!r}")
    if min(args.budgets[0], args.seeds, args.gp_seeds, args.jobs, args.workers) < 1:
        sys.exit("--evals, --seeds, --gp-seeds, --workers and --jobs must be >= 1")
    return args


def main():
    args = parse_args()
    for variant in args.variant:
        name, _, expression = variant.partition("=")
        if not name or not expression or name in OPTIMIZERS:
            sys.exit(f"--variant: want a new NAME=LUA, got {variant!r}")
        OURS[name] = expression
    problems = pick("problems", args.problems, all_problems())
    optimizers = pick("optimizers", args.optimizers, OPTIMIZERS + tuple(
        v.partition("=")[0] for v in args.variant))
    if args.workers > 1:
        skipped = [o for o in optimizers if o not in OURS]
        optimizers = [o for o in optimizers if o in OURS]
        if skipped:
            print(f"--workers {args.workers}: not running {', '.join(skipped)} (sequential only)")
    gp_seeds = min(args.gp_seeds, args.seeds)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # the jobs import numpy: one core each

    def seeds_of(optimizer):
        return gp_seeds if optimizer in SLOW_OPTIMIZERS else args.seeds
    at_once = "one trial at a time" if args.workers == 1 else f"{args.workers} asynchronous workers"
    print(f"simple regret, {at_once} (W = {args.workers}), after {', '.join(map(str, args.budgets))} "
          f"evaluations; {args.seeds} seeds, optuna-gp {gp_seeds} (--gp-seeds: its runs are slow); "
          f"{args.jobs} processes; "
          + ", ".join(f"{k} {v}" for k, v in peer_versions().items()), flush=True)
    start = time.monotonic()
    results = run_all(problems, optimizers, seeds_of, args.budgets, args.jobs, args.workers)
    optima = {p: baselines.optimum(p) for p in problems}
    for problem in problems:
        print_problem(problem, optima[problem], results[problem], args.budgets)
    print_targets(results, args.budgets)
    print(f"\nwall time {(time.monotonic() - start) / 60:.1f} min")
    if args.json:
        save_json(args.json, results, optima, args.budgets)


if __name__ == "__main__":
    main()
