"""`maggy-engine show DIR`: the summary, then the trials best first (the
10 best by default, --top N, --all), for either direction."""
import re
import subprocess

from conftest import ENGINE, experiment

BRANIN_SPACE = ("maggy.searchspace { x1 = maggy.double(-5, 10), "
                "x2 = maggy.double(0, 15) }")


def show(*args):
    out = subprocess.run([str(ENGINE), "show", *map(str, args)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def rows(text):
    return [l.split() for l in text.splitlines()
            if re.match(r"^\s+\d+  [0-9a-f]{16}  ", l)]


def simulated(engine, tmp_path, direction):
    script = experiment(tmp_path, name=direction, space=BRANIN_SPACE,
                        direction=f'"{direction}"', num_trials=15)
    run_dir = tmp_path / direction
    out = engine.simulate(script, "--benchmark", "branin", "--dir", run_dir)
    assert out.returncode == 0, out.stdout + out.stderr
    return run_dir, engine.summary(run_dir)


def test_best_trials_first(engine, tmp_path):
    for direction in ("min", "max"):
        run_dir, summary = simulated(engine, tmp_path, direction)
        text = show(run_dir)
        assert "trials, best first:" in text
        listed = rows(text)
        assert len(listed) == 10
        assert "(5 more: --all lists every trial" in text
        values = sorted((t["value"] for t in summary["trials"]),
                        reverse=direction == "max")
        assert [float(r[3]) for r in listed] == \
            [float(f"{v:.6g}") for v in values[:10]]
        assert listed[0][1] == summary["best"]["trial_id"]
        assert [int(r[0]) for r in listed] == list(range(1, 11))


def test_top_and_all(engine, tmp_path):
    run_dir, summary = simulated(engine, tmp_path, "min")
    assert len(rows(show(run_dir, "--top", 3))) == 3
    every = show(run_dir, "--all")
    assert len(rows(every)) == 15 and "more:" not in every
    assert rows(show(run_dir, "--top", 0)) == []
    bad = subprocess.run([str(ENGINE), "show", str(run_dir), "--top", "x"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--top wants a number" in bad.stderr


def test_the_dir_is_the_runs_own_however_it_is_typed(engine, tmp_path):
    run_dir, summary = simulated(engine, tmp_path, "min")
    typed = subprocess.run([str(ENGINE), "show", run_dir.name + "/", "--json"],
                           capture_output=True, text=True, timeout=60,
                           cwd=run_dir.parent)
    assert typed.returncode == 0, typed.stderr
    assert '"dir": "%s"' % run_dir in typed.stdout
    assert summary["dir"] == str(run_dir)
