#!/usr/bin/env python3
"""ASHA against synchronous successive halving and Hyperband on a simulated
learning-curve table with W = 16 virtual executors.

    tests/bench/asha.py [--table lcbench_7593] [--workers 16] [--seeds 20]

All three draw configurations at random and train them for budgets of
2, 6, 18 and 52 epochs (eta = 3). Prints, over the seeds, the virtual time
until some trial reports an accuracy within 1% of the table's best
(>= 0.99 x optimum), and how many seeds got there at all.
"""
import argparse
import math
import statistics
import sys

import simrun

BUDGETS = "min_budget = 2, max_budget = 52, eta = 3"
STRATEGIES = {
    "ASHA": (f"maggy.optimizers.asha{{{BUDGETS}}}", 400),
    "successive halving": (f"maggy.optimizers.hyperband{{{BUDGETS}, brackets = 1, iterations = 8}}", None),
    "Hyperband": (f"maggy.optimizers.hyperband{{{BUDGETS}, iterations = 3}}", None),
}


def time_to_target(table, optimizer, trials, workers, seed):
    report = simrun.simulate(simrun.experiment_lua(optimizer, trials=trials), table,
                             workers, seed, trace=True)
    target = 0.99 * report["optimum"]
    for row in report["trace"]:
        if row["value"] and float(row["value"]) >= target:
            return float(row["virtual_time_s"])
    return math.inf


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--table", default="lcbench_7593")
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--seeds", type=int, default=20)
    args = ap.parse_args()
    table = simrun.DATA / f"{args.table}.csv"
    if not table.exists():
        sys.exit(f"{table} is missing (set MAGGY_DATA_DIR)")
    print(f"{args.table}, W = {args.workers}, {args.seeds} seeds: virtual time until a trial "
          f"reaches 99% of the table's best accuracy\n")
    print(f"{'strategy':<20}{'reached':>9}{'25%':>10}{'median':>10}{'75%':>10}  (seconds)")
    for name, (optimizer, trials) in STRATEGIES.items():
        jobs = [(time_to_target, table, optimizer, trials, args.workers, s)
                for s in range(1, args.seeds + 1)]
        times = simrun.parallel(jobs)
        q = simrun.quartiles(times)
        reached = sum(math.isfinite(t) for t in times)
        print(f"{name:<20}{reached:>5}/{args.seeds:<3}" + "".join(f"{v:>10.0f}" for v in q), flush=True)


if __name__ == "__main__":
    main()
