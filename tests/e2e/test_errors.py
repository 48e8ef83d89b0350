"""Error messages as a user meets them: the user's file and line first, a
string shown as a string, the library's traceback only under --verbose
(and kept in summary.json), one report of an import error, built-ins
named in any case and listed when the name is wrong, and a warning when a
simulation goes the wrong way for its benchmark."""
import re
import socket
import subprocess

from conftest import DATA, ENGINE, experiment

import pytest


def line_of(path, needle):
    return next(i for i, l in enumerate(path.read_text().splitlines(), 1)
                if needle in l)


def test_bad_option_of_a_built_in_points_at_the_users_line(engine, tmp_path):
    script = experiment(tmp_path, earlystop='maggy.earlystop.median { grace = "2" }')
    out = engine.run(script, "--dir", tmp_path / "r")
    assert out.returncode == 2
    where = f"{script}:{line_of(script, 'grace')}:"
    assert f"{where} earlystop.median: grace must be an integer >= 0, got string '2'" \
        in out.stderr, out.stderr
    assert "stack traceback" not in out.stderr
    assert "--verbose shows the traceback" in out.stderr
    verbose = engine.run(script, "--dir", tmp_path / "r2", "--verbose")
    assert verbose.returncode == 2
    assert where in verbose.stderr and "stack traceback:" in verbose.stderr
    assert "percentile.lua" in verbose.stderr


OPTIMIZER = """{ name = "mine", suggest = function(self, ctx)
    local best = ctx:best()
    return ctx.space:from_unit(ctx.space:to_unit(best and best.params))
  end }"""


def test_error_in_a_user_optimizer_leads_with_its_line(engine, tmp_path):
    script = experiment(tmp_path, optimizer=OPTIMIZER)
    run_dir = tmp_path / "r"
    out = engine.run(script, "--workers", 1, "--dir", run_dir)
    assert out.returncode == 1
    where = f"{script}:{line_of(script, 'to_unit')}:"
    assert f"error: {where} space:to_unit: expected a params table, got nil" \
        in out.stdout, out.stdout
    assert "stack traceback" not in out.stdout + out.stderr
    # the whole story is kept
    error = engine.summary(run_dir)["error"]
    assert error.startswith(where) and "stack traceback:" in error
    shown = subprocess.run([str(ENGINE), "show", str(run_dir), "--verbose"],
                           capture_output=True, text=True, timeout=60)
    assert "stack traceback:" in shown.stdout
    shown = subprocess.run([str(ENGINE), "show", str(run_dir)],
                           capture_output=True, text=True, timeout=60)
    assert "stack traceback:" not in shown.stdout
    assert "show DIR --verbose" in shown.stdout


def test_a_tail_call_into_the_library_is_not_blamed_on_the_runtime(engine, tmp_path):
    script = experiment(tmp_path, optimizer="""{ name = "mine", suggest = function(self, ctx)
    return ctx.space:sample()
  end }""")
    out = engine.run(script, "--workers", 1, "--dir", tmp_path / "r")
    assert out.returncode == 1
    error = next(l for l in out.stdout.splitlines() if l.startswith("error:"))
    assert error.startswith("error: space:sample: expected a random generator (ctx.rng), got nil"
                            " (in a call made as `return f(...)`"), error
    assert "runtime.lua" not in error


