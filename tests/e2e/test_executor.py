"""maggy-executor end to end: the real binary against a fake driver.

Run with  MAGGY_BUILD_DIR=/path/to/build /usr/bin/python3 -m pytest tests/e2e
(the binary is $MAGGY_BUILD_DIR/maggy-executor, default /work/main/build).
The training functions are in fixtures/executor_cases.py.
"""
import json
import os
import socket
import struct
import subprocess
import time

import pytest

import fakedriver
from fakedriver import (FakeDriver, Closed, trial_hex, STDOUT, STDERR,
                        REPORTER)

BUILD_DIR = os.environ.get("MAGGY_BUILD_DIR", "/work/main/build")
EXECUTOR = os.path.join(BUILD_DIR, "maggy-executor")
WAIT = 30


@pytest.fixture
def executor_bin():
    if not os.access(EXECUTOR, os.X_OK):
        pytest.fail("no executor binary at %s (build it, or set "
                    "MAGGY_BUILD_DIR)" % EXECUTOR)
    return EXECUTOR


@pytest.fixture
def make_driver(tmp_path):
    drivers = []

    def make(**kw):
        d = FakeDriver(tmp_path, **kw)
        drivers.append(d)
        return d

    yield make
    for d in drivers:
        d.close()


def start(make_driver, executor_bin, function, **kw):
    """A driver, a running executor, and its session after WELCOME."""
    env = kw.pop("env", {})
    drv = make_driver(function=function, **kw)
    proc = drv.spawn_executor(executor_bin, **env)
    sess = drv.accept()
    sess.handshake()
    return drv, proc, sess


def finish(proc, sess):
    """BYE; the executor must exit 0. Returns its stderr."""
    sess.bye()
    _, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, err.decode()
    return err.decode()


# ---- parameters and the reporter ------------------------------------------

def test_params_arrive_as_kwargs_and_no_reporter_when_not_accepted(
        make_driver, executor_bin):
    drv, proc, sess = start(make_driver, executor_bin, "plain")
    ident = sess.identity
    assert ident["slot"] == 0 and ident["attempt"] == 1
    assert ident["pid"] == proc.pid and ident["host"]
    assert "trial" not in ident
    res = sess.run_trial({"lr": 0.25, "layers": 4})
    assert res.final == {"id": res.id, "state": "FINISHED", "value": 1.0,
                         "outputs": {}, "error": None, "steps": 0}
    finish(proc, sess)


def test_slot_and_attempt_from_flags_override_environment(make_driver,
                                                          executor_bin):
    drv = make_driver(function="plain")
    proc = drv.spawn_executor(executor_bin, args=["--slot", "3",
                                                  "--attempt", "2"],
                              MAGGY_SLOT="1")
    sess = drv.accept()
    ident = sess.handshake()
    assert ident["slot"] == 3 and ident["attempt"] == 2
    finish(proc, sess)


def test_the_default_step_follows_the_highest_one(make_driver, executor_bin):
    """Step 3 after step 5 is the driver's to refuse; the next default step
    is 6, not 4 (which it would refuse too)."""
    drv, proc, sess = start(make_driver, executor_bin, "steps_back")
    res = sess.run_trial({"x": 0.5})
    assert res.points == [(5, 0.1), (3, 0.2), (6, 0.3)]
    finish(proc, sess)


def test_reporter_points_and_dict_result_with_outputs(make_driver,
                                                      executor_bin):
    drv, proc, sess = start(make_driver, executor_bin, "with_reporter")
    res = sess.run_trial({"x": 0.75})
    f = res.final
    assert f["state"] == "FINISHED" and f["value"] == 0.75
    assert f["error"] is None and f["steps"] == 4
    out = f["outputs"]
    assert out["loss"] == 0.25 and out["epochs"] == 3
    assert "accuracy" not in out
    assert out["model"].startswith("<object object")  # str() of the unknown
    assert out["curve"] == [0.1, "nan"]
    assert out["3"] == ["a", None]
    assert res.points == [(0, 0.1), (1, 0.2), (2, 0.3), (10, 0.75)]
    # every point went out in a HEARTBEAT before the FINAL
    assert res.events.index("FINAL") == len(res.events) - 1
    finish(proc, sess)


