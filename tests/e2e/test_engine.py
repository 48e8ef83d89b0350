"""End-to-end tests of maggy-engine: the real engine, the real executors, the
real store, on fixture experiments and on the quickstart example."""
import json
import os
import signal
import socket
import struct
import subprocess

import shutil

import pytest

import fakedriver
from conftest import ENGINE, FIXTURES, ROOT, experiment, wait_for

FINAL_STATES = {"FINISHED", "EARLY_STOPPED", "FAILED"}


def frame(msg_type, body=b"", req_id=0):
    return struct.pack(">HBBIII", fakedriver.MAGIC, fakedriver.VERSION,
                       msg_type, req_id, len(body), 0) + body


def read_frames(sock):
    """Every frame the server sends until it closes the connection."""
    data = b""
    sock.settimeout(20)
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    frames = []
    while len(data) >= 16:
        _, _, msg_type, _, length, _ = struct.unpack(">HBBIII", data[:16])
        frames.append((msg_type, data[16:16 + length]))
        data = data[16 + length:]
    return frames


def stored(engine, run_dir):
    try:
        return engine.show(run_dir)
    except subprocess.CalledProcessError:
        return None


def check_complete(summary, num_trials, killed=False):
    """Every trial ended; in a run where nothing was killed, each ran once."""
    assert len(summary["trials"]) == num_trials
    assert all(t["state"] in FINAL_STATES for t in summary["trials"])
    if not killed:
        assert [t["attempts"] for t in summary["trials"]] == [1] * num_trials, \
            "a trial ran more than once"
    assert (summary["finished"] + summary["early_stopped"] + summary["failed"]
            == num_trials)


def test_quickstart_runs_every_trial_once(engine, tmp_path):
    run_dir = tmp_path / "qs"
    out = engine.run(ROOT / "examples/quickstart/experiment.lua",
                     "--workers", 2, "--dir", run_dir)
    assert out.returncode == 0, out.stdout + out.stderr
    summary = engine.summary(run_dir)
    assert summary["status"] == "finished"
    check_complete(summary, 24)
    assert summary["early_stopped"] > 0, "the median rule stopped nothing"

    # summary.json says what the store says
    assert engine.show(run_dir) == summary

    # the best is the best of the stored finals
    finals = [t for t in summary["trials"]
              if t["state"] in ("FINISHED", "EARLY_STOPPED") and t["value"] is not None]
    best = max(finals, key=lambda t: t["value"])
    assert summary["best"]["trial_id"] == best["id"]
    assert summary["best"]["value"] == best["value"]
    assert summary["best"]["params"] == best["params"]

    # metric histories were stored; stopped trials stopped early
    assert all(t["steps"] > 0 for t in summary["trials"])
    full = max(t["steps"] for t in summary["trials"])
    assert all(t["steps"] < full for t in summary["trials"]
               if t["state"] == "EARLY_STOPPED")

    # the training function's prints reach the console with the trial id
    finished = [t["id"] for t in summary["trials"] if t["state"] == "FINISHED"]
    assert any(f"[{tid}] done: lr=" in out.stdout for tid in finished)

    # ... and into the store, per trial
    logs = engine.logs(run_dir, finished[0])
    assert logs.startswith(f"[{finished[0]} stdout] done: lr=")
    assert len(engine.logs(run_dir).splitlines()) >= len(finished)


def test_failing_trials_keep_their_tracebacks(engine, tmp_path):
    out = engine.run(FIXTURES / "exp_failing.lua", "--workers", 2, "--dir", tmp_path / "r")
    assert out.returncode == 0, out.stdout + out.stderr
    summary = engine.summary(tmp_path / "r")
    check_complete(summary, 15)
    failed = [t for t in summary["trials"] if t["state"] == "FAILED"]
    others = [t for t in summary["trials"] if t["state"] != "FAILED"]
    assert failed and others
    for t in failed:
        assert t["params"]["mode"] == "boom"
        assert "Traceback" in t["error"]
        assert "ValueError: cannot train with mode='boom'" in t["error"]
        assert t["value"] is None
    assert all(t["params"]["mode"] != "boom" for t in others)
    assert all(t["outputs"]["mode"] == t["params"]["mode"] for t in others
               if t["state"] == "FINISHED")
    assert "ValueError: cannot train with mode='boom'" in out.stdout


def test_grid_runs_each_point_once(engine, tmp_path):
    out = engine.run(FIXTURES / "exp_grid.lua", "--workers", 2, "--dir", tmp_path / "g")
    assert out.returncode == 0, out.stdout + out.stderr
    summary = engine.summary(tmp_path / "g")
    check_complete(summary, 6)
    points = {(t["params"]["x"], t["params"]["mode"]) for t in summary["trials"]}
    assert points == {(x, m) for x in (0.2, 0.5, 0.8) for m in ("a", "b")}


