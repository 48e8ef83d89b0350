"""`maggy-engine simulate`: every built-in strategy on a small benchmark,
determinism, synchronized waves, early stopping on learning curves, the
files a simulation writes, and its errors."""
import csv
import json
import math
import pathlib
import subprocess

import pytest

from conftest import DATA, ENGINE, ROOT, curves_csv, trials_in, wait_for


def experiment(tmp_path, optimizer, earlystop='"none"', trials=30, direction="min",
               seed=1, extra=""):
    """An experiment script for simulate: no space, no training function."""
    path = tmp_path / "experiment.lua"
    trials_field = f"num_trials = {trials}," if trials else ""
    path.write_text(f"""
local maggy = require "maggy"
return maggy.experiment{{
  name = "sim", {trials_field} direction = "{direction}", metric = "loss",
  optimizer = {optimizer}, earlystop = {earlystop}, seed = {seed}, {extra}
}}
""")
    return path


def simulate(engine, script, run_dir, *args):
    proc = engine.simulate(script, "--dir", run_dir, *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def read_trace(run_dir):
    with open(pathlib.Path(run_dir) / "trace.csv") as f:
        return list(csv.DictReader(f))


STRATEGIES = {
    "random": ('"random"', "branin", 30),
    "grid": ('maggy.optimizers.grid{points = 4}', "branin", None),
    "tpe": ('maggy.optimizers.tpe{n_startup = 8}', "hartmann3", 30),
    "gp": ('maggy.optimizers.gp{n_startup = 6}', "branin", 20),
    "asha": ('maggy.optimizers.asha{min_budget = 3, max_budget = 81, eta = 3}', "branin_mf", 40),
    "hyperband": ('maggy.optimizers.hyperband{min_budget = 9, max_budget = 81, eta = 3}', "hartmann3_mf", None),
    "bohb": ('maggy.optimizers.bohb{min_budget = 9, max_budget = 81, eta = 3}', "hartmann3_mf", None),
}


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_runs_in_simulation(engine, tmp_path, name):
    optimizer, bench, trials = STRATEGIES[name]
    run_dir = tmp_path / "run"
    simulate(engine, experiment(tmp_path, optimizer, trials=trials), run_dir,
             "--benchmark", bench, "--workers", 4)
    summary = engine.summary(run_dir)
    assert summary["status"] == "finished"
    assert summary["failed"] == 0 and summary["pending"] == 0 and summary["running"] == 0
    if trials:
        assert summary["num_trials"] == trials
    assert len(read_trace(run_dir)) == summary["num_trials"]
    for t in summary["trials"]:
        budget = t["params"].get("budget")
        # a trial reports one point per step of its budget (81 = full run)
        assert t["steps"] == (budget or (81 if bench.endswith("_mf") else 1))
    report = json.loads((run_dir / "simulation.json").read_text())
    assert report["regret"] >= 0 and math.isfinite(report["regret"])
    assert summary == engine.show(run_dir)


def test_model_based_optimizers_beat_random_on_branin(engine, tmp_path):
    regrets = {}
    for name in ("random", "tpe", "gp"):
        optimizer = STRATEGIES[name][0]
        run_dir = tmp_path / name
        simulate(engine, experiment(tmp_path, optimizer, trials=30), run_dir,
                 "--benchmark", "branin", "--workers", 2)
        regrets[name] = json.loads((run_dir / "simulation.json").read_text())["regret"]
    assert regrets["tpe"] < regrets["random"]
    assert regrets["gp"] < regrets["random"]


def test_a_seed_gives_the_same_simulation(engine, tmp_path):
    script = experiment(tmp_path, STRATEGIES["tpe"][0], trials=25)
    runs = []
    for i, seed in enumerate((5, 5, 6)):
        run_dir = tmp_path / f"run{i}"
        simulate(engine, script, run_dir, "--benchmark", "hartmann3", "--seed", seed)
        runs.append(read_trace(run_dir))
    assert runs[0] == runs[1]
    assert [r["trial"] for r in runs[0]] != [r["trial"] for r in runs[2]]
    # the summary too, byte for byte but for its directory: times are virtual
    texts = [(tmp_path / f"run{i}" / "summary.json").read_text().replace(f"run{i}", "run")
             for i in (0, 1)]
    assert texts[0] == texts[1]


def test_a_killed_simulation_says_to_run_it_again(engine, tmp_path):
    script = experiment(tmp_path, '"random"', trials=100000)
    run_dir = tmp_path / "r"
    proc = subprocess.Popen([str(ENGINE), "simulate", str(script), "--benchmark", "branin",
                             "--dir", str(run_dir), "--quiet"], stdout=subprocess.DEVNULL)
    wait_for(lambda: (run_dir / "store").exists() and trials_in(run_dir, "FINISHED"), 60,
             "finished trials")
    proc.kill()
    proc.wait()
    shown = engine.show(run_dir)
    assert shown["status"] == "interrupted"
    assert "a simulation is not resumed: run it again" in shown["error"]


def test_seeded_runs_side_by_side_never_fail_and_agree(engine, tmp_path):
    # A miscompiled JIT trace once turned a few seeded TPE runs in a thousand
    # into failures, more often with runs side by side (the long version is
    # tests/bench/seeded_repeat.py).
    from concurrent.futures import ThreadPoolExecutor
    script = experiment(tmp_path, "maggy.optimizers.tpe {}", trials=60)

    def one(i):
        run_dir = tmp_path / f"run{i}"
        simulate(engine, script, run_dir, "--benchmark", "branin",
                 "--workers", 2, "--seed", 1 + i % 12, "--quiet")
        return 1 + i % 12, read_trace(run_dir)

    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(one, range(200)))
    for seed in range(1, 13):
        traces = [trace for s, trace in runs if s == seed]
        assert all(trace == traces[0] for trace in traces)