def test_var_kwargs_function_gets_the_reporter(make_driver, executor_bin):
    drv, proc, sess = start(make_driver, executor_bin, "var_kwargs")
    res = sess.run_trial({"x": 0.5})
    assert res.final["state"] == "FINISHED"
    assert res.final["outputs"] == {"trial_id": res.id,
                                    "kwargs": ["reporter"]}
    assert res.points == [(0, 0.5)]
    finish(proc, sess)


def test_broadcast_checks_its_arguments(make_driver, executor_bin):
    drv, proc, sess = start(make_driver, executor_bin, "bad_broadcast")
    errors = {}
    for what in ("metric", "step", "float_step"):
        res = sess.run_trial({"what": what})
        assert res.final["state"] == "FINISHED", res.final
        errors[what] = res.final["outputs"]["error"]
    assert errors["metric"].startswith("TypeError: metric must be a real")
    assert errors["step"].startswith("ValueError")
    assert errors["float_step"].startswith("TypeError: step must be an int")
    finish(proc, sess)


def test_numpy_numbers_are_numbers(make_driver, executor_bin):
    pytest.importorskip("numpy")
    drv, proc, sess = start(make_driver, executor_bin, "uses_numpy")
    res = sess.run_trial({})
    assert res.final["state"] == "FINISHED", res.final
    assert res.final["value"] == 0.75
    assert res.final["outputs"] == {"weights": [0, 1, 2], "best": 4,
                                    "mean": 0.5}
    assert res.points == [(0, 0.25), (7, 0.5)]
    finish(proc, sess)


def test_interpreter_environment(make_driver, executor_bin):
    drv = make_driver(function="environment")
    proc = drv.spawn_executor(executor_bin, MAGGY_SECRET_FILE="",
                              MAGGY_SECRET=drv.secret.hex())
    sess = drv.accept()
    sess.handshake()
    out = sess.run_trial({}).final["outputs"]
    assert out["executable"] == "/usr/bin/python3"
    assert out["argv"] == ["maggy-executor"]
    assert out["path"][0] == drv.python_path[0]
    assert any(p.endswith("dist-packages") for p in out["path"])
    assert out["secret_in_env"] is False
    assert out["maggy"] == ["EarlyStop", "Reporter"]
    assert out["stdout_line_buffered"] is True
    finish(proc, sess)


def test_forked_children_do_not_disturb_the_executor(make_driver,
                                                     executor_bin):
    drv, proc, sess = start(make_driver, executor_bin, "forks")
    res = sess.run_trial({})
    assert res.final["state"] == "FINISHED" and res.final["value"] == 14.0
    assert res.points == [(0, 14.0)]
    assert sorted(l for l in res.lines(STDOUT) if l.startswith("child")) \
        == ["child 0", "child 1", "child 2", "child 3"]
    res = sess.run_trial({})
    assert res.final["state"] == "FINISHED"
    finish(proc, sess)


# ---- results the shim cannot use --------------------------------------------

@pytest.mark.parametrize("kind,message", [
    ("none", "training function returned None; expected a number or a "
             "dict with key 'accuracy'"),
    ("str", "training function returned str ('high'); expected a number"),
    ("nokey", "training function returned a dict without key 'accuracy' "
              "(keys: 'loss'); expected a number"),
    ("badkey", "training function returned a dict whose 'accuracy' is str"),
    ("nan", "training function returned float (nan); expected a finite "
            "number"),
    ("inf", "training function returned float (inf)"),
    ("bool", "training function returned bool (True)"),
    ("hugeint", "; expected a finite number"),
])
def test_garbage_results_fail_with_a_clear_error(make_driver, executor_bin,
                                                 kind, message):
    drv, proc, sess = start(make_driver, executor_bin, "garbage")
    res = sess.run_trial({"kind": kind})
    assert res.final["state"] == "FAILED"
    assert res.final["value"] is None
    assert message in res.final["error"]
    # the interpreter stays usable: an int result is fine
    res = sess.run_trial({"kind": "int"})
    assert res.final["state"] == "FINISHED" and res.final["value"] == 7
    finish(proc, sess)


