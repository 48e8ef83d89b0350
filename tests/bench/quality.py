#!/usr/bin/env python3
"""Optimizer quality: simple regret of maggy's random search, TPE and GP
against Optuna's and Hyperopt's samplers, one trial at a time (W = 1), or
maggy's alone with W asynchronous workers (--workers).

    tests/bench/quality.py [--seeds 20] [--gp-seeds 4] [--evals 50,100,200]
                           [--problems branin,...] [--optimizers tpe,...]
                           [--variant NAME=LUA ...] [--workers W]
                           [--jobs 2] [--json OUT] [--compare FILE ...]

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
all 13 problems. maggy's GP gets --seeds: 1-3 s per run on the continuous
and LCBench problems, about 5 s on nasbench201 (one-hot inputs: 30 for its
six 5-way choices).

Targets:
  (a) tpe and gp have a lower median regret than random on every problem,
      at every budget (a tie at zero counts as met);
  (b) tpe's median is at most the better of optuna-tpe and optuna-tpe-mv
      on at least 3 of every 4 problems, at every budget;
  (c) gp's median is at most optuna-gp's on at least 3 of every 4
      problems, at every budget;
  (d) with --workers: tpe and gp below their naive forms' median regret on
      at least 3 of every 4 problems at the largest budget.
The runs use a copy of the engine and of lua/ made when the benchmark
starts (simrun.freeze_build): edit and rebuild while it runs.

Each count also says on how many problems the difference is significant
either way (one-sided Mann-Whitney U over the seeds, p < 0.05), and each
miss how likely a gap that wide is by chance: with 20 to 60 seeds a median
moves by more than many of the gaps.
"""
import argparse
import importlib.metadata
import json
import math
import os
import statistics
import sys
import time

from scipy.stats import mannwhitneyu

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
SIGNIFICANT = 0.05  # the p-value below which a difference between optimizers is reported
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


def p_worse(ours, theirs):
    """One-sided Mann-Whitney U: the chance of regrets this much above
    theirs if both came from one distribution. Seeds of different
    optimizers are independent draws, not pairs."""
    return mannwhitneyu(ours, theirs, alternative="greater").pvalue


def share(results, budget, ours, theirs, strict):
    """Where `ours` beats the better (by median) of `theirs`: a median at
    most theirs, or strictly below (a tie at zero counts) when `strict`.
    Returns a dict: met, compared, the misses, and the problems where the
    difference is significant (p < SIGNIFICANT) either way."""
    out = {"met": 0, "compared": 0, "misses": [], "ahead": 0, "behind": 0}
    for problem, by_opt in results.items():
        if not all(o in by_opt for o in (ours, *theirs)):
            continue
        out["compared"] += 1
        mine = by_opt[ours]["regret"][budget]
        best = min(theirs, key=lambda o: statistics.median(by_opt[o]["regret"][budget]))
        other = by_opt[best]["regret"][budget]
        ours_m, best_m = statistics.median(mine), statistics.median(other)
        p_behind, p_ahead = p_worse(mine, other), p_worse(other, mine)
        out["behind"] += p_behind < SIGNIFICANT
        out["ahead"] += p_ahead < SIGNIFICANT
        if (ours_m < best_m or ours_m == best_m == 0) if strict else ours_m <= best_m:
            out["met"] += 1
        else:
            out["misses"].append(f"{problem}: {ours} {ours_m:.3g} vs {best} {best_m:.3g} "
                                 f"(p = {p_behind:.2g} that {ours} is worse)")
    return out