def test_bsp_starts_trials_in_waves(engine, tmp_path):
    table = curves_csv(tmp_path / "curves.csv")
    script = experiment(tmp_path, '"random"', trials=20, direction="max")
    busy = {}
    for mode in ("async", "bsp"):
        run_dir = tmp_path / mode
        simulate(engine, script, run_dir, "--benchmark", table, "--workers", 4,
                 *(["--bsp"] if mode == "bsp" else []))
        summary = engine.summary(run_dir)
        busy[mode] = json.loads((run_dir / "simulation.json").read_text())[
            "busy_fraction_until_last_start"]
        starts = sorted(t["started"] for t in summary["trials"])
        waves = [starts[i:i + 4] for i in range(0, 20, 4)]
        if mode == "bsp":
            assert all(max(w) - min(w) < 1e-6 for w in waves), waves
            ends = sorted(t["ended"] for t in summary["trials"])
            for k in range(1, 5):  # a wave starts when the last one ended
                assert waves[k][0] == pytest.approx(ends[4 * k - 1])
    # async never leaves an executor idle while trials remain; waves do
    assert busy["async"] == pytest.approx(1.0) and busy["bsp"] < 0.99


def test_early_stopping_cuts_curves_short(engine, tmp_path):
    table = curves_csv(tmp_path / "curves.csv", configs=60)
    run_dir = tmp_path / "run"
    script = experiment(tmp_path, '"random"', trials=40, direction="max",
                        earlystop="maggy.earlystop.median{grace = 1}", extra="es_min = 3,")
    simulate(engine, script, run_dir, "--benchmark", table, "--workers", 4)
    summary = engine.summary(run_dir)
    stopped = [t for t in summary["trials"] if t["state"] == "EARLY_STOPPED"]
    assert stopped and summary["finished"] + len(stopped) == 40
    assert all(2 <= t["steps"] < 6 for t in stopped)
    assert all(t["steps"] == 6 for t in summary["trials"] if t["state"] == "FINISHED")


def test_points_reach_the_strategy_when_it_asks_for_nothing(engine, tmp_path):
    """The last trials of a run: no rule checks and no suggestion is due,
    so the engine sends the points in jobs of events alone (9,000 points
    arrive after the last suggestion: more than one batch). Every point
    reaches the strategy, once."""
    table = curves_csv(tmp_path / "curves.csv", configs=200, epochs=60)
    run_dir = tmp_path / "run"
    path = tmp_path / "experiment.lua"
    path.write_text("""
local maggy = require "maggy"
local counting = {}
function counting:suggest(ctx) return ctx.space:sample(ctx.rng) end
function counting:finalize(ctx, trials)
  local points = 0
  for _, t in ipairs(trials) do points = points + #t.steps end
  ctx:log("points seen: %d", points)
end
return maggy.experiment{ name = "sim", num_trials = 160, direction = "max", metric = "loss",
  optimizer = counting, earlystop = "none", seed = 1 }
""")
    simulate(engine, path, run_dir, "--benchmark", table, "--workers", 150)
    out = engine.logs(run_dir)
    out = out if isinstance(out, str) else out.stdout
    assert "points seen: 9600" in out, out


