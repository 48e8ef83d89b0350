#!/usr/bin/env python3
"""How the engine's cost per trial grows with the number of trials: random
search simulated on an LCBench table with 1,024 virtual executors, without
and with the median early-stop rule, at growing trial counts. Flat cost per
trial (wall time doubling with the trials) is the target; the ratio column
is time(N) / time(N/2).

    tests/bench/scale.py [--trials 1000,2000,4000] [--workers 1024] [--table lcbench_7593]
"""
import argparse
import sys
import time

import simrun

CASES = [
    ("random, no early stopping", '"none"'),
    ("random, median{grace = 5}", "maggy.earlystop.median{grace = 5}"),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", default="1000,2000,4000")
    ap.add_argument("--workers", type=int, default=1024)
    ap.add_argument("--table", default="lcbench_7593")
    args = ap.parse_args()
    table = simrun.DATA / f"{args.table}.csv"
    if not table.exists():
        sys.exit(f"{table} is missing (set MAGGY_DATA_DIR)")
    counts = [int(n) for n in args.trials.split(",")]
    print(f"random search on {args.table}, {args.workers} virtual executors\n")
    print(f"{'case':<28}{'trials':>8}{'wall s':>9}{'us/trial':>10}{'ratio':>7}")
    for name, rule in CASES:
        last = None
        for n in counts:
            start = time.perf_counter()
            simrun.simulate(simrun.experiment_lua('"random"', rule, n), table,
                            args.workers, seed=1)
            wall = time.perf_counter() - start
            ratio = f"{wall / last:>7.2f}" if last else f"{'':>7}"
            print(f"{name:<28}{n:>8}{wall:>9.2f}{wall / n * 1e6:>10.0f}{ratio}", flush=True)
            last = wall


if __name__ == "__main__":
    main()
