"""maggy-engine on a real Spark standalone cluster (see conftest.py): the
quickstart with early stopping, a worker killed mid-run, a cancelled job
resumed, and a local[2] smoke run."""
import json
import re
import signal

from cluster import FIXTURES, ROOT, wait_for
from conftest import Submit, show

QUICKSTART = ROOT / "examples" / "quickstart" / "experiment.lua"
LONG = FIXTURES / "exp_long.lua"


def finished_ids(text):
    return re.findall(r"\] (\w{16}) (?:FINISHED|EARLY_STOPPED|FAILED)", text)


def check_once(summary, num_trials):
    assert len(summary["trials"]) == num_trials
    assert summary["pending"] == 0 and summary["running"] == 0
    assert (summary["finished"] + summary["early_stopped"] + summary["failed"]
            == num_trials)


def test_quickstart_on_a_standalone_cluster(cluster, tmp_path):
    run_dir = tmp_path / "qs"
    submit = Submit(tmp_path, cluster.url, QUICKSTART, "--dir", run_dir)
    assert submit.wait() == 0, submit.text()[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert submit.returned_summary() == summary
    check_once(summary, 24)
    assert [t["attempts"] for t in summary["trials"]] == [1] * 24
    assert summary["early_stopped"] > 0
    text = submit.text()
    assert "done: lr=" in text  # the trials' own lines reach the driver
    assert sorted(finished_ids(text)) == sorted(t["id"] for t in summary["trials"])
    # executors ran in the Spark workers' executors, not on the driver
    assert {t["worker"]["slot"] for t in summary["trials"]} == {0, 1, 2, 3}


def test_a_killed_worker_loses_no_trial(cluster, tmp_path):
    run_dir = tmp_path / "long"
    submit = Submit(tmp_path, cluster.url, LONG, "--dir", run_dir)
    wait_for(lambda: len(finished_ids(submit.text())) >= 6, timeout=120,
             what="six trials ended")
    cluster.workers[1].kill()
    assert submit.wait() == 0, submit.text()[-3000:]
    summary = show(run_dir)
    check_once(summary, 40)
    assert summary["status"] == "finished"
    assert max(t["attempts"] for t in summary["trials"]) >= 2, \
        "no trial was running on the killed worker"


def test_a_cancelled_job_is_resumed(cluster, tmp_path):
    run_dir = tmp_path / "cut"
    submit = Submit(tmp_path, cluster.url, LONG, "--dir", run_dir)
    wait_for(lambda: len(finished_ids(submit.text())) >= 6, timeout=120,
             what="six trials ended")
    submit.kill(signal.SIGINT)  # Ctrl-C in spark-submit: the whole group
    assert submit.wait() == 130, submit.text()[-3000:]
    # the engine heard it once (from lagom), so it stopped cleanly
    assert "interrupted again" not in submit.text()
    cut = show(run_dir)
    assert cut["status"] == "interrupted" and cut["running"] == 0
    kept = {t["id"]: t["value"] for t in cut["trials"] if t["state"] == "FINISHED"}
    again = Submit(tmp_path, cluster.url, "--resume", run_dir)
    assert again.wait() == 0, again.text()[-3000:]
    summary = show(run_dir)
    check_once(summary, 40)
    assert summary["status"] == "finished"
    values = {t["id"]: t["value"] for t in summary["trials"]}
    assert all(values[i] == v for i, v in kept.items())


def test_executors_that_end_their_process_are_replaced(cluster, tmp_path):
    """A training function that calls os._exit(0) takes its executor with
    it: the task starts another, one that keeps ending fails the task and
    Spark runs it again, and the experiment ends."""
    run_dir = tmp_path / "exits"
    submit = Submit(tmp_path, cluster.url, FIXTURES / "exp_exits.lua", "--dir", run_dir)
    assert submit.wait() == 0, submit.text()[-3000:]
    summary = show(run_dir)
    check_once(summary, 12)
    for t in summary["trials"]:
        if t["params"]["x"] > 0.6:
            assert t["state"] == "FAILED" and t["attempts"] == 2, t
        else:
            assert t["state"] == "FINISHED", t


def test_a_trial_over_its_time_limit_frees_its_slot(cluster, tmp_path):
    """A hung training function: its trial fails at trial_timeout, and its
    executor ends so that the task starts a fresh one in the slot."""
    run_dir = tmp_path / "hangs"
    submit = Submit(tmp_path, cluster.url, FIXTURES / "exp_hangs.lua", "--dir", run_dir)
    assert submit.wait() == 0, submit.text()[-3000:]
    summary = show(run_dir)
    check_once(summary, 12)
    hung = [t for t in summary["trials"] if t["params"]["x"] > 0.3]
    assert len(hung) > 4  # more than the cluster's slots
    for t in summary["trials"]:
        if t in hung:
            assert t["state"] == "FAILED" and "trial_timeout" in t["error"], t
        else:
            assert t["state"] == "FINISHED", t


def test_an_ablation_study_on_spark(tmp_path):
    # the same study as tests/e2e/test_ablation.py, on Spark's local mode
    e2e = ROOT / "tests" / "e2e" / "fixtures"
    script = tmp_path / "ablation.lua"
    script.write_text(f"""local maggy = require "maggy"
return maggy.experiment {{
  name = "spark-ablation", train = "fast_train:ablated", python_path = "{e2e}",
  metric = "score", seed = 11, hb_interval = 0.2,
  ablation = maggy.ablation {{ base = {{ lr = 0.01 }}, features = {{ "income", "zip" }},
                               components = {{ "augmentation" }}, repeats = 3 }},
}}
""")
    submit = Submit(tmp_path, "local[2]", script, "--dir", tmp_path / "r")
    assert submit.wait() == 0, submit.text()[-3000:]
    report = submit.returned_summary()["ablation"]
    assert [r["component"] for r in report["rows"]] == [
        "feature income", "feature zip", "component augmentation"]
    assert all(r["n"] == 3 for r in report["rows"])
    assert report["rows"][0]["rank"] == 1
    again = Submit(tmp_path, "local[2]", "--resume", tmp_path / "r")  # a job sent twice
    assert again.wait() == 0, again.text()[-3000:]
    assert "finished already; nothing to resume" in again.text()
    assert again.returned_summary()["ablation"] == report


def test_a_training_module_left_behind_fails_with_the_way_to_ship_it(tmp_path):
    script = tmp_path / "experiment.lua"
    script.write_text(QUICKSTART.read_text())  # train.py stays behind
    submit = Submit(tmp_path, "local[2]", script, "--dir", tmp_path / "r")
    assert submit.wait() == 1, submit.text()[-3000:]
    failure = submit.text().split("\nlagom: ")[-1]
    assert "cannot import the training function (exit status 4)" in failure
    assert "--py-files" in failure


def test_local_mode_smoke_with_the_module_shipped_by_py_files(tmp_path):
    # the script's folder has no train.py: it comes with --py-files
    script = tmp_path / "experiment.lua"
    script.write_text(QUICKSTART.read_text())
    run_dir = tmp_path / "local"
    submit = Submit(tmp_path, "local[2]", script, "--dir", run_dir,
                    "--workers", 3,
                    spark_args=["--py-files", QUICKSTART.parent / "train.py"])
    assert submit.wait() == 0, submit.text()[-3000:]
    assert "workers=3 is more than the cluster's 2 task slots" in submit.text()
    assert submit.returned_summary()["finished"] + \
        submit.returned_summary()["early_stopped"] == 24
