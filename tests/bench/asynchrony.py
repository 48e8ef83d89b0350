#!/usr/bin/env python3
"""The Maggy paper's Table 1 on simulated learning curves: asynchronous
trials with early stopping against synchronized waves (BSP) without it.

    tests/bench/asynchrony.py [--seeds 20] [--trials 100] [--rule LUA]
                              [--workers 4,8,16,32] [--tables lcbench_7593,...]

For every lcbench table and every W: random search over the same 100
configurations (same seed) run
  - async: an early-stop rule (default: the docs' recommendation, the
    percentile rule keeping the top 25% with a grace of 5 epochs, es_min 4;
    --rule 'maggy.earlystop.median{}' is Maggy's plain rule),
  - BSP:   waves of W, no early stopping (the paper's baseline),
and prints, over the seeds:
  - time ratio async/BSP (median and worst seed),
  - best accuracy lost by async: BSP best - async best (median, worst),
  - how busy the executors were in async until the last trial started
    (lowest seed), and over the whole run including the tail.
Targets (docs/simulate.md): median ratio <= 0.45 at every W; lost accuracy median
<= 0.5 points, worst <= 2; busy >= 95% until the last start.
"""
import argparse
import statistics
import sys

import simrun


RECOMMENDED = "maggy.earlystop.percentile{percentile = 25, grace = 5}"


def one_seed(table, workers, seed, trials, rule):
    a = simrun.simulate(simrun.experiment_lua('"random"', rule, trials), table, workers, seed)
    b = simrun.simulate(simrun.experiment_lua('"random"', '"none"', trials), table, workers, seed, bsp=True)
    return {
        "ratio": a["virtual_time_s"] / b["virtual_time_s"],
        "lost": b["best_value"] - a["best_value"],
        "busy_until_last_start": a["busy_fraction_until_last_start"],
        "busy": a["busy_fraction"],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--rule", default=RECOMMENDED, help="the early-stop rule of async runs (Lua)")
    ap.add_argument("--workers", default="4,8,16,32")
    ap.add_argument("--tables", default="")
    args = ap.parse_args()
    tables = simrun.lcbench_tables()
    if args.tables:
        tables = [t for t in tables if t.stem in args.tables.split(",")]
    if not tables:
        sys.exit(f"no lcbench_*.csv in {simrun.DATA} (set MAGGY_DATA_DIR)")
    widths = [int(w) for w in args.workers.split(",")]
    print(f"random search, {args.trials} trials, {args.seeds} seeds; async = {args.rule}, "
          f"BSP = waves without early stopping\n")
    print(f"{'table':<16}{'W':>4}{'ratio med':>11}{'ratio max':>11}{'lost med':>10}"
          f"{'lost max':>10}{'busy<last':>11}{'busy all':>10}")
    ok = True
    for table in tables:
        for w in widths:
            jobs = [(one_seed, table, w, s, args.trials, args.rule) for s in range(1, args.seeds + 1)]
            rows = simrun.parallel(jobs)
            ratio = [r["ratio"] for r in rows]
            lost = [r["lost"] for r in rows]
            busy_last = min(r["busy_until_last_start"] for r in rows)
            busy = statistics.median(r["busy"] for r in rows)
            print(f"{table.stem:<16}{w:>4}{statistics.median(ratio):>11.3f}{max(ratio):>11.3f}"
                  f"{statistics.median(lost):>10.2f}{max(lost):>10.2f}{100 * busy_last:>10.1f}%"
                  f"{100 * busy:>9.1f}%", flush=True)
            ok &= statistics.median(ratio) <= 0.45 and statistics.median(lost) <= 0.5 \
                and max(lost) <= 2 and busy_last >= 0.95
    print("\ntargets " + ("met" if ok else "NOT met") + " (median ratio <= 0.45, lost median "
          "<= 0.5 and worst <= 2 points, busy >= 95% until the last start)")


if __name__ == "__main__":
    main()
