"""The dashboard in a real browser (headless Chromium driven by Selenium):
the page of a running experiment fills its trials table and draws a curve
per trial, a click on a trial shows its log; the same from `maggy-engine
dashboard DIR` of a finished run. Screenshots go to the test artifacts
(MAGGY_TEST_ARTIFACTS, default build/test-artifacts). The JSON API is
checked directly too."""
import json
import os
import pathlib
import re
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest

from conftest import (BUILD, ENGINE, Run, ablation_study, curves_csv, experiment,
                      trials_in, wait_for)

ARTIFACTS = pathlib.Path(os.environ.get("MAGGY_TEST_ARTIFACTS", BUILD / "test-artifacts"))


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("Debian's chromium and chromium-driver are not installed "
                    "(scripts/setup installs them)")
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--window-size=1400,1600"):
        options.add_argument(arg)
    b = webdriver.Chrome(service=Service(driver), options=options)
    yield b
    b.quit()


def engine_summary(run_dir):
    return json.loads((run_dir / "summary.json").read_text())


def url_of(run):
    m = wait_for(lambda: re.search(r"dashboard of \S+ on (http://\S+/)", run.text()),
                 30, "the dashboard's address")
    return m.group(1)


def api(url, path):
    with urllib.request.urlopen(url + path.lstrip("/"), timeout=10) as r:
        return json.loads(r.read())


def rows(b):
    from selenium.webdriver.common.by import By
    return b.find_elements(By.CSS_SELECTOR, "#trials tbody tr")


def curves(b):
    from selenium.webdriver.common.by import By
    return b.find_elements(By.CSS_SELECTOR, "#curves path.curve")


def text_of(b, selector):
    """The element's text, read in one step: while a run goes on the page
    redraws every 1.5 s, and an element found before a redraw is gone after
    it."""
    return b.execute_script("const e = document.querySelector(arguments[0]);"
                            "return e ? e.textContent : null;", selector)


def click_trial_and_read_log(b, tid):
    b.execute_script("document.querySelector(arguments[0]).click()",
                     f'#trials tr[data-id="{tid}"]')
    return wait_for(lambda: "step 0: score" in (text_of(b, "#log") or "")
                    and text_of(b, "#log"), 30, "the trial's log")


