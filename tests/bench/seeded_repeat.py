#!/usr/bin/env python3
"""Seeded simulations repeated in parallel: every run must succeed and every
run of a seed must give that seed's result. Prints failures and mismatches.

    tests/bench/seeded_repeat.py [--runs N] [--parallel P] [--optimizer LUA]

The default (TPE on branin, seeds 1-12, 400 runs, 4 at a time) is how a
miscompiled JIT trace was found: with the original LuaJIT of Debian 12 about
one run in a few hundred failed ("parameter 'x1' is missing"), a suggestion
encoded as `{}`. With luajit2 none should fail.
"""
import argparse
import collections
import time

from simrun import experiment_lua, parallel, simulate


def one(script, seed):
    try:
        report = simulate(script, "branin", workers=2, seed=seed)
    except RuntimeError as e:
        lines = str(e).splitlines()
        return seed, None, next((l for l in lines if l.startswith("error:")), lines[-1])
    return seed, repr((report["best_value"], report["trials_ended"])), None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=400)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--optimizer", default="maggy.optimizers.tpe {}")
    args = ap.parse_args()
    script = experiment_lua(args.optimizer, trials=60, direction="min")
    started = time.monotonic()
    results = parallel([(one, script, 1 + i % 12) for i in range(args.runs)],
                       workers=args.parallel)
    seconds = time.monotonic() - started
    failures = collections.Counter(err for _, _, err in results if err)
    outcomes = collections.defaultdict(set)
    for seed, best, err in results:
        if not err:
            outcomes[seed].add(best)
    mismatched = sorted(s for s, o in outcomes.items() if len(o) > 1)
    print(f"{args.runs} runs of {args.optimizer} on branin ({args.parallel} in "
          f"parallel, {seconds:.1f} s): {sum(failures.values())} failed, "
          f"seeds with differing results: {mismatched or 'none'}")
    for err, n in failures.most_common():
        print(f"  {n} x {err}")
    return 1 if failures or mismatched else 0


if __name__ == "__main__":
    raise SystemExit(main())
