"""Ablation studies end to end: a synthetic training function with known
effects and noise (fixtures/fast_train.py: ablated), the examples in
examples/ablation, and the Python helpers of maggy.ablation."""
import collections
import csv
import io
import pathlib
import subprocess
import sys

import pytest

from conftest import ENGINE, FIXTURES, ROOT, Run, ablation_study, resume, trials_in
from fakeexecutor import FakeExecutor

sys.path.insert(0, str(ROOT / "python"))
from maggy import ablation  # noqa: E402  (python/maggy, as trials see it)
sys.path.insert(0, str(FIXTURES))
from fast_train import ABLATION_EFFECTS, PATH_GAINS  # noqa: E402

EXAMPLES = ROOT / "examples" / "ablation"


def test_loco_recovers_known_effects_within_its_intervals(engine, tmp_path):
    run_dir = tmp_path / "r"
    out = engine.run(ablation_study(tmp_path), "--workers", 2, "--dir", run_dir)
    assert out.returncode == 0, out.stdout + out.stderr
    summary = engine.summary(run_dir)
    assert summary["finished"] == 5 * 8  # the base and 7 items
    # repeats are trials of their own: one id per (configuration, seed)
    seeds = collections.Counter(t["params"]["seed"] for t in summary["trials"])
    assert len(seeds) == 5 and set(seeds.values()) == {8}
    report = summary["ablation"]
    assert report["base"]["n"] == 5
    rows = {r["component"]: r for r in report["rows"]}
    assert list(rows) == ["feature income", "feature age", "feature zip",
                          "layer fc1", "layer fc2", "layer group dense",
                          "component augmentation"]
    for row in report["rows"]:
        true = -sum(ABLATION_EFFECTS[n] for names in row["left_out"].values()
                    for n in names)
        assert abs(row["delta"] - true) <= row["delta_ci95"], row
    assert rows["feature income"]["rank"] == 1
    assert rows["feature zip"]["significant"] is False
    assert rows["feature income"]["significant"] is True
    assert "ablation (loco, 5 repeats" in out.stdout
    assert "(within noise)" in out.stdout
    assert engine.show(run_dir)["ablation"] == report
    exported = subprocess.run([str(ENGINE), "export", str(run_dir), "--ablation"],
                              capture_output=True, text=True, timeout=60)
    table = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [r["component"] for r in table] == ["base"] + list(rows)


def test_a_study_goes_on_after_a_crash_of_the_driver(engine, tmp_path):
    run_dir = tmp_path / "r"
    script = ablation_study(tmp_path, repeats=2)
    run = Run(tmp_path, script, "--workers", 0, "--dir", run_dir)
    ex = FakeExecutor(run.address(), run_dir)
    ex.welcome()
    first = []
    for _ in range(5):
        trial = ex.next_trial()
        first.append(trial["params"])
        ex.final(trial["id"], value=0.9)
        ex.wait_ack(trial["id"])
    run.kill()
    assert len(trials_in(run_dir, "FINISHED")) == 5
    out = resume(run_dir, "--workers", 2)
    assert out.returncode == 0, out.stdout + out.stderr
    summary = engine.summary(run_dir)
    assert summary["finished"] == 2 * 8
    assert [t["params"] for t in summary["trials"][:5]] == first
    assert len(summary["ablation"]["rows"]) == 7
    assert all(r["n"] == 2 for r in summary["ablation"]["rows"])


def test_a_report_that_fails_keeps_the_trials_and_resume_makes_it_again(engine, tmp_path):
    script = tmp_path / "mine.lua"
    text = f"""local maggy = require "maggy"
local A = {{ name = "mine" }}
A.__index = A
function A:initialize(ctx) self.n = 0 end
function A:count(ctx) return 2 end
function A:suggest(ctx)
  self.n = self.n + 1
  if self.n > 2 then return nil end
  return ctx.ablation:params(self.n == 2 and ctx.ablation.items[1] or nil)
end
function A:report(ctx)
  local r = ctx.ablation:report(ctx)
  r.rows[1].delta = 1 / 0
  return r
end
return maggy.experiment {{
  name = "mine", train = "fast_train:ablated", python_path = "{FIXTURES}", metric = "score",
  ablation = maggy.ablation {{ base = {{ lr = 0.01 }}, features = {{ "income" }},
                               ablator = setmetatable({{}}, A) }},
}}
"""
    script.write_text(text)
    run_dir = tmp_path / "r"
    out = engine.run(script, "--workers", 1, "--dir", run_dir)
    assert out.returncode == 1
    said = out.stdout + out.stderr
    assert "ablator 'mine': report(): rows[1].delta is inf" in said, said
    assert "every trial has ended and is kept" in said and "--force" in said
    assert engine.summary(run_dir)["finished"] == 2
    script.write_text(text.replace("1 / 0", "-0.25"))
    out = resume(run_dir, "--workers", 1, "--force")
    assert out.returncode == 0, out.stdout + out.stderr
    summary = engine.summary(run_dir)
    assert summary["finished"] == 2 and summary["ablation"]["rows"][0]["delta"] == -0.25
    assert "feature income" in out.stdout


def test_a_base_that_always_fails_is_said_to(engine, tmp_path):
    (tmp_path / "broken.py").write_text(
        "def train(lr, ablate, seed=0):\n"
        "    if not any(ablate.values()):\n"
        "        raise ValueError('the base does not build')\n"
        "    return {'score': 0.5}\n")
    script = tmp_path / "study.lua"
    script.write_text("""local maggy = require "maggy"
return maggy.experiment { name = "broken", train = "broken:train", metric = "score",
  ablation = maggy.ablation { base = { lr = 0.1 }, features = { "a" }, repeats = 2 } }
""")
    out = engine.run(script, "--workers", 1, "--dir", tmp_path / "r")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "  base        0  -                   -                         2 failed" in out.stdout
    assert "the base has no finished trial: no difference can be measured" in out.stdout