def screenshot(b, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    b.save_screenshot(str(path))
    assert path.stat().st_size > 10_000


def talkative(tmp_path, trials=6):
    return experiment(tmp_path, name="dash", train="fast_train:talkative",
                      num_trials=trials, earlystop="maggy.earlystop.median { grace = 4 }")


def test_dashboard_of_a_running_experiment(browser, tmp_path):
    run_dir = tmp_path / "r"
    run = Run(tmp_path, talkative(tmp_path), "--workers", 2, "--dir", run_dir,
              "--dashboard", 0)
    url = url_of(run)
    browser.get(url)
    wait_for(lambda: rows(browser), 30, "the trials table to fill")
    assert api(url, "/api/summary")["status"] == "running"
    assert "running" in text_of(browser, "#status")
    # a curve per trial that has points, while it runs
    wait_for(lambda: len(curves(browser)) >= 2, 30, "curves of running trials")
    running = wait_for(lambda: trials_in(run_dir, "RUNNING"), 30, "a running trial")
    text = click_trial_and_read_log(browser, running[0]["id"])
    # the log follows the running trial
    wait_for(lambda: text_of(browser, "#log").count("step ") >
             text.count("step "), 30, "more lines of the running trial")
    hovered = browser.execute_script(
        "const p = document.querySelector('#curves path.curve');"
        "p.dispatchEvent(new MouseEvent('mouseenter', {clientX: 100, clientY: 100}));"
        "return p.dataset.id;")
    wait_for(lambda: browser.find_elements("css selector",
                                           f'#curves path.hover[data-id="{hovered}"]'),
             10, "the hovered curve highlighted")
    assert hovered in text_of(browser, "#tooltip")
    screenshot(browser, "dashboard-running.png")
    # the page follows the run to its end
    wait_for(lambda: text_of(browser, "#status b") == "finished", 60,
             "the page to show the end")
    assert run.wait(timeout=60) == 0
    assert "dashboard: closes in 3 s" in run.text()
    stored = engine_summary(run_dir)
    assert len(rows(browser)) == 6
    assert len(curves(browser)) == sum(t["steps"] > 0 for t in stored["trials"])
    # merged from the changes of each poll: what the store holds
    kept = browser.execute_script("return view.summary.trials.map((t) => [t.id, t.state, t.steps])")
    assert kept == [[t["id"], t["state"], t["steps"]] for t in stored["trials"]]
    # the curves, fetched a piece at a time while they grew, are whole
    drawn = browser.execute_script("return view.curves")
    whole = api(url_of(Run(tmp_path, run_dir, "--dashboard", 0, command="dashboard")),
                "/api/curves")["curves"]
    assert drawn == {tid: points for tid, points in whole.items() if points}


def test_dashboard_of_a_finished_run(engine, browser, tmp_path):
    run_dir = tmp_path / "r"
    out = engine.run(talkative(tmp_path, trials=4), "--workers", 2, "--dir", run_dir, "--quiet")
    assert out.returncode == 0, out.stdout + out.stderr
    serve = Run(tmp_path, run_dir, "--dashboard", 0, command="dashboard")
    url = url_of(serve)
    summary = api(url, "/api/summary")
    assert summary["status"] == "finished"
    stored = engine.summary(run_dir)
    assert [t["id"] for t in summary["trials"]] == [t["id"] for t in stored["trials"]]
    browser.get(url)
    wait_for(lambda: len(rows(browser)) == 4, 30, "the trials table")
    wait_for(lambda: len(curves(browser)) == 4, 30, "four curves")
    best = stored["best"]["trial_id"]
    assert browser.find_element("css selector", "#trials tbody tr").get_attribute("data-id") == best
    assert browser.find_elements("css selector", f'#curves path.best[data-id="{best}"]')
    assert len(browser.find_elements("css selector", "#params path.curve")) == 4
    assert browser.find_elements("css selector", "#best-so-far path.step")
    text = click_trial_and_read_log(browser, best)
    assert text.count("step ") == 20
    # sorting by a column and filtering
    browser.find_element("css selector", '#trials th[data-key="id"]').click()
    ids = [r.get_attribute("data-id") for r in rows(browser)]
    assert ids == sorted(ids, reverse=True) or ids == sorted(ids)
    browser.find_element("id", "filter").send_keys(best[:8])
    wait_for(lambda: len(rows(browser)) == 1, 10, "the filter")
    screenshot(browser, "dashboard-finished.png")
    serve.proc.terminate()
    assert serve.wait(timeout=30) == 0


def test_dashboard_of_many_trials_draws_the_best_and_says_so(browser, tmp_path):
    """Past MAX_DRAWN trials the table shows the first of its order and the
    charts the best, each with a note; the page draws without an error."""
    table = tmp_path / "curves.csv"
    curves_csv(table, configs=60, epochs=3)
    script = tmp_path / "many.lua"
    script.write_text('local maggy = require "maggy"\n'
                      'return maggy.experiment { name = "many", num_trials = 2300, direction = "max", '
                      'metric = "accuracy", optimizer = "random", seed = 1 }\n')
    run_dir = tmp_path / "r"
    out = subprocess.run([str(ENGINE), "simulate", str(script), "--benchmark", str(table),
                          "--workers", "50", "--dir", str(run_dir), "--quiet"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    serve = Run(tmp_path, run_dir, "--dashboard", 0, command="dashboard")
    browser.get(url_of(serve))
    wait_for(lambda: len(rows(browser)) == 2000, 60, "the first 2,000 rows")
    assert text_of(browser, "#trials-note") == \
        "the first 2,000 of 2,300: sort or filter to see others"
    assert len(curves(browser)) == 2000
    assert text_of(browser, "#curves-note") == "2,000 of 2,300 trials: the best"
    assert len(browser.find_elements("css selector", "#params path.curve")) == 2000
    assert text_of(browser, "#params-note") == "2,000 of 2,300 trials: the best"
    best = engine_summary(run_dir)["best"]["trial_id"]
    assert browser.find_elements("css selector", f'#curves path.best[data-id="{best}"]')
    assert "could not draw" not in text_of(browser, "#status")
    asked = browser.execute_script(
        "return performance.getEntriesByType('resource').map((e) => e.name)"
        ".filter((n) => n.includes('/api/curves'))")
    assert asked and all("?trial=" in n for n in asked), asked  # never every curve
    worst = min(engine_summary(run_dir)["trials"], key=lambda t: t["value"])["id"]
    browser.execute_script("select(arguments[0])", worst)
    wait_for(lambda: browser.find_elements("css selector", f'#curves path[data-id="{worst}"]'),
             30, "the curve of the trial selected")
    serve.proc.terminate()
    assert serve.wait(timeout=30) == 0


def test_api_answers(engine, tmp_path):
    run_dir = tmp_path / "r"
    out = engine.run(talkative(tmp_path, trials=2), "--workers", 1, "--dir", run_dir, "--quiet")
    assert out.returncode == 0
    serve = Run(tmp_path, run_dir, "--dashboard", 0, command="dashboard")
    url = url_of(serve)
    stored = engine.summary(run_dir)
    tid = stored["trials"][0]["id"]
    assert api(url, "/api/summary")["best"] == stored["best"]
    everything = api(url, "/api/summary?since=0")
    assert [t["id"] for t in everything["trials"]] == [t["id"] for t in stored["trials"]]
    assert everything["end_seq"] == 2
    last = api(url, "/api/summary?since=1")  # only the trial that ended after
    assert [t["id"] for t in last["trials"]] == [t["id"] for t in stored["trials"]
                                                 if t["ended"] == max(u["ended"] for u in stored["trials"])]
    assert api(url, "/api/summary?since=2")["trials"] == []
    assert api(url, "/api/summary?since=2")["finished"] == 2  # the counts stay whole
    one = api(url, f"/api/curves?trial={tid}")["curves"]
    assert list(one) == [tid] and [p[0] for p in one[tid]] == list(range(20))
    after = api(url, f"/api/curves?trial={tid}:15")["curves"]
    assert after == {tid: one[tid][16:]}
    both = api(url, f"/api/curves?trial={tid},{stored['trials'][1]['id']}")["curves"]
    assert sorted(both) == sorted(t["id"] for t in stored["trials"]) and both[tid] == one[tid]
    page = api(url, f"/api/logs?trial={tid}&from=5")
    assert [l["seq"] for l in page["lines"]][0] == 5 and not page["more"]
    assert page["next"] == page["lines"][-1]["seq"] + 1
    engine_lines = api(url, "/api/logs?trial=engine")
    assert isinstance(engine_lines["lines"], list)
    unknown = "0123456789abcdef"
    for bad, code in (("/api/logs?trial=xyz", 400), ("/api/curves?trial=1", 400),
                      (f"/api/logs?trial={tid}&from=abc", 400),
                      (f"/api/logs?trial={tid}&from=-5", 400),
                      ("/api/summary?since=-1", 400), ("/api/summary?since=x", 400),
                      (f"/api/logs?trial={unknown}", 404),
                      (f"/api/curves?trial={unknown}", 404),
                      (f"/api/curves?trial={tid},{unknown}", 404),
                      (f"/api/curves?trial={tid},", 400),
                      (f"/api/curves?trial={tid}:x", 400), (f"/api/curves?trial={tid}:", 400),
                      (f"/api/curves?trial={tid}:5:6", 400),
                      ("/api/curves?trial=" + ",".join([tid] * 501), 400),
                      ("/api/nothing", 404), ("/../store/data.mdb", 404)):
        with pytest.raises(urllib.error.HTTPError) as e:
            api(url, bad)
        assert e.value.code == code, bad
    serve.proc.terminate()
    assert serve.wait(timeout=30) == 0


def test_address_in_use_is_an_error(engine, tmp_path):
    run_dir = tmp_path / "r"
    assert engine.run(talkative(tmp_path, trials=1), "--workers", 1, "--dir",
                      run_dir, "--quiet").returncode == 0
    first = Run(tmp_path, run_dir, "--dashboard", 0, command="dashboard")
    port = url_of(first).rsplit(":", 1)[1].strip("/")
    second = Run(tmp_path, run_dir, "--dashboard", port, command="dashboard")
    assert second.wait(timeout=30) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in second.text()
    # a run whose dashboard cannot listen, or whose address is no address,
    # is refused before it starts anything
    for where, why in ((port, f"cannot listen on 127.0.0.1:{port}: Address already in use"),
                       ("abc", "cannot use listen address '127.0.0.1:abc'")):
        out = engine.run(talkative(tmp_path, trials=1), "--workers", 1, "--dir",
                         tmp_path / "r2", "--quiet", "--dashboard", where)
        assert out.returncode == 2, out.stdout + out.stderr
        assert f"maggy-engine: --dashboard: {why}" in out.stderr
        assert not (tmp_path / "r2").exists()
    too_far = Run(tmp_path, run_dir, "--dashboard", 70000, command="dashboard")
    assert too_far.wait(timeout=30) == 2
    assert "the port must be 0 to 65535" in too_far.text()


def test_dashboard_and_plot_of_an_ablation_study(engine, browser, tmp_path):
    script = ablation_study(tmp_path, repeats=2)
    run_dir = tmp_path / "r"
    out = engine.run(script, "--workers", 2, "--dir", run_dir, "--quiet")
    assert out.returncode == 0, out.stdout + out.stderr
    serve = Run(tmp_path, run_dir, "--dashboard", 0, command="dashboard")
    browser.get(url_of(serve))
    panel = wait_for(lambda: browser.find_element("id", "ablation-panel").is_displayed()
                     and browser.find_element("id", "ablation-panel"), 30,
                     "the ablation table")
    rows = panel.find_elements("css selector", "tbody tr")
    assert [r.find_elements("tag name", "td")[0].text for r in rows] == \
        ["feature income", "feature age", "feature zip", "layer fc1", "layer fc2",
         "layer group dense", "component augmentation"]
    screenshot(browser, "dashboard-ablation.png")
    serve.proc.terminate()
    plot = subprocess.run([str(ENGINE), "plot", str(run_dir), "--what", "ablation",
                           "--out", str(tmp_path / "a.png")], capture_output=True,
                          text=True, timeout=120)
    assert plot.returncode == 0, plot.stderr
    assert (tmp_path / "a.png").read_bytes().startswith(b"\x89PNG")


def test_what_the_experiment_names_is_shown_as_text(engine, browser, tmp_path):
    """A shared script is not trusted: markup in its metric's name (or its
    error) stays text on the page, and no script of it runs."""
    markup = "<img src=x onerror=window.pwned=1>"
    script = experiment(tmp_path, name="markup", num_trials=5, metric=json.dumps(markup),
                        direction='"min"', space="maggy.searchspace { x1 = "
                        "maggy.double(-5, 10), x2 = maggy.double(0, 15) }")
    run_dir = tmp_path / "r"
    out = engine.simulate(script, "--benchmark", "branin", "--dir", run_dir)
    assert out.returncode == 0, out.stdout + out.stderr
    serve = Run(tmp_path, run_dir, "--dashboard", 0, command="dashboard")
    browser.get(url_of(serve))
    wait_for(lambda: markup in text_of(browser, "#status"), 30, "the status")
    assert not browser.find_elements("css selector", "#status img")
    assert browser.execute_script("return window.pwned") is None
    serve.proc.terminate()
    assert serve.wait(timeout=30) == 0