def test_exception_fails_the_trial_with_traceback_and_executor_goes_on(
        make_driver, executor_bin):
    drv, proc, sess = start(make_driver, executor_bin, "fails_then_works")
    res = sess.run_trial({"fail": "now"})
    f = res.final
    assert f["state"] == "FAILED" and f["value"] is None
    assert f["error"].startswith("Traceback (most recent call last):")
    assert "fails_then_works" in f["error"] and "_inner_helper" in f["error"]
    assert "ValueError: boom now" in f["error"]
    res = sess.run_trial({"fail": ""})
    assert res.final["state"] == "FINISHED" and res.final["value"] == 1.5
    finish(proc, sess)


def test_text_utf8_cannot_hold_is_escaped_not_lost(make_driver, executor_bin):
    drv, proc, sess = start(make_driver, executor_bin, "undecodable")
    res = sess.run_trial({"kind": "raise"})
    assert res.final["state"] == "FAILED"
    assert res.final["error"].startswith("Traceback (most recent call last):")
    assert res.final["error"].endswith(
        "FileNotFoundError: no such file: data_\\udcff.csv\\x00")
    res = sess.run_trial({"kind": "return"})
    assert res.final["state"] == "FINISHED" and res.final["value"] == 0.5
    assert res.final["outputs"] == {"file": "data_\\udcff.csv",
                                    "data_\\udcff.csv": 1}
    assert res.lines(REPORTER) == ["reading data_\\udcff.csv"]
    finish(proc, sess)


@pytest.mark.parametrize("code", [3, "interrupt"])
def test_system_exit_and_keyboard_interrupt_only_fail_the_trial(
        make_driver, executor_bin, code):
    drv, proc, sess = start(make_driver, executor_bin, "exits")
    res = sess.run_trial({"code": code})
    assert res.final["state"] == "FAILED"
    assert ("SystemExit: 3" if code == 3 else "KeyboardInterrupt") \
        in res.final["error"]
    res = sess.run_trial({"code": 0})
    assert res.final["state"] == "FAILED"  # sys.exit(0) is not a result
    assert proc.poll() is None
    finish(proc, sess)


def test_what_a_trial_leaves_in_reference_cycles_is_freed_before_the_next(
        make_driver, executor_bin):
    drv, proc, sess = start(make_driver, executor_bin, "leaves_a_cycle")
    freed = [sess.run_trial({}).final["outputs"]["freed_before"]
             for _ in range(3)]
    assert freed == [0, 1, 2]
    finish(proc, sess)


def test_results_too_big_for_a_frame_are_cut(make_driver, executor_bin):
    drv, proc, sess = start(make_driver, executor_bin, "huge")
    res = sess.run_trial({"kind": "outputs"})
    assert res.final["state"] == "FINISHED" and res.final["value"] == 0.5
    assert list(res.final["outputs"]) == ["maggy_outputs_dropped"]
    res = sess.run_trial({"kind": "error"})
    err = res.final["error"]
    assert res.final["state"] == "FAILED"
    assert err.startswith("Traceback") and "bytes cut" in err
    assert err.endswith("z" * 100) and len(err) < 70000
    finish(proc, sess)


def test_unknown_parameter_fails_the_trial(make_driver, executor_bin):
    drv, proc, sess = start(make_driver, executor_bin, "plain")
    res = sess.run_trial({"lr": 0.1, "layers": 2, "momentum": 0.9})
    assert res.final["state"] == "FAILED"
    assert "TypeError" in res.final["error"]
    assert "momentum" in res.final["error"]
    finish(proc, sess)


# ---- early stopping ------------------------------------------------------------

