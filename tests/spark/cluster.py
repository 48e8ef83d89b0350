"""A real Spark standalone cluster on loopback: a master and two workers of
2 cores each (`spark-class ...deploy.master.Master` and `...deploy.worker.
Worker`, from the pyspark package of .venv-spark), each in its own process
group so that stop() leaves nothing behind. Used by the Spark tests and the
Spark benchmark."""
import os
import pathlib
import signal
import socket
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
VENV = pathlib.Path(os.environ.get("MAGGY_SPARK_VENV", ROOT / ".venv-spark"))
PYTHON = VENV / "bin" / "python"
SPARK_SUBMIT = VENV / "bin" / "spark-submit"
SPARK_CLASS = VENV / "bin" / "spark-class"
FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
ENGINE = ROOT / "build" / "maggy-engine"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spark_env(tmp):
    env = dict(os.environ)
    env.update({
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(tmp / "logs"),
        "SPARK_WORKER_DIR": str(tmp / "work"),
        "PYSPARK_PYTHON": str(PYTHON),
        "PYSPARK_DRIVER_PYTHON": str(PYTHON),
    })
    return env


def wait_for(predicate, timeout=90, what="a condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Daemon:
    """A Spark daemon (JVM) in its own process group, its log in a file."""

    def __init__(self, tmp, name, args, env):
        self.log = tmp / f"{name}.log"
        with open(self.log, "w") as f:
            self.proc = subprocess.Popen([str(SPARK_CLASS), *args], env=env,
                                         stdout=f, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def text(self):
        return self.log.read_text(errors="replace")

    def kill(self, sig=signal.SIGKILL):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)


class Cluster:
    def __init__(self, tmp):
        self.tmp = tmp
        self.env = spark_env(tmp)
        port = free_port()
        self.url = f"spark://127.0.0.1:{port}"
        self.master = Daemon(tmp, "master", [
            "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
            "--port", str(port), "--webui-port", "0"], self.env)
        wait_for(lambda: "I have been elected leader" in self.master.text(),
                 what="the Spark master")
        self.workers = [Daemon(tmp, f"worker{i}", [
            "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
            "--cores", "2", "--memory", "1g", "--webui-port", "0",
            "--work-dir", str(tmp / f"work{i}"), self.url], self.env)
            for i in range(2)]
        wait_for(lambda: self.master.text().count("Registering worker") >= 2,
                 what="two Spark workers")

    def stop(self):
        for daemon in self.workers + [self.master]:
            daemon.kill()
