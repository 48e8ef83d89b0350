"""The Python package (maggy_engine): run an experiment from Python with
its progress, read experiment directories as DataFrames (also while one
runs), plot; `maggy-engine plot`; and `pip install -e .` from the
checkout."""
import io
import os
import subprocess
import sys

import pytest

from conftest import BUILD, ENGINE, ROOT, Run, experiment, wait_for

sys.path.insert(0, str(ROOT / "python"))
os.environ.setdefault("MAGGY_ENGINE", str(ENGINE))
import maggy_engine  # noqa: E402

pd = pytest.importorskip("pandas")


def test_run_returns_the_summary_with_progress(tmp_path):
    script = experiment(tmp_path, train="fast_train:train", num_trials=5)
    out = io.StringIO()
    summary = maggy_engine.run(script, workers=2, dir=tmp_path / "r",
                               progress_every=0.2, out=out)
    assert summary["status"] == "finished" and summary["finished"] == 5
    assert summary["dir"] == str(tmp_path / "r")
    text = out.getvalue()
    assert "[progress] 5/5 ended" in text
    assert "trained x=" in text  # the trials' output, as in a terminal
    quiet = io.StringIO()
    maggy_engine.run(script, workers=1, dir=tmp_path / "q", quiet=True, out=quiet)
    assert "trained x=" not in quiet.getvalue()


def test_a_script_that_cannot_start_raises(tmp_path):
    script = experiment(tmp_path, num_trials="0")
    with pytest.raises(maggy_engine.ExperimentError) as e:
        maggy_engine.run(script, workers=1, dir=tmp_path / "r", out=io.StringIO())
    assert f"{script}:" in str(e.value)
    assert "num_trials" in str(e.value)


def test_a_failed_experiment_returns_its_summary(tmp_path):
    script = experiment(tmp_path, train="fast_train:wrong_key", num_trials=4)
    summary = maggy_engine.run(script, workers=1, dir=tmp_path / "r", out=io.StringIO())
    assert summary["status"] == "failed" and summary["error"]


def test_load_reads_trials_history_and_best(engine, tmp_path):
    run_dir = tmp_path / "r"
    script = experiment(tmp_path, train="fast_train:train", num_trials=6)
    assert engine.run(script, "--workers", 2, "--dir", run_dir).returncode == 0
    exp = maggy_engine.load(run_dir)
    stored = engine.summary(run_dir)
    trials = exp.trials()
    assert len(trials) == 6
    assert set(trials["id"]) == {t["id"] for t in stored["trials"]}
    assert {"params_x", "params_mode", "value", "state"} <= set(trials.columns)
    history = exp.history()
    assert list(history.columns[:3]) == ["trial", "step", "value"]
    assert len(history) == sum(t["steps"] for t in stored["trials"])
    assert exp.best == stored["best"]
    assert exp.status == "finished"
    assert "trained x=" in exp.logs(stored["best"]["trial_id"])
    assert "'faults' finished: 6 finished" in repr(exp)
    import matplotlib
    matplotlib.use("Agg")
    ax = exp.plot_curves()
    assert len(ax.get_lines()) >= 6
    assert exp.plot_best().get_lines()
    with pytest.raises(maggy_engine.EngineError, match="not an ablation study"):
        exp.plot_ablation()


def test_load_while_it_runs(tmp_path):
    run_dir = tmp_path / "r"
    script = experiment(tmp_path, train="fast_train:slow", num_trials=3)
    run = Run(tmp_path, script, "--workers", 1, "--dir", run_dir)
    wait_for(lambda: (run_dir / "store").is_dir(), what="the store")
    exp = maggy_engine.load(run_dir)
    wait_for(lambda: exp.summary["running"] == 1, what="a running trial")
    assert exp.status == "running"
    assert (exp.trials()["state"] == "RUNNING").sum() == 1
    run.kill()
    assert exp.status == "interrupted"


def test_load_of_nothing_is_an_error(tmp_path):
    with pytest.raises(maggy_engine.EngineError, match="no experiment here"):
        maggy_engine.load(tmp_path)


def test_plot_command_writes_png_and_svg(engine, tmp_path):
    run_dir = tmp_path / "r"
    script = experiment(tmp_path, train="fast_train:train", num_trials=4)
    assert engine.run(script, "--workers", 2, "--dir", run_dir).returncode == 0
    for name, magic in (("p.png", b"\x89PNG"), ("p.svg", b"<?xml")):
        out = subprocess.run([str(ENGINE), "plot", str(run_dir), "--out",
                              str(tmp_path / name)], capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert (tmp_path / name).read_bytes().startswith(magic)
    svg = (tmp_path / "p.svg").read_text()
    assert "learning curves" in svg and "best so far" in svg
    out = subprocess.run([str(ENGINE), "plot", str(run_dir), "--what", "ablation",
                          "--out", str(tmp_path / "a.png")], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and "not an ablation study" in out.stderr
    out = subprocess.run([str(ENGINE), "plot", str(tmp_path / "none"), "--out",
                          str(tmp_path / "n.png")], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and "no store" in out.stderr


def test_pip_installs_the_checkout(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages",
                    str(venv)], check=True, timeout=120)
    out = subprocess.run([str(venv / "bin" / "pip"), "install", "-q",
                          "--no-build-isolation", "--no-deps", "-e", str(ROOT)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    env = {k: v for k, v in os.environ.items() if k != "MAGGY_ENGINE"}
    probe = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import maggy_engine, maggy_spark; "
                            "print(maggy_engine.engine_path())"],
                           capture_output=True, text=True, timeout=60,
                           cwd=tmp_path, env=env)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == str(ROOT / "build" / "maggy-engine") or \
        BUILD != ROOT / "build"