def test_hb_stop_raises_early_stop_with_the_last_value(make_driver,
                                                       executor_bin):
    drv, proc, sess = start(make_driver, executor_bin, "stoppable")
    res = sess.run_trial({}, stop_after_points=3)
    f = res.final
    assert f["state"] == "EARLY_STOPPED", f
    assert f["error"] is None
    assert res.points, "no points before the FINAL"
    assert f["value"] == res.points[-1][1]
    assert f["steps"] == len(res.points)
    assert [s for s, _ in res.points] == list(range(len(res.points)))
    # the trial stops at its next broadcast: at most the heartbeat already
    # under way follows the STOP (a trial ignoring it would run for minutes)
    assert len(res.heartbeats) - res.stopped_at <= 1, res.heartbeats
    # the stop flag belongs to that trial only
    res = sess.run_trial({"max_steps": 5})
    assert res.final["state"] == "FINISHED"
    assert res.final["value"] == 0.004
    assert [s for s, _ in res.points] == [0, 1, 2, 3, 4]
    finish(proc, sess)


def test_function_that_catches_early_stop_is_still_early_stopped(
        make_driver, executor_bin):
    drv, proc, sess = start(make_driver, executor_bin, "catches_stop")
    res = sess.run_trial({}, stop_after_points=2)
    assert res.final["state"] == "EARLY_STOPPED"
    assert res.final["value"] == 42.0
    finish(proc, sess)


def test_stop_and_recycle_of_another_trial_are_ignored(make_driver,
                                                       executor_bin):
    """RECYCLE comes when a trial ran out of time; one that ended meanwhile
    (or any other) leaves the executor running."""
    drv, proc, sess = start(make_driver, executor_bin, "stoppable")
    trial = sess.send_trial({"max_steps": 300})
    res = fakedriver.TrialResult(trial)
    # once the trial runs (its first points came), a STOP for another id
    while not res.points:
        ftype, _, body = sess.recv(fakedriver.DEFAULT_TIMEOUT)
        if ftype != fakedriver.HEARTBEAT:
            continue
        t, n = struct.unpack_from(">QI", body)
        res.points += [struct.unpack_from(">Qd", body, 12 + 16 * i)
                       for i in range(n)]
        sess.send(fakedriver.HB_OK, struct.pack(">Q", t))
    sess.send(fakedriver.HB_STOP, struct.pack(">Q", trial + 1))
    sess.send(fakedriver.RECYCLE, struct.pack(">Q", trial + 1))
    sess.collect(trial, res)
    sess.ack(trial)
    assert res.final["state"] == "FINISHED", res.final
    assert res.final["steps"] == len(res.points) == 300
    sess.send(fakedriver.RECYCLE, struct.pack(">Q", trial))
    assert sess.run_trial({"max_steps": 3}).final["state"] == "FINISHED"
    finish(proc, sess)


def test_more_points_than_one_heartbeat_holds(make_driver, executor_bin):
    drv, proc, sess = start(make_driver, executor_bin, "many_points")
    n = 10000
    res = sess.run_trial({"n": n})
    assert res.final["state"] == "FINISHED" and res.final["steps"] == n
    assert res.points == [(i, float(i)) for i in range(n)]
    assert all(len(p) <= 4096 for _, p in res.heartbeats)
    finish(proc, sess)


def test_heartbeats_flow_while_a_trial_runs(make_driver, executor_bin):
    drv, proc, sess = start(make_driver, executor_bin, "slow",
                            hb_interval=0.02)
    res = sess.run_trial({"seconds": 0.5})
    assert res.final["state"] == "FINISHED"
    beats = [t for t, _ in res.heartbeats]
    assert len(beats) >= 2 and set(beats) == {res.trial}
    finish(proc, sess)


# ---- logs ----------------------------------------------------------------------

