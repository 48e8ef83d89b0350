#!/usr/bin/env python3
"""How long `maggy-engine simulate` takes: 1,000 trials on 32 virtual
executors on an LCBench table (52 epochs each, early-stop checks every
virtual second), per strategy. Target (DESIGN.md): seconds.

    tests/bench/sim_speed.py [--table lcbench_7593] [--trials 1000] [--workers 32]
"""
import argparse
import sys
import time

import simrun

CASES = [
    ("random, no early stopping", '"random"', '"none"'),
    ("random, median rule", '"random"', "maggy.earlystop.median{grace = 5}"),
    ("TPE, median rule", "maggy.optimizers.tpe{}", "maggy.earlystop.median{grace = 5}"),
    ("ASHA (budgets 2..52)", "maggy.optimizers.asha{min_budget = 2, max_budget = 52}", '"none"'),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--table", default="lcbench_7593")
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=32)
    args = ap.parse_args()
    table = simrun.DATA / f"{args.table}.csv"
    if not table.exists():
        sys.exit(f"{table} is missing (set MAGGY_DATA_DIR)")
    print(f"{args.trials} trials on {args.workers} virtual executors, {args.table}\n")
    print(f"{'strategy':<28}{'wall s':>8}{'virtual s':>12}{'trials/s':>10}")
    for name, optimizer, rule in CASES:
        start = time.perf_counter()
        report = simrun.simulate(simrun.experiment_lua(optimizer, rule, args.trials),
                                 table, args.workers, seed=1)
        wall = time.perf_counter() - start
        print(f"{name:<28}{wall:>8.2f}{report['virtual_time_s']:>12.0f}"
              f"{report['trials_ended'] / wall:>10.0f}", flush=True)


if __name__ == "__main__":
    main()
