"""A short run of every benchmark under tests/bench, to prove each still
works end to end: exit status 0 and the figures it exists to print. No
figure is checked against a target (the machines are shared and noisy:
the benchmarks themselves say whether a target is met). The simulation
benchmarks run on a small learning-curve table made here, so they need
no benchmark data; the Optuna/Hyperopt baselines (scripts/bench's
.venv-bench) are not needed either."""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from conftest import BUILD, ROOT, curves_csv

BENCH = ROOT / "tests" / "bench"

# name -> (arguments, what the output must contain)
SIMULATIONS = {
    "quality": (["quality.py", "--seeds", "1", "--problems", "branin,lcbench_smoke",
                 "--evals", "12,15", "--optimizers", "random,tpe,gp", "--jobs", "1"],
                ["branin (minimize", "lcbench_smoke (maximize", "(a) tpe and gp below random"]),
    "quality_batch": (["quality.py", "--seeds", "1", "--problems", "branin", "--evals", "16",
                       "--optimizers", "tpe,tpe-naive,gp,gp-naive", "--workers", "4", "--jobs", "1"],
                      ["W = 4", "(d) tpe below tpe-naive", "(d) gp below gp-naive"]),
    "asynchrony": (["asynchrony.py", "--seeds", "1", "--trials", "10", "--workers", "4",
                    "--tables", "lcbench_smoke"], ["ratio med", "lcbench_smoke      4"]),
    "asha": (["asha.py", "--table", "lcbench_smoke", "--workers", "4", "--seeds", "1"],
             ["ASHA", "successive halving", "Hyperband"]),
    "sim_speed": (["sim_speed.py", "--table", "lcbench_smoke", "--trials", "50", "--workers", "4"],
                  ["random, no early stopping", "TPE, median rule", "trials/s"]),
    "scale": (["scale.py", "--trials", "100,200", "--workers", "16", "--table", "lcbench_smoke"],
              ["random, median{grace = 5}", "us/trial"]),
    "seeded_repeat": (["seeded_repeat.py", "--runs", "4", "--parallel", "2"],
                      ["0 failed, seeds with differing results: none"]),
}


@pytest.fixture(scope="module")
def bench_env(tmp_path_factory):
    data = tmp_path_factory.mktemp("bench-data")
    curves_csv(data / "lcbench_smoke.csv", configs=60, epochs=12)
    env = dict(os.environ, MAGGY_BUILD_DIR=str(BUILD), MAGGY_DATA_DIR=str(data),
               MAGGY_SIMBENCH_LIB=str(BUILD / "libmaggy-simbench.so"), OMP_NUM_THREADS="1")
    return env


def run_bench(env, args, timeout=300):
    proc = subprocess.run([sys.executable, *args], cwd=BENCH, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.parametrize("name", sorted(SIMULATIONS))
def test_simulation_benchmark(bench_env, name):
    args, expected = SIMULATIONS[name]
    out = run_bench(bench_env, args)
    for text in expected:
        assert text in out, f"{name}: no {text!r} in\n{out}"


def test_quality_reports_saved_runs_side_by_side(bench_env, tmp_path):
    """A variant measured now against runs saved before (--compare), with
    the significance of each difference."""
    common = ["quality.py", "--seeds", "3", "--problems", "branin", "--evals", "12,15", "--jobs", "1"]
    run_bench(bench_env, common + ["--optimizers", "random,tpe", "--json", tmp_path / "before.json"])
    out = run_bench(bench_env, common + ["--optimizers", "tpe-naive",
                                         "--compare", tmp_path / "before.json"])
    assert f"with the runs of {tmp_path / 'before.json'}" in out, out
    rows = [l.split()[0] for l in out.splitlines() if l.startswith(("tpe", "random"))]
    assert rows == ["tpe-naive", "random", "tpe"], out
    assert "(Mann-Whitney, p < 0.05)" in out, out
    wrong = subprocess.run([sys.executable, *common, "--evals", "99", "--compare",
                            tmp_path / "before.json"], cwd=BENCH, env=bench_env,
                           capture_output=True, text=True, timeout=60)
    assert wrong.returncode != 0 and "it has no regret at 99 evaluations" in wrong.stderr, wrong.stderr
    wrong = subprocess.run([sys.executable, *common, "--workers", "2", "--compare",
                            tmp_path / "before.json"], cwd=BENCH, env=bench_env,
                           capture_output=True, text=True, timeout=60)
    assert wrong.returncode != 0 and "its runs were at W = 1, this one at W = 2" in wrong.stderr, wrong.stderr


def test_executor_memory(bench_env):
    out = run_bench(bench_env, ["executor_memory.py", "--trials", "20", "--recycle", "5"])
    assert "peak growth:" in out and "max_trials_per_executor = 5" in out, out


def test_overhead(bench_env):
    """overhead.py with maggy alone (the peers are scripts/bench's)."""
    out = run_bench(bench_env, ["overhead.py", "--trials", "20", "--workers", "1,2",
                                "--peers", "none"])
    assert "maggy --no-fsync" in out and "ms/trial" in out, out


def test_dispatch_and_heartbeats(bench_env, tmp_path):
    """run_bench.py: local executors, fake executors with and without
    fsync, heartbeats beside the echo server and Maggy's RPC design, and
    with the dashboard."""
    out = run_bench(bench_env, ["run_bench.py", "--seconds", "0.2", "--connections", "1,64",
                                "--json", tmp_path / "f.json"])
    assert "Maggy's RPC design" in out and "engine / echo" in out, out
    figures = json.loads((tmp_path / "f.json").read_text())
    assert "per_second" in figures["heartbeats_engine"]["latency_1_connection"], figures
    assert "per_second" in figures["heartbeats_maggy_rpc_design"]["latency_64_connections"]
    assert len(figures["local_noop"]) == 4 and len(figures["fake_executor_trials"]) == 6
    assert all(r["per_second"] > 0 for r in figures["fake_executor_trials"]), figures
    assert figures["heartbeat_ratio_engine_to_echo"]["throughput"] > 0
    assert figures["heartbeats_dashboard"]["polled"]["dashboard"]["requests"] > 0


def test_store_scale(bench_env, tmp_path):
    """store_scale.py: a store filled by fake executors with points, then
    killed; show, export and resume on it."""
    out = run_bench(bench_env, ["store_scale.py", "--trials", "300", "--steps", "20",
                                "--clients", "8", "--json", tmp_path / "s.json"])
    assert "export --history" in out and "resume: until it waits" in out, out
    figures = json.loads((tmp_path / "s.json").read_text())
    assert figures["ingest"]["trials"] >= 300, figures
    assert figures["export_history"]["bytes"] > 300 * 20 * 20, figures


def test_engine_memory(bench_env):
    out = run_bench(bench_env, ["engine_memory.py", "--trials", "300", "--clients", "8"])
    assert "beyond params and history" in out and "per point" in out, out


@pytest.mark.parametrize("script,expected", [
    ("gp_latency.lua", "N =   30"), ("tpe_latency.lua", "multivariate (default)")])
def test_suggestion_latency(script, expected):
    proc = subprocess.run(["luajit", str(BENCH / script), "30"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and expected in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.skipif(importlib.util.find_spec("optuna") is None,
                    reason="Optuna is not installed for this Python (scripts/bench sets it up)")
def test_latency_against_optuna(bench_env):
    out = run_bench(bench_env, ["latency.py", "--tpe-sizes", "30", "--gp-sizes", "20",
                                "--repeats", "1"])
    assert "optuna" in out.lower(), out
