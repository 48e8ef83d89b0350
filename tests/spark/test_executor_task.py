"""The environment a Spark task gives its maggy-executor: where the driver
is, the secret (in the environment, never on a command line), its slot and
attempt, and only the GPUs Spark assigned to the task."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "spark"))

from maggy_spark.executor_task import task_environment  # noqa: E402

PLAN = {"driver": "10.0.0.1:4000", "secret": "ab" * 32, "executor": "/x"}


class Gpus:
    addresses = ["1", "3"]


class Context:
    def __init__(self, gpus=None):
        self.gpus = gpus

    def partitionId(self):
        return 5

    def attemptNumber(self):
        return 1

    def resources(self):
        return {"gpu": self.gpus} if self.gpus else {}


def test_the_executor_learns_its_driver_secret_slot_and_attempt():
    env = task_environment(PLAN, Context(), ["/files", "/venv/site"])
    assert env["MAGGY_DRIVER"] == "10.0.0.1:4000"
    assert env["MAGGY_SECRET"] == "ab" * 32
    assert (env["MAGGY_SLOT"], env["MAGGY_ATTEMPT"]) == ("5", "2")
    assert env["PYTHONPATH"].split(":")[:2] == ["/files", "/venv/site"]


def test_only_the_tasks_gpus_are_visible(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    assert task_environment(PLAN, Context(Gpus()), [])["CUDA_VISIBLE_DEVICES"] == "1,3"


def test_without_assigned_gpus_the_environment_is_left_alone(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert task_environment(PLAN, Context(), [])["CUDA_VISIBLE_DEVICES"] == "0"
