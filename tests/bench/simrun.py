"""Running `maggy-engine simulate` from benchmark scripts: one experiment
written to a temporary directory, its simulation.json, trace and summary read
back. Shared by the simulation benchmarks (asynchrony.py, asha.py,
quality.py)."""
import concurrent.futures
import csv
import json
import os
import pathlib
import shutil
import subprocess
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("MAGGY_BUILD_DIR", ROOT / "build"))
ENGINE = BUILD / "maggy-engine"
DATA = pathlib.Path(os.environ.get("MAGGY_DATA_DIR", ROOT.parent / "shared" / "data"))


def experiment_lua(optimizer, earlystop='"none"', trials=None, direction="max", extra=""):
    """The text of an experiment script for simulate."""
    trials_field = f"num_trials = {trials}," if trials else ""
    return f"""local maggy = require "maggy"
return maggy.experiment{{
  name = "bench", {trials_field} direction = "{direction}", metric = "value",
  optimizer = {optimizer}, earlystop = {earlystop}, {extra}
}}
"""


def simulate(script_text, benchmark, workers=1, seed=1, bsp=False, trace=False):
    """Run one simulation; returns simulation.json as a dict, plus
    "engine_usage" (its CPU seconds and peak RSS) and "trace" (the rows of
    trace.csv) when asked. Raises on a failed run."""
    with tempfile.TemporaryDirectory(prefix="maggy-bench-") as tmp:
        script = pathlib.Path(tmp) / "experiment.lua"
        script.write_text(script_text)
        run_dir = pathlib.Path(tmp) / "run"
        cmd = [str(ENGINE), "simulate", str(script), "--benchmark", str(benchmark),
               "--workers", str(workers), "--seed", str(seed), "--dir", str(run_dir), "--quiet"]
        if bsp:
            cmd.append("--bsp")
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
            # wait4: the engine's own CPU time and peak memory, this run alone
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
        if proc.returncode != 0:
            error = RuntimeError(f"{' '.join(cmd)} failed:\n{stdout}\n{stderr}")
            error.stderr = stderr
            raise error
        report = json.loads((run_dir / "simulation.json").read_text())
        report["engine_usage"] = {"cpu_s": usage.ru_utime + usage.ru_stime,
                                  "peak_rss_mib": usage.ru_maxrss / 1024}
        if trace:
            with open(run_dir / "trace.csv") as f:
                report["trace"] = list(csv.DictReader(f))
        return report


def freeze_build():
    """Copies the engine, the simulator's library and the Lua library into a
    temporary directory that this process and its children then use: a
    benchmark that runs for an hour gives the figures of the code it started
    with, however lua/ is edited or the build redone meanwhile (a rebuild
    used to kill it: the engine's file is replaced while runs start).
    Returns the TemporaryDirectory: keep it until the runs are done."""
    global ENGINE
    frozen = tempfile.TemporaryDirectory(prefix="maggy-bench-build-")
    where = pathlib.Path(frozen.name)
    shutil.copy2(ENGINE, where / ENGINE.name)
    lib = os.environ.get("MAGGY_SIMBENCH_LIB", str(BUILD / "libmaggy-simbench.so"))
    if os.path.exists(lib):
        shutil.copy2(lib, where / os.path.basename(lib))
        os.environ["MAGGY_SIMBENCH_LIB"] = str(where / os.path.basename(lib))
    lua = pathlib.Path(os.environ.get("MAGGY_LUA_DIR", ROOT / "lua"))
    shutil.copytree(lua, where / "lua")
    os.environ["MAGGY_LUA_DIR"] = str(where / "lua")
    ENGINE = where / ENGINE.name
    return frozen


def parallel(jobs, workers=None):
    """Run (function, args...) tuples on a process pool; results in order."""
    workers = workers or os.cpu_count() or 1
    with concurrent.futures.ProcessPoolExecutor(workers) as pool:
        futures = [pool.submit(job[0], *job[1:]) for job in jobs]
        return [f.result() for f in futures]


def quartiles(values):
    """(25th, 50th, 75th) percentiles, interpolated."""
    s = sorted(values)

    def at(q):
        r = q * (len(s) - 1)
        lo = int(r)
        hi = min(lo + 1, len(s) - 1)
        if r == lo or s[hi] == s[lo]:
            return s[lo]  # also keeps inf - inf out
        return s[lo] + (s[hi] - s[lo]) * (r - lo)
    return at(0.25), at(0.5), at(0.75)


def lcbench_tables():
    return sorted(DATA.glob("lcbench_*.csv"))
