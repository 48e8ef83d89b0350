"""Faults survived: executors that stall, die or misbehave, an engine killed
mid-run and resumed, trials that must be decided exactly once, and honest
end states. The real engine, real executors (or a fake one where a test must
control each frame), the real store."""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import (ENGINE, FIXTURES, Run, experiment, resume, show,
                      trials_in, wait_for)
from fakeexecutor import FakeExecutor


def executor_pids(engine_pid):
    out = subprocess.run(["pgrep", "-P", str(engine_pid)], capture_output=True,
                         text=True)
    return [int(p) for p in out.stdout.split()]


# ---- acknowledged means stored ---------------------------------------------

def test_acknowledged_final_survives_a_kill_of_the_engine(tmp_path):
    run_dir = tmp_path / "r"
    run = Run(tmp_path, experiment(tmp_path), "--workers", 0, "--dir", run_dir)
    ex = FakeExecutor(run.address(), run_dir)
    ex.welcome()
    trial = ex.next_trial()
    ex.final(trial["id"], value=0.625)
    ex.wait_ack(trial["id"])
    run.kill()  # at once: only what was committed before the ack is there
    kept = {t["id"]: t for t in trials_in(run_dir)}
    assert kept[trial["id"]]["state"] == "FINISHED"
    assert kept[trial["id"]]["value"] == 0.625
    assert show(run_dir)["status"] == "interrupted"


