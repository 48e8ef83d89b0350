"""maggy_engine.run: an experiment on local executors, from Python."""
import json
import pathlib
import re
import signal
import subprocess
import sys

from .engine import engine_path


class ExperimentError(RuntimeError):
    """The experiment could not start (a broken script, a bad argument):
    nothing ran. The message is the engine's."""


def _arguments(script, workers, dir, seed, quiet, progress_every, dashboard,
               extra):
    args = [engine_path(), "run", str(script), "--progress", "plain",
            "--progress-every", str(progress_every)]
    if workers is not None:
        args += ["--workers", str(workers)]
    if dir is not None:
        args += ["--dir", str(dir)]
    if seed is not None:
        args += ["--seed", str(seed)]
    if quiet:
        args.append("--quiet")
    if dashboard is not None:
        args += ["--dashboard", str(dashboard)]
    return args + [str(a) for a in extra]


def run(script, workers=None, dir=None, seed=None, quiet=False,
        progress_every=5, dashboard=None, args=(), out=None):
    """Run the experiment `script` (a .lua file) to its end on `workers`
    local executors (default: one per GPU, or per CPU without GPUs) and return its summary (the
    content of summary.json: status, best, trials, dir, ...).

    What the engine prints (a line per trial, a progress line every
    `progress_every` seconds, the trials' output unless `quiet`) goes to
    `out` (default sys.stdout: the notebook's cell) as it comes.
    `dashboard` ("PORT" or "HOST:PORT") serves the live dashboard; `args`
    are more `maggy-engine run` options. An experiment that ran and failed
    returns its summary with status "failed" and its error; one that could
    not start raises ExperimentError. Interrupting (Ctrl-C, the notebook's
    stop button) ends the experiment cleanly: finished trials are kept and
    `maggy-engine resume DIR` continues it.
    """
    out = out or sys.stdout
    proc = subprocess.Popen(_arguments(script, workers, dir, seed, quiet,
                                       progress_every, dashboard, args),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            out.write(line)
            out.flush()
        code = proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        proc.wait()
        raise
    text = "".join(lines)
    found = re.findall(r"^results: (.+)$", text, re.M)
    if code == 2 or not found:
        raise ExperimentError(text.strip() or f"maggy-engine exited with {code}")
    return json.loads((pathlib.Path(found[-1]) / "summary.json").read_text())
