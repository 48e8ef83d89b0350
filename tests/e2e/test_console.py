"""What a run prints while it goes: the progress status (plain lines in a
pipe, a line redrawn in place on a terminal), the per-trial lines, and the
trials' and strategies' output, each behind its own switch."""
import os
import pty
import re
import select
import subprocess

from conftest import ENGINE, Run, experiment
from fakeexecutor import FakeExecutor

LOGGING_OPTIMIZER = """{ name = "logging", suggest = function(self, ctx)
    ctx:log("asked with %d trials", #ctx:trials())
    return ctx.space:sample(ctx.rng)
  end }"""


def chatty_experiment(tmp_path, **fields):
    fields.setdefault("num_trials", 6)
    return experiment(tmp_path, name="console", train="fast_train:train",
                      optimizer=LOGGING_OPTIMIZER, **fields)


def test_plain_progress_lines_in_a_pipe(engine, tmp_path):
    script = chatty_experiment(tmp_path)
    out = engine.run(script, "--workers", 2, "--dir", tmp_path / "r",
                     "--progress-every", 0.2)
    assert out.returncode == 0, out.stdout + out.stderr
    status = [l for l in out.stdout.splitlines() if l.startswith("[progress]")]
    assert status, out.stdout
    last = status[-1]
    assert last.startswith("[progress] 6/6 ended (6 finished, 0 early-stopped, "
                           "0 failed), 0 running, best score "), last
    best = engine.summary(tmp_path / "r")["best"]
    assert f"(trial {best['trial_id']})" in last
    assert "\x1b" not in out.stdout  # no terminal codes in a log
    # while it ran, the status counted running trials and guessed the rest
    assert any(re.search(r"\d+ running.*elapsed, ~", l) for l in status), status


def test_the_last_status_agrees_with_the_summary(engine, tmp_path):
    """Of equal values the best is the first to end, in the status and in
    the summary; the time is the experiment's, not also the time its
    executors take to leave (this one stays until the engine gives up)."""
    run_dir = tmp_path / "r"
    run = Run(tmp_path, experiment(tmp_path, num_trials=3), "--workers", 0,
              "--dir", run_dir)
    ex = FakeExecutor(run.address(), run_dir)
    ex.welcome()
    ended = []
    for _ in range(3):
        trial = ex.next_trial()
        ex.final(trial["id"], value=0.5)
        ex.wait_ack(trial["id"])
        ended.append(trial["id"])
    assert run.wait() == 0, run.text()
    last = [l for l in run.text().splitlines() if l.startswith("[progress]")][-1]
    summary = engine.summary(run_dir)
    assert summary["best"]["trial_id"] == ended[0]
    assert f"(trial {ended[0]})" in last
    # the same span as duration_s, which the status rounds to whole seconds
    elapsed = int(re.search(r", (\d+) s elapsed", last).group(1))
    assert elapsed == int(summary["duration_s"] + 0.5), (last, summary["duration_s"])


def test_quiet_hides_output_not_progress(engine, tmp_path):
    script = chatty_experiment(tmp_path)
    out = engine.run(script, "--workers", 2, "--dir", tmp_path / "r", "--quiet")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "trained x=" not in out.stdout
    assert "[strategy]" not in out.stdout
    assert len(re.findall(r"^\[\s*\d+/6\] [0-9a-f]{16} FINISHED", out.stdout,
                          re.M)) == 6
    assert "[progress] 6/6 ended" in out.stdout
    # nothing is lost: the trials' and the strategy's lines are stored
    logs = engine.logs(tmp_path / "r")
    assert "trained x=" in logs
    assert "[strategy] asked with 0 trials" in logs


def test_no_progress_keeps_output(engine, tmp_path):
    script = chatty_experiment(tmp_path)
    out = engine.run(script, "--workers", 2, "--dir", tmp_path / "r",
                     "--no-progress")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "trained x=" in out.stdout
    assert "[strategy] asked with" in out.stdout
    assert "[progress]" not in out.stdout
    assert not re.search(r"^\[\s*\d+/6\]", out.stdout, re.M)
    assert "trials: 6 finished" in out.stdout  # the summary stays


