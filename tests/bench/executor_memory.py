#!/usr/bin/env python3
"""Executor memory over many trials of a training function that leaks
(256 KiB kept per trial, plus 1.6 MB allocated and freed), without and with
max_trials_per_executor: the executor's resident memory at the first and
last trials and at its peak, side by side.

    tests/bench/executor_memory.py [--trials 1000] [--recycle 100]
"""
import argparse
import json
import os
import pathlib
import subprocess
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BUILD = pathlib.Path(os.environ.get("MAGGY_BUILD_DIR", ROOT / "build"))


def run(trials, recycle, tmp):
    script = tmp / f"leaky{recycle}.lua"
    script.write_text(f"""local maggy = require "maggy"
return maggy.experiment {{
  name = "leaky", train = "leaky_train:train", python_path = "{HERE / 'experiments'}",
  space = maggy.searchspace {{ x = maggy.double(0, 1) }},
  num_trials = {trials}, metric = "value", max_trials_per_executor = {recycle},
}}
""")
    out = subprocess.run([str(BUILD / "maggy-engine"), "run", str(script), "--workers", "1",
                          "--dir", str(tmp / f"r{recycle}"), "--quiet", "--no-progress"],
                         capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise SystemExit(out.stdout + out.stderr)
    summary = json.loads((tmp / f"r{recycle}" / "summary.json").read_text())
    trials = sorted(summary["trials"], key=lambda t: t["ended"])
    rss = [t["outputs"]["rss_mib"] for t in trials]
    return {"max_trials_per_executor": recycle, "trials": len(rss),
            "executors": len({t["worker"]["pid"] for t in trials}),
            "rss_first_mib": round(rss[0], 1), "rss_last_mib": round(rss[-1], 1),
            "rss_peak_mib": round(max(rss), 1), "seconds": round(summary["duration_s"], 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--recycle", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as t:
        rows = [run(args.trials, 0, pathlib.Path(t)),
                run(args.trials, args.recycle, pathlib.Path(t))]
    print(json.dumps(rows, indent=2))
    grow = [r["rss_peak_mib"] - r["rss_first_mib"] for r in rows]
    print(f"peak growth: {grow[0]:.1f} MiB without recycling, {grow[1]:.1f} MiB "
          f"with max_trials_per_executor = {args.recycle}")


if __name__ == "__main__":
    main()
