"""Every code example in the README and the docs runs, so the docs cannot
rot: `sh` blocks in bash (in a scratch checkout: build/, examples/, lua/,
python/, spark/, tests/ linked, ../shared/data beside it), `python` blocks
with the tests' Python, `lua` blocks that return an experiment through
`maggy-engine check` and other `lua` blocks under LuaJIT with the library on
its path, `json` blocks through a JSON parser. The blocks of one file run in
order in one scratch folder, so a later block may use what an earlier one
made; a block whose first line names a file (`-- examples/x.lua`,
`# train.py`) is saved there. A block can be marked, on the line before its fence:

    <!-- doc: not run (REASON) -->   skipped, with the reason printed
    <!-- doc: fragment -->           compiled, not run (a part of a whole)
    <!-- doc: with DIR -->           run with $DIR the last experiment
                                     made (a simulation is made if none)
    <!-- doc: dashboard -->          run with a dashboard of that
                                     experiment on 127.0.0.1:8765

An experiment block without a `train` field is a simulation's: it is
checked as `simulate` loads it (`check --benchmark branin`).

Blocks without a language are sample output, not code."""
import json
import os
import re
import subprocess
import time

import pytest

from conftest import BUILD, DATA, ENGINE, ROOT

FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
         *sorted(ROOT.glob("examples/*/README.md")), ROOT / "spark" / "README.md"]
BLOCK = re.compile(r"(?:^<!-- doc: (?P<mark>[^>]*?) -->\n)?^```(?P<lang>\w*)\n"
                   r"(?P<body>.*?)^```", re.M | re.S)
PYTHON = "/usr/bin/python3"


def blocks(path):
    text = path.read_text()
    for m in BLOCK.finditer(text):
        line = text.count("\n", 0, m.start("lang")) + 1
        yield line, m.group("lang"), m.group("mark") or "", m.group("body")


def scratch(tmp_path):
    """A checkout to run the examples in, with ../shared/data beside it."""
    repo = tmp_path / "repo"
    (repo / "examples").mkdir(parents=True)
    for example in (ROOT / "examples").iterdir():
        (repo / "examples" / example.name).symlink_to(example)
    for name in ("lua", "python", "spark", "tests", "web"):
        (repo / name).symlink_to(ROOT / name)
    (repo / "build").symlink_to(BUILD)
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "data").symlink_to(DATA)
    return repo


def environment(repo):
    env = dict(os.environ)
    env["PATH"] = f"{BUILD}:/usr/bin:/bin:{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{repo / 'python'}:{repo / 'spark'}:{repo / 'tests' / 'bench'}"
    env["MAGGY_ENGINE"] = str(ENGINE)
    return env


def latest_run(repo):
    """The last experiment the blocks made, or a simulation made now."""
    runs = sorted(repo.glob("**/store"), key=lambda p: p.stat().st_mtime)
    if runs:
        return runs[-1].parent
    subprocess.run([str(ENGINE), "simulate", str(ROOT / "examples" / "custom_optimizer"
                                                  / "experiment.lua"),
                    "--benchmark", "branin", "--dir", str(repo / "runs" / "made")],
                   check=True, capture_output=True, timeout=120)
    return repo / "runs" / "made"


def with_dashboard(repo, env, run):
    where = latest_run(repo)
    dash = subprocess.Popen([str(ENGINE), "dashboard", str(where), "--dashboard",
                             "127.0.0.1:8765"], stdout=subprocess.PIPE, text=True)
    try:
        assert "dashboard of" in dash.stdout.readline()
        return run()
    finally:
        dash.terminate()
        dash.wait(timeout=30)