def test_output_arrives_as_log_lines_of_the_trial_before_the_final(
        make_driver, executor_bin):
    drv, proc, sess = start(make_driver, executor_bin, "printer")
    res = sess.run_trial({})
    assert res.final["state"] == "FINISHED"
    out = res.lines(STDOUT)
    assert "hello from the trial" in out
    assert "raw fd write" in out
    assert "from a subprocess" in out
    assert out[-1] == "partial line without newline"
    long_pieces = [l for l in out if l.startswith("xxxx")]
    assert "".join(long_pieces) == "x" * 70000 and len(long_pieces) == 2
    assert res.lines(STDERR) == ["to stderr"]
    assert res.lines(REPORTER) == ["reporter says hi", "{'a': 1}"]
    # all of them before the FINAL (collect() stops at the FINAL)
    assert res.events[-1] == "FINAL"
    # the import-time print is not the trial's
    assert all(text != "executor_cases imported" for text in out)
    finish(proc, sess)


def test_carriage_returns_work_like_a_terminal(make_driver, executor_bin):
    drv, proc, sess = start(make_driver, executor_bin, "progress")
    res = sess.run_trial({})
    assert res.lines(STDERR) == ["step 5/5"]
    assert res.lines(STDOUT) == ["windows line", "last state"]
    finish(proc, sess)


def test_a_long_line_is_cut_between_characters(make_driver, executor_bin):
    drv, proc, sess = start(make_driver, executor_bin, "prints_long_text")
    res = sess.run_trial({})
    pieces = res.lines(STDOUT)
    assert len(pieces) == 2 and "".join(pieces) == "a" + "é" * 40000
    finish(proc, sess)


def test_import_time_output_is_logged_outside_any_trial(make_driver,
                                                        executor_bin):
    drv, proc, sess = start(make_driver, executor_bin, "plain")
    res = sess.run_trial({"lr": 1, "layers": 1})
    idle = [text for t, s, text in res.logs if t == 0]
    assert "executor_cases imported" in idle
    finish(proc, sess)


# ---- failures of the set-up -------------------------------------------------------

def test_wrong_secret_exits_2_with_the_drivers_message(make_driver,
                                                       executor_bin,
                                                       tmp_path):
    drv = make_driver(function="plain")
    wrong = tmp_path / "wrong"
    wrong.write_text("ab" * 32 + "\n")
    proc = drv.spawn_executor(executor_bin, MAGGY_SECRET_FILE=str(wrong))
    sess = drv.accept()
    ok, _ = sess.read_hello()
    assert not ok
    sess.error("wrong secret for experiment e2e")
    _, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 2
    assert "wrong secret for experiment e2e" in err.decode()


def test_secret_from_the_environment(make_driver, executor_bin):
    drv = make_driver(function="plain")
    proc = drv.spawn_executor(executor_bin, MAGGY_SECRET_FILE="",
                              MAGGY_SECRET=drv.secret.hex())
    sess = drv.accept()
    sess.handshake()
    finish(proc, sess)


@pytest.mark.parametrize("module,function,detail", [
    ("executor_broken", "train", "Traceback (most recent call last)"),
    ("executor_cases", "no_such_function", "AttributeError"),
    ("executor_cases", "not_callable", "is a int, not a function"),
])
def test_import_error_sends_fatal_error_and_exits_4(make_driver,
                                                    executor_bin, module,
                                                    function, detail):
    drv = make_driver(module=module, function=function)
    proc = drv.spawn_executor(executor_bin)
    sess = drv.accept()
    sess.handshake()
    while True:
        ftype, _, body = sess.recv()
        if ftype == fakedriver.ERROR:
            break
        assert ftype == fakedriver.LOG
    err = json.loads(body)
    assert err["fatal"] is True
    assert err["error"].startswith("cannot import %s:%s: " % (module,
                                                              function))
    assert detail in err["error"]
    _, stderr = proc.communicate(timeout=WAIT)
    assert proc.returncode == 4
    assert "cannot import" in stderr.decode()


