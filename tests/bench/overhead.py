#!/usr/bin/env python3
"""End-to-end overhead per trial: a training function that does nothing,
run by maggy-engine on local executors and by its peers, side by side in
the same run.

    tests/bench/overhead.py [--trials 1000] [--ray-trials 40] [--workers 1,2]
                            [--peers optuna,ray] [--json OUT]

maggy     `maggy-engine run` of tests/bench/experiments/noop_local.lua
          (random search, the real executor shim embedding CPython, every
          result committed to LMDB with an fsync before it is acknowledged),
          W local executors; the run's own duration from summary.json;
          and again with --no-fsync (a result survives the engine's crash,
          not the machine's).
optuna    the same no-op objective, random sampler:
            in-memory     one process, study.optimize (nothing durable)
            journal       W processes on one JournalStorage file (Optuna's
                          recommended multi-process set-up)
            sqlite        W processes on one SQLite RDBStorage
ray       Ray Tune (if installed): tune.Tuner over a random search space,
          max_concurrent_trials W, a function trainable that returns at
          once, actors reused, one spare CPU for Ray's own processes; the
          time of Tuner.fit() after ray.init() (the cluster's start is left
          out), all in Ray's favour. It takes seconds per trial here, so it
          runs --ray-trials trials only.

Overhead per trial = W x wall seconds / trials: the time an executor spends
per trial on everything but the training function. Prints a table with each
set-up's ratio to maggy's at the same W, and --json writes every figure.
Targets (the performance issue): maggy < 1 ms per trial, and at least 10x
below each durable peer set-up (journal, sqlite, ray).
"""
import argparse
import json
import multiprocessing
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("MAGGY_BUILD_DIR", ROOT / "build"))
ENGINE = BUILD / "maggy-engine"
NOOP_EXPERIMENT = pathlib.Path(__file__).resolve().parent / "experiments" / "noop_local.lua"


# ---- maggy --------------------------------------------------------------

def maggy(tmp, trials, workers, *extra):
    """The no-op experiment with `trials` trials, beside its training module."""
    work = tmp / f"maggy{workers}{''.join(extra)}"
    work.mkdir()
    text, count = re.subn(r"num_trials = \d+", f"num_trials = {trials}", NOOP_EXPERIMENT.read_text())
    assert count == 1, "noop_local.lua no longer sets num_trials"
    (work / "experiment.lua").write_text(text)
    shutil.copy(NOOP_EXPERIMENT.parent / "noop.py", work / "noop.py")
    out = subprocess.run([str(ENGINE), "run", str(work / "experiment.lua"), "--workers",
                          str(workers), "--dir", str(work / "run"), "--quiet", "--no-progress", *extra],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stdout + out.stderr)
    summary = json.loads((work / "run" / "summary.json").read_text())
    return summary["finished"], summary["duration_s"]


# ---- Optuna -------------------------------------------------------------

def _optuna():
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _objective(trial):
    return trial.suggest_float("x", 0, 1)


def _optuna_worker(storage_url, journal_path, study_name, trials):
    optuna = _optuna()
    storage = _storage(optuna, storage_url, journal_path)
    study = optuna.load_study(study_name=study_name, storage=storage,
                              sampler=optuna.samplers.RandomSampler(seed=os.getpid()))
    study.optimize(_objective, n_trials=trials)


def _storage(optuna, storage_url, journal_path):
    if journal_path:
        from optuna.storages.journal import JournalFileBackend
        return optuna.storages.JournalStorage(JournalFileBackend(journal_path))
    return storage_url


def optuna_in_memory(tmp, trials, workers):
    optuna = _optuna()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    start = time.monotonic()
    study.optimize(_objective, n_trials=trials)
    return len(study.trials), time.monotonic() - start


