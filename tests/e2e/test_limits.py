"""Bounded everything, for executors that did authenticate: params too large
to send, a training function that prints without end, a fatal error from
one executor among several, more executors starting at once than may wait
in the handshake (docs/protocol.md, "Limits")."""
import json
import resource
import signal
import socket
import subprocess
import threading

import pytest

from conftest import ENGINE, Run, experiment, show, wait_for
from fakedriver import BYE, ERROR, TRIAL, FrameTimeout
from fakeexecutor import FakeExecutor


def test_params_too_large_to_send_fail_that_trial_only(tmp_path):
    space = ('maggy.searchspace { x = maggy.double(0, 1), mode = '
             'maggy.categorical { string.rep("x", 300000), "small" } }')
    run_dir = tmp_path / "r"
    run = Run(tmp_path, experiment(tmp_path, space=space, num_trials=8,
                                   fail_fast=0, train="fast_train:train"),
              "--workers", 1, "--dir", run_dir, "--quiet")
    assert run.wait() == 0, run.text()[-2000:]
    trials = json.loads((run_dir / "summary.json").read_text())["trials"]
    big = [t for t in trials if t["params"]["mode"] != "small"]
    small = [t for t in trials if t["params"]["mode"] == "small"]
    assert big and small
    assert all(t["state"] == "FAILED" and t["attempts"] == 0 for t in big)
    assert all("over the limit of 256 KiB" in t["error"] for t in big)
    assert all(t["state"] == "FINISHED" for t in small)


def test_output_past_the_limit_is_dropped_with_a_note(tmp_path):
    run_dir = tmp_path / "r"
    run = Run(tmp_path, experiment(tmp_path, num_trials=1,
                                   train="fast_train:floods_output"),
              "--workers", 1, "--dir", run_dir, "--quiet")
    assert run.wait() == 0, run.text()[-2000:]
    logs = subprocess.run([str(ENGINE), "logs", str(run_dir)],
                          capture_output=True, text=True, timeout=120).stdout
    assert len(logs) < 17 << 20
    assert "the rest of this trial's output is dropped" in logs
    assert "bytes of output were dropped" in logs


def test_a_long_curve_is_thinned_not_held_whole(tmp_path):
    """A trial that reports every batch of a long run: its first 4096
    points are kept, then every 2nd, every 4th...: the engine's memory is
    bounded and the curve keeps its shape, to its last step, which is kept
    even where thinning left it out. Steps past 2^53 (what Lua's numbers
    hold exactly) are refused."""
    run_dir = tmp_path / "r"
    run = Run(tmp_path, experiment(tmp_path, num_trials=1), "--workers", 0,
              "--dir", run_dir)
    ex = FakeExecutor(run.address(), run_dir)
    ex.welcome()
    trial = ex.next_trial()
    n = 4096 * 7  # full, then 2 x 4096 at every 2nd, 4 x 4096 at every 4th
    for first in range(1, n + 1, 4096):
        assert ex.heartbeat(trial["id"], [(s, s / n) for s in
                                          range(first, first + 4096)]) == "HB_OK"
    assert ex.heartbeat(trial["id"], [(2 ** 53 + 1, 1.0)]) == "HB_OK"
    ex.final(trial["id"], value=1.0)
    ex.wait_ack(trial["id"])
    assert run.wait() == 0, run.text()[-2000:]
    history = subprocess.run([str(ENGINE), "export", str(run_dir), "--history"],
                             capture_output=True, text=True, timeout=120).stdout
    steps = [int(line.split(",")[1]) for line in history.splitlines()[1:]]
    expected = list(range(1, 4097)) + list(range(4097, 4097 + 8192, 2)) + \
        list(range(4097 + 8192, n + 1, 4))
    assert expected[-1] == n - 3  # thinning alone leaves out the last step
    assert steps == expected + [n]
    logs = subprocess.run([str(ENGINE), "logs", str(run_dir)],
                          capture_output=True, text=True, timeout=120).stdout
    assert "more than 4096 metric points: from step 4098 on" in logs
    assert "steps go up to 2^53" in logs


def test_output_outside_trials_past_the_limit_stays_dropped(tmp_path):
    """An executor's output outside trials is bounded like a trial's: past
    16 MiB every further line is dropped, not only the first."""
    run_dir = tmp_path / "r"
    run = Run(tmp_path, experiment(tmp_path, num_trials=1), "--workers", 0,
              "--dir", run_dir)
    ex = FakeExecutor(run.address(), run_dir)
    ex.welcome()
    line = "x" * (256 << 10)
    for _ in range(64 + 16):  # 20 MiB, 4 of them past the limit
        ex.log("0000000000000000", line)
    trial = ex.next_trial()
    ex.final(trial["id"], value=1.0)
    ex.wait_ack(trial["id"])
    assert run.wait() == 0, run.text()[-2000:]
    assert run.text().count("outside trials: the rest is dropped") == 1
    logs = subprocess.run([str(ENGINE), "logs", str(run_dir)],
                          capture_output=True, text=True, timeout=120).stdout
    assert logs.count(line) == 64  # 16 MiB stored, the rest dropped


def fatal(ex, message):
    ex.send(ERROR, {"error": message, "fatal": True})
    ex.close()