def test_local_executor_leaves_a_reported_import_error_to_the_engine(
        make_driver, executor_bin):
    """The engine's own executors share its terminal: what they reported is
    printed once, by the engine."""
    drv = make_driver(module="executor_broken", function="train")
    proc = drv.spawn_executor(executor_bin, MAGGY_LOCAL_EXECUTOR="1")
    sess = drv.accept()
    sess.handshake()
    while sess.recv()[0] != fakedriver.ERROR:
        pass
    _, stderr = proc.communicate(timeout=WAIT)
    assert proc.returncode == 4
    assert stderr.decode() == ""


@pytest.mark.parametrize("env,message", [
    ({"MAGGY_DRIVER": ""}, "no driver address"),
    ({"MAGGY_DRIVER": "localhost"}, "is not HOST:PORT"),
    ({"MAGGY_SECRET_FILE": "/nonexistent/secret"}, "cannot read secret"),
    ({"MAGGY_SLOT": "-1"}, "slot"),
    ({"MAGGY_RECONNECT_TIMEOUT": "soon"}, "reconnect timeout"),
])
def test_invalid_configuration_exits_2(make_driver, executor_bin, env,
                                       message):
    drv = make_driver()
    proc = drv.spawn_executor(executor_bin, **env)
    _, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 2
    assert message in err.decode()


def test_secret_is_not_a_flag(make_driver, executor_bin):
    drv = make_driver()
    proc = drv.spawn_executor(executor_bin, args=["--secret", "ab" * 32])
    _, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 2
    assert "--secret" in err.decode()


def test_help_documents_the_settings(executor_bin):
    out = subprocess.run([executor_bin, "--help"], capture_output=True,
                         timeout=WAIT, text=True)
    assert out.returncode == 0
    for word in ("MAGGY_DRIVER", "MAGGY_SECRET_FILE", "MAGGY_SECRET",
                 "MAGGY_SLOT", "MAGGY_ATTEMPT", "MAGGY_RECONNECT_TIMEOUT",
                 "--driver", "--secret-file", "--slot", "--attempt"):
        assert word in out.stdout


# ---- connection loss -----------------------------------------------------------------

def test_final_is_resent_after_a_dropped_connection(make_driver,
                                                    executor_bin):
    drv, proc, sess = start(make_driver, executor_bin, "with_reporter")
    first = sess.run_trial({"x": 0.5}, ack=False)
    sess.close()
    sess = drv.accept()
    ident = sess.handshake()
    assert ident["trial"] == first.id
    again = fakedriver.TrialResult(first.trial)
    sess.collect(first.trial, again)
    assert again.final == first.final
    sess.ack(first.trial)
    res = sess.run_trial({"x": 0.25})
    assert res.final["state"] == "FINISHED" and res.final["value"] == 0.25
    finish(proc, sess)


FINALS_IN_FLIGHT = 4  # PROTO_FINALS_IN_FLIGHT, lib/proto/proto.h


def points_then_no_final(sess, trial):
    """Read frames until a HEARTBEAT holds points of `trial` (it ran to its
    end: its last points go out just before its FINAL would); no FINAL may
    come meanwhile."""
    while True:
        ftype, _, body = sess.recv()
        assert ftype != fakedriver.FINAL, json.loads(body)
        if ftype == fakedriver.HEARTBEAT:
            t, n = struct.unpack_from(">QI", body)
            sess.send(fakedriver.HB_OK, struct.pack(">Q", t))
            if t == trial and n > 0:
                return


def fill_the_window(sess):
    """Run as many trials as may have their FINALs unacknowledged, then one
    more, which runs but holds its FINAL back. Returns the trials'
    results and the last trial."""
    results = [sess.run_trial({"x": i / 8}, ack=False)
               for i in range(FINALS_IN_FLIGHT)]
    held = sess.send_trial({"x": 0.875})
    points_then_no_final(sess, held)
    return results, held


def release_the_window(sess, results, held):
    """Acknowledge the oldest result, read the held trial's FINAL that it
    lets out, then acknowledge the rest. Returns the held trial's result."""
    sess.ack(results[0].trial)
    res = fakedriver.TrialResult(held)
    sess.collect(held, res)
    for t in [r.trial for r in results[1:]] + [held]:
        sess.ack(t)
    return res