def print_share(label, share):
    met, compared = share["met"], share["compared"]
    need = math.ceil(0.75 * compared)
    print(f"{label}: {met}/{compared} problems (need {need}): {'met' if met >= need else 'NOT met'}; "
          f"significantly ahead on {share['ahead']}, behind on {share['behind']} "
          f"(Mann-Whitney, p < {SIGNIFICANT})")
    for line in share["misses"]:
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
        b = share(results, budget, "tpe", ("optuna-tpe", "optuna-tpe-mv"), False)
        if b["compared"]:
            print_share(f"(b) tpe <= better of optuna-tpe / optuna-tpe-mv at {budget} evals", b)
    for budget in budgets:
        c = share(results, budget, "gp", ("optuna-gp",), False)
        if c["compared"]:
            print_share(f"(c) gp <= optuna-gp at {budget} evals", c)
    for name in ("tpe", "gp"):
        d = share(results, budgets[-1], name, (f"{name}-naive",), True)
        if d["compared"]:
            print_share(f"(d) {name} below {name}-naive at {budgets[-1]} evals", d)


def peer_versions():
    """The versions of the peers installed: their results change with them."""
    found = {}
    for name in ("optuna", "hyperopt"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def save_json(path, results, optima, budgets, workers):
    out = {"budgets": budgets, "workers": workers, "peers": peer_versions(), "problems": {}}
    for problem, by_opt in results.items():
        out["problems"][problem] = {
            "direction": baselines.direction_of(problem), "optimum": optima[problem],
            "optimizers": {o: {"regret": {str(n): r["regret"][n] for n in budgets},
                               "seconds": r["seconds"]} for o, r in by_opt.items()},
        }
    with open(path, "w") as f:
        json.dump(out, f, indent=1)


def load_json(path, budgets, workers):
    """The results a --json file holds, at `budgets` (each must be in it),
    run with as many workers."""
    with open(path) as f:
        saved = json.load(f)
    if saved.get("workers", workers) != workers:  # files of before 2026-11-28 do not say
        sys.exit(f"--compare {path}: its runs were at W = {saved['workers']}, this one at W = "
                 f"{workers}: regrets of other settings do not compare")
    missing = [n for n in budgets if n not in saved["budgets"]]
    if missing:
        sys.exit(f"--compare {path}: it has no regret at {', '.join(map(str, missing))} evaluations "
                 f"(it has {', '.join(map(str, saved['budgets']))}): pick them with --evals")
    return {problem: {o: {"regret": {n: r["regret"][str(n)] for n in budgets}, "seconds": r["seconds"]}
                      for o, r in p["optimizers"].items()}
            for problem, p in saved["problems"].items()}


def merged(runs, saved):
    """The runs of this invocation with the saved ones of the problems it
    covers; a saved optimizer of the same name as one run now gives way."""
    out = {p: dict(by_opt) for p, by_opt in runs.items()}
    for results in saved:
        for problem, by_opt in results.items():
            if problem in out:
                for o, r in by_opt.items():
                    out[problem].setdefault(o, r)
    return out


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
    ap.add_argument("--compare", action="append", default=[], metavar="FILE",
                    help="also report the runs a --json FILE holds (repeatable): a variant "
                         "against peers run before; with it, --optimizers runs none by default")
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
    saved = [load_json(path, args.budgets, args.workers) for path in args.compare]
    if saved and not args.problems:
        problems = [p for p in problems if any(p in results for results in saved)]
    known = OPTIMIZERS + tuple(v.partition("=")[0] for v in args.variant)
    optimizers = pick("optimizers", args.optimizers, known) if args.optimizers or not saved else []
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
    for path in args.compare:
        with open(path) as f:
            peers = json.load(f).get("peers", {})
        print(f"with the runs of {path} ({', '.join(f'{k} {v}' for k, v in peers.items()) or 'no peers'})")
    start = time.monotonic()
    frozen = simrun.freeze_build()  # noqa: F841 (the copy lives until the runs end)
    runs = run_all(problems, optimizers, seeds_of, args.budgets, args.jobs, args.workers)
    results = merged(runs, saved)
    optima = {p: baselines.optimum(p) for p in problems}
    for problem in problems:
        print_problem(problem, optima[problem], results[problem], args.budgets)
    print_targets(results, args.budgets)
    print(f"\nwall time {(time.monotonic() - start) / 60:.1f} min")
    if args.json:
        save_json(args.json, results, optima, args.budgets, args.workers)


if __name__ == "__main__":
    main()
