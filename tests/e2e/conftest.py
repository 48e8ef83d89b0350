"""Shared helpers of the end-to-end tests: where the binaries are, and how to
run the real engine on a fixture experiment and read what it stored."""
import json
import os
import pathlib
import re
import subprocess
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("MAGGY_BUILD_DIR", ROOT / "build"))
ENGINE = BUILD / "maggy-engine"
FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
DATA = pathlib.Path(os.environ.get("MAGGY_DATA_DIR", ROOT.parent / "shared" / "data"))


def wait_for(predicate, timeout=60, what="a condition"):
    """The first true value of predicate(), polled until `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def engine():
    if not ENGINE.exists():
        pytest.fail(f"{ENGINE} is missing: build first (scripts/setup)")
    return Engine()


class Engine:
    """Runs `maggy-engine` as a user would."""

    def run(self, script, *args, timeout=300):
        return subprocess.run([str(ENGINE), "run", str(script), *map(str, args)],
                              capture_output=True, text=True, timeout=timeout)

    def simulate(self, script, *args, timeout=300):
        return subprocess.run([str(ENGINE), "simulate", str(script), *map(str, args)],
                              capture_output=True, text=True, timeout=timeout)

    def start(self, script, *args):
        """Start a run in the background; returns (process, address)."""
        proc = subprocess.Popen([str(ENGINE), "run", str(script), *map(str, args)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        lines = []
        for line in proc.stdout:
            lines.append(line)
            m = re.search(r"listening on (\S+?);|waiting for executors on (\S+) ", line)
            if m:
                host, port = (m.group(1) or m.group(2)).rsplit(":", 1)
                proc.banner = "".join(lines)
                return proc, (host, int(port))
        raise AssertionError("engine exited before listening:\n" + "".join(lines))

    def show(self, run_dir):
        out = subprocess.run([str(ENGINE), "show", str(run_dir), "--json"],
                             capture_output=True, text=True, timeout=60, check=True)
        return json.loads(out.stdout)

    def logs(self, run_dir, trial=None):
        args = [str(ENGINE), "logs", str(run_dir)] + ([trial] if trial else [])
        return subprocess.run(args, capture_output=True, text=True, timeout=60,
                              check=True).stdout

    def summary(self, run_dir):
        return json.loads((pathlib.Path(run_dir) / "summary.json").read_text())
