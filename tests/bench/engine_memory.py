#!/usr/bin/env python3
"""The engine's memory per trial, and how much of it is beyond the trials'
params and histories.

Fake executors (loadgen) run TRIALS zero-work trials through a real engine,
each reporting POINTS metric points, in a space of K double parameters; the
engine's own resident memory (RssAnon: not the store's mapped pages) is
read before the first trial and after the last. Four runs: K = 1 and 16,
POINTS = 0 and 100. Their per-trial figures give the cost of one more
parameter, of one more point, and the rest: what a trial costs beyond its
params and history (the target is under 1 KiB). The fourth run checks the
fit.

    tests/bench/engine_memory.py [--trials 20000] [--clients 64]
"""
import argparse
import json
import pathlib
import tempfile

from store_scale import run_trials

EXPERIMENT = """local maggy = require "maggy"
local space = {{}}
for i = 1, {params} do space["p" .. i] = maggy.double(0, 1) end
return maggy.experiment {{
  name = "bench_memory", train = "noop:noop", space = maggy.searchspace(space),
  num_trials = 100000000, metric = "x", hb_interval = 1, seed = 1,
}}
"""


def kib_per_trial(tmp, params, points, trials, clients):
    """The engine's own memory growth per trial, in KiB."""
    tmp = pathlib.Path(tmp) / f"p{params}-s{points}"
    tmp.mkdir()
    script = tmp / "experiment.lua"
    script.write_text(EXPERIMENT.format(params=params))
    load, before, after = run_trials(script, tmp / "run", trials, points, clients)
    return (after["anon"] - before["anon"]) * 1024 / load["trials"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=20000)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--json", help="write the figures there")
    args = ap.parse_args()
    runs = {}
    print(f"{args.trials} trials per run, {args.clients} fake executors\n")
    print(f"{'params':>7}{'points':>8}{'KiB/trial':>11}")
    with tempfile.TemporaryDirectory(prefix="maggy-memory-") as tmp:
        for params, points in ((1, 0), (16, 0), (1, 100), (16, 100)):
            kib = kib_per_trial(tmp, params, points, args.trials, args.clients)
            runs[f"{params},{points}"] = round(kib, 3)
            print(f"{params:>7}{points:>8}{kib:>11.2f}", flush=True)
    per_param = (runs["16,0"] - runs["1,0"]) / 15
    per_point = (runs["1,100"] - runs["1,0"]) / 100
    beyond = runs["1,0"] - per_param
    predicted = beyond + 16 * per_param + 100 * per_point
    print(f"\nper parameter: {per_param * 1024:.0f} bytes; per point: "
          f"{per_point * 1024:.1f} bytes (a point is 16 bytes: step and value)")
    print(f"beyond params and history: {beyond * 1024:.0f} bytes per trial (target < 1024)")
    print(f"16 params and 100 points: {runs['16,100']:.2f} KiB/trial measured, "
          f"{predicted:.2f} predicted")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({
            "runs_kib_per_trial": runs, "bytes_per_param": round(per_param * 1024),
            "bytes_per_point": round(per_point * 1024, 1),
            "bytes_beyond_params_and_history": round(beyond * 1024)}, indent=1) + "\n")


if __name__ == "__main__":
    main()