def test_wrong_secret_is_refused_and_the_run_goes_on(engine, tmp_path):
    proc, addr = engine.start(FIXTURES / "exp_fast.lua", "--workers", 2,
                              "--dir", tmp_path / "r")
    with socket.create_connection(addr) as sock:
        sock.sendall(frame(fakedriver.HELLO, b"\x00" * 64 + b'{"slot": 9}'))
        frames = read_frames(sock)
    assert [t for t, _ in frames] == [fakedriver.CHALLENGE, fakedriver.ERROR], \
        "expected a CHALLENGE, one ERROR frame, then close"
    assert "secret" in json.loads(frames[1][1])["error"]
    rest, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, rest
    assert "not signed with this experiment's secret" in rest
    check_complete(engine.summary(tmp_path / "r"), 12)


def test_garbage_closes_only_that_connection(engine, tmp_path):
    proc, addr = engine.start(FIXTURES / "exp_fast.lua", "--workers", 2,
                              "--dir", tmp_path / "r")
    bad_inputs = [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        os.urandom(64),
        frame(fakedriver.HELLO, b"x" * 5000),  # a HELLO over its limit
        struct.pack(">HBBIII", fakedriver.MAGIC, 1, 1, 0, 90, 0),  # version 1
        frame(fakedriver.HEARTBEAT, b"x" * 12),  # a heartbeat before HELLO
    ]
    for data in bad_inputs:
        with socket.create_connection(addr) as sock:
            sock.sendall(data)
            frames = read_frames(sock)
        assert frames and frames[-1][0] == fakedriver.ERROR, \
            f"no ERROR frame for {data[:20]!r}"
    rest, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, rest
    check_complete(engine.summary(tmp_path / "r"), 12)


def test_lua_syntax_error_names_file_and_line(engine, tmp_path):
    out = engine.run(FIXTURES / "exp_syntax_error.lua", "--dir", tmp_path / "r")
    assert out.returncode == 2
    assert "exp_syntax_error.lua:6:" in out.stderr
    assert not (tmp_path / "r" / "store").exists()


def test_error_in_suggest_names_file_and_line(engine, tmp_path):
    out = engine.run(FIXTURES / "exp_suggest_error.lua", "--workers", 1,
                     "--dir", tmp_path / "r")
    assert out.returncode == 1, out.stdout + out.stderr
    summary = engine.summary(tmp_path / "r")
    assert summary["status"] == "failed"
    assert "exp_suggest_error.lua:11:" in summary["error"]
    assert "exp_suggest_error.lua:11:" in out.stdout + out.stderr
    # what ran before the error is kept, and nothing is left RUNNING
    assert len(summary["trials"]) == 2
    assert all(t["state"] != "RUNNING" for t in summary["trials"])
    assert engine.show(tmp_path / "r") == summary


