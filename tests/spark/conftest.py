"""The Spark tests' cluster (cluster.py), started once per module and
stopped at the end whatever happened, and spark-submit of the test driver."""
import json
import os
import signal
import subprocess
import time

import pytest

from cluster import ENGINE, FIXTURES, PYTHON, SPARK_SUBMIT, Cluster, spark_env

DRIVER = FIXTURES.parent / "driver.py"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not SPARK_SUBMIT.exists():
        pytest.fail(f"{SPARK_SUBMIT} is missing: scripts/setup --with-spark")
    c = Cluster(tmp_path_factory.mktemp("spark"))
    try:
        yield c
    finally:
        c.stop()


class Submit:
    """spark-submit of tests/spark/driver.py (lagom, the returned summary
    written to a file) in its own process group, output in a file."""

    def __init__(self, tmp, master, *args, env=None, spark_args=()):
        self.out = tmp / f"submit-{time.monotonic_ns()}.log"
        self.returned = tmp / f"returned-{time.monotonic_ns()}.json"
        cmd = [str(SPARK_SUBMIT), "--master", master,
               "--conf", "spark.ui.enabled=false",
               "--conf", "spark.ui.showConsoleProgress=false",
               "--conf", "spark.driver.host=127.0.0.1",
               "--conf", f"spark.pyspark.python={PYTHON}", *map(str, spark_args),
               str(DRIVER), "--returned", str(self.returned), *map(str, args)]
        with open(self.out, "w") as f:
            self.proc = subprocess.Popen(cmd, env=env or spark_env(tmp), stdout=f,
                                         stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def text(self):
        return self.out.read_text(errors="replace")

    def wait(self, timeout=300):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("spark-submit did not end:\n" + self.text()[-3000:])

    def kill(self, sig=signal.SIGKILL):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def returned_summary(self):
        return json.loads(self.returned.read_text())


def show(run_dir):
    out = subprocess.run([str(ENGINE), "show", str(run_dir), "--json"],
                         capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout)
