"""Run by spark_waves.py through spark-submit: the same configs trained (a)
in synchronous waves of W tasks, the way Spark users do it without a tuner,
and (b) through maggy-engine (lagom) with early stopping; then (c) no-op
trials through lagom, for the engine's overhead per trial on Spark.
Prints one JSON object of figures."""
import json
import os
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "spark"))

from maggy_spark import lagom  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402

rows = [int(r) for r in os.environ["SPARK_WAVES_ROWS"].split(",")]
workers = int(os.environ["SPARK_WAVES_WORKERS"])
work = pathlib.Path(os.environ["SPARK_WAVES_DIR"])
spark = SparkSession.builder.appName("maggy-engine spark benchmark").getOrCreate()
sc = spark.sparkContext
sc.addPyFile(str(HERE / "lcreplay.py"))


def train_row(row):
    import lcreplay
    return row, lcreplay.train(row)["accuracy"]


figures = {"trials": len(rows), "workers": workers}
started = time.monotonic()
results = []
for i in range(0, len(rows), workers):
    wave = rows[i:i + workers]
    results += sc.parallelize(wave, len(wave)).map(train_row).collect()
figures["waves_s"] = time.monotonic() - started
figures["waves_best"] = max(acc for _, acc in results)

started = time.monotonic()
summary = lagom(spark, str(work / "experiment.lua"), workers=workers,
                dir=str(work / "maggy"), quiet=True)
figures["maggy_s"] = time.monotonic() - started
figures["maggy_best"] = summary["best"]["value"]
figures["maggy_early_stopped"] = summary["early_stopped"]
figures["maggy_trials"] = len(summary["trials"])

started = time.monotonic()
noop = lagom(spark, str(work / "noop.lua"), workers=workers,
             dir=str(work / "noop"), quiet=True)
figures["noop_s"] = time.monotonic() - started
figures["noop_trials"] = len(noop["trials"])
figures["noop_engine_s"] = noop["duration_s"]
spark.stop()
print("FIGURES " + json.dumps(figures))