def test_endless_strategy_hits_the_time_limit(engine, tmp_path):
    out = engine.run(FIXTURES / "exp_endless.lua", "--workers", 1,
                     "--dir", tmp_path / "r", timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    summary = engine.summary(tmp_path / "r")
    assert summary["status"] == "failed"
    assert "time limit" in summary["error"]


# A loop the interpreter runs (error() aborts every trace, keeping it out of JIT
# traces) is interrupted; a loop compiled to a trace, or one that catches
# every interruption, cannot be, and is abandoned after a grace period. Either way the run fails and says why.
LOOPS = {
    "interpreted": "while true do pcall(error, \"x\") end",
    "interpreted, catching errors": "while true do pcall(function() "
                                    "while true do pcall(error, \"x\") end end) end",
    "compiled": "local n = 0 while true do n = n + 1 end",
}
HOOKS = {
    "observe": ("optimizer", "{ suggest = function(self, ctx) return "
                "ctx.space:sample(ctx.rng) end, observe = function() %s end }"),
    "check": ("earlystop", "{ check = function() %s end }"),
    "finalize": ("optimizer", "{ suggest = function(self, ctx) return "
                 "ctx.space:sample(ctx.rng) end, finalize = function() %s end }"),
}


@pytest.mark.parametrize("method", sorted(HOOKS))
@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_a_strategy_call_that_never_returns_fails_the_run(engine, tmp_path, method, loop):
    field, strategy = HOOKS[method]
    shutil.copy(FIXTURES / "fast_train.py", tmp_path)
    script = tmp_path / "experiment.lua"
    script.write_text(f"""local maggy = require "maggy"
return maggy.experiment {{
  name = "stuck", train = "fast_train:train", num_trials = 3, metric = "score",
  space = maggy.searchspace {{ x = maggy.double(0, 1), mode = maggy.categorical {{ "a" }} }},
  {field} = {strategy % LOOPS[loop]}, es_interval = 0.2,
  strategy_timeout = 1,
}}
""")
    out = engine.run(script, "--workers", 1, "--dir", tmp_path / "r", timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    summary = engine.summary(tmp_path / "r")
    assert summary["status"] == "failed"
    assert "strategy time limit exceeded" in summary["error"]
    assert ("cannot be interrupted" in summary["error"]) == (loop != "interpreted")
    if loop != "interpreted":  # abandoned: the message says which call
        assert {"observe": "observe", "check": "the early-stop rule's check",
                "finalize": "the optimizer's finalize"}[method] in summary["error"]
    assert all(t["state"] != "RUNNING" for t in summary["trials"])


@pytest.mark.parametrize("loop", ["interpreted", "compiled"])
def test_a_strategy_that_never_finishes_initializing_fails_the_load(engine, tmp_path, loop):
    """initialize() runs while the experiment loads, before its own
    strategy_timeout is known: loading gets 10 s, and says so."""
    script = tmp_path / "experiment.lua"
    script.write_text(f"""local maggy = require "maggy"
return maggy.experiment {{
  name = "stuck", train = "fast_train:train", num_trials = 3, metric = "score",
  space = maggy.searchspace {{ x = maggy.double(0, 1) }},
  optimizer = {{ initialize = function() {LOOPS[loop]} end,
                suggest = function(self, ctx) return ctx.space:sample(ctx.rng) end }},
  strategy_timeout = 1,
}}
""")
    out = subprocess.run([str(ENGINE), "check", str(script)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "cannot load the experiment" in out.stderr
    assert "loading the experiment" in out.stderr
    assert ("cannot be interrupted" in out.stderr) == (loop == "compiled")


def test_training_module_that_cannot_be_imported_fails_the_run(engine, tmp_path):
    out = engine.run(FIXTURES / "exp_bad_module.lua", "--workers", 2,
                     "--dir", tmp_path / "r", timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    summary = engine.summary(tmp_path / "r")
    assert summary["status"] == "failed"
    assert "No module named 'no_such_module'" in summary["error"]
    assert summary["finished"] == 0


def running_trial(engine, run_dir):
    s = stored(engine, run_dir)
    if s is None:
        return None
    running = [t for t in s["trials"] if t["state"] == "RUNNING"]
    return running[0] if running else None


def test_executor_killed_mid_trial_is_retried(engine, tmp_path):
    run_dir = tmp_path / "r"
    proc, _ = engine.start(FIXTURES / "exp_slow.lua", "--workers", 2, "--dir", run_dir)
    victim = wait_for(lambda: running_trial(engine, run_dir), what="a running trial")
    pid = victim["worker"]["pid"]
    os.kill(pid, signal.SIGKILL)
    rest, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, rest
    summary = engine.summary(run_dir)
    check_complete(summary, 4, killed=True)
    again = next(t for t in summary["trials"] if t["id"] == victim["id"])
    assert again["state"] == "FINISHED"
    assert again["attempts"] == 2
    # the function returns a bare number: no outputs, an empty object
    assert all(t["outputs"] == {} for t in summary["trials"])
    assert "retrying" in rest
    assert "restarting it" in rest


def test_driver_killed_loses_no_acknowledged_result(engine, tmp_path):
    run_dir = tmp_path / "r"
    proc, _ = engine.start(FIXTURES / "exp_slow.lua", "--workers", 2, "--dir", run_dir)
    first = wait_for(lambda: [t for t in (stored(engine, run_dir) or {"trials": []})["trials"]
                              if t["state"] == "FINISHED"], what="a finished trial")
    proc.kill()
    proc.wait(timeout=30)
    after = engine.show(run_dir)
    kept = {t["id"]: t for t in after["trials"]}
    for t in first:
        assert kept[t["id"]]["state"] == "FINISHED"
        assert kept[t["id"]]["value"] == t["value"]
    assert after["status"] == "interrupted"  # the store says running, the lock says dead


def test_fashion_mnist_example_trains_a_cnn(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("FMNIST_SUBSET", "512")
    monkeypatch.setenv("FMNIST_EPOCHS", "2")
    out = engine.run(FIXTURES / "exp_fashion.lua", "--workers", 2, "--dir", tmp_path / "f")
    assert out.returncode == 0, out.stdout + out.stderr
    summary = engine.summary(tmp_path / "f")
    check_complete(summary, 3)
    assert summary["finished"] == 3
    for t in summary["trials"]:
        assert t["steps"] == 2
        assert 0.0 <= t["value"] <= 1.0
        assert "loss" in t["outputs"]
    assert summary["best"]["value"] > 0.3, "no trial learned anything"


def test_every_trial_starts_in_the_executors_directory(engine, tmp_path):
    """A trial that changes directory does not move the next ones."""
    run_dir, cwd_file = tmp_path / "r", tmp_path / "cwd.txt"
    script = experiment(tmp_path, num_trials=3, train="fast_train:wanders_off")
    out = engine.run(script, "--workers", 1, "--dir", run_dir,
                     env={"CWD_FILE": str(cwd_file)})
    assert out.returncode == 0, out.stdout + out.stderr
    starts = cwd_file.read_text().splitlines()
    assert len(starts) == 3 and len(set(starts)) == 1 and starts[0] != "/"