def test_every_acknowledged_final_survives_a_kill_under_load(tmp_path):
    """16 executors end trials as fast as they can while the engine's commits
    run beside its loop; the engine is killed mid-stream. Every FINAL that
    was acknowledged must be in the store, with its value."""
    import threading
    run_dir = tmp_path / "r"
    run = Run(tmp_path, experiment(tmp_path, num_trials=100000), "--workers", 0,
              "--dir", run_dir)
    address = run.address()
    acked, lock, stop = {}, threading.Lock(), threading.Event()

    def executor(slot):
        ex = FakeExecutor(address, run_dir, pid=50000 + slot, slot=slot)
        try:
            ex.welcome()
            while not stop.is_set():
                trial = ex.next_trial()
                value = slot + len(acked) / 1e6
                ex.final(trial["id"], value=value)
                ex.wait_ack(trial["id"])
                with lock:
                    acked[trial["id"]] = value
        except (OSError, EOFError, AssertionError):
            pass  # the engine is gone
        finally:
            ex.close()

    threads = [threading.Thread(target=executor, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    wait_for(lambda: len(acked) >= 300, what="300 acknowledged results")
    run.kill()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    kept = {t["id"]: t for t in trials_in(run_dir)}
    lost = [i for i, v in acked.items()
            if i not in kept or kept[i]["state"] != "FINISHED" or kept[i]["value"] != v]
    assert lost == [], f"{len(lost)} of {len(acked)} acknowledged results not stored"
    print(f"{len(acked)} acknowledged results, all stored; "
          f"{len(kept)} trials in the store")


def test_a_final_sent_again_after_a_reconnect_ends_the_trial_once(tmp_path):
    run_dir = tmp_path / "r"
    run = Run(tmp_path, experiment(tmp_path, num_trials=1), "--workers", 0,
              "--dir", run_dir)
    address = run.address()
    ex = FakeExecutor(address, run_dir, pid=4242)
    ex.welcome()
    trial = ex.next_trial()
    ex.final(trial["id"], value=0.5)
    ex.close()  # the connection drops before the ack arrives
    again = FakeExecutor(address, run_dir, pid=4242, trial=trial["id"])
    again.welcome()
    again.final(trial["id"], value=0.5)
    again.wait_ack(trial["id"])
    assert run.wait() == 0
    summary = show(run_dir)
    assert summary["finished"] == 1 and summary["failed"] == 0
    assert summary["trials"][0]["attempts"] == 1
    assert run.text().count(f"{trial['id']} FINISHED") == 1


def driver_killed_while_a_trial_runs(tmp_path, pid):
    """A run of 2 trials whose driver dies while an executor (process
    `pid`) runs the first, resumed. Returns the resumed Run, its address
    and run dir, and the trial."""
    run_dir = tmp_path / "r"
    run = Run(tmp_path, experiment(tmp_path, num_trials=2), "--workers", 0,
              "--dir", run_dir)
    address = run.address()
    ex = FakeExecutor(address, run_dir, pid=pid)
    ex.welcome()
    trial = ex.next_trial()
    wait_for(lambda: trials_in(run_dir, "RUNNING"), what="the trial stored as running")
    run.kill()
    again = Run(tmp_path, run_dir, "--workers", 0, command="resume")
    assert again.address() == address  # where its executors look for it
    return again, address, run_dir, trial


def test_an_executor_that_outlived_the_driver_delivers_to_the_resumed_one(tmp_path):
    again, address, run_dir, trial = driver_killed_while_a_trial_runs(tmp_path, 5151)
    back = FakeExecutor(address, run_dir, pid=5151, trial=trial["id"])
    back.welcome()
    assert back.heartbeat(trial["id"], [(0, 0.5)]) == "HB_OK"
    back.final(trial["id"], value=0.5)
    back.wait_ack(trial["id"])
    other = back.next_trial()
    back.final(other["id"], value=0.25)
    back.wait_ack(other["id"])
    back.close()
    assert again.wait() == 0, again.text()
    mine = [t for t in trials_in(run_dir) if t["id"] == trial["id"]][0]
    assert (mine["state"], mine["value"], mine["attempts"]) == ("FINISHED", 0.5, 1)
    assert f"trial {trial['id']}: taken back by its executor" in again.text()


def test_a_result_sent_again_while_the_next_trial_runs_counts_after_resume(tmp_path):
    # An executor runs its next trial while its last result waits for the
    # commit. The driver dies before that commit: the resumed driver has
    # the first trial back in its queue, and the executor's HELLO names
    # the trial it runs now. The first trial's result, sent again, still
    # counts: it came from the process that ran that attempt.
    again, address, run_dir, first = driver_killed_while_a_trial_runs(tmp_path, 6161)
    running_now = "00000000000000ab"  # the driver died before storing it
    ran_before = "00000000000000cd"  # ended there too, also never stored
    back = FakeExecutor(address, run_dir, pid=6161, trial=running_now)
    back.welcome()
    back.final(first["id"], value=0.5)
    back.wait_ack(first["id"])
    # Trials unknown here (the one it runs, one it ran): acknowledged, not
    # applied, and the executor stays.
    back.final(ran_before, value=0.125, req=8)
    back.wait_ack(ran_before)
    back.final(running_now, value=0.75, req=9)
    back.wait_ack(running_now)
    other = back.next_trial()
    assert other["id"] != first["id"]
    back.final(other["id"], value=0.25)
    back.wait_ack(other["id"])
    back.close()
    assert again.wait() == 0, again.text()
    mine = [t for t in trials_in(run_dir) if t["id"] == first["id"]][0]
    assert (mine["state"], mine["value"], mine["attempts"]) == ("FINISHED", 0.5, 1)


def test_a_late_final_from_a_lost_executor_does_not_count(tmp_path):
    run_dir = tmp_path / "r"
    run = Run(tmp_path, experiment(tmp_path, num_trials=1, liveness_timeout=1),
              "--workers", 0, "--dir", run_dir)
    address = run.address()
    old = FakeExecutor(address, run_dir, pid=1001)
    old.welcome()
    trial = old.next_trial()
    # old goes silent; after the liveness timeout the trial is someone else's
    new = FakeExecutor(address, run_dir, pid=1002)
    new.welcome()
    retried = new.next_trial(timeout=20)
    assert retried["id"] == trial["id"] and retried["attempt"] == 2
    assert old.closed_with_error() is None  # dropped without a word
    back = FakeExecutor(address, run_dir, pid=1001, trial=trial["id"])
    back.welcome()
    assert back.heartbeat(trial["id"], [(0, 99.0)]) == "HB_STOP"
    back.final(trial["id"], value=99.0)
    back.wait_ack(trial["id"])  # acknowledged, so it moves on, but ignored
    assert new.heartbeat(trial["id"], [(0, 0.25)]) == "HB_OK"
    new.final(trial["id"], value=0.25)
    new.wait_ack(trial["id"])
    assert run.wait() == 0
    [t] = trials_in(run_dir)
    assert (t["state"], t["value"], t["attempts"]) == ("FINISHED", 0.25, 2)
    assert "declared lost" in run.text()
    assert "no longer its own" in run.text()


def test_an_external_executor_on_slot_0_keeps_its_trial_when_local_slot_0_dies(tmp_path):
    run_dir = tmp_path / "r"
    run = Run(tmp_path, experiment(tmp_path, num_trials=3, train="fast_train:slow"),
              "--workers", 1, "--dir", run_dir)
    address = run.address()
    ex = FakeExecutor(address, run_dir, host="elsewhere", slot=0)
    ex.welcome()
    trial = ex.next_trial()
    local = wait_for(lambda: [t for t in trials_in(run_dir, "RUNNING")
                              if t["id"] != trial["id"]], what="a local trial")
    os.kill(local[0]["worker"]["pid"], signal.SIGKILL)
    wait_for(lambda: "retrying" in run.text(), what="the local trial's retry")
    mine = [t for t in trials_in(run_dir) if t["id"] == trial["id"]][0]
    assert (mine["state"], mine["attempts"]) == ("RUNNING", 1)
    ex.final(trial["id"], value=0.75)
    ex.wait_ack(trial["id"])
    ex.close()
    assert run.wait() == 0
    mine = [t for t in trials_in(run_dir) if t["id"] == trial["id"]][0]
    assert (mine["state"], mine["value"], mine["attempts"]) == ("FINISHED", 0.75, 1)


def test_a_host_whose_trials_keep_finishing_elsewhere_is_excluded(tmp_path):
    run_dir = tmp_path / "r"
    run = Run(tmp_path, experiment(tmp_path, num_trials=4, liveness_timeout=1,
                                   exclude_after=2),
              "--workers", 0, "--dir", run_dir)
    address = run.address()

    def good_runs_until(pid, done):
        """An executor on host "good" runs trials until `done()` holds
        (it may be handed one more before it leaves: that one is lost on
        "good" and, run again on "good", gives nobody a strike)."""
        ex = FakeExecutor(address, run_dir, host="good", pid=pid)
        ex.welcome()
        while not done():
            trial = ex.next_trial()
            ex.final(trial["id"], value=0.5)
            ex.wait_ack(trial["id"])
        ex.close()

    def finished(trial_id):
        return lambda: any(t["id"] == trial_id for t in trials_in(run_dir, "FINISHED"))

    for pid in (2001, 2002):
        flaky = FakeExecutor(address, run_dir, host="flaky", pid=pid)
        flaky.welcome()
        lost = flaky.next_trial()
        flaky.close()  # vanishes with its trial, which then ends on "good"
        wait_for(lambda: f"trial {lost['id']}: its executor disconnected" in run.text(),
                 what="the lost trial's retry")
        good_runs_until(3000 + pid, finished(lost["id"]))
    refused = FakeExecutor(address, run_dir, host="flaky", pid=2003)
    refusal = refused.closed_with_error()
    assert "excluded" in refusal and "finished on other hosts" in refusal
    good_runs_until(3003, lambda: len(trials_in(run_dir, "FINISHED")) == 4)
    assert run.wait() == 0, run.text()
    assert show(run_dir)["excluded_hosts"] == ["flaky"]
    assert "host flaky excluded" in run.text()
    assert "excluded hosts: flaky" in run.text()


@pytest.mark.parametrize("frame", ["short heartbeat", "short log", "bad json",
                                   "no trial id", "bad state"])
def test_malformed_frames_after_hello_close_that_executor_only(tmp_path, frame):
    from fakedriver import FINAL, HEARTBEAT, LOG
    run_dir = tmp_path / "r"
    run = Run(tmp_path, experiment(tmp_path, num_trials=1, liveness_timeout=1),
              "--workers", 0, "--dir", run_dir)
    address = run.address()
    bad = FakeExecutor(address, run_dir)
    bad.welcome()
    trial = bad.next_trial()
    if frame == "short heartbeat":
        bad.send(HEARTBEAT, b"\x00\x01")
    elif frame == "short log":
        bad.send(LOG, b"\x00")
    elif frame == "bad json":
        bad.send(FINAL, b"{not json", fid=3)
    elif frame == "no trial id":
        bad.final("0000000000000000", value=1.0)
    else:
        bad.final(trial["id"], state="RUNNING", value=1.0)
    error = bad.closed_with_error()
    assert error
    if frame == "bad json":
        assert "FINAL is not valid JSON" in error
    good = FakeExecutor(address, run_dir)
    good.welcome()
    retry = good.next_trial()
    assert retry["id"] == trial["id"]
    good.final(retry["id"], value=0.5)
    good.wait_ack(retry["id"])
    good.close()
    assert run.wait() == 0


def test_a_wrong_secret_with_garbage_identity_is_refused(tmp_path):
    run_dir = tmp_path / "r"
    run = Run(tmp_path, experiment(tmp_path, num_trials=1), "--workers", 1,
              "--dir", run_dir)
    ex = FakeExecutor(run.address(), run_dir, secret=b"\x00" * 32)
    ex.send_raw(b"")  # the HELLO went out with a wrong secret
    assert "secret" in ex.closed_with_error()
    assert run.wait() == 0
    assert (run_dir / "secret").stat().st_mode & 0o777 == 0o600


# ---- stalls, crashes, time limits ------------------------------------------

def gone(pid):
    try:
        os.kill(pid, 0)
        return False
    except ProcessLookupError:
        return True


def test_a_stalled_executor_is_declared_lost_and_its_trial_runs_elsewhere(tmp_path):
    """Its trial runs again elsewhere, and the stalled process, one the
    engine started, is ended: a fresh one takes its slot."""
    run_dir = tmp_path / "r"
    run = Run(tmp_path, experiment(tmp_path, num_trials=10, liveness_timeout=1),
              "--workers", 2, "--dir", run_dir)
    victim = wait_for(lambda: trials_in(run_dir, "RUNNING"), what="a running trial")[0]
    pid = victim["worker"]["pid"]
    os.kill(pid, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        wait_for(lambda: "declared lost" in run.text(), what="the stall to be noticed")
        detected = time.monotonic() - stopped
        wait_for(lambda: gone(pid), what="the stalled executor to be ended")
        retried = wait_for(lambda: [t for t in trials_in(run_dir)
                                    if t["id"] == victim["id"] and t["attempts"] >= 2],
                           what="the trial to run elsewhere")[0]
    finally:
        if not gone(pid):
            os.kill(pid, signal.SIGCONT)
    assert retried["worker"]["pid"] != pid
    assert f"slot {victim['worker']['slot']} exited (signal 9 (Killed)); " \
        "restarting it" in run.text()
    assert run.wait() == 0
    summary = show(run_dir)
    assert summary["finished"] == 10
    assert max(t["attempts"] for t in summary["trials"]) >= 2
    print(f"stall detected after {detected:.2f} s (liveness_timeout 1 s)")


def test_an_engine_stopped_for_a_while_blames_no_executor(tmp_path):
    """Ctrl-Z on the engine alone (its executors run in their own process
    groups): while it is stopped, nobody can be heard, and what the
    executors sent meanwhile waits to be read. None is declared lost, and
    no metric point is lost."""
    run_dir = tmp_path / "r"
    run = Run(tmp_path, experiment(tmp_path, num_trials=6, liveness_timeout=1),
              "--workers", 2, "--dir", run_dir)
    wait_for(lambda: trials_in(run_dir, "RUNNING"), what="a running trial")
    run.proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(3)  # three liveness timeouts
    finally:
        run.proc.send_signal(signal.SIGCONT)
    assert run.wait() == 0
    assert "declared lost" not in run.text()
    trials = show(run_dir)["trials"]
    assert [(t["state"], t["attempts"], t["steps"]) for t in trials] == \
        [("FINISHED", 1, 5)] * 6


def test_a_trial_over_its_time_limit_fails_and_the_run_goes_on(tmp_path):
    run_dir = tmp_path / "r"
    script = experiment(tmp_path, num_trials=2, train="fast_train:sleepy",
                        trial_timeout=1)
    run = Run(tmp_path, script, "--workers", 1, "--dir", run_dir)
    assert run.wait() == 1  # nothing finished
    trials = trials_in(run_dir)
    assert [t["state"] for t in trials] == ["FAILED", "FAILED"]
    assert all("trial_timeout" in t["error"] for t in trials)


def run_executor(run, run_dir, slot):
    """A maggy-executor started by hand, as Spark starts them; its end."""
    host, port = run.address()
    env = {**os.environ, "MAGGY_DRIVER": f"{host}:{port}",
           "MAGGY_SECRET_FILE": str(run_dir / "secret")}
    return subprocess.run([str(ENGINE.parent / "maggy-executor"), "--slot",
                           str(slot)], env=env, timeout=30,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True)


def test_an_executor_the_engine_did_not_start_ends_when_its_trial_times_out(tmp_path):
    """As on Spark: the engine cannot kill the process, so it tells it to
    end (RECYCLE); the executor does, long before the training function
    would return, and whoever started it starts a fresh one."""
    run_dir = tmp_path / "r"
    script = experiment(tmp_path, num_trials=2, train="fast_train:sleepy",
                        trial_timeout=1)
    run = Run(tmp_path, script, "--workers", 0, "--dir", run_dir)
    for slot in range(2):  # each trial sleeps 60 s
        executor = run_executor(run, run_dir, slot)
        assert executor.returncode == 5, executor.stderr
        assert "ran out of time" in executor.stderr
    assert run.wait() == 1  # nothing finished
    trials = trials_in(run_dir)
    assert [t["state"] for t in trials] == ["FAILED", "FAILED"]
    assert all("trial_timeout" in t["error"] for t in trials)
    assert len({t["worker"]["pid"] for t in trials}) == 2


def test_an_executor_started_by_hand_says_why_it_ends_after_max_trials(tmp_path):
    run_dir = tmp_path / "r"
    script = experiment(tmp_path, num_trials=3, max_trials_per_executor=2)
    run = Run(tmp_path, script, "--workers", 0, "--dir", run_dir)
    first = run_executor(run, run_dir, 0)
    assert first.returncode == 5, first.stderr
    assert "max_trials_per_executor (2 trials): this executor ends" in first.stderr
    second = run_executor(run, run_dir, 0)
    assert second.returncode == 0, second.stderr
    assert run.wait() == 0
    assert [t["state"] for t in trials_in(run_dir)] == ["FINISHED"] * 3


def test_a_trial_that_keeps_killing_its_executor_fails_after_max_attempts(tmp_path):
    run_dir = tmp_path / "r"
    script = experiment(tmp_path, num_trials=1, train="fast_train:crash",
                        max_attempts=2)
    run = Run(tmp_path, script, "--workers", 1, "--dir", run_dir)
    assert run.wait() == 1
    [t] = trials_in(run_dir)
    assert (t["state"], t["attempts"]) == ("FAILED", 2)
    assert "its executor process exited (exit code 3)" in t["error"]


def test_trials_that_kill_their_executor_fail_and_the_run_goes_on(engine, tmp_path):
    """Half the trials crash their executor at once: each fails after its
    max_attempts, and the executor, which did start, is started again each
    time, however quick the deaths (they are the trials', not a broken
    set-up's)."""
    run_dir = tmp_path / "r"
    script = experiment(tmp_path, num_trials=10, train="fast_train:crash_on_b",
                        max_attempts=2)
    done = engine.run(script, "--workers", 1, "--dir", run_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    trials = trials_in(run_dir)
    assert len(trials) == 10
    for t in trials:
        assert t["state"] == ("FAILED" if t["params"]["mode"] == "b" else "FINISHED")
    assert any(t["params"]["mode"] == "b" for t in trials)


def test_executors_the_engine_ends_for_time_outs_are_not_a_broken_set_up(engine, tmp_path):
    """Nine trials in a row run out of time, under a second each: each
    executor is ended by the engine and started again, never taken for one
    that cannot start."""
    run_dir = tmp_path / "r"
    script = experiment(tmp_path, num_trials=9, train="fast_train:sleepy",
                        trial_timeout=0.3, max_attempts=1, fail_fast=0)
    done = engine.run(script, "--workers", 1, "--dir", run_dir)
    assert done.returncode == 1, done.stdout + done.stderr  # nothing finished
    assert "right after starting" not in done.stdout + done.stderr
    trials = trials_in(run_dir)
    assert len(trials) == 9
    assert all(t["state"] == "FAILED" and "trial_timeout" in t["error"] for t in trials)


def process_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_what_a_trial_started_ends_with_its_executor(engine, tmp_path):
    """A child process of the training function does not outlive the
    executor that the trial took down."""
    run_dir, pid_file = tmp_path / "r", tmp_path / "child.pid"
    script = experiment(tmp_path, num_trials=1, train="fast_train:leaves_a_child",
                        max_attempts=1)
    done = engine.run(script, "--workers", 1, "--dir", run_dir,
                      env={"CHILD_PID_FILE": str(pid_file)})
    assert done.returncode == 1, done.stdout + done.stderr  # nothing finished
    child = int(pid_file.read_text())
    wait_for(lambda: not process_alive(child), timeout=10, what="the child's end")


def test_a_local_executor_ends_with_the_engine_whatever_its_trial_catches(tmp_path):
    """kill -9 of the engine: its executors end, even one whose training
    function catches SIGTERM, and so does what the trial started."""
    run_dir, pid_file = tmp_path / "r", tmp_path / "executor.pid"
    script = experiment(tmp_path, num_trials=1,
                        train="fast_train:keeps_going_on_sigterm")
    os.environ["EXECUTOR_PID_FILE"] = str(pid_file)
    try:
        run = Run(tmp_path, script, "--workers", 1, "--dir", run_dir)
        wait_for(pid_file.exists, what="the trial")
    finally:
        del os.environ["EXECUTOR_PID_FILE"]
    executor, child = map(int, pid_file.read_text().split())
    run.kill()
    wait_for(lambda: not process_alive(executor), timeout=10, what="the executor's end")
    wait_for(lambda: not process_alive(child), timeout=10, what="the child's end")


def test_a_killed_engine_counts_its_time_up_to_its_last_commit(tmp_path):
    """No trial ended before the kill, but points came in for a second: the
    interrupted run lasted that long, not the moment its trial started."""
    run_dir = tmp_path / "r"
    run = Run(tmp_path, experiment(tmp_path, num_trials=1, train="fast_train:slow"),
              "--workers", 1, "--dir", run_dir)
    wait_for(lambda: [t for t in trials_in(run_dir, "RUNNING") if t["steps"] >= 10],
             what="ten points of the trial")
    run.kill()
    summary = show(run_dir)
    assert summary["status"] == "interrupted"
    assert summary["duration_s"] >= 0.9, summary["duration_s"]


def test_a_new_attempt_starts_the_trials_history_over(engine, tmp_path):
    """The points of an attempt that died are not mixed into the next
    one's: export, show and the dashboard read the new attempt's alone."""
    run_dir = tmp_path / "r"
    script = experiment(tmp_path, num_trials=1, train="fast_train:crash_once",
                        max_attempts=2)
    done = engine.run(script, "--workers", 1, "--dir", run_dir,
                      env={"CRASH_ONCE_MARK": str(tmp_path / "crashed")})
    assert done.returncode == 0, done.stdout + done.stderr
    [t] = trials_in(run_dir)
    assert (t["state"], t["attempts"], t["steps"]) == ("FINISHED", 2, 3)
    history = subprocess.run([str(ENGINE), "export", str(run_dir), "--history",
                              "--format", "json"], capture_output=True, text=True,
                             check=True).stdout
    assert [(p["step"], p["value"]) for p in json.loads(history)] == \
        [(s, t["params"]["x"] + s) for s in range(3)]


# ---- honest end states ------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP])
def test_interrupted_trials_stay_pending_and_resume_finishes_them(tmp_path, sig):
    """Ctrl-C, or the terminal closed (SIGHUP): the same clean stop."""
    run_dir = tmp_path / "r"
    run = Run(tmp_path, experiment(tmp_path, num_trials=6, train="fast_train:slow"),
              "--workers", 2, "--dir", run_dir)
    wait_for(lambda: len(trials_in(run_dir, "RUNNING")) == 2, what="two running trials")
    run.proc.send_signal(sig)
    assert run.wait() == 130
    assert (run_dir / "summary.json").exists()
    assert f"`maggy-engine resume {run_dir}` continues it" in run.text()
    assert executor_pids(run.proc.pid) == []
    summary = show(run_dir)
    assert summary["status"] == "interrupted"
    assert summary["early_stopped"] == 0  # no rule stopped anything
    assert summary["running"] == 0 and summary["pending"] >= 2
    ended = summary["finished"] + summary["failed"]
    done = resume(run_dir, "--workers", 2)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (f"resuming: {ended} of 6 trials ended and are kept ({summary['finished']} finished, "
            f"0 early-stopped, {summary['failed']} failed); the other {6 - ended} run") in done.stdout
    summary = show(run_dir)
    assert summary["status"] == "finished" and summary["finished"] == 6


def test_resume_keeps_the_log_lines_written_before_the_crash(tmp_path):
    """The next attempt's lines follow the stored ones: a resumed run used
    to number its lines from 0 again, writing over what the killed one had
    stored."""
    run_dir = tmp_path / "r"
    run = Run(tmp_path, experiment(tmp_path, num_trials=3, train="fast_train:talkative"),
              "--workers", 1, "--dir", run_dir)

    def lines_by_trial():
        out = subprocess.run([str(ENGINE), "logs", str(run_dir)], capture_output=True,
                             text=True, timeout=60)  # no store yet: no lines
        by = {}
        for line in out.stdout.splitlines():
            by.setdefault(line.split(" ", 1)[0], []).append(line)
        return by
    # the first trial whole, the second part way
    wait_for(lambda: sorted(map(len, lines_by_trial().values())) >= [5, 20], 60,
             "a trial ended and another part way")
    run.kill()
    before = lines_by_trial()
    assert resume(run_dir, "--workers", 1).returncode == 0
    after = lines_by_trial()
    for trial, lines in before.items():
        assert after[trial][:len(lines)] == lines, trial
    interrupted = [t for t, lines in before.items() if len(lines) < 20]
    assert interrupted and len(after[interrupted[0]]) >= len(before[interrupted[0]]) + 20


def test_a_store_that_cannot_be_written_fails_the_run_and_resume_recovers(tmp_path):
    import resource

    def small_files():  # a "full disk": writes past 600 kB fail with EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (600_000, 600_000))

    run_dir = tmp_path / "r"
    script = experiment(tmp_path, num_trials=20, train="fast_train:chatty")
    full = subprocess.run([str(ENGINE), "run", str(script), "--workers", "2",
                           "--dir", str(run_dir)], preexec_fn=small_files,
                          env={**os.environ, "MAGGY_STORE_GIVE_UP_S": "2"},
                          capture_output=True, text=True, timeout=120)
    assert full.returncode == 1, full.stdout + full.stderr
    assert "cannot write the store" in full.stderr
    assert "writes are lost" in full.stderr
    assert "experiment faults: failed" in full.stdout
    assert "the store could not be written for" in full.stdout
    kept = {t["id"]: t["value"] for t in trials_in(run_dir, "FINISHED")}
    assert 0 < len(kept) < 20
    assert show(run_dir)["status"] == "interrupted"
    done = resume(run_dir, "--workers", 2)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = show(run_dir)
    assert summary["finished"] == 20 and len(summary["trials"]) == 20
    assert all({t["id"]: t["value"] for t in summary["trials"]}[i] == v
               for i, v in kept.items())


@pytest.mark.parametrize("train, says", [("wrong_key", "score"),
                                         ("metric_as_text", "'score' is str")])
def test_every_trial_failing_alike_stops_early_and_exits_1(tmp_path, train, says):
    """Alike: the same error but for the values in it (metric_as_text's
    errors each quote their own value)."""
    run_dir = tmp_path / "r"
    script = experiment(tmp_path, num_trials=20, train=f"fast_train:{train}")
    run = Run(tmp_path, script, "--workers", 1, "--dir", run_dir)
    assert run.wait() == 1
    summary = show(run_dir)
    assert summary["status"] == "failed"
    assert "the first 3 trials all failed" in summary["error"]
    assert says in summary["error"]
    assert len(summary["trials"]) < 20


def test_every_trial_failing_in_different_ways_stops_too(tmp_path):
    """Failures that differ stop the run after 4 x fail_fast of them, when
    none has finished."""
    run_dir = tmp_path / "r"
    script = experiment(tmp_path, num_trials=40, train="fast_train:wrong_key_or_raises")
    run = Run(tmp_path, script, "--workers", 1, "--dir", run_dir)
    assert run.wait() == 1
    summary = show(run_dir)
    assert summary["status"] == "failed"
    assert summary["error"].startswith(
        "the first 12 trials all failed, with different errors, and none finished")
    assert "x too small" in summary["error"] and "scroe" in summary["error"]
    assert summary["failed"] == 12 and len(summary["trials"]) < 40


def test_steps_must_increase_and_values_be_finite(tmp_path):
    run_dir = tmp_path / "r"
    script = experiment(tmp_path, num_trials=1, train="fast_train:unordered")
    run = Run(tmp_path, script, "--workers", 1, "--dir", run_dir)
    assert run.wait() == 0
    [t] = trials_in(run_dir)
    logs = subprocess.run([str(ENGINE), "logs", str(run_dir), t["id"]],
                          capture_output=True, text=True, check=True).stdout
    assert "steps must increase" in logs and "not a finite number" in logs
    assert t["steps"] == 5  # 0, 1, 5, 6, 8: the step 3, the second 5, the NaN refused
    assert t["ignored_points"] == 3


# ---- resume -----------------------------------------------------------------

def test_resume_of_a_finished_experiment_does_nothing(tmp_path):
    run_dir = tmp_path / "r"
    run = Run(tmp_path, experiment(tmp_path, num_trials=2), "--workers", 1,
              "--dir", run_dir)
    assert run.wait() == 0
    again = resume(run_dir)
    assert again.returncode == 0
    assert "finished already" in again.stdout


def test_resume_refuses_a_changed_script_unless_forced(tmp_path):
    run_dir = tmp_path / "r"
    script = experiment(tmp_path, num_trials=3, train="fast_train:slow")
    run = Run(tmp_path, script, "--workers", 1, "--dir", run_dir)
    wait_for(lambda: trials_in(run_dir, "RUNNING"), what="a running trial")
    run.kill()
    script.write_text(script.read_text().replace("seed = 3", "seed = 4"))
    refused = resume(run_dir)
    assert refused.returncode == 2
    assert "changed since the experiment started" in refused.stderr
    forced = resume(run_dir, "--force", "--workers", 1)
    assert forced.returncode == 0, forced.stdout + forced.stderr


def trial_order(run_dir):
    """(id, value) of each trial in creation order (the summary's order)."""
    return [(t["id"], t["value"]) for t in trials_in(run_dir)]


@pytest.mark.parametrize("optimizer,train", [
    ('"random"', "fast_train:train"),
    ("maggy.optimizers.tpe { n_startup = 3 }", "fast_train:train"),
    ("maggy.optimizers.asha { eta = 2, min_budget = 1, max_budget = 4 }",
     "fast_train:budgeted"),
])
def test_a_resumed_experiment_suggests_what_an_uninterrupted_one_does(
        tmp_path, optimizer, train):
    script = experiment(tmp_path, num_trials=12, optimizer=optimizer, train=train)
    whole = tmp_path / "whole"
    assert Run(tmp_path, script, "--workers", 1, "--dir", whole).wait() == 0
    cut = tmp_path / "cut"
    run = Run(tmp_path, script, "--workers", 1, "--dir", cut)
    wait_for(lambda: len(trials_in(cut, "FINISHED")) >= 5, what="five results")
    run.kill()
    done = resume(cut, "--workers", 1)
    assert done.returncode == 0, done.stdout + done.stderr
    assert trial_order(cut) == trial_order(whole)


# ---- chaos -------------------------------------------------------------------

def children(pid):
    """(pid, age in seconds) of each executor process of the engine."""
    out = []
    for child in executor_pids(pid):
        try:
            ticks = int(open(f"/proc/{child}/stat").read().rsplit(")", 1)[1].split()[19])
            uptime = float(open("/proc/uptime").read().split()[0])
        except (OSError, IndexError, ValueError):
            continue
        out.append((child, uptime - ticks / os.sysconf("SC_CLK_TCK")))
    return out


def test_chaos_kills_stalls_and_a_driver_crash_lose_nothing_and_run_nothing_twice(tmp_path):
    import random
    rng = random.Random(7)
    run_dir = tmp_path / "r"
    script = FIXTURES / "exp_chaos.lua"
    run = Run(tmp_path, script, "--workers", 3, "--dir", run_dir)
    run.address()
    kills = stalls = 0
    while kills < 12 or stalls < 1:
        assert run.proc.poll() is None, "the run ended before the chaos did"
        time.sleep(rng.uniform(0.2, 0.6))
        # executors younger than 2.5 s are spared: a slot that dies right
        # after each start is given up on (the launcher's own rule)
        grown = sorted(p for p, age in children(run.proc.pid) if age > 2.5)
        if not grown:
            continue
        victim = rng.choice(grown)
        if kills == 6 and stalls == 0:
            os.kill(victim, signal.SIGSTOP)
            time.sleep(2.5)  # well past liveness_timeout = 1.5 s
            if not gone(victim):  # declared lost, the engine ends it
                os.kill(victim, signal.SIGCONT)
            stalls += 1
        else:
            os.kill(victim, signal.SIGKILL)
            kills += 1
    before = {t["id"]: t["value"] for t in trials_in(run_dir, "FINISHED")}
    run.kill()
    assert show(run_dir)["status"] == "interrupted"
    done = resume(run_dir, "--workers", 3)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = show(run_dir)
    ids = [t["id"] for t in summary["trials"]]
    assert len(set(ids)) == len(ids) == 120 and summary["finished"] == 120
    assert summary["pending"] == 0 and summary["running"] == 0
    after = {t["id"]: t["value"] for t in summary["trials"]}
    assert all(after[i] == v for i, v in before.items()), "a stored result changed"
    again = [i for i in before if f"{i} FINISHED" in done.stdout]
    assert again == [], "a result stored before the crash ran again"
    once = re.findall(r"\] (\w{16}) FINISHED", run.text() + done.stdout)
    twice = {i for i in once if once.count(i) > 1 and i in before}
    assert not twice
    subprocess.run(["mdb_stat", "-a", str(run_dir / "store")], check=True,
                   capture_output=True)
    retries = sum(t["attempts"] for t in summary["trials"]) - 120
    print(f"chaos: {kills} executor kills, {stalls} stall, 1 engine kill, "
          f"{retries} retries, 0 duplicates, 0 lost, {len(before)} results "
          f"stored before the engine kill")
