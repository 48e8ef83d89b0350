"""What one Spark task does: run one long-lived `maggy-executor` that
connects back to the engine on the driver, until the engine says goodbye.

Runs on the Spark executors; imports nothing of the driver's side.
"""
import ctypes
import os
import signal
import socket
import subprocess
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent():
    """In the child: SIGTERM when the thread that started it dies (a
    cancelled or killed task, a driver killed), so that nothing outlives
    what started it. maggy-engine takes SIGTERM as a clean stop."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(
            PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def _gpu_addresses(ctx):
    """The GPU addresses Spark assigned to this task, or None."""
    try:
        gpus = ctx.resources().get("gpu")
    except Exception:  # an older Spark, or no resources API
        return None
    return list(gpus.addresses) if gpus is not None else None


def task_environment(plan, ctx, python_path):
    """The executor's environment: where the driver is, the secret (never
    on a command line), its slot and attempt, its GPUs and module path."""
    env = dict(os.environ)
    env.update({
        "MAGGY_DRIVER": plan["driver"],
        "MAGGY_SECRET": plan["secret"],
        "MAGGY_SLOT": str(ctx.partitionId()),
        "MAGGY_ATTEMPT": str(ctx.attemptNumber() + 1),
        "MAGGY_RECONNECT_TIMEOUT": str(plan.get("reconnect_timeout", 60)),
        "MAGGY_BYE_STATUS": str(BYE),
    })
    gpus = _gpu_addresses(ctx)
    if gpus is not None:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
    paths = [p for p in python_path if p]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


# The executor's exit statuses after which restarting it is pointless: the
# driver said goodbye (BYE: MAGGY_BYE_STATUS, so that a training function
# that ends the process with os._exit(0) is not taken for one), refused it
# (2), is gone (3), or the training module cannot be imported (4). Others
# (a crash) restart it in the task, as the engine's own launcher does with
# local executors; 5 (it ran the experiment's max_trials_per_executor, or
# a trial ran out of time in it) starts a fresh one, not counted as a
# restart. One that keeps crashing fails the task, which Spark then runs
# again (spark.task.maxFailures).
BYE = 10
REFUSED, UNREACHABLE, CANNOT_IMPORT = 2, 3, 4
FINAL_STATUSES = (BYE, REFUSED, UNREACHABLE, CANNOT_IMPORT)
RECYCLED = 5
MAX_RESTARTS = 3

# What an executor's last exit status says, for the driver's messages.
ENDED_BECAUSE = {
    REFUSED: "was refused by the engine, or had invalid settings",
    UNREACHABLE: "lost the engine for longer than its reconnect timeout",
    CANNOT_IMPORT: "cannot import the training function",
}


def _run_once(executor, env):
    proc = subprocess.Popen([executor], env=env, preexec_fn=die_with_parent)
    try:
        return proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def run_executor(plan):
    """The function of each partition: yields one (slot, host, exit status)."""
    from pyspark import SparkFiles, TaskContext

    def partition(_rows):
        ctx = TaskContext.get()
        python_path = [SparkFiles.getRootDirectory()] + sys.path
        env = task_environment(plan, ctx, python_path)
        status, restarts, starts = None, 0, 0
        while status not in FINAL_STATUSES:
            if restarts > MAX_RESTARTS:
                raise RuntimeError(
                    f"maggy-executor ended {restarts} times without the "
                    f"driver's goodbye on {socket.gethostname()} (last "
                    f"exit status {status}): this task gives up its slot")
            starts += 1
            env["MAGGY_ATTEMPT"] = str(ctx.attemptNumber() + starts)
            status = _run_once(plan["executor"], env)
            if status not in FINAL_STATUSES and status != RECYCLED:
                restarts += 1
        yield ctx.partitionId(), socket.gethostname(), status

    return partition