def test_bad_progress_mode_is_refused(engine, tmp_path):
    out = engine.run(chatty_experiment(tmp_path), "--progress", "sometimes")
    assert out.returncode == 2
    assert "--progress is auto, live, plain or off, not 'sometimes'" in out.stderr


def run_on_terminal(args, timeout=120):
    """The engine's output as a terminal of 100 columns shows it."""
    import fcntl
    import struct
    import termios
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen([str(ENGINE), *map(str, args)], stdin=slave,
                            stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], timeout)
        assert ready, "the engine went silent on its terminal"
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the engine closed its side
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=30) == 0
    return b"".join(chunks).decode()


def test_live_status_on_a_terminal(tmp_path):
    script = chatty_experiment(tmp_path)
    text = run_on_terminal(["run", script, "--workers", 2, "--dir", tmp_path / "r"])
    erase = "\r\x1b[K"
    assert erase in text
    screens = text.split(erase)
    statuses = [s for s in screens if re.match(r"\d+/6 done \(", s)]
    assert statuses, text
    # the status line never ends a line: it is redrawn, never scrolled
    assert all("\n" not in s for s in statuses)
    assert all(len(s) < 100 for s in statuses)
    # every other line arrives whole after the status was erased
    lines = [s for s in screens if s and s not in statuses]
    for line in "".join(lines).splitlines():
        assert not re.search(r"\d+/6 done \(", line), line
    trained = [l for l in "".join(lines).splitlines() if "trained x=" in l]
    assert len(trained) == 6
    assert all(re.match(r"\[[0-9a-f]{16}\] trained x=", l) for l in trained)
    assert "trials: 6 finished" in text


def test_simulate_prints_a_line_per_tenth(engine, tmp_path):
    script = experiment(tmp_path, name="sim", num_trials=50,
                        space="maggy.searchspace { x1 = maggy.double(-5, 10), "
                              "x2 = maggy.double(0, 15) }",
                        metric='"loss"', direction='"min"')
    out = engine.simulate(script, "--benchmark", "branin", "--dir", tmp_path / "s")
    assert out.returncode == 0, out.stdout + out.stderr
    status = [l for l in out.stdout.splitlines() if l.startswith("[progress]")]
    assert [int(re.match(r"\[progress\] (\d+)/50", l).group(1)) for l in status] \
        == [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]
    assert all("virtual elapsed" in l for l in status)
    assert not re.search(r"^\[\s*\d+/50\]", out.stdout, re.M)


def test_what_a_strategy_prints_at_load_and_before_it_fails_is_shown_and_kept(
        engine, tmp_path):
    script = tmp_path / "printing.lua"
    script.write_text('''local maggy = require "maggy"
print("loading the script")
local calls = 0
local optimizer = {
  initialize = function(self, ctx) ctx:log("initialized") end,
  suggest = function(self, ctx)
    calls = calls + 1
    print("suggest call", calls)
    if calls == 3 then error("boom") end
    return ctx.space:sample(ctx.rng)
  end,
}
return maggy.experiment { name = "printing", space = { x = { "DOUBLE", { 0, 1 } } },
                          num_trials = 6, optimizer = optimizer,
                          direction = "min", metric = "loss" }
''')
    out = engine.simulate(script, "--benchmark", "branin", "--dir", tmp_path / "r")
    assert out.returncode == 1, out.stdout + out.stderr
    said = ["[strategy] loading the script", "[strategy] initialized",
            "[strategy] suggest call\t1", "[strategy] suggest call\t2",
            "[strategy] suggest call\t3"]
    for where in (out.stdout, engine.logs(tmp_path / "r")):
        assert [line for line in where.splitlines() if line in said] == said, where
    assert "printing.lua:9: boom" in out.stdout
    # check shows the lines of the load; a load that fails shows them first
    check = [str(ENGINE), "check", str(script), "-b", "branin"]
    checked = subprocess.run(check, capture_output=True, text=True, timeout=60)
    assert checked.stdout.splitlines()[:2] == said[:2], checked.stdout
    script.write_text(script.read_text().replace("num_trials = 6", "num_trials = -1"))
    checked = subprocess.run(check, capture_output=True, text=True, timeout=60)
    assert checked.returncode == 2
    assert checked.stderr.splitlines()[0] == "[strategy] loading the script", checked.stderr
