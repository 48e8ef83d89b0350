"""Shared helpers of the end-to-end tests: where the binaries are, and how to
run the real engine on a fixture experiment and read what it stored."""
import csv
import json
import math
import os
import pathlib
import random
import re
import resource
import subprocess
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("MAGGY_BUILD_DIR", ROOT / "build")).resolve()
ENGINE = BUILD / "maggy-engine"
FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
DATA = pathlib.Path(os.environ.get("MAGGY_DATA_DIR", ROOT.parent / "shared" / "data"))


def wait_for(predicate, timeout=60, what="a condition"):
    """The first true value of predicate(), polled until `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def curves_csv(path, configs=40, epochs=6, seed=0):
    """A learning-curve table in the lcbench layout: curves that cross, and
    epoch times that differ 20x between configurations."""
    rng = random.Random(seed)
    head = ["config_id", "rate", "width"] + [f"val_acc_{e}" for e in range(1, epochs + 1)] \
        + [f"time_{e}" for e in range(1, epochs + 1)]
    rows = []
    for i in range(configs):
        rate, width = rng.uniform(0, 1), rng.randint(1, 8)
        top, speed = 50 + 40 * rate, rng.uniform(0.2, 2.0)
        accs = [top * (1 - math.exp(-speed * e)) for e in range(1, epochs + 1)]
        per_epoch = rng.uniform(1, 20)
        times = [per_epoch * e for e in range(1, epochs + 1)]
        rows.append([i, rate, width] + accs + times)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(head)
        w.writerows(rows)
    return path


@pytest.fixture
def engine():
    if not ENGINE.exists():
        pytest.fail(f"{ENGINE} is missing: build first (scripts/setup)")
    return Engine()


class Engine:
    """Runs `maggy-engine` as a user would."""

    def run(self, script, *args, timeout=300, env=None):
        """`env`: variables added to this process's environment."""
        return subprocess.run([str(ENGINE), "run", str(script), *map(str, args)],
                              capture_output=True, text=True, timeout=timeout,
                              env=None if env is None else {**os.environ, **env})

    def simulate(self, script, *args, timeout=300):
        return subprocess.run([str(ENGINE), "simulate", str(script), *map(str, args)],
                              capture_output=True, text=True, timeout=timeout)

    def start(self, script, *args):
        """Start a run in the background; returns (process, address)."""
        proc = subprocess.Popen([str(ENGINE), "run", str(script), *map(str, args)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        lines = []
        for line in proc.stdout:
            lines.append(line)
            m = re.search(r"listening on (\S+?);|waiting for executors on (\S+) ", line)
            if m:
                host, port = (m.group(1) or m.group(2)).rsplit(":", 1)
                proc.banner = "".join(lines)
                return proc, (host, int(port))
        raise AssertionError("engine exited before listening:\n" + "".join(lines))

    def show(self, run_dir):
        out = subprocess.run([str(ENGINE), "show", str(run_dir), "--json"],
                             capture_output=True, text=True, timeout=60, check=True)
        return json.loads(out.stdout)

    def logs(self, run_dir, trial=None):
        args = [str(ENGINE), "logs", str(run_dir)] + ([trial] if trial else [])
        return subprocess.run(args, capture_output=True, text=True, timeout=60,
                              check=True).stdout

    def summary(self, run_dir):
        return json.loads((pathlib.Path(run_dir) / "summary.json").read_text())


# ---- experiments in the background --------------------------------------

LIVE = 0.2  # heartbeat interval of the experiments written by experiment()


def experiment(tmp_path, name="faults", train="fast_train:steady",
               **fields):
    """Write an experiment script; `fields` are Lua expressions."""
    body = {
        "name": json.dumps(name), "train": json.dumps(train),
        "python_path": json.dumps(str(FIXTURES)),
        "space": 'maggy.searchspace { x = maggy.double(0, 1), '
                 'mode = maggy.categorical { "a", "b" } }',
        "metric": '"score"', "hb_interval": str(LIVE), "seed": "3",
        "num_trials": "4",
    }
    body.update({k: str(v) for k, v in fields.items()})
    text = 'local maggy = require "maggy"\nreturn maggy.experiment {\n' + \
        "".join(f"  {k} = {v},\n" for k, v in body.items()) + "}\n"
    path = pathlib.Path(tmp_path) / f"{name}.lua"
    path.write_text(text)
    return path


def ablation_study(tmp_path, repeats=5):
    """A LOCO study of fast_train:ablated: three features, two layers and
    their group, a component (7 rows), `repeats` seeds each."""
    script = tmp_path / "ablation.lua"
    script.write_text(f"""local maggy = require "maggy"
return maggy.experiment {{
  name = "synthetic", train = "fast_train:ablated", python_path = "{FIXTURES}",
  metric = "score", seed = 11, hb_interval = 0.2,
  ablation = maggy.ablation {{
    base = {{ lr = 0.01 }},
    features = {{ "income", "age", "zip" }},
    layers = {{ "fc1", "fc2" }},
    layer_groups = {{ dense = {{ prefix = "fc" }} }},
    components = {{ "augmentation" }},
    repeats = {repeats},
  }},
}}
""")
    return script


class Run:
    """maggy-engine in the background, its output in a file (never a pipe
    that could fill up and stall it). Killed after the test if still alive."""
    started = []

    def __init__(self, tmp_path, *args, command="run", nofile=None):
        """nofile: the engine's descriptor limit (ulimit -n), if not ours."""
        self.out = pathlib.Path(tmp_path) / f"engine-{time.monotonic_ns()}.log"
        def limit():
            if nofile:
                hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))
        with open(self.out, "w") as f:
            self.proc = subprocess.Popen([str(ENGINE), command, *map(str, args)],
                                         stdout=f, stderr=subprocess.STDOUT,
                                         preexec_fn=limit)
        Run.started.append(self)

    def text(self):
        return self.out.read_text()

    def address(self, timeout=30):
        m = wait_for(lambda: re.search(r"(?:listening on|waiting for executors on)"
                                       r" (\S+?):(\d+)[; ]", self.text()),
                     timeout, "the engine to listen")
        return m.group(1), int(m.group(2))

    def wait(self, timeout=120):
        return self.proc.wait(timeout=timeout)

    def kill(self):
        self.proc.kill()
        self.proc.wait(timeout=30)


@pytest.fixture(autouse=True)
def no_engine_left_behind():
    yield
    while Run.started:
        run = Run.started.pop()
        if run.proc.poll() is None:
            run.kill()


def show(run_dir):
    out = subprocess.run([str(ENGINE), "show", str(run_dir), "--json"],
                         capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout) if out.returncode == 0 else None


def trials_in(run_dir, state=None):
    s = show(run_dir)
    ts = s["trials"] if s else []
    return [t for t in ts if state is None or t["state"] == state]


def resume(run_dir, *args, timeout=180):
    return subprocess.run([str(ENGINE), "resume", str(run_dir), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)
