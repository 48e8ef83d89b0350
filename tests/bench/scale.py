#!/usr/bin/env python3
"""How the engine's cost per trial grows with the number of trials: random
search and ASHA simulated on an LCBench table with 1,024 virtual executors,
without and with the median early-stop rule, at growing trial counts. Flat
cost per trial is the target; the ratio column is time(N) / time(N_prev)
over N / N_prev (1.00: linear). Also the engine's CPU time per trial and its
peak RSS, of each run alone.

    tests/bench/scale.py [--trials 1000,10000,100000] [--workers 1024] [--table lcbench_7593]
"""
import argparse
import sys
import time

import simrun

ASHA = "maggy.optimizers.asha{min_budget = 2, max_budget = 52, eta = 3}"
MEDIAN = "maggy.earlystop.median{grace = 5}"
CASES = [
    ("random, no early stopping", '"random"', '"none"'),
    ("random, median{grace = 5}", '"random"', MEDIAN),
    ("ASHA, no early stopping", ASHA, '"none"'),
    ("ASHA, median{grace = 5}", ASHA, MEDIAN),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", default="1000,10000,100000")
    ap.add_argument("--workers", type=int, default=1024)
    ap.add_argument("--table", default="lcbench_7593")
    args = ap.parse_args()
    table = simrun.DATA / f"{args.table}.csv"
    if not table.exists():
        sys.exit(f"{table} is missing (set MAGGY_DATA_DIR)")
    counts = [int(n) for n in args.trials.split(",")]
    print(f"{args.table}, {args.workers} virtual executors\n")
    print(f"{'case':<28}{'trials':>8}{'wall s':>9}{'us/trial':>10}{'ratio':>7}"
          f"{'CPU us/trial':>14}{'peak RSS MiB':>14}")
    for name, optimizer, rule in CASES:
        last = None
        for n in counts:
            start = time.perf_counter()
            report = simrun.simulate(simrun.experiment_lua(optimizer, rule, n), table,
                                     args.workers, seed=1)
            wall = time.perf_counter() - start
            usage = report["engine_usage"]
            ratio = f"{wall / last[1] / (n / last[0]):>7.2f}" if last else f"{'':>7}"
            print(f"{name:<28}{n:>8}{wall:>9.2f}{wall / n * 1e6:>10.0f}{ratio}"
                  f"{usage['cpu_s'] / n * 1e6:>14.0f}{usage['peak_rss_mib']:>14.0f}",
                  flush=True)
            last = (n, wall)


if __name__ == "__main__":
    main()