def optuna_processes(tmp, trials, workers, kind):
    """W processes sharing one storage, trials split between them."""
    optuna = _optuna()
    journal = str(tmp / f"journal{workers}.log") if kind == "journal" else None
    url = None if journal else f"sqlite:///{tmp}/optuna{workers}.db"
    name = f"noop-{kind}-{workers}"
    optuna.create_study(study_name=name, storage=_storage(optuna, url, journal))
    shares = [trials // workers + (1 if i < trials % workers else 0) for i in range(workers)]
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_optuna_worker, args=(url, journal, name, n)) for n in shares]
    start = time.monotonic()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    wall = time.monotonic() - start
    if any(p.exitcode != 0 for p in procs):
        raise SystemExit(f"optuna {kind}: a worker process failed")
    done = len(optuna.load_study(study_name=name, storage=_storage(optuna, url, journal)).trials)
    return done, wall


# ---- Ray Tune -----------------------------------------------------------

def ray_tune(tmp, trials, workers):
    import ray
    from ray import tune
    ray.init(num_cpus=workers + 1, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    try:
        def noop(config):
            return {"value": config["x"]}
        tuner = tune.Tuner(
            noop, param_space={"x": tune.uniform(0, 1)},
            tune_config=tune.TuneConfig(num_samples=trials, max_concurrent_trials=workers,
                                        metric="value", mode="max", reuse_actors=True),
            run_config=tune.RunConfig(storage_path=str(tmp / "ray"), verbose=0))
        start = time.monotonic()
        results = tuner.fit()
        return len(results), time.monotonic() - start
    finally:
        ray.shutdown()


# ---- main ---------------------------------------------------------------

def available(module):
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def setups(peers, ray_trials):
    out = [("maggy", maggy, True),
           ("maggy --no-fsync", lambda t, n, w: maggy(t, n, w, "--no-fsync"), False)]
    if "optuna" in peers:
        if available("optuna"):
            out += [("optuna in-memory", optuna_in_memory, False),
                    ("optuna journal", lambda t, n, w: optuna_processes(t, n, w, "journal"), True),
                    ("optuna sqlite", lambda t, n, w: optuna_processes(t, n, w, "sqlite"), True)]
        else:
            print("optuna is not installed for this Python: skipped (scripts/bench sets it up)")
    if "ray" in peers:
        if available("ray.tune"):
            out.append(("ray tune", lambda t, n, w: ray_tune(t, min(n, ray_trials), w), True))
        else:
            print("ray[tune] is not installed for this Python: skipped")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--ray-trials", type=int, default=40,
                    help="trials of the Ray Tune set-up (default 40: seconds each)")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--peers", default="optuna,ray", help="comma-separated: optuna, ray")
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="maggy-overhead-") as t:
        tmp = pathlib.Path(t)
        for name, run, durable in setups(args.peers.split(","), args.ray_trials):
            for w in workers:
                if name == "optuna in-memory" and w != 1:
                    continue  # one process by construction
                trials, wall = run(tmp, args.trials, w)
                rows.append({"setup": name, "durable": durable, "workers": w, "trials": trials,
                             "wall_s": round(wall, 3),
                             "ms_per_trial": round(w * wall / trials * 1e3, 3)})
                print(f"  {name}, W = {w}: {trials} trials in {wall:.2f} s", flush=True)
    maggy_ms = {r["workers"]: r["ms_per_trial"] for r in rows if r["setup"] == "maggy"}
    print("\nno-op trials, overhead per trial = W x wall / trials\n")
    print(f"{'set-up':<18}{'durable':>8}{'W':>4}{'trials':>7}{'trials/s':>10}{'ms/trial':>10}{'x maggy':>9}")
    for r in rows:
        ratio = r["ms_per_trial"] / maggy_ms[r["workers"]] if r["workers"] in maggy_ms else None
        r["ratio_to_maggy"] = round(ratio, 2) if ratio else None
        print(f"{r['setup']:<18}{'yes' if r['durable'] else 'no':>8}{r['workers']:>4}{r['trials']:>7}"
              f"{r['trials'] / r['wall_s']:>10.0f}{r['ms_per_trial']:>10.3f}"
              + (f"{ratio:>9.1f}" if ratio else ""))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    sys.exit(main())