def test_check_shows_the_base_and_what_the_study_leaves_out(tmp_path):
    out = subprocess.run([str(ENGINE), "check", str(ablation_study(tmp_path, repeats=3))],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "    lr CATEGORICAL [0.01]\n" in out.stdout  # not 0.01000000000000000021
    assert "  ablation: loco, 3 repeats, 7 items to leave out:\n    feature income\n" in out.stdout
    assert "    layer group dense\n    component augmentation\n" in out.stdout


def test_a_study_that_cannot_run_is_refused_with_its_line(engine, tmp_path):
    script = tmp_path / "bad.lua"
    script.write_text("""local maggy = require "maggy"
local study = maggy.ablation { base = { lr = 0.1 }, layers = { "c1" },
                               layer_groups = { dense = { prefix = "fc" } } }
return maggy.experiment { name = "bad", train = "t:t", ablation = study }
""")
    out = engine.run(script, "--workers", 1, "--dir", tmp_path / "r")
    assert out.returncode == 2
    assert "bad.lua:2:" in out.stderr
    assert "no name starts with 'fc'" in out.stderr


def test_the_path_changes_the_hyperparameters_in_the_order_of_their_gains(
        engine, tmp_path):
    script = tmp_path / "path.lua"
    script.write_text(f"""local maggy = require "maggy"
return maggy.experiment {{
  name = "path", train = "fast_train:tuned", python_path = "{FIXTURES}",
  metric = "score", seed = 5, hb_interval = 0.2,
  ablation = maggy.ablation {{
    base = {{ lr = 0.01, depth = 2, dropout = 0.0, act = "relu" }},
    target = {{ lr = 0.1, depth = 8, dropout = 0.3, act = "tanh" }},
    repeats = 3,
  }},
}}
""")
    run_dir = tmp_path / "r"
    out = engine.run(script, "--workers", 2, "--dir", run_dir, "--quiet")
    assert out.returncode == 0, out.stdout + out.stderr
    summary = engine.summary(run_dir)
    assert summary["finished"] == 3 * (1 + 4 + 3 + 2 + 1)
    path = summary["ablation"]["path"]
    assert [s.get("change") for s in path] == [None, "lr", "depth", "dropout",
                                               "act"]
    for step in path[1:]:
        assert abs(step["delta"] - PATH_GAINS[step["change"]]) < 0.02, step
    assert "ablation path (3 repeats" in out.stdout


@pytest.mark.parametrize("example,key,rows", [
    ("features.lua", "rows", 6), ("leave_two_out.lua", "rows", 6),
    ("quickstart_path.lua", "path", 5)])
def test_the_examples_run(engine, tmp_path, example, key, rows):
    pytest.importorskip("sklearn")
    out = engine.run(EXAMPLES / example, "--workers", 2, "--dir",
                     tmp_path / "r", "--quiet")
    assert out.returncode == 0, out.stdout + out.stderr
    summary = engine.summary(tmp_path / "r")
    assert summary["failed"] == 0
    assert len(summary["ablation"][key]) == rows


def test_the_layer_example_runs(engine, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    if not pathlib.Path("/usr/share/datasets/fashion-mnist").is_dir():
        pytest.skip("needs dataset-fashion-mnist (scripts/setup --with-torch)")
    monkeypatch.setenv("FMNIST_SUBSET", "500")
    monkeypatch.setenv("FMNIST_EPOCHS", "1")
    out = engine.run(EXAMPLES / "layers.lua", "--workers", 2, "--dir",
                     tmp_path / "r", "--quiet")
    assert out.returncode == 0, out.stdout + out.stderr
    rows = engine.summary(tmp_path / "r")["ablation"]["rows"]
    assert [r["component"] for r in rows][-1] == "layer group batchnorm"
    assert rows[-1]["left_out"]["layers"] == [
        "features.bn1", "features.bn2", "features.bn3"]
    assert all(r["n"] == 2 and r["failed"] == 0 for r in rows)


# ---- the helpers ------------------------------------------------------------

ABLATE = {"features": ["b"], "layers": ["1"], "components": ["aug"]}


def test_drop_features_from_an_array_by_name():
    np = pytest.importorskip("numpy")
    X = np.arange(6).reshape(2, 3)
    kept, names = ablation.drop_features(X, ABLATE, names=["a", "b", "c"])
    assert names == ["a", "c"]
    assert kept.tolist() == [[0, 2], [3, 5]]
    same, names = ablation.drop_features(X, None, names=["a", "b", "c"])
    assert same.tolist() == X.tolist() and names == ["a", "b", "c"]
    with pytest.raises(ValueError, match="no feature named 'b'"):
        ablation.drop_features(X, ABLATE, names=["a", "x", "c"])
    with pytest.raises(ValueError, match="needs names"):
        ablation.drop_features(X, ABLATE)


def test_drop_features_from_a_frame():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [1], "b": [2], "c": [3]})
    assert list(ablation.drop_features(frame, ABLATE).columns) == ["a", "c"]


def test_skip_layers_and_components():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    ablation.skip_layers(model, ABLATE)
    assert isinstance(model[1], nn.Identity)
    assert model(torch.zeros(3, 4)).shape == (3, 2)
    with pytest.raises(ValueError, match="no layer named 'fc9'"):
        ablation.skip_layers(model, {"layers": ["fc9"]})
    assert not ablation.keeps(ABLATE, "aug")
    assert ablation.keeps(ABLATE, "dropout") and ablation.keeps(None, "aug")