def test_a_fatal_error_from_one_host_excludes_that_host_only(tmp_path):
    run_dir = tmp_path / "r"
    run = Run(tmp_path, experiment(tmp_path, num_trials=2), "--workers", 0,
              "--dir", run_dir)
    address = run.address()
    good = FakeExecutor(address, run_dir, host="good-node")
    good.welcome()
    broken = FakeExecutor(address, run_dir, host="broken-node")
    broken.welcome()
    fatal(broken, "cannot import module 'train': No module named 'torch'")
    wait_for(lambda: "host broken-node excluded" in run.text(), 30,
             "the broken host to be excluded")
    again = FakeExecutor(address, run_dir, host="broken-node")
    refusal = again.closed_with_error()
    assert "excluded" in refusal and "No module named 'torch'" in refusal
    good.finish_trials(2)
    assert run.wait() == 0, run.text()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["finished"] == 2
    assert summary["excluded_hosts"] == ["broken-node"]


def test_a_fatal_error_on_a_host_that_finishes_trials_drops_that_executor_only(tmp_path):
    run_dir = tmp_path / "r"
    run = Run(tmp_path, experiment(tmp_path, num_trials=3), "--workers", 0,
              "--dir", run_dir)
    address = run.address()
    good = FakeExecutor(address, run_dir, host="shared-node")
    good.welcome()
    good.finish_trials(1)
    for slot in (1, 2):  # a supervisor that starts the broken one again
        broken = FakeExecutor(address, run_dir, host="shared-node", slot=slot)
        broken.welcome()
        fatal(broken, "cannot import module 'train': No module named 'torch'")
    wait_for(lambda: "its other executors finish trials" in run.text(), 30,
             "the engine to keep the host")
    good.finish_trials(2)
    assert run.wait() == 0, run.text()
    assert run.text().count("cannot work") == 1
    assert "excluded" not in run.text()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["finished"] == 3 and summary["excluded_hosts"] == []


def test_a_resume_gives_an_excluded_host_another_chance(tmp_path):
    run_dir = tmp_path / "r"
    run = Run(tmp_path, experiment(tmp_path, num_trials=2), "--workers", 0,
              "--dir", run_dir)
    address = run.address()
    broken = FakeExecutor(address, run_dir, host="fixed-node")
    broken.welcome()
    fatal(broken, "cannot import module 'train': No module named 'torch'")
    wait_for(lambda: "host fixed-node excluded" in run.text(), 30,
             "the broken host to be excluded")
    run.proc.send_signal(signal.SIGINT)
    assert run.wait() == 130, run.text()
    assert show(run_dir)["excluded_hosts"] == ["fixed-node"]
    again = Run(tmp_path, run_dir, "--workers", 0, command="resume")
    fixed = FakeExecutor(again.address(), run_dir, host="fixed-node")
    fixed.welcome()
    fixed.finish_trials(2)
    assert again.wait() == 0, again.text()
    assert '[engine] hosts excluded before the resume get another chance: ["fixed-node"]' \
        in again.text()
    assert json.loads((run_dir / "summary.json").read_text())["excluded_hosts"] == []


def test_the_run_fails_when_every_executor_is_fatal(tmp_path):
    run_dir = tmp_path / "r"
    run = Run(tmp_path, experiment(tmp_path, num_trials=2), "--workers", 0,
              "--dir", run_dir)
    address = run.address()
    for host in ("a-node", "b-node"):
        ex = FakeExecutor(address, run_dir, host=host)
        ex.welcome()
        fatal(ex, "cannot import module 'train'")
    assert run.wait() == 1, run.text()
    assert "no executor is left" in run.text()
    assert "cannot import module 'train'" in run.text()


BURST = 600  # past the 512 connections that may wait in the handshake


@pytest.fixture
def burst_descriptors():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4 * BURST:
        pytest.skip(f"needs {4 * BURST} descriptors, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 4 * BURST), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_burst_of_executors_past_the_handshake_cap_all_get_in(
        tmp_path, burst_descriptors):
    # A cluster's executors all start at once: every connection is open
    # before the first HELLO is sent. The ones past the cap wait in the
    # kernel's queue while the first ones finish their handshake; none is
    # turned away.
    run_dir = tmp_path / "r"
    run = Run(tmp_path, experiment(tmp_path, num_trials=BURST // 10),
              "--workers", 0, "--dir", run_dir, "--quiet")
    address = run.address()
    socks = [socket.create_connection(address, timeout=10) for _ in range(BURST)]
    welcomed, refused, ran = [], [], []

    def executor(slot):
        try:
            ex = FakeExecutor(address, run_dir, host=f"node{slot}", slot=slot,
                              sock=socks[slot])
            ex.welcome()
        except (AssertionError, OSError, FrameTimeout) as e:
            refused.append(f"{slot}: {e}")
            return
        welcomed.append(slot)
        while True:  # trials until the engine says BYE
            try:
                ftype, _, body = ex.expect(TRIAL, BYE, timeout=1)
            except FrameTimeout:
                ex.heartbeat(None)  # idle, as a real executor
                continue
            if ftype == BYE:
                break
            trial = json.loads(body)
            ex.final(trial["id"], value=0.5)
            ex.wait_ack(trial["id"])
            ran.append(trial["id"])
        ex.close()

    threads = [threading.Thread(target=executor, args=(i,), daemon=True)
               for i in range(BURST)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert run.wait() == 0, run.text()[-2000:]
    assert refused == []
    assert len(welcomed) == BURST
    assert len(ran) == BURST // 10
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["connections"]["evicted"] == 0