def source_file(repo, n, suffix, body):
    """Where a block is saved: the file its first line names (`-- NAME.lua`,
    `# NAME.py`) so that later blocks can use it, else a file of its own."""
    m = re.match(r"(?:--|#) (\S+\.(?:lua|py))\n", body)
    path = repo / (m.group(1) if m else f"doc_block_{n}{suffix}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    return path


def run_block(repo, env, n, lang, mark, body):
    """None when it ran well, else what went wrong."""
    if lang == "json":
        try:
            json.loads(body)
        except ValueError as e:
            return f"not JSON: {e}"
        return None
    if lang == "sh":
        cmd = ["bash", "-eu", "-c", body]
    elif lang == "python":
        src = source_file(repo, n, ".py", body)
        cmd = [PYTHON, "-m", "py_compile", str(src)] if mark == "fragment" \
            else [PYTHON, str(src)]
    elif lang == "lua":
        src = source_file(repo, n, ".lua", body)
        if mark == "fragment":
            cmd = ["luajit", "-bl", str(src), "/dev/null"]
        elif "maggy.experiment" in body:
            cmd = [str(ENGINE), "check", str(src)]
            if not re.search(r"\btrain\s*=", body):
                cmd += ["--benchmark", "branin"]
        else:
            path = f"{ROOT}/lua/?.lua;{ROOT}/lua/?/init.lua;{repo}/examples/custom_optimizer/?.lua"
            cmd = ["luajit", "-e", f"package.path = [[{path}]]", str(src)]
    else:
        return None  # sample output or a language not run
    def go():
        return subprocess.run(cmd, cwd=repo, env=env, capture_output=True,
                              text=True, timeout=600)
    if mark in ("with DIR", "dashboard"):
        env = dict(env, DIR=str(latest_run(repo)))
    out = with_dashboard(repo, env, go) if mark == "dashboard" else go()
    if out.returncode != 0:
        return f"exit {out.returncode}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
    return None


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_examples_run(path, tmp_path):
    repo = scratch(tmp_path)
    env = environment(repo)
    failures, skipped = [], []
    for n, (line, lang, mark, body) in enumerate(blocks(path)):
        where = f"{path.relative_to(ROOT)}:{line}"
        if mark.startswith("not run"):
            assert re.match(r"not run \(.{10,}\)$", mark), \
                f"{where}: say why it is not run: <!-- doc: not run (REASON) -->"
            skipped.append(f"{where}: {mark}")
            continue
        if "shared/data" in body and not DATA.is_dir():
            skipped.append(f"{where}: not run (no benchmark data at {DATA})")
            continue
        t0 = time.monotonic()
        problem = run_block(repo, env, n, lang, mark, body)
        if problem:
            failures.append(f"{where} ({lang}, {time.monotonic() - t0:.1f} s): {problem}")
    print("\n".join(skipped))
    assert not failures, "\n\n".join(failures)


def test_cli_reference_is_the_help():
    """docs/cli.md holds `maggy-engine help` as it is."""
    text = (ROOT / "docs" / "cli.md").read_text()
    helped = subprocess.run([str(ENGINE), "help"], capture_output=True, text=True,
                            timeout=30).stdout
    assert f"```text\n{helped}```" in text, \
        "docs/cli.md is out of date: paste `maggy-engine help` into its text block"
    for cmd in ("run", "resume", "simulate", "check", "show", "logs", "export",
                "plot", "dashboard"):
        out = subprocess.run([str(ENGINE), cmd, "--help"], capture_output=True,
                             text=True, timeout=30)
        assert out.returncode == 0 and out.stdout == helped or cmd == "plot", cmd


def documented_fields(section):
    return {name for row in re.findall(r"^\| (`[^|]*`) \|", section, re.M)
            for name in re.findall(r"`(\w+)`", row)}


def test_summary_fields_are_the_documented_ones(engine, tmp_path):
    text = (ROOT / "docs" / "store.md").read_text()
    section = text.split("## summary.json", 1)[1].split("\n## ", 1)[0]
    top, per_trial = section.split("| trial field |")
    script = tmp_path / "e.lua"
    script.write_text('local maggy = require "maggy"\nreturn maggy.experiment{'
                      'name = "e", num_trials = 3, direction = "min", metric = "loss"}\n')
    out = engine.simulate(script, "--benchmark", "branin", "--dir", tmp_path / "r")
    assert out.returncode == 0, out.stderr
    summary = engine.summary(tmp_path / "r")
    assert documented_fields(top) - {"ablation"} == set(summary)
    assert documented_fields(per_trial) == set(summary["trials"][0])