def test_the_next_trials_run_while_results_await_their_ack(make_driver,
                                                           executor_bin):
    # The executor does not wait for the commit of a result before it runs
    # the next trial, but it keeps a bounded number of results in flight:
    # past that, the next FINAL goes once the oldest is acknowledged.
    drv, proc, sess = start(make_driver, executor_bin, "with_reporter")
    results, held = fill_the_window(sess)
    assert [r.final["value"] for r in results] == [0, 0.125, 0.25, 0.375]
    res = release_the_window(sess, results, held)
    assert res.final["value"] == 0.875
    assert [f["id"] for f in res.finals] == [trial_hex(held)]
    finish(proc, sess)


def test_results_in_flight_are_resent_in_order_after_a_reconnect(
        make_driver, executor_bin):
    drv, proc, sess = start(make_driver, executor_bin, "with_reporter")
    results, held = fill_the_window(sess)
    sess.close()
    sess = drv.accept()
    ident = sess.handshake()
    # HELLO names the trial it runs now; the results in flight come again,
    # oldest first, and the held one only once one of them is acknowledged.
    assert ident["trial"] == trial_hex(held)
    for r in results:
        again = fakedriver.TrialResult(r.trial)
        sess.collect(r.trial, again)
        assert again.finals == [r.final]
    res = release_the_window(sess, results, held)
    assert res.finals == [res.final] and res.final["value"] == 0.875
    finish(proc, sess)


def test_a_result_in_flight_is_resent_at_once_while_the_next_trial_runs(
        make_driver, executor_bin):
    # The link drops while the executor runs its next trial: the last
    # result goes again right after the handshake, not once that trial
    # ends (a restarted driver would meanwhile hand the trial to someone
    # else, and it would run twice).
    drv, proc, sess = start(make_driver, executor_bin, "slow")
    first = sess.run_trial({"seconds": 0}, ack=False)
    second = sess.send_trial({"seconds": 10})
    sess.close()
    sess = drv.accept()
    assert sess.handshake()["trial"] == trial_hex(second)
    while True:
        ftype, _, body = sess.recv()
        if ftype == fakedriver.HEARTBEAT:
            t, n = struct.unpack_from(">QI", body)
            assert not (t == second and n > 0), "the next trial ended first"
            sess.send(fakedriver.HB_OK, struct.pack(">Q", t))
        elif ftype == fakedriver.FINAL:
            assert json.loads(body) == first.final
            break
    proc.kill()
    proc.wait()


def drop_after_trial(drv, sess, params):
    """Send a trial, drop the link at once, and take the executor back: its
    HELLO must claim the trial. Returns the new session and the trial's
    result, acknowledged."""
    trial = sess.send_trial(params)
    sess.close()
    sess = drv.accept()
    ident = sess.handshake()
    assert ident["trial"] == trial_hex(trial)
    res = fakedriver.TrialResult(trial)
    sess.collect(trial, res)
    sess.ack(trial)
    return sess, res


def test_trial_keeps_running_across_a_reconnect(make_driver, executor_bin):
    drv, proc, sess = start(make_driver, executor_bin, "slow")
    sess, res = drop_after_trial(drv, sess, {"seconds": 1.0})
    assert res.final["state"] == "FINISHED" and res.final["value"] == 2.0
    assert res.points == [(0, 1.0)]
    finish(proc, sess)


def test_trial_received_before_it_starts_is_claimed_on_reconnect(
        make_driver, executor_bin):
    # The training module is still importing when the trial arrives and the
    # link drops: the executor's I/O thread has the trial, its main thread
    # has not started it. The HELLO after the reconnect must claim it, or
    # the driver would hand it to another executor while this one runs it.
    drv, proc, sess = start(make_driver, executor_bin, "train",
                            module="executor_slow_import")
    sess, res = drop_after_trial(drv, sess, {"x": 1.5})
    assert res.final["state"] == "FINISHED" and res.final["value"] == 3.0
    finish(proc, sess)


