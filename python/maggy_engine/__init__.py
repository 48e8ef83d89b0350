"""maggy-engine from Python: run an experiment on local executors and read
any experiment directory (finished or running) as pandas DataFrames.

    import maggy_engine
    summary = maggy_engine.run("experiment.lua", workers=2)
    exp = maggy_engine.load(summary["dir"])
    exp.trials()          # one row per trial, params as params_NAME columns
    exp.history()         # one row per metric point: trial, step, value
    exp.best              # {"trial_id", "value", "params"}
    exp.plot_curves()     # matplotlib

`lagom(spark, "experiment.lua")` runs the same experiment with its
executors as Spark tasks (from maggy_spark; see spark/README.md).

Everything goes through the `maggy-engine` binary (found with
MAGGY_ENGINE, next to this checkout's build/, or on PATH), so the store is
read exactly as `maggy-engine show` and `export` read it.
"""
from .engine import EngineError, engine_path
from .experiment import Experiment, load
from .runner import ExperimentError, run

__all__ = ["run", "load", "Experiment", "EngineError", "ExperimentError",
           "engine_path", "lagom"]


def lagom(spark, script, **kwargs):
    """Run `script` with its executors as Spark tasks of `spark`'s
    application (maggy_spark.lagom; the same arguments)."""
    from maggy_spark import lagom as spark_lagom
    return spark_lagom(spark, script, **kwargs)