def test_a_strategy_method_defined_with_a_dot_is_refused_at_load(tmp_path):
    script = experiment(tmp_path, optimizer="""{ name = "mine", suggest = function(ctx)
    return ctx.space:sample(ctx.rng)
  end }""")
    out = subprocess.run([str(ENGINE), "check", str(script)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2
    assert (f"{script}:{line_of(script, 'suggest = function(ctx)')}: optimizer 'mine': suggest is "
            "called as a method, optimizer:suggest(ctx), so its first parameter is the optimizer "
            "itself, not ctx: define it with a colon") in out.stderr, out.stderr


def test_import_error_is_reported_once(engine, tmp_path):
    (tmp_path / "broken.py").write_text("import no_such_module_here\n"
                                        "def train(x, mode):\n    return x\n")
    script = experiment(tmp_path, train="broken:train",
                        python_path=f'"{tmp_path}"')
    run_dir = tmp_path / "r"
    out = engine.run(script, "--workers", 2, "--dir", run_dir)
    assert out.returncode == 1
    text = out.stdout + out.stderr
    assert text.count("No module named 'no_such_module_here'") == 1, text
    assert "ModuleNotFoundError: No module named 'no_such_module_here'" in out.stdout
    assert "Traceback (most recent call last)" not in text
    assert "Traceback (most recent call last)" in engine.summary(run_dir)["error"]


@pytest.mark.parametrize("name", ["TPE", "Random", "tpe"])
def test_built_in_names_in_any_case(engine, tmp_path, name):
    script = experiment(tmp_path, optimizer=f'"{name}"', num_trials=3)
    out = engine.run(script, "--workers", 1, "--dir", tmp_path / "r")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"optimizer {name.lower()}," in out.stdout


def test_unknown_built_in_lists_them(engine, tmp_path):
    script = experiment(tmp_path, optimizer='"tpee"', earlystop='"medain"')
    out = engine.run(script, "--dir", tmp_path / "r")
    assert out.returncode == 2
    assert "field 'earlystop' must be a built-in's name (median, none, " \
           "percentile, plateau)" in out.stderr, out.stderr
    assert "got string 'medain'" in out.stderr


BRANIN_SPACE = ("maggy.searchspace { x1 = maggy.double(-5, 10), "
                "x2 = maggy.double(0, 15) }")


def test_simulate_warns_when_the_direction_is_wrong(engine, tmp_path):
    wrong = experiment(tmp_path, name="wrong", space=BRANIN_SPACE,
                       direction='"max"', num_trials=4)
    out = engine.simulate(wrong, "--benchmark", "branin", "--dir", tmp_path / "w")
    assert out.returncode == 0
    assert "warning: branin's metric (loss) is to be minimized, but the " \
           "experiment says direction = \"max\"" in out.stderr
    right = experiment(tmp_path, name="right", space=BRANIN_SPACE,
                       direction='"min"', num_trials=4)
    out = engine.simulate(right, "--benchmark", "branin", "--dir", tmp_path / "r")
    assert out.returncode == 0 and "warning" not in out.stderr


def test_simulate_warns_for_an_accuracy_table(engine, tmp_path):
    table = DATA / "lcbench_7593.csv"
    if not table.exists():
        pytest.skip(f"no benchmark data at {DATA}")
    script = experiment(tmp_path, name="lc", direction='"min"', num_trials=3)
    out = engine.simulate(script, "--benchmark", table, "--dir", tmp_path / "r")
    assert re.search(r"lcbench_7593's metric \(val_acc\) is to be maximized",
                     out.stderr), out.stdout + out.stderr


def test_check_loads_a_script_and_runs_nothing(tmp_path):
    script = experiment(tmp_path, num_trials=7)
    out = subprocess.run([str(ENGINE), "check", str(script)], capture_output=True,
                         text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"{script}: experiment 'faults' loads: 7 trials, optimizer random" in out.stdout
    assert "    x DOUBLE [0, 1]" in out.stdout
    assert "    mode CATEGORICAL [\"a\", \"b\"]" in out.stdout
    assert "warning" not in out.stdout  # fast_train.py is on its python_path
    assert not (tmp_path / "maggy-runs").exists()
    missing = experiment(tmp_path, name="missing", train="no_such_module:train")
    out = subprocess.run([str(ENGINE), "check", str(missing)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and "warning: no no_such_module.py there" in out.stdout
    broken = experiment(tmp_path, name="broken", earlystop='"medain"')
    out = subprocess.run([str(ENGINE), "check", str(broken)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "got string 'medain'" in out.stderr


@pytest.mark.parametrize("body, says", [
    ('error({ reason = "x" })', ":2: error() was given a table value, not a message"),
    ("local function f() return 1 + f() end\nf()", "stack overflow"),
])
def test_errors_that_are_no_message_still_say_what_and_where(tmp_path, body, says):
    script = tmp_path / "odd.lua"
    script.write_text('local maggy = require "maggy"\n' + body + "\n"
                      'return maggy.experiment { name = "e", train = "t:t", '
                      'space = { x = { "DOUBLE", { 0, 1 } } }, num_trials = 2 }\n')
    out = subprocess.run([str(ENGINE), "check", str(script)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2
    assert says in out.stderr, out.stderr
    assert not out.stderr.splitlines()[1].startswith("error in error handling")


def test_a_space_the_script_describes_itself_is_checked_before_any_trial(engine, tmp_path):
    script = tmp_path / "odd.lua"
    script.write_text(
        'local maggy = require "maggy"\n'
        'local space = maggy.searchspace { x = maggy.double(0, 1) }\n'
        'space.describe = function()\n'
        '  return { { name = "budget", type = "DOUBLE", low = 0, high = 1 } }\n'
        'end\n'
        'return maggy.experiment { name = "e", train = "t:t", space = space, '
        'num_trials = 2 }\n')
    says = f"maggy-engine: {script}: search space: parameter 'budget' is no " \
           "Python identifier, or a reserved name"
    out = subprocess.run([str(ENGINE), "check", str(script)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and says in out.stderr, out.stderr
    out = engine.run(script, "--workers", 1, "--dir", tmp_path / "r")
    assert out.returncode == 2 and says in out.stderr, out.stderr
    assert not (tmp_path / "r").exists()


def test_a_listen_address_in_use_refuses_the_run_and_makes_nothing(engine, tmp_path):
    script = experiment(tmp_path, num_trials=2)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = engine.run(script, "--workers", 1, "--listen", f"127.0.0.1:{port}",
                         "--dir", tmp_path / "r")
        assert out.returncode == 2, out.stdout + out.stderr
        assert f"maggy-engine: --listen: cannot listen on 127.0.0.1:{port}: " \
               "Address already in use" in out.stderr
        assert not (tmp_path / "r").exists()
    out = engine.run(script, "--workers", 1, "--listen", f"127.0.0.1:{port}",
                     "--dir", tmp_path / "r")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"127.0.0.1:{port}" in out.stdout
