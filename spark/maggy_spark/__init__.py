"""maggy-engine on Spark: `lagom(spark, "experiment.lua")` runs an
experiment with its executors as Spark tasks (see spark/README.md)."""
from .launcher import ExperimentFailed, lagom

__all__ = ["lagom", "ExperimentFailed"]
