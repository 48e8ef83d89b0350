"""`maggy-engine logs`: the stored lines of one trial or of all, a failed
trial's traceback, clear errors for unknown trials, and --follow while the
experiment runs."""
import json
import re
import subprocess
import urllib.request

from conftest import ENGINE, FIXTURES, Run, experiment, trials_in, wait_for


def logs(*args):
    return subprocess.run([str(ENGINE), "logs", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_failed_trial_shows_its_traceback(engine, tmp_path):
    run_dir = tmp_path / "r"
    out = engine.run(FIXTURES / "exp_failing.lua", "--workers", 2, "--dir",
                     run_dir, "--quiet")
    assert out.returncode == 0, out.stdout + out.stderr
    failed = trials_in(run_dir, "FAILED")
    assert failed
    one = logs(run_dir, failed[0]["id"])
    assert one.returncode == 0
    assert f"[{failed[0]['id']} error] Traceback" in one.stdout
    assert "ValueError: cannot train with mode='boom'" in one.stdout
    every = logs(run_dir)
    assert every.stdout.count(" error] Traceback") == len(failed)


def test_the_reporter_in_a_forked_child_logs_to_stderr_and_says_its_points_are_dropped(
        engine, tmp_path):
    run_dir = tmp_path / "r"
    script = experiment(tmp_path, num_trials=1, train="fast_train:reports_from_a_child")
    out = engine.run(script, "--workers", 1, "--dir", run_dir)
    assert out.returncode == 0, out.stdout + out.stderr
    [t] = trials_in(run_dir)
    assert (t["state"], t["steps"]) == ("FINISHED", 0)
    lines = logs(run_dir, t["id"]).stdout
    assert f"[{t['id']} stderr] a line from the child" in lines
    assert lines.count("reporter.broadcast() in a process that the training "
                       "function started is ignored") == 1


def test_a_segfaults_last_lines_and_traceback_are_kept(engine, tmp_path):
    """What the trial printed just before the fault, and the traceback that
    faulthandler writes at it, were still in the capture pipes when the
    executor died."""
    run_dir = tmp_path / "r"
    script = experiment(tmp_path, num_trials=1, train="fast_train:segfaults",
                        max_attempts=1)
    out = engine.run(script, "--workers", 1, "--dir", run_dir)
    assert out.returncode == 1, out.stdout + out.stderr  # nothing finished
    [t] = trials_in(run_dir)
    lines = logs(run_dir, t["id"]).stdout
    for want in ("line 2 before the fault", "and one on stderr",
                 "Fatal Python error: Segmentation fault",
                 "fast_train.py\", line", " in segfaults",
                 "its executor process exited (signal 11"):
        assert want in lines, lines


def test_every_line_of_a_multi_line_record_has_its_trials_prefix(engine, tmp_path):
    run_dir = tmp_path / "r"
    script = experiment(tmp_path, num_trials=1, train="fast_train:logs_two_lines")
    out = engine.run(script, "--workers", 1, "--dir", run_dir, "--progress", "off")
    assert out.returncode == 0, out.stdout + out.stderr
    [t] = trials_in(run_dir)
    assert f"[{t['id']}] first\n[{t['id']}] second\n" in out.stdout
    assert f"[{t['id']} log] first\n[{t['id']} log] second\n" in logs(run_dir, t["id"]).stdout


def test_unknown_trial_is_an_error(engine, tmp_path):
    run_dir = tmp_path / "r"
    script = experiment(tmp_path, num_trials=2)
    assert engine.run(script, "--workers", 1, "--dir", run_dir).returncode == 0
    out = logs(run_dir, "00000000000000ab")
    assert out.returncode == 2
    assert f"no trial 00000000000000ab in {run_dir}" in out.stderr
    out = logs(run_dir, "xyz")
    assert out.returncode == 2 and "'xyz' is not a trial id" in out.stderr
    out = logs(tmp_path / "nothing-here")
    assert out.returncode == 2 and out.stderr.startswith("maggy-engine: ")


def test_follow_prints_lines_as_they_come(tmp_path):
    run_dir = tmp_path / "r"
    script = experiment(tmp_path, train="fast_train:train", num_trials=6)
    run = Run(tmp_path, script, "--workers", 1, "--dir", run_dir)
    wait_for(lambda: trials_in(run_dir), what="the experiment to start")
    follow = subprocess.Popen([str(ENGINE), "logs", str(run_dir), "--follow"],
                              stdout=subprocess.PIPE, text=True)
    first = follow.stdout.readline()
    # the first line came while the experiment still ran
    assert run.proc.poll() is None or len(trials_in(run_dir, "FINISHED")) < 6
    assert "trained x=" in first
    rest = follow.communicate(timeout=120)[0]
    assert follow.returncode == 0
    assert run.wait() == 0
    lines = (first + rest).splitlines()
    assert sum("trained x=" in l for l in lines) == 6
    assert sorted(lines) == sorted(logs(run_dir).stdout.splitlines())  # once each


def test_follow_one_trial_returns_when_it_ends(tmp_path):
    run_dir = tmp_path / "r"
    script = experiment(tmp_path, train="fast_train:slow", num_trials=2)
    run = Run(tmp_path, script, "--workers", 1, "--dir", run_dir)
    running = wait_for(lambda: trials_in(run_dir, "RUNNING"),
                       what="a running trial")[0]["id"]
    out = subprocess.run([str(ENGINE), "logs", str(run_dir), running, "-f"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    assert [t["state"] for t in trials_in(run_dir) if t["id"] == running] \
        == ["FINISHED"]
    run.kill()


def test_output_that_is_no_text_reads_back_everywhere(engine, tmp_path):
    """A byte that is no UTF-8, or a NUL, becomes '?' when the line is
    stored: the logs command prints text, all of it, and the dashboard can
    put the line in JSON."""
    run_dir = tmp_path / "r"
    script = experiment(tmp_path, num_trials=1, train="fast_train:prints_bytes")
    assert engine.run(script, "--workers", 1, "--dir", run_dir, "--quiet").returncode == 0
    trial = trials_in(run_dir)[0]["id"]
    printed = subprocess.run([str(ENGINE), "logs", str(run_dir), trial],
                             capture_output=True, timeout=120).stdout
    assert f"[{trial} stdout] bad byte ? here, ? and on".encode() in printed
    serve = Run(tmp_path, run_dir, "--dashboard", 0, command="dashboard")
    url = wait_for(lambda: re.search(r"dashboard of \S+ on (http://\S+/)", serve.text()),
                   30, "the dashboard's address").group(1)
    with urllib.request.urlopen(f"{url}api/logs?trial={trial}", timeout=10) as r:
        lines = json.loads(r.read())["lines"]
    assert [l["text"] for l in lines] == ["bad byte ? here, ? and on"]
    serve.proc.terminate()
    assert serve.wait(timeout=30) == 0


def test_follow_says_when_the_engine_is_gone(tmp_path):
    run_dir = tmp_path / "r"
    script = experiment(tmp_path, train="fast_train:slow", num_trials=2)
    run = Run(tmp_path, script, "--workers", 1, "--dir", run_dir)
    wait_for(lambda: trials_in(run_dir, "RUNNING"), what="a running trial")
    follow = subprocess.Popen([str(ENGINE), "logs", str(run_dir), "--follow"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run.kill()  # SIGKILL: no final status is written
    err = follow.communicate(timeout=120)[1]
    assert follow.returncode == 1
    assert "the engine is no longer running (killed or crashed); " \
           f"`maggy-engine resume {run_dir}` continues the experiment" in err