def test_plateau_rule_needs_no_finished_trials(engine, tmp_path):
    run_dir = tmp_path / "run"
    script = experiment(tmp_path, '"random"', trials=4,
                        earlystop="maggy.earlystop.plateau{patience = 5}")
    simulate(engine, script, run_dir, "--benchmark", "hartmann3_mf", "--workers", 4)
    summary = engine.summary(run_dir)
    # all four run at once, so nothing finished to compare against
    assert summary["early_stopped"] > 0


def test_simulate_writes_trace_and_report(engine, tmp_path):
    run_dir = tmp_path / "run"
    proc = simulate(engine, experiment(tmp_path, '"random"', trials=12), run_dir,
                    "--benchmark", "branin", "--workers", 3)
    assert "simulating on branin with 3 async executors" in proc.stdout
    trace = read_trace(run_dir)
    assert [int(r["trials_ended"]) for r in trace] == list(range(1, 13))
    best = [float(r["best_value"]) for r in trace]
    assert best == sorted(best, reverse=True)  # the best so far only improves
    report = json.loads((run_dir / "simulation.json").read_text())
    assert report["workers"] == 3 and report["mode"] == "async"
    assert report["virtual_time_s"] == pytest.approx(4.0)  # 12 one-second trials on 3
    assert report["optimum"] == pytest.approx(0.397887, abs=1e-6)
    assert report["best_value"] == pytest.approx(min(float(r["value"]) for r in trace))
    # as many executors as trials: all start at once, and nothing before
    # the last start can be measured
    at_once = simulate(engine, experiment(tmp_path, '"random"', trials=3),
                       tmp_path / "at_once", "--benchmark", "branin", "--workers", 3)
    assert "(every trial started at once)" in at_once.stdout
    report = json.loads((tmp_path / "at_once" / "simulation.json").read_text())
    assert report["busy_fraction_until_last_start"] is None


def test_simulate_errors_are_clear(engine, tmp_path):
    script = experiment(tmp_path, '"random"')
    proc = engine.simulate(script, "--benchmark", "rosenbrock_42", "--dir", tmp_path / "a")
    assert proc.returncode == 2
    assert "rosenbrock_42" in proc.stderr
    proc = engine.simulate(script, "--dir", tmp_path / "b")
    assert proc.returncode == 2 and "--benchmark" in proc.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("config_id,x,val_acc_1,time_1\n0,0.5,90\n")
    proc = engine.simulate(script, "--benchmark", bad, "--dir", tmp_path / "c")
    assert proc.returncode == 2 and "bad.csv" in proc.stderr
    # a real run still needs a training function
    proc = engine.run(script, "--dir", tmp_path / "d")
    assert proc.returncode == 2 and "'train' is required" in proc.stderr


