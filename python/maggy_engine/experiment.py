"""maggy_engine.load: one experiment directory, read through the engine
(also while the experiment runs)."""
import io
import pathlib

from .engine import EngineError, call, call_json


def _pandas():
    try:
        import pandas
    except ImportError as e:
        raise ImportError("trials() and history() need pandas (Debian: "
                          "python3-pandas; pip install pandas)") from e
    return pandas


class Experiment:
    """An experiment directory (`maggy-engine run --dir DIR`). Every
    attribute and method reads the store anew, so a running experiment
    shows its latest state."""

    def __init__(self, dir):
        self.dir = pathlib.Path(dir)
        if not (self.dir / "store").is_dir():
            raise EngineError(f"{self.dir}: no experiment here (no store)")

    def __repr__(self):
        s = self.summary
        return (f"<Experiment {s['name']!r} {s['status']}: "
                f"{s['finished']} finished, {s['early_stopped']} early-stopped, "
                f"{s['failed']} failed of {s['num_trials']} in {self.dir}>")

    @property
    def summary(self):
        """What `maggy-engine show DIR --json` prints (summary.json's
        fields; status "running" while it runs, "interrupted" when its
        engine is gone)."""
        return call_json("show", self.dir, "--json")

    @property
    def status(self):
        return self.summary["status"]

    @property
    def best(self):
        """{"trial_id", "value", "params"} of the best trial, or None."""
        return self.summary["best"]

    def trials(self):
        """A DataFrame, one row per trial: id, state, value, steps,
        attempts, started, ended, duration_s, worker_host, worker_slot,
        error and a params_NAME column per parameter."""
        return _pandas().read_csv(io.StringIO(call("export", self.dir)))

    def history(self):
        """A DataFrame, one row per metric point: trial, step, value."""
        return _pandas().read_csv(io.StringIO(call("export", self.dir,
                                                   "--history")))

    def ablation(self):
        """An ablation study's table as a DataFrame (EngineError when the
        experiment is not one)."""
        return _pandas().read_csv(io.StringIO(call("export", self.dir,
                                                   "--ablation")))

    def logs(self, trial=None):
        """The stored output lines of one trial (its id), or of all."""
        return call("logs", self.dir, *([trial] if trial else []))

    def plot_curves(self, ax=None):
        """The learning curves of all trials on `ax` (a new figure when
        None); returns the axes."""
        from .plot import plot_curves
        return plot_curves(self.summary, self.history(), ax)

    def plot_best(self, ax=None):
        """The best value so far against time; returns the axes."""
        from .plot import plot_best
        return plot_best(self.summary, ax)

    def plot_ablation(self, ax=None):
        """An ablation study's effects with their confidence intervals."""
        from .plot import plot_ablation
        return plot_ablation(self.summary, ax)


def load(dir):
    """The experiment in `dir`."""
    return Experiment(dir)
