"""A training function that replays a learning curve of an LCBench table:
for config `row`, sleep each epoch's recorded time (scaled by LCREPLAY_SCALE)
and report that epoch's validation accuracy. The table is LCREPLAY_CSV.
Used by the Spark benchmark (spark_waves.py) on the executors."""
import csv
import functools
import os
import time


@functools.lru_cache(maxsize=1)
def _table():
    with open(os.environ["LCREPLAY_CSV"]) as f:
        rows = list(csv.DictReader(f))
    epochs = sum(1 for k in rows[0] if k.startswith("time_"))
    return {int(r["config_id"]) if r.get("config_id") else i:
            ([float(r[f"val_acc_{e}"]) for e in range(1, epochs + 1)],
             [float(r[f"time_{e}"]) for e in range(1, epochs + 1)])
            for i, r in enumerate(rows)}


def curve(row):
    """(accuracies, cumulative seconds) of one config."""
    return _table()[int(row)]


def train(row, reporter=None):
    scale = float(os.environ.get("LCREPLAY_SCALE", "1"))
    acc, seconds = curve(row)
    before = 0.0
    for epoch, (a, t) in enumerate(zip(acc, seconds)):
        time.sleep(max(0.0, t - before) * scale)
        before = t
        if reporter is not None:
            reporter.broadcast(a, step=epoch)
    return {"accuracy": acc[-1]}


def noop(row, reporter=None):
    return {"accuracy": 0.0}
