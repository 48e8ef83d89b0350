"""`maggy-engine export`: the trials, their metric histories and an ablation
table as CSV or JSON rows, checked against summary.json and the store."""
import csv
import io
import json
import subprocess

import pytest

from conftest import ENGINE, FIXTURES, ROOT, wait_for


def export(run_dir, *args):
    out = subprocess.run([str(ENGINE), "export", str(run_dir), *args],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("export") / "r"
    out = subprocess.run([str(ENGINE), "run", str(FIXTURES / "exp_fast.lua"),
                          "--workers", "2", "--dir", str(run_dir), "--quiet"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return run_dir, json.loads((run_dir / "summary.json").read_text())


def test_one_csv_row_per_trial_matching_the_summary(finished_run):
    run_dir, summary = finished_run
    rows = list(csv.DictReader(io.StringIO(export(run_dir))))
    assert [r["id"] for r in rows] == [t["id"] for t in summary["trials"]]
    for row, t in zip(rows, summary["trials"]):
        assert row["state"] == t["state"]
        assert row["attempts"] == str(t["attempts"])
        if t["value"] is None:
            assert row["value"] == ""
        else:
            assert float(row["value"]) == t["value"]
        for name, value in t["params"].items():
            assert row["params_" + name] == (value if isinstance(value, str)
                                             else json.dumps(value)) or \
                float(row["params_" + name]) == value
        assert float(row["duration_s"]) == pytest.approx(t["ended"] - t["started"])


def test_the_json_rows_are_the_csv_rows(finished_run, tmp_path):
    run_dir, summary = finished_run
    out = tmp_path / "trials.json"
    export(run_dir, "--format", "json", "--out", out)
    rows = json.loads(out.read_text())
    assert [r["id"] for r in rows] == [t["id"] for t in summary["trials"]]
    assert [r["value"] for r in rows] == [t["value"] for t in summary["trials"]]


def test_the_history_has_every_stored_point(finished_run):
    run_dir, summary = finished_run
    rows = list(csv.DictReader(io.StringIO(export(run_dir, "--history"))))
    per_trial = {}
    for r in rows:
        per_trial.setdefault(r["trial"], []).append(int(r["step"]))
    for t in summary["trials"]:
        steps = per_trial.get(t["id"], [])
        assert len(steps) == t["steps"]
        assert steps == sorted(steps)
    # when each point arrived: within its trial's run, in step order
    by_id = {t["id"]: t for t in summary["trials"]}
    for trial, points in per_trial.items():
        times = [float(r["time"]) for r in rows if r["trial"] == trial]
        assert times == sorted(times)
        assert by_id[trial]["started"] <= times[0] <= by_id[trial]["ended"]
    # the same points as JSON, at full precision
    as_json = json.loads(export(run_dir, "--history", "--format", "json"))
    assert [(r["trial"], r["step"], r["value"], r["time"]) for r in as_json] == [
        (r["trial"], int(r["step"]), float(r["value"]), float(r["time"]))
        for r in rows]


def test_pandas_reads_both(finished_run, tmp_path):
    pd = pytest.importorskip("pandas")
    run_dir, summary = finished_run
    export(run_dir, "--out", tmp_path / "t.csv")
    export(run_dir, "--format", "json", "--out", tmp_path / "t.json")
    assert len(pd.read_csv(tmp_path / "t.csv")) == len(summary["trials"])
    assert len(pd.read_json(tmp_path / "t.json")) == len(summary["trials"])


def test_no_ablation_table_is_an_error(finished_run):
    run_dir, _ = finished_run
    out = subprocess.run([str(ENGINE), "export", str(run_dir), "--ablation"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "has no ablation table" in out.stderr


def test_a_history_without_points_still_has_its_columns(engine, tmp_path):
    """A training function that never broadcasts: the history is empty, and
    loads in pandas as an empty table with its columns."""
    run_dir = tmp_path / "r"
    script = ROOT / "examples" / "custom_optimizer" / "experiment.lua"
    assert engine.run(script, "--workers", 2, "--dir", run_dir, "--quiet").returncode == 0
    assert export(run_dir, "--history") == "trial,step,value,time\n"
    assert json.loads(export(run_dir, "--history", "--format", "json")) == []
    pd = pytest.importorskip("pandas")
    frame = pd.read_csv(io.StringIO(export(run_dir, "--history")))
    assert list(frame.columns) == ["trial", "step", "value", "time"] and frame.empty


def test_a_killed_engine_leaves_its_running_trials_pending_everywhere(engine, tmp_path):
    """Killed with SIGKILL, the engine cannot write what it was running
    down as PENDING. Every reader says it instead: show, its JSON and
    export, as resume will treat them."""
    run_dir = tmp_path / "r"
    proc, _ = engine.start(FIXTURES / "exp_slow.lua", "--workers", 2, "--dir", run_dir)
    running = wait_for(lambda: [t["id"] for t in engine.show(run_dir)["trials"]
                                if t["state"] == "RUNNING"], what="a running trial")
    proc.kill()  # the trials take 4 s: these are still running
    proc.wait(timeout=30)
    summary = engine.show(run_dir)
    states = {t["id"]: t["state"] for t in summary["trials"]}
    assert summary["status"] == "interrupted"
    assert all(states[i] == "PENDING" for i in running), states
    assert "RUNNING" not in states.values()
    assert summary["running"] == 0
    assert summary["pending"] == list(states.values()).count("PENDING")
    rows = csv.DictReader(io.StringIO(export(run_dir)))
    assert {row["id"]: row["state"] for row in rows} == states
    text = subprocess.run([str(ENGINE), "show", str(run_dir)], capture_output=True,
                          text=True, timeout=60).stdout
    assert f"{summary['pending']} pending, 0 running" in text