def test_oversized_frame_is_refused_and_the_executor_reconnects(
        make_driver, executor_bin):
    drv, proc, sess = start(make_driver, executor_bin, "plain")
    sess.send_raw(fakedriver.HEADER.pack(fakedriver.MAGIC, fakedriver.VERSION,
                                         fakedriver.TRIAL, 0,
                                         (1 << 20) + 1, 0))
    ftype, _, body = sess.recv()
    while ftype == fakedriver.LOG:
        ftype, _, body = sess.recv()
    assert ftype == fakedriver.ERROR
    assert "over the limit" in json.loads(body)["error"]
    with pytest.raises(Closed):
        sess.recv()
    sess = drv.accept()
    sess.handshake()
    res = sess.run_trial({"lr": 2, "layers": 2})
    assert res.final["value"] == 4
    finish(proc, sess)


def test_driver_gone_for_good_exits_3(make_driver, executor_bin):
    drv, proc, sess = start(make_driver, executor_bin, "plain",
                            env={"MAGGY_RECONNECT_TIMEOUT": "0.5"})
    drv.stop_listening()
    sess.close()
    _, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 3
    assert "unreachable for 0.5 s, giving up" in err.decode()


def test_executor_waits_for_a_driver_that_starts_late(make_driver,
                                                      executor_bin):
    # Take a free port, start the executor, only then listen on it.
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    drv = make_driver(function="plain")
    env = drv.env(MAGGY_DRIVER="127.0.0.1:%d" % port)
    proc = subprocess.Popen([executor_bin], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    drv.procs.append(proc)
    time.sleep(0.3)
    late = socket.socket()
    late.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    late.bind(("127.0.0.1", port))
    late.listen(1)
    drv.listener.close()
    drv.listener = late
    sess = drv.accept()
    sess.handshake()
    res = sess.run_trial({"lr": 1, "layers": 3})
    assert res.final["value"] == 3
    finish(proc, sess)


# ---- goodbye ------------------------------------------------------------------------

def test_bye_when_idle_exits_0(make_driver, executor_bin):
    drv, proc, sess = start(make_driver, executor_bin, "plain")
    finish(proc, sess)


def test_bye_during_a_trial_stops_it_and_exits_0(make_driver, executor_bin):
    drv, proc, sess = start(make_driver, executor_bin, "stoppable")
    trial = sess.send_trial({})
    res = fakedriver.TrialResult(trial)
    # wait until it runs, then say goodbye
    while not res.points:
        ftype, _, body = sess.recv()
        if ftype == fakedriver.HEARTBEAT:
            t, n = struct.unpack_from(">QI", body)
            res.points.extend(struct.unpack_from(">Qd", body, 12 + 16 * i)
                              for i in range(n))
            sess.send(fakedriver.HB_OK, struct.pack(">Q", t))
    sess.bye()
    sess.collect(trial, res)
    assert res.final["state"] == "EARLY_STOPPED"
    sess.ack(trial)
    _, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, err.decode()


def test_executors_are_recycled_after_max_trials(engine, tmp_path):
    """max_trials_per_executor = 2: each process runs two trials, then a
    fresh one takes its place; no trial is lost or retried on the way."""
    from conftest import experiment
    script = experiment(tmp_path, train="fast_train:train", num_trials=7,
                        max_trials_per_executor=2)
    run_dir = tmp_path / "r"
    out = engine.run(script, "--workers", 1, "--dir", run_dir, "--quiet")
    assert out.returncode == 0, out.stdout + out.stderr
    summary = engine.summary(run_dir)
    assert summary["finished"] == 7
    assert all(t["attempts"] == 1 for t in summary["trials"])
    pids = [t["worker"]["pid"] for t in summary["trials"]]
    assert len(set(pids)) == 4  # 2 + 2 + 2 + 1
    for pid in set(pids):
        assert pids.count(pid) <= 2
    assert "restarting" not in out.stderr and "retrying" not in out.stdout
