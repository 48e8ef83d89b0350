"""The GPU paths. Each local executor gets one device: CUDA_VISIBLE_DEVICES =
its slot modulo the number of GPUs, of those CUDA_VISIBLE_DEVICES names when
it is set (checked anywhere: the variable alone decides). On a machine with
NVIDIA GPUs and a CUDA build of PyTorch in the executor's Python (skipped
elsewhere: CI has no GPU), each executor trains on its device, runs NCCL, and
leaves no device memory to the next trial, also when the trial ran out of
it."""
import os
import subprocess

import pytest

from conftest import BUILD, experiment, show

GPU_DIR = "/proc/driver/nvidia/gpus"
CYCLE = 512 << 20  # what each trial of gpu_train:fit leaves in a cycle


def gpus():
    """NVIDIA GPUs the driver exposes."""
    try:
        return len([e for e in os.listdir(GPU_DIR) if not e.startswith(".")])
    except OSError:
        return 0


def devices():
    """The devices the engine spreads its executors over, as it finds them."""
    if "CUDA_VISIBLE_DEVICES" not in os.environ:
        return [str(i) for i in range(gpus())]
    ids = []
    for entry in os.environ["CUDA_VISIBLE_DEVICES"].split(","):
        entry = entry.strip()
        if not entry or entry.startswith("-"):
            break
        ids.append(entry)
    return ids


def executor_python():
    """The Python maggy-executor embeds (MAGGY_PYTHON of the build)."""
    try:
        for line in (BUILD / "CMakeCache.txt").read_text().splitlines():
            if line.startswith("MAGGY_PYTHON:"):
                return line.split("=", 1)[1]
    except OSError:
        pass
    return "/usr/bin/python3"


def cuda_in_executor_python():
    probe = "import torch; print(torch.cuda.device_count())"
    try:
        out = subprocess.run([executor_python(), "-c", probe], capture_output=True,
                             text=True, timeout=120)
        return out.returncode == 0 and int(out.stdout.split()[-1]) > 0
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return False


def needs_gpus(test):
    test = pytest.mark.skipif(gpus() == 0 or not devices(),
                              reason="needs NVIDIA GPUs")(test)
    return pytest.mark.skipif(gpus() > 0 and not cuda_in_executor_python(),
                              reason="the executor's Python has no CUDA build "
                              "of PyTorch")(test)


def devices_seen(engine, tmp_path, visible, *args):
    """Runs fast_train:sees_devices with CUDA_VISIBLE_DEVICES = `visible`.
    Returns the engine's output and slot -> the devices it was given."""
    script = experiment(tmp_path, name="devices", train="fast_train:sees_devices",
                        num_trials=6)
    out = engine.run(script, "--dir", tmp_path / "run", *args,
                     env={"CUDA_VISIBLE_DEVICES": visible})
    assert out.returncode == 0, out.stdout + out.stderr
    seen = {}
    for t in show(tmp_path / "run")["trials"]:
        seen.setdefault(t["outputs"]["slot"], set()).add(t["outputs"]["visible"])
    return out.stdout, seen


def test_executors_take_turns_on_the_devices_the_user_named(engine, tmp_path):
    banner, seen = devices_seen(engine, tmp_path, "3, GPU-5a7e", "--workers", 3)
    assert "3 local executors on 2 GPUs" in banner
    assert seen == {slot: {["3", "GPU-5a7e"][slot % 2]} for slot in seen}
    assert len(seen) > 1


def test_one_executor_per_named_device_by_default(engine, tmp_path):
    banner, seen = devices_seen(engine, tmp_path, "1,0,-1,2")
    assert "2 local executors, one GPU each" in banner
    assert seen == {slot: {["1", "0"][slot]} for slot in seen}


def test_no_device_named_leaves_the_variable_to_the_executors(engine, tmp_path):
    banner, seen = devices_seen(engine, tmp_path, "", "--workers", 2)
    assert "GPU" not in banner
    assert set().union(*seen.values()) == {""}


def run_on_gpus(engine, tmp_path, train, workers, trials, failed=0):
    """Runs gpu_train:TRAIN; `failed` trials may fail, the rest finish.
    Returns the trials in the order they started, and the engine's output."""
    script = experiment(tmp_path, name="gpu", train=f"gpu_train:{train}",
                        num_trials=trials)
    out = engine.run(script, "--workers", workers, "--dir", tmp_path / "run",
                     timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    ts = sorted(show(tmp_path / "run")["trials"], key=lambda t: t["started"])
    states = sorted(t["state"] for t in ts)
    assert states == ["FAILED"] * failed + ["FINISHED"] * (trials - failed), ts
    return ts, out.stdout


@needs_gpus
def test_each_executor_trains_on_its_own_device(engine, tmp_path):
    ids = devices()
    n = len(ids)
    workers = 2 * n  # two executors per GPU: both must get the right one
    ts, banner = run_on_gpus(engine, tmp_path, "fit", workers, 4 * workers)
    assert f"{workers} local executors on {n} GPU" in banner
    slots = set()
    for t in ts:
        out = t["outputs"]
        slots.add(out["slot"])
        assert out["devices"] == 1
        assert out["visible"] == ids[out["slot"] % n]
        assert -t["value"] < out["start"] / 100  # the fit converged
    assert len(slots) > 1


@needs_gpus
def test_a_trial_leaves_no_device_memory_to_the_next(engine, tmp_path):
    """Each trial of `fit` leaves 512 MiB in a reference cycle. What PyTorch
    keeps for good (cuBLAS's workspace) is the same before every later trial,
    and nothing stays cached for other executors to miss."""
    ts, banner = run_on_gpus(engine, tmp_path, "fit", 1, 4)
    assert "1 local executor, one GPU each" in banner
    allocated = [t["outputs"]["allocated_before"] for t in ts]
    reserved = [t["outputs"]["reserved_before"] for t in ts]
    assert allocated[0] == 0
    assert allocated[1:] == [allocated[1]] * 3 and allocated[1] < CYCLE, allocated
    assert all(r < CYCLE for r in reserved), reserved


@needs_gpus
def test_a_trial_that_runs_out_of_device_memory_fails_alone(engine, tmp_path):
    ts, _ = run_on_gpus(engine, tmp_path, "fills_the_device_once", 1, 3,
                        failed=1)
    assert ts[0]["state"] == "FAILED"
    assert "OutOfMemoryError" in ts[0]["error"]
    # what the failed trial held went with it
    assert all(t["outputs"]["allocated_before"] < CYCLE for t in ts[1:])


@needs_gpus
def test_nccl_runs_inside_the_executor(engine, tmp_path):
    ts, _ = run_on_gpus(engine, tmp_path, "all_reduce", 1, 2)
    for t in ts:
        assert t["value"] == pytest.approx(1024 * t["params"]["x"], rel=1e-5)
        assert t["outputs"]["nccl"]