def test_custom_optimizer_example_runs_and_simulates_alike(engine, tmp_path):
    """With one worker the trial order is fixed, so the real run and the
    simulation on the same function pick the same trials."""
    script = ROOT / "examples" / "custom_optimizer" / "experiment.lua"
    proc = engine.run(script, "--workers", 1, "--dir", tmp_path / "run", "--quiet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    real = engine.summary(tmp_path / "run")
    assert real["finished"] == 40
    simulate(engine, script, tmp_path / "sim", "--benchmark", "branin", "--workers", 1)
    sim = engine.summary(tmp_path / "sim")
    assert [t["id"] for t in sim["trials"]] == [t["id"] for t in real["trials"]]
    assert sim["best"]["trial_id"] == real["best"]["trial_id"]
    # branin.py subtracts Branin's minimum from the benchmark's value
    assert real["best"]["value"] == pytest.approx(sim["best"]["value"] - 0.397887, abs=1e-6)
    assert real["best"]["value"] < 1.0


@pytest.mark.skipif(not (DATA / "lcbench_7593.csv").exists(),
                    reason=f"no benchmark data in {DATA} (set MAGGY_DATA_DIR)")
def test_async_with_early_stopping_on_lcbench(engine, tmp_path):
    """The time ratio against BSP is a benchmark (tests/bench/asynchrony.py);
    here: the same configurations, executors kept busy, the best one kept."""
    table = DATA / "lcbench_7593.csv"
    reports = {}
    for mode, rule in (("async", "maggy.earlystop.median{grace = 5}"), ("bsp", '"none"')):
        run_dir = tmp_path / mode
        script = experiment(tmp_path, '"random"', trials=60, direction="max", earlystop=rule)
        simulate(engine, script, run_dir, "--benchmark", table, "--workers", 8,
                 *(["--bsp"] if mode == "bsp" else []))
        reports[mode] = json.loads((run_dir / "simulation.json").read_text())
        reports[mode]["summary"] = engine.summary(run_dir)
    assert reports["async"]["busy_fraction_until_last_start"] == pytest.approx(1.0)
    assert reports["bsp"]["busy_fraction_until_last_start"] < 0.99
    assert reports["async"]["summary"]["early_stopped"] > 0
    assert sorted(t["id"] for t in reports["async"]["summary"]["trials"]) == \
        sorted(t["id"] for t in reports["bsp"]["summary"]["trials"])
    assert reports["async"]["best_value"] >= reports["bsp"]["best_value"] - 2.0


def test_a_script_cannot_reach_past_the_sandbox(engine, tmp_path):
    # a "maggy.*" module in the script's folder would run with io if the
    # engine's own require searched there; string.dump hides behind ("").dump
    proof = tmp_path / "escaped"
    (tmp_path / "maggy").mkdir()
    (tmp_path / "maggy" / "evil.lua").write_text(
        f'io.open("{proof}", "w"):write("out")\nreturn {{}}\n')
    script = tmp_path / "experiment.lua"
    script.write_text("""local maggy = require "maggy"
local ok, err = pcall(require, "maggy.evil")
assert(not ok and err:find("internal to the engine", 1, true), err)
assert(not pcall(require, "maggy.optimizers.gp_linalg"), "raw FFI memory reachable")
assert(("").dump == nil, "string.dump reachable")
ok, err = pcall(function() require("maggy.searchspace").new = print end)
assert(not ok and err:find("read-only", 1, true), "the library can be patched")
return maggy.experiment { name = "sealed", num_trials = 3, metric = "loss",
                          direction = "min" }
""")
    simulate(engine, script, tmp_path / "r", "--benchmark", "branin")
    assert not proof.exists()


def test_no_ffi_memory_is_reachable_from_a_script(engine, tmp_path):
    # GP keeps its linear algebra in FFI arrays: after it has fitted models,
    # nothing a script can reach (the optimizer it made, its ctx) is one.
    script = tmp_path / "walk.lua"
    script.write_text("""local maggy = require "maggy"
local gp = maggy.optimizers.gp { n_startup = 3 }
local function walk(v, path, seen)
  assert(type(v) ~= "cdata", "FFI memory reachable at " .. path)
  if type(v) ~= "table" or seen[v] then return end
  seen[v] = true
  for k, x in pairs(v) do walk(x, path .. "." .. tostring(k), seen) end
end
local probe = {
  suggest = function(self, ctx)
    local params = gp:suggest(ctx)
    walk(gp, "gp", {})
    walk(ctx, "ctx", {})
    for _, t in ipairs(ctx:trials()) do walk(t, "trial", {}) end
    return params
  end,
  observe = function(self, ctx, t) if gp.observe then gp:observe(ctx, t) end end,
}
return maggy.experiment { name = "walk", num_trials = 12, metric = "loss",
                          direction = "min", optimizer = probe }
""")
    out = engine.simulate(script, "--benchmark", "branin", "--dir", tmp_path / "r")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "FFI memory" not in out.stdout + out.stderr


def test_a_strategy_that_hoards_memory_is_stopped_at_its_limit(engine, tmp_path):
    script = tmp_path / "hoard.lua"
    script.write_text("""local maggy = require "maggy"
local hoard = {}
local greedy = { suggest = function(self, ctx)
  for i = 1, 1e8 do hoard[i] = { i } end
end }
return maggy.experiment { name = "hoard", num_trials = 3, metric = "loss",
                          direction = "min", strategy_memory = 64, optimizer = greedy }
""")
    out = engine.simulate(script, "--benchmark", "branin", "--dir", tmp_path / "r")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "needed more than 64 MiB of memory (strategy_memory" in out.stdout + out.stderr


def test_a_strategy_that_catches_its_memory_error_and_goes_on_is_abandoned(
        engine, tmp_path):
    """Raising the error again from compiled code would crash LuaJIT: the
    engine ends the run with the error instead, and keeps what it has."""
    script = tmp_path / "hoard.lua"
    script.write_text("""local maggy = require "maggy"
local stubborn = { suggest = function(self, ctx)
  local cache = {}
  for attempt = 1, 100 do
    pcall(function() for i = 1, 1e9 do cache[#cache + 1] = { i } end end)
  end
end }
return maggy.experiment { name = "stubborn", num_trials = 3, metric = "loss",
                          direction = "min", strategy_memory = 64, optimizer = stubborn }
""")
    out = engine.simulate(script, "--benchmark", "branin", "--dir", tmp_path / "r")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "needed more than 64 MiB of memory (strategy_memory) and went on after " \
        "the error" in out.stdout
    assert engine.show(tmp_path / "r")["status"] == "failed"


def hartmann6(x):
    alpha = [1.0, 1.2, 3.0, 3.2]
    A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
         [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
    P = [[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
         [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]]
    return -sum(a * math.exp(-sum(A[i][j] * (x[j] - P[i][j] * 1e-4) ** 2
                                  for j in range(6)))
                for i, a in enumerate(alpha))


def test_a_simulated_ablation_path_follows_the_functions_own_order(engine, tmp_path):
    base = [0.1] * 6
    target = [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573]
    expected, current, left = [], list(base), set(range(6))
    while left:  # the greedy path, from the function itself
        best = min(left, key=lambda j: hartmann6(
            [target[k] if k == j else current[k] for k in range(6)]))
        current[best] = target[best]
        left.remove(best)
        expected.append(f"x{best + 1}")
    config = lambda xs: ", ".join(f"x{j + 1} = {v}" for j, v in enumerate(xs))  # noqa: E731
    script = tmp_path / "path.lua"
    script.write_text(f"""local maggy = require "maggy"
return maggy.experiment {{ name = "simpath", metric = "loss", direction = "min",
  ablation = maggy.ablation {{ base = {{ {config(base)} }}, target = {{ {config(target)} }},
                               repeats = 2 }} }}
""")
    run_dir = tmp_path / "r"
    out = simulate(engine, script, run_dir, "--benchmark", "hartmann6")
    summary = engine.summary(run_dir)
    assert summary["finished"] == 2 * (1 + 21)
    path = summary["ablation"]["path"]
    assert [s.get("change") for s in path[1:]] == expected
    assert "ablation path (2 repeats" in out.stdout


def test_a_simulated_study_cannot_leave_out_what_a_benchmark_lacks(engine, tmp_path):
    script = tmp_path / "loco.lua"
    script.write_text("""local maggy = require "maggy"
return maggy.experiment { name = "loco", metric = "loss", direction = "min",
  ablation = maggy.ablation { base = { x1 = 0, x2 = 0 }, features = { "f" } } }
""")
    out = engine.simulate(script, "--benchmark", "branin", "--dir", tmp_path / "r")
    assert out.returncode == 2
    assert "a benchmark has no features, layers or components" in out.stderr


def test_the_name_cannot_move_the_default_directory(tmp_path):
    cwd = tmp_path / "a" / "b"
    cwd.mkdir(parents=True)
    script = experiment(tmp_path, '"random"', trials=2)
    script.write_text(script.read_text().replace('name = "sim"', 'name = "../../out x"'))
    done = subprocess.run([str(ENGINE), "simulate", str(script), "--benchmark", "branin"],
                          cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    [made] = list((cwd / "maggy-runs").iterdir())
    assert made.name.startswith("_._.._out_x-")  # one component, no leading dot
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "experiment.lua"]
