#!/usr/bin/env python3
"""Maggy's comparison on real Spark: synchronous waves vs maggy-engine.

    tests/bench/spark_waves.py [--trials 32] [--table lcbench_7593] [--seconds 60]

Starts a standalone cluster on loopback (a master, two workers of 2 cores;
tests/spark/cluster.py), picks --trials configs of an LCBench table, and
trains each by replaying its learning curve (each epoch's recorded time,
scaled so that running them all one after another on 4 slots would take
about --seconds). Then, in one Spark application:
(a) `sc.parallelize(wave, W).map(train).collect()` wave after wave, no early
stopping; (b) the same configs through maggy-engine (grid over them, the
recommended rule percentile{25, grace 5}); (c) no-op trials through
maggy-engine, against the same no-op trials on local executors, for the
engine's overhead per trial. Prints the figures; compare the ratio.
"""
import argparse
import csv
import json
import os
import pathlib
import random
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[0] / "spark"))

from cluster import ENGINE, PYTHON, SPARK_SUBMIT, Cluster, spark_env  # noqa: E402
from simrun import DATA  # noqa: E402

EXPERIMENT = """local maggy = require "maggy"
return maggy.experiment {{
  name = "{name}", train = "lcreplay:{fn}", python_path = "{here}",
  space = maggy.searchspace {{ row = maggy.discrete {{ {rows} }} }},
  optimizer = "grid", earlystop = {rule}, num_trials = {n},
  metric = "accuracy", hb_interval = 0.2, es_interval = 0.2, seed = 1,
}}
"""


def pick_rows(table, n, seed=1):
    with open(table) as f:
        rows = list(csv.DictReader(f))
    ids = [int(r["config_id"]) if r.get("config_id") else i for i, r in enumerate(rows)]
    last = [float(r[max((k for k in r if k.startswith("time_")),
                        key=lambda k: int(k[5:]))]) for r in rows]
    chosen = random.Random(seed).sample(range(len(rows)), n)
    return [ids[i] for i in chosen], sum(last[i] for i in chosen)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=32)
    ap.add_argument("--table", default="lcbench_7593")
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    table = DATA / f"{args.table}.csv"
    rows, total = pick_rows(table, args.trials)
    workers = 4
    scale = args.seconds * workers / total
    with tempfile.TemporaryDirectory(prefix="maggy-spark-bench-") as tmp:
        tmp = pathlib.Path(tmp)
        listed = ", ".join(map(str, rows))
        for name, fn, rule in (
                ("experiment", "train", "maggy.earlystop.percentile { percentile = 25, grace = 5 }"),
                ("noop", "noop", '"none"')):
            (tmp / f"{name}.lua").write_text(EXPERIMENT.format(
                name=name, fn=fn, here=HERE, rows=listed, rule=rule, n=len(rows)))
        cluster = Cluster(tmp)
        try:
            env = spark_env(tmp)
            env.update(SPARK_WAVES_ROWS=",".join(map(str, rows)),
                       SPARK_WAVES_WORKERS=str(workers), SPARK_WAVES_DIR=str(tmp))
            out = subprocess.run([
                str(SPARK_SUBMIT), "--master", cluster.url,
                "--conf", "spark.ui.enabled=false",
                "--conf", "spark.ui.showConsoleProgress=false",
                "--conf", "spark.driver.host=127.0.0.1",
                "--conf", f"spark.pyspark.python={PYTHON}",
                "--conf", f"spark.executorEnv.LCREPLAY_CSV={table}",
                "--conf", f"spark.executorEnv.LCREPLAY_SCALE={scale}",
                str(HERE / "spark_waves_driver.py")],
                env=env, capture_output=True, text=True, timeout=3600)
        finally:
            cluster.stop()
        line = [l for l in out.stdout.splitlines() if l.startswith("FIGURES ")]
        if out.returncode != 0 or not line:
            sys.exit("the Spark benchmark failed:\n" + out.stdout[-3000:] + out.stderr[-3000:])
        f = json.loads(line[0][len("FIGURES "):])
        subprocess.run([str(ENGINE), "run", str(tmp / "noop.lua"), "--workers",
                        str(workers), "--dir", str(tmp / "local"), "--quiet"],
                       env={**os.environ, "LCREPLAY_CSV": str(table)},
                       capture_output=True, text=True, timeout=600, check=True)
        local_s = json.loads((tmp / "local" / "summary.json").read_text())["duration_s"]
    print(f"{f['trials']} LCBench configs of {args.table}, {workers} Spark task slots "
          f"(2 workers x 2 cores), epochs replayed at {scale:.3f} x their time")
    print(f"(a) waves of {workers}, no early stopping: {f['waves_s']:7.1f} s, "
          f"best accuracy {f['waves_best']:.2f}")
    print(f"(b) maggy-engine, percentile rule: {f['maggy_s']:7.1f} s, "
          f"best accuracy {f['maggy_best']:.2f}, {f['maggy_early_stopped']} of "
          f"{f['maggy_trials']} early-stopped")
    print(f"ratio (b)/(a): {f['maggy_s'] / f['waves_s']:.2f} (the paper: 0.33-0.58)")
    per_spark = workers * f["noop_engine_s"] / f["noop_trials"]
    per_local = workers * local_s / f["noop_trials"]
    print(f"engine overhead per trial (no-op, {workers} executors): Spark "
          f"{per_spark * 1000:.0f} ms (engine run {f['noop_engine_s']:.1f} s; "
          f"lagom call {f['noop_s']:.1f} s), local {per_local * 1000:.0f} ms "
          f"(run {local_s:.1f} s)")


if __name__ == "__main__":
    main()
